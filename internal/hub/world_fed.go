package hub

import (
	"time"

	"github.com/the-mesh/mesh"
)

// The world across nodes. A federated room's home is the authority on its
// world: participants of other nodes have avatars in its Space (remote
// avatars: present while they are members, without a connection here),
// and every state it computes goes to the hooks, which send it to the
// member nodes. A mirror room (id room@home) keeps no world of its own:
// its Space holds the home's avatars as the home last sent them (Mirror),
// and its subscribers' moves go to the hooks, which send them home.

// WorldHooks connect the rooms' worlds to federation. Each hook is called
// under the room's lock and must not block or call back into the room.
type WorldHooks struct {
	// Move gets a move of local participant p in mirror room (room@home).
	Move func(room mesh.RoomID, p mesh.ParticipantID, m *mesh.Move)
	// State gets every state frame of a local room, after its subscribers.
	State func(room mesh.RoomID, st *mesh.State)
	// Presence gets every presence frame a local room sends its
	// subscribers because one of its own came or went.
	Presence func(room mesh.RoomID, frame []byte)
}

// SetWorldHooks installs hooks for every room.
func (h *Hub) SetWorldHooks(w WorldHooks) { h.hooks.Store(&w) }

func (r *Room) hooksOf() *WorldHooks {
	if r.hooks == nil {
		return nil
	}
	return r.hooks.Load()
}

// mirror reports whether r is another node's room.
func (r *Room) mirror() bool { return r.ID.Remote() }

// presenceLocked sends a presence frame of one of the room's own to its
// subscribers, and to the Presence hook.
func (r *Room) presenceLocked(frame []byte, except *Conn) {
	r.broadcastLocked(frame, except)
	if w := r.hooksOf(); w != nil && w.Presence != nil && !r.mirror() {
		w.Presence(r.ID, frame)
	}
}

// EnterRemote gives remote participant id (a member from another node) an
// avatar in the room, until LeaveRemote.
func (r *Room) EnterRemote(id mesh.ParticipantID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.remote == nil {
		r.remote = map[mesh.ParticipantID]bool{}
	}
	r.remote[id] = true
	r.enterLocked(id)
}

// LeaveRemote removes remote participant id's avatar.
func (r *Room) LeaveRemote(id mesh.ParticipantID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.remote[id] {
		delete(r.remote, id)
		r.space.Leave(id)
	}
}

// MoveRemote applies a move of remote participant id (a member: the caller
// checked), with the rules of a local avatar; it spawns the avatar first
// if the room has none for it yet.
func (r *Room) MoveRemote(id mesh.ParticipantID, pos mesh.Vec, facing float64, seq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.remote[id] {
		if r.remote == nil {
			r.remote = map[mesh.ParticipantID]bool{}
		}
		r.remote[id] = true
		r.enterLocked(id)
	}
	if r.space.Move(id, pos, facing, seq, time.Now()) {
		r.due.Store(true)
	}
}

// Mirror applies a state of the home's world to a mirror room: each avatar
// takes the place the home gave it, and the room's subscribers get the
// state frame at once.
func (r *Room) Mirror(st mesh.State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(st.Moves) == 0 {
		return
	}
	for _, a := range st.Moves {
		r.space.Put(a, time.Now())
	}
	st.Type, st.Room = mesh.FrameState, r.ID
	frame, err := Frame(st)
	if err != nil {
		return
	}
	r.broadcastLocked(frame, nil)
}

// Forget removes id's avatar from a mirror room (the home said it left).
func (r *Room) Forget(id mesh.ParticipantID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.space.Leave(id)
}

// World returns every avatar of the room.
func (r *Room) World() mesh.WorldState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.space.Snapshot(r.tick.Load())
}

// Payload returns the JSON inside a frame made by Frame.
func Payload(frame []byte) []byte {
	if len(frame) < 2 {
		return nil
	}
	switch n := frame[1] & 0x7f; {
	case n < 126:
		return frame[2:]
	case n == 126 && len(frame) >= 4:
		return frame[4:]
	case len(frame) >= 10:
		return frame[10:]
	}
	return nil
}
