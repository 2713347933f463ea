package hub

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/world"
)

// Hub holds the rooms that have live subscribers or recent traffic.
type Hub struct {
	recentCap int

	mu    sync.Mutex // guards rooms and world.rules
	rooms map[mesh.RoomID]*Room

	world ticker
	tick  atomic.Uint64 // the world's current tick
	hooks atomic.Pointer[WorldHooks]
}

// New returns a hub whose rooms keep the last recentCap messages in memory
// (at least mesh.DefaultHistory).
func New(recentCap int) *Hub {
	return &Hub{recentCap: max(recentCap, mesh.DefaultHistory), rooms: map[mesh.RoomID]*Room{},
		world: ticker{rules: world.DefaultRules}}
}

// Loader returns a room's head and its latest entries (oldest first, at
// most the hub's recent capacity), for a room's first use.
type Loader func(id mesh.RoomID, n int) (head uint64, recent []mesh.Entry, err error)

// MaxIdleRooms is how many rooms the hub keeps in memory before it drops
// those with no subscriber; a dropped room is loaded again from storage
// when it is next used.
const MaxIdleRooms = 1024

// ErrRoomGone is returned by Subscribe on a room the hub has dropped; the
// caller gets the room again from Hub.Room and retries.
var ErrRoomGone = errors.New("hub: room was unloaded; get it again")

// Room returns the room, loading it on first use.
func (h *Hub) Room(id mesh.RoomID, load Loader) (*Room, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.rooms[id]; r != nil {
		return r, nil
	}
	if len(h.rooms) >= MaxIdleRooms {
		h.dropIdleLocked()
	}
	head, recent, err := load(id, h.recentCap)
	if err != nil {
		return nil, err
	}
	r := &Room{ID: id, head: head, recent: make([]recentEntry, 0, h.recentCap),
		subs: map[*Conn]*sub{}, online: map[mesh.ParticipantID]int{},
		space: world.NewSpace(id, h.world.rules), tick: &h.tick, hooks: &h.hooks}
	for _, e := range recent {
		r.pushLocked(e.Seq, len(e.Line), MessageFrame(e.Line))
	}
	h.rooms[id] = r
	return r, nil
}

// dropIdleLocked unloads every room without subscribers. h.mu must be held.
func (h *Hub) dropIdleLocked() {
	for id, r := range h.rooms {
		r.mu.Lock()
		if len(r.subs) == 0 && len(r.visits) == 0 && len(r.remote) == 0 {
			r.gone = true
			r.wakeLocked() // waiters fetch the room again
			delete(h.rooms, id)
		}
		r.mu.Unlock()
	}
}

// Publish hands a durable entry to the room's subscribers in this process,
// but except. A room not in memory has none, and loads the entry from
// storage when it is first used. It implements node.Bus.
func (h *Hub) Publish(room mesh.RoomID, e mesh.Entry, except *Conn) int {
	h.mu.Lock()
	r := h.rooms[room]
	h.mu.Unlock()
	if r == nil {
		return 0
	}
	return r.Publish(e, except)
}

// Len returns the number of rooms in memory.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.rooms)
}

// Room is one room's live state: subscribers, who is online, the latest
// messages. All methods are safe for concurrent use.
type Room struct {
	ID mesh.RoomID

	mu     sync.Mutex // guards the fields below; taken before any Conn.mu
	head   uint64
	recent []recentEntry // ring of the latest messages
	start  int           // index of the oldest entry in recent
	subs   map[*Conn]*sub
	online map[mesh.ParticipantID]int   // subscribed connections per participant
	gone   bool                         // unloaded by the hub: Subscribe refuses
	notify chan struct{}                // closed by the next Publish; made on demand
	space  *world.Space                 // the avatars of online participants and visitors
	visits map[mesh.ParticipantID]visit // present through REST, made on demand
	due    atomic.Bool                  // space changed since the last state frame
	tick   *atomic.Uint64               // the hub's world tick
	hooks  *atomic.Pointer[WorldHooks]  // the hub's (world_fed.go)
	remote map[mesh.ParticipantID]bool  // members of other nodes with an avatar here, made on demand
}

type recentEntry struct {
	seq   uint64
	frame []byte // MessageFrame of the entry
	line  []byte // the envelope, inside frame
}

type sub struct {
	p       mesh.Participant
	listen  bool     // holds the listen capability: gets messages and presence
	syncing bool     // catching up from storage: live frames wait in pending
	pending [][]byte // live frames that arrived while syncing
	moveSeq uint64   // the last move seq applied from this connection
}

func (r *Room) pushLocked(seq uint64, lineLen int, frame []byte) {
	end := len(frame) - len(messageSuffix)
	e := recentEntry{seq: seq, frame: frame, line: frame[end-lineLen : end]}
	if len(r.recent) < cap(r.recent) {
		r.recent = append(r.recent, e)
	} else {
		r.recent[r.start] = e
		r.start = (r.start + 1) % len(r.recent)
	}
	r.head = seq
}

// recentLocked returns the i-th oldest recent entry.
func (r *Room) recentLocked(i int) recentEntry {
	return r.recent[(r.start+i)%len(r.recent)]
}

// Publish records a durable entry as the room's latest and queues its
// frame on every subscriber but except (which may be nil). It returns how
// many subscribers the frame was queued on. Entries must be published in
// seq order; one the room already holds (it was loaded after the entry was
// stored) is skipped.
func (r *Room) Publish(e mesh.Entry, except *Conn) int {
	frame := MessageFrame(e.Line)
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Seq <= r.head {
		return 0
	}
	r.pushLocked(e.Seq, len(e.Line), frame)
	r.wakeLocked()
	n := 0
	for c, s := range r.subs {
		if c == except {
			continue
		}
		if r.deliverLocked(c, s, frame) {
			n++
		}
	}
	return n
}

// deliverLocked queues frame on c, or holds it while c is catching up;
// a subscriber without listen gets nothing.
func (r *Room) deliverLocked(c *Conn, s *sub, frame []byte) bool {
	if !s.listen {
		return false
	}
	if !s.syncing {
		return c.Send(frame)
	}
	if len(s.pending) >= c.limits.MaxFrames {
		c.abortSlow("fell behind while catching up")
		return false
	}
	s.pending = append(s.pending, frame)
	return true
}

// Broadcast queues frame on every subscriber but except.
func (r *Room) Broadcast(frame []byte, except *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.broadcastLocked(frame, except)
}

func (r *Room) broadcastLocked(frame []byte, except *Conn) {
	for c, s := range r.subs {
		if c != except {
			r.deliverLocked(c, s, frame)
		}
	}
}

// A Subscription tells the caller what Subscribe could not do under the
// room's lock: when Sync is set, the messages in (From, To] must be read
// from storage, queued on the connection, and then EndSync called.
type Subscription struct {
	Sync     bool
	From, To uint64
}

// JoinedFunc builds the joined frame for a new subscriber from the room's
// latest messages (empty on resume), head, online participants and world
// (which includes the subscriber). It runs under the room's lock and must
// not call back into the room.
type JoinedFunc func(history [][]byte, head uint64, online map[mesh.ParticipantID]int, world mesh.WorldState) ([]byte, error)

// Subscribe adds c as a subscriber for participant p and queues, in order:
// the joined frame, then (on resume) every message after `after` that the
// room holds in memory. Live messages follow with no gap and no repeat.
// presence is the frame sent to the others when p comes online; it may be
// nil. Without listen, p gets no history and no messages or presence.
func (r *Room) Subscribe(c *Conn, p mesh.Participant, listen, resume bool, after uint64, joined JoinedFunc, presence []byte) (Subscription, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return Subscription{}, ErrRoomGone
	}
	_, dup := r.subs[c]
	if !dup {
		r.online[p.ID]++
	}
	var history [][]byte
	if !resume && listen {
		for i := max(0, len(r.recent)-mesh.DefaultHistory); i < len(r.recent); i++ {
			history = append(history, r.recentLocked(i).line)
		}
	}
	first := !dup && r.online[p.ID] == 1
	if first && !r.mirror() { // a mirror's world is the home's
		r.enterLocked(p.ID)
	}
	frame, err := joined(history, r.head, r.online, r.space.Snapshot(r.tick.Load()))
	if err != nil {
		if !dup {
			r.online[p.ID]--
		}
		if first {
			delete(r.online, p.ID)
			if !r.mirror() {
				r.space.Leave(p.ID)
			}
		}
		return Subscription{}, err
	}
	s := &sub{p: p, listen: listen}
	r.subs[c] = s
	c.Send(frame)
	if _, visiting := r.visits[p.ID]; first && !visiting && presence != nil {
		r.presenceLocked(presence, c)
	}
	if !resume || !listen || after >= r.head {
		return Subscription{}, nil
	}
	if len(r.recent) == 0 || after+1 < r.recentLocked(0).seq || r.head-after > uint64(c.PageSize()) {
		// Older than memory, or more than one page: everything up to
		// head is on disk; live frames wait in pending until EndSync.
		s.syncing = true
		return Subscription{Sync: true, From: after, To: r.head}, nil
	}
	for i := range len(r.recent) {
		if e := r.recentLocked(i); e.seq > after {
			c.Send(e.frame)
		}
	}
	return Subscription{}, nil
}

// EndSync ends a catch-up started by Subscribe, once the caller has queued
// the messages up to Subscription.To: the live frames held meanwhile follow.
func (r *Room) EndSync(c *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.subs[c]
	if s == nil || !s.syncing {
		return
	}
	for _, f := range s.pending {
		c.Send(f)
	}
	s.syncing, s.pending = false, nil
}

// Unsubscribe removes c. If it was p's last connection in the room,
// presence (which may be nil) is sent to the others. It reports whether c
// was subscribed.
func (r *Room) Unsubscribe(c *Conn, presence []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.subs[c]
	if !ok {
		return false
	}
	delete(r.subs, c)
	if r.online[s.p.ID]--; r.online[s.p.ID] <= 0 {
		delete(r.online, s.p.ID)
		if _, visiting := r.visits[s.p.ID]; visiting {
			return true // the avatar stays until the visit ends
		}
		if !r.mirror() { // in a mirror, the avatar is the home's while p is a member
			r.space.Leave(s.p.ID)
		}
		if presence != nil {
			r.presenceLocked(presence, nil)
		}
	}
	return true
}

// UnsubscribeParticipant removes every connection of participant id and
// queues left on each but self (which may be nil: its caller answers it);
// presence (may be nil) goes to the others. It returns how many
// connections were removed.
func (r *Room) UnsubscribeParticipant(id mesh.ParticipantID, self *Conn, left, presence []byte) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for c, s := range r.subs {
		if s.p.ID == id {
			delete(r.subs, c)
			if c != self {
				c.Send(left)
			}
			n++
		}
	}
	_, visiting := r.visits[id]
	delete(r.visits, id)
	if r.remote[id] { // a remote member removed (kick, ban)
		delete(r.remote, id)
		r.space.Leave(id)
	}
	if n > 0 || visiting {
		delete(r.online, id)
		r.space.Leave(id)
		if presence != nil {
			r.presenceLocked(presence, nil)
		}
	}
	return n
}

// Changed returns a channel that is closed when the room next publishes
// an entry (or is unloaded). A long poll takes it before reading storage,
// so no entry can slip between the read and the wait.
func (r *Room) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.notify == nil {
		r.notify = make(chan struct{})
		if r.gone {
			close(r.notify)
		}
	}
	return r.notify
}

func (r *Room) wakeLocked() {
	if r.notify != nil {
		close(r.notify)
		r.notify = nil
	}
}

// Relisten sets each subscriber's listen flag from may, after a policy
// change. A subscriber that gains listen receives what comes next.
func (r *Room) Relisten(may func(mesh.ParticipantID) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.subs {
		s.listen = may(s.p.ID)
	}
}

// Subscribed reports whether c is subscribed to the room.
func (r *Room) Subscribed(c *Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.subs[c]
	return ok
}

// Online reports whether participant id has a connection in the room.
func (r *Room) Online(id mesh.ParticipantID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.online[id] > 0
}

// Head returns the last published seq.
func (r *Room) Head() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.head
}
