package node

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
	"github.com/the-mesh/mesh/internal/inbox"
)

// Inbox returns up to limit of actor's unacknowledged inbox items with
// n > after, each joined with its stored envelope. Items whose room actor
// may no longer read (not a member, or no listen) are left out, but Next
// moves past them. Errors: EInvalid (limit).
func (n *Node) Inbox(actor mesh.Participant, after uint64, limit int) (mesh.Inbox, error) {
	if limit <= 0 || limit > mesh.MaxPageLimit {
		return mesh.Inbox{}, mesh.Errorf(mesh.EInvalid, "limit must be between 1 and %d, got %d.", mesh.MaxPageLimit, limit)
	}
	out := mesh.Inbox{Items: []mesh.InboxItem{}, Next: after}
	for first := true; len(out.Items) < limit; first = false {
		pg, err := n.inbox.Page(actor.ID, out.Next, limit-len(out.Items))
		if err != nil {
			return mesh.Inbox{}, fmt.Errorf("read inbox of %s: %w", actor.ID, err)
		}
		if first {
			out.Unacked, out.Dropped, out.Next = pg.Unacked, pg.Dropped, max(after, pg.Ack)
		}
		if len(pg.Refs) == 0 {
			break
		}
		for _, r := range pg.Refs {
			out.Next = r.N
			if item, ok, err := n.inboxItem(actor.ID, r); err != nil {
				return mesh.Inbox{}, err
			} else if ok {
				out.Items = append(out.Items, item)
			}
		}
	}
	return out, nil
}

// inboxItem joins r with its envelope from the room log; false when p may
// no longer read the room or the log no longer holds the message.
func (n *Node) inboxItem(p mesh.ParticipantID, r inbox.Ref) (mesh.InboxItem, bool, error) {
	if !n.mayRead(p, r.Room) {
		return mesh.InboxItem{}, false, nil
	}
	entries, err := n.readLog(r.Room, r.Seq-1, 1)
	if err != nil {
		return mesh.InboxItem{}, false, fmt.Errorf("read inbox item %d of %s: %w", r.N, p, err)
	}
	var m struct {
		ID string `json:"id"`
	}
	if len(entries) != 1 || entries[0].Seq != r.Seq || json.Unmarshal(entries[0].Line, &m) != nil || m.ID != r.ID {
		return mesh.InboxItem{}, false, nil // the room's log (or mirror) was lost and restarted
	}
	return mesh.InboxItem{N: r.N, Reason: r.Reason, Message: entries[0].Line}, true, nil
}

// WaitInbox is Inbox as a long poll: when actor has no item after
// `after`, it waits until one arrives or ctx ends (then it returns the
// empty page, not an error).
func (n *Node) WaitInbox(ctx context.Context, actor mesh.Participant, after uint64, limit int) (mesh.Inbox, error) {
	for {
		changed, err := n.inbox.Changed(actor.ID) // before the read: nothing is missed between
		if err != nil {
			return mesh.Inbox{}, fmt.Errorf("read inbox of %s: %w", actor.ID, err)
		}
		out, err := n.Inbox(actor, after, limit)
		if err != nil || len(out.Items) > 0 {
			return out, err
		}
		after = out.Next // past the items actor may no longer read
		select {
		case <-changed:
		case <-ctx.Done():
			return out, nil
		}
	}
}

// AckInbox acknowledges actor's items with n <= upTo, durably, and returns
// the ack cursor and the number of items left. Errors: EInvalid (upTo is
// past the newest item).
func (n *Node) AckInbox(actor mesh.Participant, upTo uint64) (uint64, int, error) {
	acked, left, err := n.inbox.Ack(actor.ID, upTo)
	if err != nil {
		err = fmt.Errorf("acknowledge inbox of %s: %w", actor.ID, err)
		n.stats.Refused.Inc()
	}
	n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "inbox-ack",
		Detail: map[string]any{"upTo": upTo, "acked": acked}}, err))
	return acked, left, err
}
