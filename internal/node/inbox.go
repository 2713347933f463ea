package node

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/hub"
	"github.com/the-mesh/mesh/internal/inbox"
	"github.com/the-mesh/mesh/internal/webhook"
)

// A participant's inbox holds references to the messages that address it:
// a chat message, result or encrypted message whose "to" is it (the
// mention rule, see mentioned) and a command whose target it is, unless it sent the message
// itself or may not listen in the room. Items are routed once a message
// is durable, before its sender is answered, so a participant that reads
// its inbox after the sender's ack finds the item.

// openInbox opens the inbox store, routes again what the last run did not
// checkpoint, and starts the webhook deliveries.
func (n *Node) openInbox() error {
	st, err := inbox.Open(filepath.Join(n.cfg.DataDir, "inbox"), inbox.Options{Max: n.cfg.InboxMax, Logger: n.log})
	if err != nil {
		return fmt.Errorf("open inbox: %w", err)
	}
	n.inbox = st
	marks, fresh := st.Marks()
	for _, r := range n.Rooms() {
		head, err := n.store.Head(r.ID)
		if err != nil {
			return fmt.Errorf("open inbox: head of room %s: %w", r.ID, err)
		}
		switch mark := marks[r.ID]; {
		case fresh: // a new store starts with what comes next
			st.Mark(r.ID, head.Seq)
		case head.Seq < mark:
			n.log.Warn("room log is shorter than the inbox mark; its lost messages are not routed", "room", r.ID, "head", head.Seq, "mark", mark)
			st.ResetMark(r.ID, head.Seq)
		case head.Seq > mark:
			if err := n.reroute(r.ID, mark); err != nil {
				return err
			}
		}
	}
	if err := st.Checkpoint(); err != nil {
		return fmt.Errorf("open inbox: %w", err)
	}
	cfg := n.cfg.Webhook
	cfg.DeadLetter = filepath.Join(n.cfg.DataDir, "webhook-dead-letter.jsonl")
	if cfg.Logger == nil {
		cfg.Logger = n.log
	}
	n.hooks = webhook.New(hookSource{n}, cfg)
	n.mu.RLock()
	var hooked []mesh.ParticipantID
	for id, p := range n.participants {
		if p.Webhook != "" && !p.revoked {
			hooked = append(hooked, id)
		}
	}
	n.mu.RUnlock()
	for _, id := range hooked {
		n.hooks.Notify(id)
	}
	return nil
}

// rerouteMirrors does for the mirrors of remote rooms what openInbox does
// for local rooms, once the mirrors are open and before the relay can
// deliver: each is routed again after its mark. addresses are the remote
// rooms with a local member; those with a mark are added.
func (n *Node) rerouteMirrors(addresses []mesh.RoomID) error {
	st := n.inbox
	marks, _ := st.Marks()
	routed := st.RemoteMarked()
	st.RouteRemote()
	for room := range marks {
		if room.Remote() && !slices.Contains(addresses, room) {
			addresses = append(addresses, room)
		}
	}
	for _, a := range addresses {
		head, err := n.fed.mirrorHead(a)
		if err != nil {
			return fmt.Errorf("open inbox: head of the mirror of %s: %w", a, err)
		}
		mark, known := marks[a]
		switch {
		case !known && !routed: // never routed: start with what comes next
			st.Mark(a, head)
		case head < mark:
			n.log.Warn("mirror is shorter than the inbox mark; its lost messages are not routed", "room", a, "head", head, "mark", mark)
			st.ResetMark(a, head)
		case head > mark:
			if err := n.reroute(a, mark); err != nil {
				return err
			}
		}
	}
	if err := st.Checkpoint(); err != nil {
		return fmt.Errorf("open inbox: %w", err)
	}
	return nil
}

// hasMirrors reports whether the mirrors are open (the node has a relay).
func (n *Node) hasMirrors() bool { return n.fed != nil && n.fed.mirrors != nil }

// readLog reads a room's log: a local room's, or a remote room's mirror
// (with the home's seqs).
func (n *Node) readLog(room mesh.RoomID, after uint64, limit int) ([]mesh.Entry, error) {
	if room.Remote() {
		if !n.hasMirrors() {
			return nil, mesh.Errorf(mesh.EUnavailable, "This node is not federated: it cannot read room %s.", room)
		}
		return n.fed.readMirror(room, after, limit)
	}
	return n.store.Read(room, after, limit)
}

// reroute routes a room's stored messages after seq `after`: the tail a
// crash kept from the inbox. The store skips items already there.
func (n *Node) reroute(room mesh.RoomID, after uint64) error {
	for {
		entries, err := n.readLog(room, after, mesh.MaxPageLimit)
		if err != nil {
			return fmt.Errorf("open inbox: read room %s: %w", room, err)
		}
		if len(entries) == 0 {
			return nil
		}
		for _, e := range entries {
			var m mesh.Message
			if err := json.Unmarshal(e.Line, &m); err != nil {
				return fmt.Errorf("open inbox: room %s seq %d: %w", room, e.Seq, err)
			}
			n.announce(n.route(&m, e), e)
			after = e.Seq
		}
	}
}

// inboxTarget returns who m goes to the inbox of, and why; "" for no one.
func inboxTarget(m *mesh.Message) (mesh.ParticipantID, string) {
	switch m.Kind {
	case mesh.MessageCommand:
		return m.To, mesh.InboxCommand
	case mesh.MessageChat, mesh.MessageResult, mesh.MessageEncrypted:
		// An encrypted message may be a command: the node cannot tell, so
		// it routes it by its addressee as a chat line.
		return mentioned(m.To), mesh.InboxTo
	}
	return "", ""
}

// routed is an item route added, for announce.
type routed struct {
	to   mesh.ParticipantID // "" when nothing was added
	item inbox.Ref
}

// route puts durable message m, entry e of its room, in the inbox of the
// participant it addresses and marks the room routed up to e. It runs on
// the room log's goroutine, in seq order per room.
func (n *Node) route(m *mesh.Message, e mesh.Entry) routed {
	if n.inbox == nil {
		return routed{}
	}
	defer n.inbox.Mark(m.Room, e.Seq)
	to, reason := inboxTarget(m)
	if _, _, remote := splitParticipant(to); remote {
		return routed{} // its own node routes it, from its mirror
	}
	if to == "" || to == m.From.ID || !n.mayRead(to, m.Room) {
		return routed{}
	}
	ref, added, err := n.inbox.Add(to, inbox.Ref{Room: m.Room, Seq: e.Seq, ID: m.ID, Reason: reason, Pushed: n.live.online(to)})
	if err != nil {
		n.log.Error("add inbox item", "participant", to, "room", m.Room, "seq", e.Seq, "err", err)
		return routed{}
	}
	if !added {
		return routed{}
	}
	return routed{to: to, item: ref}
}

// announce pushes a routed item to its participant's live connections,
// or wakes its webhook.
func (n *Node) announce(r routed, e mesh.Entry) {
	switch {
	case r.to == "":
	case r.item.Pushed:
		item := mesh.InboxItem{N: r.item.N, Reason: r.item.Reason, Message: e.Line}
		if f, err := hub.Frame(mesh.InboxItemFrame{Type: mesh.FrameInboxItem, Item: item}); err == nil {
			n.live.send(r.to, f)
		}
	case n.hooks != nil && n.hasWebhook(r.to):
		n.hooks.Notify(r.to)
	}
}

func (n *Node) hasWebhook(p mesh.ParticipantID) bool {
	pp, ok := n.Participant(p)
	return ok && pp.Webhook != ""
}

// mayRead reports whether participant p, unrevoked, is a member of room
// holding listen: whether it may see the room's messages in its inbox. In
// a remote room, listen is what its home decided; without a relay the
// node cannot read its mirror.
func (n *Node) mayRead(p mesh.ParticipantID, room mesh.RoomID) bool {
	if n.Revoked(p) || !n.IsMember(room, p) {
		return false
	}
	if room.Remote() {
		return n.hasMirrors() && n.fed.mayListenRemote(room, p) == nil
	}
	return n.Can(p, room, mesh.CapListen)
}
