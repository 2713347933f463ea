package hub

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/world"
)

// The world tick: each room keeps its avatars in a world.Space under the
// room's lock; every tick, the hub sends one state frame to each room in
// which an avatar moved or appeared.

// DefaultTick is how often state frames go out (20 Hz).
const DefaultTick = 50 * time.Millisecond

// ErrNotSubscribed refuses a move from a connection that has not joined
// the room.
var ErrNotSubscribed = errors.New("hub: connection is not subscribed to the room")

type ticker struct {
	rules  world.Rules
	cancel context.CancelFunc
	done   sync.WaitGroup
	due    []*Room // reused by each tick
}

// StartWorld sets the movement rules of rooms loaded from now on and
// starts the tick; Close stops it.
func (h *Hub) StartWorld(rules world.Rules, every time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	h.mu.Lock()
	h.world.rules, h.world.cancel = rules, cancel
	h.mu.Unlock()
	h.world.done.Add(1)
	go func() {
		defer h.world.done.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				h.tickWorld(h.tick.Add(1))
			}
		}
	}()
}

// Close stops the world tick and waits for it.
func (h *Hub) Close() {
	h.mu.Lock()
	cancel := h.world.cancel
	h.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	h.world.done.Wait()
}

func (h *Hub) tickWorld(tick uint64) {
	h.mu.Lock()
	due := h.world.due[:0]
	for _, r := range h.rooms {
		if r.due.Load() {
			due = append(due, r)
		}
	}
	h.world.due = due
	h.mu.Unlock()
	for i, r := range due {
		r.sendState(tick)
		due[i] = nil
	}
}

// sendState ends visits that ran out, walks the walkers, and queues the
// tick's state frame on every listening subscriber.
func (r *Room) sendState(tick uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for id, v := range r.visits {
		if r.space.Walks(id) { // late ticks make a walk outlast its eta: the ttl runs from its end
			v.until = now.Add(v.ttl)
			r.visits[id] = v
			continue
		}
		if now.Before(v.until) {
			continue
		}
		delete(r.visits, id)
		if r.online[id] == 0 {
			r.space.Leave(id)
			r.presenceLocked(v.leave, nil)
		}
	}
	r.space.Advance(now)
	r.due.Store(r.space.Walking() || len(r.visits) > 0)
	st, ok := r.space.State(tick)
	if !ok {
		return
	}
	frame, err := Frame(st)
	if err != nil { // a State always encodes
		panic(err)
	}
	r.broadcastLocked(frame, nil)
	if w := r.hooksOf(); w != nil && w.State != nil && !r.mirror() {
		w.State(r.ID, &st)
	}
}

// Move applies a move sent on c: stale ones (seq not above the last this
// connection sent to the room) are ignored; the result goes out with the
// next tick.
func (r *Room) Move(c *Conn, m *mesh.Move) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.subs[c]
	if s == nil {
		return ErrNotSubscribed
	}
	if m.Seq <= s.moveSeq {
		return nil
	}
	s.moveSeq = m.Seq
	if r.mirror() { // the home applies it
		if w := r.hooksOf(); w != nil && w.Move != nil {
			w.Move(r.ID, s.p.ID, m)
		}
		return nil
	}
	if r.space.Move(s.p.ID, mesh.Vec(m.Pos), m.Facing, m.Seq, time.Now()) {
		r.due.Store(true)
	}
	return nil
}

// visit is a participant present in the world through REST: its avatar
// stays until the visit ends, even without a connection.
type visit struct {
	until time.Time
	ttl   time.Duration // how long it lasts after a walk ends
	leave []byte        // the presence frame sent when the visit ends
}

// Walk makes p present in the room until ttl after it arrives (a visit: join is
// the presence frame sent if p was not present, leave the one sent when
// the visit ends without a connection) and walks its avatar to target at
// the room's speed. It returns p's avatar, the clamped target and how long
// the walk takes; ErrRoomGone if the hub unloaded the room meanwhile.
func (r *Room) Walk(p mesh.Participant, target mesh.Vec, ttl time.Duration, join, leave []byte) (mesh.AvatarState, mesh.Vec, time.Duration, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return mesh.AvatarState{}, mesh.Vec{}, 0, ErrRoomGone
	}
	now := time.Now()
	if _, visiting := r.visits[p.ID]; !visiting && r.online[p.ID] == 0 {
		r.enterLocked(p.ID)
		r.presenceLocked(join, nil)
	}
	if r.visits == nil {
		r.visits = map[mesh.ParticipantID]visit{}
	}
	to, eta, _ := r.space.Walk(p.ID, target, now)
	r.visits[p.ID] = visit{until: now.Add(eta + ttl), ttl: ttl, leave: leave}
	r.due.Store(true)
	a, _ := r.space.Avatar(p.ID)
	return a, to, eta, nil
}

// Where returns participant id's position in the room, if present.
func (r *Room) Where(id mesh.ParticipantID) (mesh.AvatarState, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.space.Avatar(id)
}

func (r *Room) enterLocked(id mesh.ParticipantID) {
	r.space.Enter(id, time.Now())
	r.due.Store(true)
}
