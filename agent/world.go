package agent

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/the-mesh/mesh"
)

// The world: each joined room is a floor on which the client's avatar
// stands (PROTOCOL.md, "World"). The node is the authority; the client
// keeps what the node last said.

// world is what the client knows of a room's floor.
type world struct {
	size, speed float64
	avatars     map[mesh.ParticipantID]mesh.AvatarState
	seq         uint64        // the last move seq sent to the room
	changed     chan struct{} // closed when a state frame arrives; made on demand
}

// stepEvery is how often MoveTo sends a move: the node's default tick.
const stepEvery = 50 * time.Millisecond

// maxStepDt is the longest time the node credits a move with (PROTOCOL.md,
// "World"), so the most one step of MoveTo claims after a stall.
const maxStepDt = time.Second

// arrival is how near its target an avatar has arrived: the node keeps
// millimetres.
const arrival = 0.001

// updateWorld applies joined.state (replacing what was known) or a state
// frame's moves. c.mu must be held.
func (rs *roomState) updateWorld(ws *mesh.WorldState, moves []mesh.AvatarState) {
	w := &rs.world
	if ws != nil {
		w.size, w.speed = ws.Size, ws.Speed
		w.avatars = make(map[mesh.ParticipantID]mesh.AvatarState, len(ws.Moves))
		moves = ws.Moves
	}
	if w.avatars == nil {
		w.avatars = map[mesh.ParticipantID]mesh.AvatarState{}
	}
	for _, m := range moves {
		w.avatars[m.ID] = m
	}
	if w.changed != nil {
		close(w.changed)
		w.changed = nil
	}
}

// forget drops an avatar that left. c.mu must be held.
func (rs *roomState) forget(id mesh.ParticipantID) { delete(rs.world.avatars, id) }

// Positions returns every avatar the client knows in a joined room, as of
// the node's last state frame.
func (c *Client) Positions(room mesh.RoomID) []mesh.AvatarState {
	c.mu.Lock()
	defer c.mu.Unlock()
	rs := c.rooms[room]
	if rs == nil {
		return nil
	}
	out := make([]mesh.AvatarState, 0, len(rs.world.avatars))
	for _, a := range rs.world.avatars {
		out = append(out, a)
	}
	return out
}

// MoveTo walks the client's avatar in a joined room to (x, z), clamped to
// the floor, one move per tick at nine tenths of the room's speed, and
// returns the node's final word on where it stands. The node cuts short a
// move that comes sooner than the speed allows (after a stalled client or
// a late frame); MoveTo then walks on from where the node has the avatar,
// until it arrives or a walk gains nothing.
func (c *Client) MoveTo(ctx context.Context, room mesh.RoomID, x, z float64) (mesh.AvatarState, error) {
	from, size, speed, err := c.avatar(room)
	if err != nil {
		return mesh.AvatarState{}, err
	}
	if size > 0 {
		half := size / 2
		x, z = min(max(x, -half), half), min(max(z, -half), half)
	}
	for {
		if err := c.walk(ctx, room, from, x, z, speed); err != nil {
			return mesh.AvatarState{}, err
		}
		me, err := c.settled(ctx, room)
		if err != nil {
			return mesh.AvatarState{}, err
		}
		if math.Hypot(x-me.Pos[0], z-me.Pos[2]) < arrival || me.Pos == from {
			return me, nil
		}
		from = me.Pos
	}
}

// walk sends moves from pos straight to (x, z), one per tick, each as long
// as nine tenths of speed allows since the last.
func (c *Client) walk(ctx context.Context, room mesh.RoomID, pos mesh.Vec, x, z, speed float64) error {
	clock := c.now
	if clock == nil {
		clock = time.Now
	}
	tick := time.NewTicker(stepEvery)
	defer tick.Stop()
	last := clock()
	for {
		dx, dz := x-pos[0], z-pos[2]
		d := math.Hypot(dx, dz)
		if d < arrival {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		now := clock()
		dt := min(max(now.Sub(last), 0), maxStepDt)
		last = now
		step := min(d, 0.9*speed*dt.Seconds())
		pos = mesh.Vec{pos[0] + dx*step/d, 0, pos[2] + dz*step/d}
		if err := c.sendMove(ctx, room, pos, math.Atan2(dx, dz)); err != nil {
			return err
		}
	}
}

// avatar returns the client's avatar's position and the room's floor size
// and speed.
func (c *Client) avatar(room mesh.RoomID) (mesh.Vec, float64, float64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rs := c.rooms[room]
	if rs == nil {
		return mesh.Vec{}, 0, 0, fmt.Errorf("agent: join room %q before moving in it", room)
	}
	me, ok := rs.world.avatars[c.me.ID]
	if !ok || rs.world.speed <= 0 {
		return mesh.Vec{}, 0, 0, fmt.Errorf("agent: the node has not placed this client in room %q (no listen capability?)", room)
	}
	return me.Pos, rs.world.size, rs.world.speed, nil
}

func (c *Client) sendMove(ctx context.Context, room mesh.RoomID, pos mesh.Vec, facing float64) error {
	cn, limits, err := c.live(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	rs := c.rooms[room]
	if rs == nil {
		c.mu.Unlock()
		return fmt.Errorf("agent: room %q was left while moving", room)
	}
	rs.world.seq++
	m := mesh.Move{Type: mesh.FrameMove, Room: room, Pos: pos[:], Facing: facing, Seq: rs.world.seq}
	c.mu.Unlock()
	return cn.write(ctx, m, limits.MaxFrameBytes)
}

// settled waits until the node has applied the client's last move.
func (c *Client) settled(ctx context.Context, room mesh.RoomID) (mesh.AvatarState, error) {
	for {
		c.mu.Lock()
		rs := c.rooms[room]
		if rs == nil {
			c.mu.Unlock()
			return mesh.AvatarState{}, fmt.Errorf("agent: room %q was left while moving", room)
		}
		me := rs.world.avatars[c.me.ID]
		if me.Ack >= rs.world.seq {
			c.mu.Unlock()
			return me, nil
		}
		if rs.world.changed == nil {
			rs.world.changed = make(chan struct{})
		}
		changed := rs.world.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return mesh.AvatarState{}, ctx.Err()
		}
	}
}
