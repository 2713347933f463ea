package node

import (
	"encoding/json"
	"fmt"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
	"github.com/the-mesh/mesh/internal/hub"
)

// Post is a chat message to store and deliver.
type Post struct {
	Room mesh.RoomID
	Text string
	To   mesh.ParticipantID // optional addressee: an unrevoked member of Room
	// Ref is the client's correlation id, echoed in the ack to origin
	// only. It is never stored: the envelope's ref names the command a
	// result answers, which is another thing.
	Ref string
}

// MaxRefBytes is the longest Post.Ref the node accepts.
const MaxRefBytes = 128

// Say stores a chat message from actor and delivers it to the room's
// subscribers once it is on disk. origin, if not nil, is the sending
// connection: it gets an ack frame instead of a copy. done, if not nil, is
// called exactly once with the stored message or the refusal; it must not
// block. Refusals: ENotFound (room), EForbidden (not a member), ETooLarge
// (text), EInvalid (empty text, a ref over MaxRefBytes, an addressee that
// does not exist, was revoked or is not a member), EUnavailable (storage).
func (n *Node) Say(actor mesh.Participant, post Post, origin *hub.Conn, done func(mesh.Message, error)) {
	refuse := func(err error) {
		n.stats.Refused.Inc()
		n.Audit.Record(audit.Record{Actor: actor.ID, Action: "say", Room: post.Room, Outcome: audit.Refused,
			Code: mesh.ErrorCode(err), Detail: mesh.ErrorMessage(err)})
		if done != nil {
			done(mesh.Message{}, err)
		}
	}
	if err := n.checkPost(actor, post); err != nil {
		refuse(err)
		return
	}
	// Load the live room before appending, so that its head is below the
	// new entry's seq when the entry is published.
	if _, err := n.Hub.Room(post.Room, n.loadRecent); err != nil {
		refuse(fmt.Errorf("say in room %s: %w", post.Room, err))
		return
	}
	m := mesh.Message{
		ID: newID("m_"), Room: post.Room, Kind: mesh.MessageChat, From: actor.Sender(),
		Trust: actor.Trust, TS: n.now().UTC(), Body: mesh.Body{Text: post.Text}, To: post.To,
	}
	encode := func(seq uint64) ([]byte, error) {
		m.Seq = seq
		return json.Marshal(&m)
	}
	n.store.Append(post.Room, encode, func(e mesh.Entry, err error) {
		if err != nil {
			refuse(err)
			return
		}
		if origin != nil {
			ack, _ := hub.Frame(mesh.Ack{Type: mesh.FrameAck, Ref: post.Ref, ID: m.ID, Seq: e.Seq})
			origin.Send(ack)
		}
		delivered := n.bus.Publish(post.Room, e, origin)
		n.stats.MessagesIn.Inc()
		n.stats.MessagesOut.Add(uint64(delivered))
		n.Audit.Record(audit.Record{Actor: actor.ID, Action: "say", Room: post.Room, Outcome: audit.OK,
			Detail: sayDetail{ID: m.ID, Seq: e.Seq}})
		if done != nil {
			done(m, nil)
		}
	})
}

type sayDetail struct {
	ID  string `json:"id"`
	Seq uint64 `json:"seq"`
}

func (n *Node) checkPost(actor mesh.Participant, post Post) error {
	if post.Text == "" {
		return mesh.Errorf(mesh.EInvalid, "text is required.")
	}
	if len(post.Text) > n.cfg.MaxTextBytes {
		return mesh.Errorf(mesh.ETooLarge, "text is %d bytes; the limit is %d.", len(post.Text), n.cfg.MaxTextBytes)
	}
	if len(post.Ref) > MaxRefBytes {
		return mesh.Errorf(mesh.EInvalid, "ref is %d bytes; the limit is %d.", len(post.Ref), MaxRefBytes)
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	r := n.rooms[post.Room]
	if r == nil {
		return notFound(post.Room)
	}
	if !r.members[actor.ID] {
		return mesh.Errorf(mesh.EForbidden, "You are not a member of room %q: join it first.", post.Room)
	}
	if post.To == "" {
		return nil
	}
	switch to := n.participants[post.To]; {
	case to == nil:
		return mesh.Errorf(mesh.EInvalid, "Addressee %q does not exist.", post.To)
	case to.revoked:
		return mesh.Errorf(mesh.EInvalid, "Addressee %s was revoked.", post.To)
	case !r.members[post.To]:
		return mesh.Errorf(mesh.EInvalid, "Addressee %s is not a member of room %s.", post.To, post.Room)
	}
	return nil
}

// loadRecent is the hub's loader: a room's head and latest entries.
func (n *Node) loadRecent(id mesh.RoomID, max int) (uint64, []mesh.Entry, error) {
	head, err := n.store.Head(id)
	if err != nil {
		return 0, nil, err
	}
	var after uint64
	if head.Seq > uint64(max) {
		after = head.Seq - uint64(max)
	}
	entries, err := n.store.Read(id, after, max)
	return head.Seq, entries, err
}

// HubRoom returns the live room for id, loading it on first use.
func (n *Node) HubRoom(id mesh.RoomID) (*hub.Room, error) {
	if n.room(id) == nil {
		return nil, notFound(id)
	}
	return n.Hub.Room(id, n.loadRecent)
}

// Messages returns up to limit stored messages of a room with seq > after.
// Only members may read. Errors: ENotFound, EForbidden, EInvalid.
func (n *Node) Messages(actor mesh.Participant, id mesh.RoomID, after uint64, limit int) ([]json.RawMessage, error) {
	if limit <= 0 || limit > mesh.MaxPageLimit {
		return nil, mesh.Errorf(mesh.EInvalid, "limit must be between 1 and %d, got %d.", mesh.MaxPageLimit, limit)
	}
	if n.room(id) == nil {
		return nil, notFound(id)
	}
	if !n.IsMember(id, actor.ID) {
		return nil, mesh.Errorf(mesh.EForbidden, "You are not a member of room %q: join it first.", id)
	}
	entries, err := n.store.Read(id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read room %s: %w", id, err)
	}
	out := make([]json.RawMessage, len(entries))
	for i, e := range entries {
		out[i] = e.Line
	}
	return out, nil
}

// ReadLog returns stored entries of a room with seq > after, for catch-up.
func (n *Node) ReadLog(id mesh.RoomID, after uint64, limit int) ([]mesh.Entry, error) {
	return n.store.Read(id, after, limit)
}
