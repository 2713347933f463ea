package node

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
	"github.com/the-mesh/mesh/internal/governance"
)

type room struct {
	// writeMu serializes this room's journal writes, so the file's order
	// is the order changes apply in; it is held across the fsync, and
	// Node.mu is not, so other rooms and readers go on meanwhile.
	writeMu sync.Mutex
	mesh.Room
	members map[mesh.ParticipantID]bool // guarded by Node.mu

	// An end-to-end encrypted room's epochs (e2e.go). epoch is the
	// highest epoch number recorded in rooms.jsonl, guarded by
	// Node.e2eMu. roster is the current epoch's roster, replaced (never
	// changed) when its epoch event takes its seq, under the room log's
	// lock; nil until the room's first epoch.
	epoch  uint64
	roster atomic.Pointer[mesh.Roster]
}

// roomEvent is one line of rooms.jsonl.
type roomEvent struct {
	Op          string             `json:"op"` // create, policy, join, leave, epoch
	Room        *mesh.Room         `json:"room,omitempty"`
	ID          mesh.RoomID        `json:"id,omitempty"`
	Participant mesh.ParticipantID `json:"participant,omitempty"`
	Policy      *mesh.Policy       `json:"policy,omitempty"`
	Revision    uint64             `json:"revision,omitempty"`
	Epoch       uint64             `json:"epoch,omitempty"` // epoch: the number of an E2E room's new epoch
	TS          time.Time          `json:"ts"`
}

func (n *Node) replayRoom(line []byte) error {
	var ev roomEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		return fmt.Errorf("rooms.jsonl: %w", err)
	}
	if ev.Op == "create" {
		if ev.Room == nil {
			return fmt.Errorf("rooms.jsonl: create without room")
		}
		n.rooms[ev.Room.ID] = &room{Room: *ev.Room, members: map[mesh.ParticipantID]bool{}}
		return nil
	}
	r := n.rooms[ev.ID]
	if r == nil {
		return fmt.Errorf("rooms.jsonl: %s for unknown room %q", ev.Op, ev.ID)
	}
	switch ev.Op {
	case "policy":
		r.Policy, r.Revision = *ev.Policy, ev.Revision
	case "join":
		r.members[ev.Participant] = true
	case "leave":
		delete(r.members, ev.Participant)
	case "epoch":
		r.epoch = max(r.epoch, ev.Epoch)
	default:
		return fmt.Errorf("rooms.jsonl: unknown op %q", ev.Op)
	}
	return nil
}

func (n *Node) room(id mesh.RoomID) *room {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.rooms[id]
}

// NewRoom is a request to create a room.
type NewRoom struct {
	Name   string          `json:"name"`
	Topic  string          `json:"topic,omitempty"`
	Policy json.RawMessage `json:"policy,omitempty"`
}

// CreateRoom creates a room owned by actor, who becomes its first member.
// The room's id is made from its name (mesh.RoomIDFromName); a name with no
// ASCII letters or digits, such as "設計", gets a generated id, "room-"
// plus 8 random base32 characters (a-z, 2-7). Only participants with trust owner or local may
// create rooms. Errors: EInvalid (name, topic, policy), EConflict (id
// taken), EForbidden (trust federated or untrusted).
func (n *Node) CreateRoom(actor mesh.Participant, req NewRoom) (mesh.Room, error) {
	r, err := n.createRoomChecked(actor, req)
	n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "create-room", Room: r.ID,
		Detail: map[string]any{"name": req.Name}}, err))
	if err == nil {
		n.rekey(actor, r.ID) // an E2E room starts at epoch 1
	}
	return r, err
}

func (n *Node) createRoomChecked(actor mesh.Participant, req NewRoom) (mesh.Room, error) {
	if actor.Trust.Rank() < mesh.TrustLocal.Rank() {
		return mesh.Room{}, mesh.Errorf(mesh.EForbidden, "Participants with trust %q cannot create rooms.", actor.Trust)
	}
	if err := validateName("name", req.Name); err != nil {
		return mesh.Room{}, err
	}
	if err := validateLine("topic", req.Topic, mesh.MaxTopicBytes); err != nil {
		return mesh.Room{}, err
	}
	policy, err := mesh.ParsePolicy(req.Policy)
	if err == nil {
		err = validatePolicy(&policy)
	}
	if err != nil {
		return mesh.Room{}, err
	}
	return n.createRoom(actor.ID, req.Name, req.Topic, policy)
}

func (n *Node) createRoom(creator mesh.ParticipantID, name, topic string, policy mesh.Policy) (mesh.Room, error) {
	// createMu makes check-then-create atomic without holding mu across
	// the fsyncs.
	n.createMu.Lock()
	defer n.createMu.Unlock()
	id := mesh.RoomIDFromName(name)
	if id == "" {
		// Nothing ASCII to make an id from (e.g. "設計"): generate one.
		// 40 random bits make a clash rare; retry a few times anyway.
		for range 8 {
			if id = newRoomID(); n.room(id) == nil {
				break
			}
		}
	}
	if !id.Valid() {
		return mesh.Room{}, mesh.Errorf(mesh.EInvalid, "name %q cannot be made into a room id.", name)
	}
	if n.room(id) != nil {
		return mesh.Room{}, mesh.Errorf(mesh.EConflict, "A room with id %q already exists.", id)
	}
	r := mesh.Room{ID: id, Name: strings.TrimSpace(name), Topic: topic, Creator: creator, Policy: policy,
		Created: n.now().UTC(), Revision: 1}
	if err := n.places.Append(roomEvent{Op: "create", Room: &r, TS: r.Created}); err != nil {
		return mesh.Room{}, fmt.Errorf("create room %s: %w", id, err)
	}
	if err := n.places.Append(roomEvent{Op: "join", ID: id, Participant: creator, TS: r.Created}); err != nil {
		return mesh.Room{}, fmt.Errorf("create room %s: %w", id, err)
	}
	n.mu.Lock()
	n.rooms[id] = &room{Room: r, members: map[mesh.ParticipantID]bool{creator: true}}
	n.mu.Unlock()
	return r, nil
}

// Rooms lists every room, ordered by id.
func (n *Node) Rooms() []mesh.Room {
	n.mu.RLock()
	out := make([]mesh.Room, 0, len(n.rooms))
	for _, r := range n.rooms {
		out = append(out, r.Room)
	}
	n.mu.RUnlock()
	slices.SortFunc(out, func(a, b mesh.Room) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

// Room returns a room. Errors: ENotFound.
func (n *Node) Room(id mesh.RoomID) (mesh.Room, error) {
	if id.Remote() {
		return n.remoteRoom(id)
	}
	if r := n.room(id); r != nil {
		n.mu.RLock()
		defer n.mu.RUnlock()
		return r.Room, nil
	}
	return mesh.Room{}, notFound(id)
}

func notFound(id mesh.RoomID) error {
	return mesh.Errorf(mesh.ENotFound, "Room %q does not exist.", id)
}

// IsMember reports whether p is a member of room id.
func (n *Node) IsMember(id mesh.RoomID, p mesh.ParticipantID) bool {
	if id.Remote() {
		return n.IsRemoteMember(id, p)
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	r := n.rooms[id]
	return r != nil && r.members[p]
}

// Members lists a room's members; online reports who has a connection in
// it. Revoked participants are left out and webhooks are cleared. It takes
// only the node's lock, so it may run under a hub room lock.
func (n *Node) Members(id mesh.RoomID, online func(mesh.ParticipantID) bool) ([]mesh.Member, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	r := n.rooms[id]
	if r == nil {
		return nil, notFound(id)
	}
	out := make([]mesh.Member, 0, len(r.members))
	for pid := range r.members {
		if p := n.participants[pid]; p != nil && !p.revoked {
			// Public drops the webhook: it is its owner's business.
			out = append(out, mesh.Member{Participant: p.Participant.Public(), Online: online(pid)})
		}
	}
	slices.SortFunc(out, func(a, b mesh.Member) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out, nil
}

// AddMember makes actor a member of room id (a no-op if it is one).
// Errors: ENotFound.
func (n *Node) AddMember(actor mesh.Participant, id mesh.RoomID, remote string) error {
	if id.Remote() { // another node's room: federation_remote.go
		return n.JoinRemote(actor, id, RemoteJoinTimeout)
	}
	s, r, _, err := n.govern(actor.ID, id)
	if err == nil {
		// A participant that may only speak may still join.
		if caps := governance.Capabilities(s, r); !caps.Has(mesh.CapListen) && !caps.Has(mesh.CapSpeak) {
			err = mesh.Errorf(mesh.EForbidden, "You may not join room %s: you may neither listen nor speak in it.", id)
		}
	}
	if err == nil {
		err = n.join(actor, id)
	}
	n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "join", Room: id, Remote: remote}, err))
	return err
}

// RemoveMember ends actor's membership of room id. Errors: ENotFound.
func (n *Node) RemoveMember(actor mesh.Participant, id mesh.RoomID, remote string) error {
	if id.Remote() {
		return n.LeaveRemote(actor, id)
	}
	err := n.setMember(actor.ID, id, false)
	n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "leave", Room: id, Remote: remote}, err))
	if err == nil {
		n.rekey(actor, id)
	}
	return err
}

func (n *Node) setMember(pid mesh.ParticipantID, id mesh.RoomID, member bool) error {
	r := n.room(id)
	if r == nil {
		return notFound(id)
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if n.IsMember(id, pid) == member {
		return nil
	}
	op := "leave"
	if member {
		op = "join"
	}
	if err := n.places.Append(roomEvent{Op: op, ID: id, Participant: pid, TS: n.now().UTC()}); err != nil {
		return fmt.Errorf("%s room %s: %w", op, id, err)
	}
	n.mu.Lock()
	if member {
		r.members[pid] = true
	} else {
		delete(r.members, pid)
	}
	n.mu.Unlock()
	n.wakeBridges()
	return nil
}

// SetPolicy replaces a room's policy with the document doc (parsed over
// the defaults, see mesh.ParsePolicy) and bumps its revision. It needs the
// moderate capability (the node's owner always has it). The audit record
// holds the policy before and after on success, and the refusal otherwise;
// members get a policy event.
// A room of another node goes to its home, which decides (federation_ops.go).
// Errors: ENotFound, EForbidden, EInvalid, checked in that order.
func (n *Node) SetPolicy(actor mesh.Participant, id mesh.RoomID, doc []byte) (mesh.Room, error) {
	if id.Remote() {
		return n.setPolicyRemote(actor, id, doc)
	}
	return n.changePolicy(actor, id, "set-policy", mesh.Event{Type: mesh.EventPolicy}, func(mesh.Policy) (mesh.Policy, error) {
		return mesh.ParsePolicy(doc)
	})
}

// changePolicy replaces a room's policy with change(old), after checking
// that actor may moderate; it audits the change as action and tells the
// members with ev.
func (n *Node) changePolicy(actor mesh.Participant, id mesh.RoomID, action string, ev mesh.Event,
	change func(mesh.Policy) (mesh.Policy, error)) (mesh.Room, error) {
	// e2eMu keeps the roster check of replacePolicy and the epoch that
	// follows the change one step.
	n.e2eMu.Lock()
	defer n.e2eMu.Unlock()
	before, after, err := n.replacePolicy(actor, id, change)
	rec := audit.Record{Actor: actor.ID, Action: action, Room: id}
	if err == nil {
		detail := map[string]any{"before": before.Policy, "after": after.Policy, "revision": after.Revision}
		if ev.Action != "" {
			detail["action"], detail["target"] = ev.Action, ev.Target
		}
		rec.Detail = detail
	}
	n.Audit.Record(outcome(rec, err))
	if err != nil {
		return mesh.Room{}, err
	}
	n.relisten(id)
	n.wakeBridges()
	ev.By = actor.ID
	n.event(actor, id, ev)
	n.rekeyLocked(actor, id, false) // listen gained or lost, or e2e turned on
	return after, nil
}

// replacePolicy returns the room before and after the change.
func (n *Node) replacePolicy(actor mesh.Participant, id mesh.RoomID, change func(mesh.Policy) (mesh.Policy, error)) (before, after mesh.Room, err error) {
	r := n.room(id)
	if r == nil {
		return mesh.Room{}, mesh.Room{}, notFound(id)
	}
	if err := n.mayModerate(actor, id); err != nil {
		return mesh.Room{}, mesh.Room{}, err
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	// Under writeMu the policy and revision cannot change, and the other
	// fields never do, so r.Room may be read without mu.
	before = r.Room
	p, err := change(r.Policy)
	if err == nil {
		err = validatePolicy(&p)
	}
	if err == nil {
		err = n.checkE2EPolicy(r, &p)
	}
	if err != nil {
		return mesh.Room{}, mesh.Room{}, err
	}
	ev := roomEvent{Op: "policy", ID: id, Policy: &p, Revision: r.Revision + 1, TS: n.now().UTC()}
	if err := n.places.Append(ev); err != nil {
		return mesh.Room{}, mesh.Room{}, fmt.Errorf("set policy of room %s: %w", id, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	r.Policy, r.Revision = p, ev.Revision
	return before, r.Room, nil
}

// relisten updates which of a room's connections may listen, after its
// policy changed.
func (n *Node) relisten(id mesh.RoomID) {
	hr, err := n.HubRoom(id)
	if err != nil {
		return
	}
	hr.Relisten(func(p mesh.ParticipantID) bool { return n.Can(p, id, mesh.CapListen) })
}

// newRoomID returns "room-" plus 8 random lowercase base32 characters.
func newRoomID() mesh.RoomID {
	var b [5]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return mesh.RoomID("room-" + idEncoding.EncodeToString(b[:]))
}
