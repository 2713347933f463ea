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

// sendState queues the tick's state frame on every listening subscriber.
func (r *Room) sendState(tick uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.due.Store(false)
	st, ok := r.space.State(tick)
	if !ok {
		return
	}
	frame, err := Frame(st)
	if err != nil { // a State always encodes
		panic(err)
	}
	r.broadcastLocked(frame, nil)
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
	if r.space.Move(s.p.ID, mesh.Vec(m.Pos), m.Facing, m.Seq, time.Now()) {
		r.due.Store(true)
	}
	return nil
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
