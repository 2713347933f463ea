package node

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
	"github.com/the-mesh/mesh/internal/governance"
	"github.com/the-mesh/mesh/internal/hub"
)

// Post is a message to store and deliver: a chat line (Kind "" or chat,
// with Text) or, in an end-to-end encrypted room, a sealed body (Kind
// encrypted, with Sealed).
type Post struct {
	Room   mesh.RoomID
	Kind   mesh.MessageKind // "" is chat
	Text   string
	Sealed *mesh.Sealed       // kind encrypted only
	To     mesh.ParticipantID // optional addressee: an unrevoked member of Room
	// Ref is the client's correlation id, echoed in the ack to origin.
	// A chat line never stores it: the envelope's ref names the command a
	// result answers, which is another thing. An encrypted message stores
	// it, since its signature binds it (the sealed plaintext may be a
	// result, whose ref is the command's id).
	Ref string
	// ID and Bridged are set by a bridge (bridge_run.go): the message's
	// id, made from the bridge and the source seq, and its original. The
	// poster must hold bridge in Room, and the original's trust caps the
	// message's (never raises it).
	ID      string
	Bridged *mesh.Bridged
}

// MaxRefBytes is the longest Post.Ref the node accepts: the wire's limit.
const MaxRefBytes = mesh.MaxRefBytes

// Say stores a message from actor and delivers it to the room's
// subscribers once it is on disk. origin, if not nil, is the sending
// connection: it gets an ack frame instead of a copy. done, if not nil, is
// called exactly once with the stored message or the refusal; it must not
// block. Refusals: ENotFound (room), EForbidden (not a member), ETooLarge
// (text), EInvalid (empty text, a ref over MaxRefBytes, an addressee that
// does not exist, was revoked or is not a member, a chat line in an
// end-to-end encrypted room, kind encrypted in any other room),
// EUnavailable (storage), and for kind encrypted those of sealed.
func (n *Node) Say(actor mesh.Participant, post Post, origin *hub.Conn, done func(mesh.Message, error)) {
	if post.Kind == mesh.MessageEncrypted && post.Room.Remote() { // to its home: federation_remote.go
		n.PostRemote(actor, RemotePost{Room: post.Room, Kind: mesh.MessageEncrypted, Sealed: post.Sealed, To: post.To, Ref: post.Ref}, nil, done)
		return
	}
	if post.Kind == mesh.MessageEncrypted {
		m, check, err := n.sealed(actor, post)
		if err != nil {
			n.refused(actor, "say", post.Room, err, done)
			return
		}
		n.appendChecked(actor, "say", m, origin, post.Ref, check, done)
		return
	}
	if post.Room.Remote() { // another node's room: federation_remote.go
		n.PostRemote(actor, RemotePost{Room: post.Room, Kind: mesh.MessageChat, Text: post.Text, To: post.To}, nil, done)
		return
	}
	m, err := n.chat(actor, post)
	if err != nil {
		n.refused(actor, "say", post.Room, err, done)
		return
	}
	n.append(actor, "say", m, origin, post.Ref, done)
}

// chat checks a chat post and builds its message.
func (n *Node) chat(actor mesh.Participant, post Post) (*mesh.Message, error) {
	if err := n.checkPost(actor, post); err != nil {
		return nil, err
	}
	if n.isE2E(post.Room) {
		return nil, e2eOnly(post.Room)
	}
	s, r, rev, err := n.govern(actor.ID, post.Room)
	if err != nil {
		return nil, err
	}
	if post.Bridged != nil {
		if err := governance.Check(s, mesh.CapBridge, r); err != nil {
			return nil, inRoom(post.Room, err)
		}
	}
	text, trust, flags, err := n.roomRules(actor, post, s, r, rev)
	if err != nil {
		return nil, err
	}
	id := post.ID
	if id == "" {
		id = newID("m_")
	}
	return &mesh.Message{
		ID: id, Room: post.Room, Kind: mesh.MessageChat, From: actor.Sender(),
		Trust: trust, TS: n.now().UTC(), Body: mesh.Body{Text: text}, To: post.To, Flags: flags, Bridged: post.Bridged,
	}, nil
}

// refused counts, audits and reports a refusal.
func (n *Node) refused(actor mesh.Participant, action string, room mesh.RoomID, err error, done func(mesh.Message, error)) {
	n.stats.Refused.Inc()
	n.Audit.Record(audit.Record{Actor: actor.ID, Action: action, Room: room, Outcome: audit.Refused,
		Code: mesh.ErrorCode(err), Detail: mesh.ErrorMessage(err)})
	if done != nil {
		done(mesh.Message{}, err)
	}
}

// append stores m in its room's log, which assigns its seq, and once it
// is on disk acks origin (with ref), publishes it to the room and audits
// it as action. done, if not nil, is called exactly once.
func (n *Node) append(actor mesh.Participant, action string, m *mesh.Message, origin *hub.Conn, ref string, done func(mesh.Message, error)) {
	n.appendChecked(actor, action, m, origin, ref, nil, done)
}

// appendChecked is append with check, which, if not nil, is called with
// the seq m is about to take, under the room log's lock: appends to the
// room are serialised with it, so what it checks (an E2E room's epoch)
// cannot change before m is in the log. An error from check refuses m.
func (n *Node) appendChecked(actor mesh.Participant, action string, m *mesh.Message, origin *hub.Conn, ref string,
	check func(seq uint64) error, done func(mesh.Message, error)) {
	// Load the live room before appending, so that its head is below the
	// new entry's seq when the entry is published.
	if _, err := n.Hub.Room(m.Room, n.loadRecent); err != nil {
		n.refused(actor, action, m.Room, fmt.Errorf("%s in room %s: %w", action, m.Room, err), done)
		return
	}
	encode := func(seq uint64) ([]byte, error) {
		if check != nil {
			if err := check(seq); err != nil {
				return nil, err
			}
		}
		m.Seq = seq
		return json.Marshal(m)
	}
	n.store.Append(m.Room, encode, func(e mesh.Entry, err error) {
		if err != nil {
			n.refused(actor, action, m.Room, err, done)
			return
		}
		inboxed := n.route(m, e) // before the ack: the addressee's inbox has it when the sender hears
		if origin != nil {
			ack, _ := hub.Frame(mesh.Ack{Type: mesh.FrameAck, Ref: ref, ID: m.ID, Seq: e.Seq})
			origin.Send(ack)
		}
		delivered := n.bus.Publish(m.Room, e, origin)
		n.announce(inboxed, e) // after the message frame
		n.stats.MessagesIn.Inc()
		n.stats.MessagesOut.Add(uint64(delivered))
		n.Audit.Record(audit.Record{Actor: actor.ID, Action: action, Room: m.Room, Outcome: audit.OK,
			Detail: detailOf(m, e.Seq)})
		if done != nil {
			done(*m, nil)
		}
	})
}

// sayDetail is the audit detail of a stored message: never its content.
// An encrypted message adds its type, epoch and device and the size of
// its ciphertext; an epoch event its epoch and roster size.
type sayDetail struct {
	ID      string   `json:"id"`
	Seq     uint64   `json:"seq"`
	Flags   []string `json:"flags,omitempty"`
	Sealed  string   `json:"sealed,omitempty"` // keys or msg
	Epoch   uint64   `json:"epoch,omitempty"`
	Device  string   `json:"device,omitempty"`
	Size    int      `json:"size,omitempty"`    // bytes of ciphertext (msg)
	Wraps   int      `json:"wraps,omitempty"`   // wrapped keys (keys)
	Devices int      `json:"devices,omitempty"` // an epoch event's roster
}

func detailOf(m *mesh.Message, seq uint64) sayDetail {
	d := sayDetail{ID: m.ID, Seq: seq, Flags: m.Flags}
	if s := m.Body.E2E; s != nil {
		d.Sealed, d.Epoch, d.Device, d.Size, d.Wraps = s.Type, s.Epoch, s.Device, len(s.CT), len(s.Wraps)
	}
	if ev := m.Body.Event; ev != nil && ev.E2E != nil {
		d.Epoch, d.Devices = ev.E2E.Epoch, len(ev.E2E.Devices)
	}
	return d
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
	return n.checkAddresseeLocked(r, post.To)
}

// checkAddresseeLocked checks a post's optional addressee: a participant
// that exists, is not revoked and is a member of r. n.mu must be held.
func (n *Node) checkAddresseeLocked(r *room, to mesh.ParticipantID) error {
	if to == "" {
		return nil
	}
	switch p := n.participants[to]; {
	case p == nil:
		return mesh.Errorf(mesh.EInvalid, "Addressee %q does not exist.", to)
	case p.revoked:
		return mesh.Errorf(mesh.EInvalid, "Addressee %s was revoked.", to)
	case !r.members[to]:
		return mesh.Errorf(mesh.EInvalid, "Addressee %s is not a member of room %s.", to, r.ID)
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
	if id.Remote() {
		return n.MirrorRoom(id)
	}
	if n.room(id) == nil {
		return nil, notFound(id)
	}
	return n.Hub.Room(id, n.loadRecent)
}

// Messages returns up to limit stored messages of a room with seq > after.
// Only members may read. Errors: ENotFound, EForbidden, EInvalid.
func (n *Node) Messages(actor mesh.Participant, id mesh.RoomID, after uint64, limit int) ([]json.RawMessage, error) {
	if id.Remote() {
		return n.remoteMessages(actor, id, after, limit)
	}
	if limit <= 0 || limit > mesh.MaxPageLimit {
		return nil, mesh.Errorf(mesh.EInvalid, "limit must be between 1 and %d, got %d.", mesh.MaxPageLimit, limit)
	}
	if n.room(id) == nil {
		return nil, notFound(id)
	}
	if !n.IsMember(id, actor.ID) {
		return nil, mesh.Errorf(mesh.EForbidden, "You are not a member of room %q: join it first.", id)
	}
	if err := n.Check(actor.ID, id, mesh.CapListen); err != nil {
		return nil, err
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

// WaitMessages is Messages as a long poll: when the room holds nothing
// after `after`, it waits until something is stored there or ctx ends (then
// it returns an empty page, not an error).
func (n *Node) WaitMessages(ctx context.Context, actor mesh.Participant, id mesh.RoomID, after uint64, limit int) ([]json.RawMessage, error) {
	for {
		r, err := n.HubRoom(id)
		if err != nil {
			return nil, err
		}
		changed := r.Changed() // before the read: nothing is missed between
		msgs, err := n.Messages(actor, id, after, limit)
		if err != nil || len(msgs) > 0 {
			return msgs, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return msgs, nil
		}
	}
}

// ReadLog returns stored entries of a room with seq > after, for catch-up.
func (n *Node) ReadLog(id mesh.RoomID, after uint64, limit int) ([]mesh.Entry, error) {
	if id.Remote() {
		return n.ReadRemote(id, after, limit) // a mirror: federation_remote.go
	}
	return n.store.Read(id, after, limit)
}
