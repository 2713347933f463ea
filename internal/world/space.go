package world

import (
	"cmp"
	"hash/fnv"
	"math"
	"slices"
	"time"

	"github.com/the-mesh/mesh"
)

// Rules bound movement in every room.
type Rules struct {
	Size  float64       // the floor's edge in metres; x and z lie in [-Size/2, Size/2]
	Speed float64       // metres per second
	Slack float64       // metres a move may exceed Speed*dt by (network jitter)
	MaxDt time.Duration // the longest dt a move is credited with
}

// DefaultRules are the rules of mesh.DefaultWorldSize and DefaultWorldSpeed.
var DefaultRules = Rules{Size: mesh.DefaultWorldSize, Speed: mesh.DefaultWorldSpeed, Slack: 1, MaxDt: time.Second}

// SpawnRadius is how far from the floor's centre an avatar appears.
const SpawnRadius = 6

// Space is one room's avatars.
type Space struct {
	rules   Rules
	room    mesh.RoomID
	avatars map[mesh.ParticipantID]*avatar
	changed []*avatar // moved or spawned since the last State, each once
	walkers int       // avatars with walking set
}

type avatar struct {
	mesh.AvatarState
	last    time.Time // when the last move was applied (or the spawn)
	changed bool      // in Space.changed
	walking bool      // the node walks it to target (a REST move)
	target  mesh.Vec
}

// NewSpace returns an empty space for room.
func NewSpace(room mesh.RoomID, rules Rules) *Space {
	return &Space{rules: rules, room: room, avatars: map[mesh.ParticipantID]*avatar{}}
}

// Len returns how many avatars are present.
func (s *Space) Len() int { return len(s.avatars) }

// Enter places id at its spawn point, unless it is present already.
func (s *Space) Enter(id mesh.ParticipantID, now time.Time) {
	if s.avatars[id] != nil {
		return
	}
	a := &avatar{AvatarState: mesh.AvatarState{ID: id, Pos: Spawn(s.room, id)}, last: now}
	s.avatars[id] = a
	s.markChanged(a)
}

// Leave forgets id's position.
func (s *Space) Leave(id mesh.ParticipantID) {
	a := s.avatars[id]
	if a == nil {
		return
	}
	delete(s.avatars, id)
	if a.walking {
		s.walkers--
	}
	if a.changed {
		for i, c := range s.changed {
			if c == a {
				s.changed = append(s.changed[:i], s.changed[i+1:]...)
				break
			}
		}
	}
}

// Move applies a move by id with sequence number seq: pos is clamped to
// the floor and cut short to what Speed allows since id's last move. It
// reports false when id is not present.
func (s *Space) Move(id mesh.ParticipantID, pos mesh.Vec, facing float64, seq uint64, now time.Time) bool {
	a := s.avatars[id]
	if a == nil {
		return false
	}
	dt := min(max(now.Sub(a.last), 0), s.rules.MaxDt).Seconds()
	reach := s.rules.Speed*dt + s.rules.Slack
	dx, dz := pos[0]-a.Pos[0], pos[2]-a.Pos[2]
	if d := math.Hypot(dx, dz); d > reach {
		dx, dz = dx*reach/d, dz*reach/d
	}
	half := s.rules.Size / 2
	a.Pos = mesh.Vec{round(clamp(a.Pos[0]+dx, half)), 0, round(clamp(a.Pos[2]+dz, half))}
	a.Facing = round(normalize(facing))
	a.Ack = seq
	a.last = now
	s.stopWalking(a)
	s.markChanged(a)
	return true
}

// Walk sets id walking to target (clamped to the floor) at the room's
// speed, one step per Advance; a Move by its client stops the walk. It
// returns the clamped target and how long the walk takes, or false when
// id is not present.
func (s *Space) Walk(id mesh.ParticipantID, target mesh.Vec, now time.Time) (mesh.Vec, time.Duration, bool) {
	a := s.avatars[id]
	if a == nil {
		return mesh.Vec{}, 0, false
	}
	half := s.rules.Size / 2
	target = mesh.Vec{round(clamp(target[0], half)), 0, round(clamp(target[2], half))}
	if !a.walking {
		a.walking = true
		s.walkers++
		a.last = now
	}
	a.target = target
	d := math.Hypot(target[0]-a.Pos[0], target[2]-a.Pos[2])
	return target, time.Duration(d / s.rules.Speed * float64(time.Second)), true
}

// Walking reports whether an avatar is walking, so Advance has work.
func (s *Space) Walking() bool { return s.walkers > 0 }

// Walks reports whether id is walking (a Walk not yet arrived nor taken
// over by a Move).
func (s *Space) Walks(id mesh.ParticipantID) bool {
	a := s.avatars[id]
	return a != nil && a.walking
}

// Advance moves each walking avatar toward its target by what the speed
// allows since its last step.
func (s *Space) Advance(now time.Time) {
	if s.walkers == 0 {
		return
	}
	for _, a := range s.avatars {
		if !a.walking {
			continue
		}
		dx, dz := a.target[0]-a.Pos[0], a.target[2]-a.Pos[2]
		d := math.Hypot(dx, dz)
		step := s.rules.Speed * min(max(now.Sub(a.last), 0), s.rules.MaxDt).Seconds()
		if step >= d {
			a.Pos = a.target
			s.stopWalking(a)
		} else {
			a.Pos = mesh.Vec{round(a.Pos[0] + dx*step/d), 0, round(a.Pos[2] + dz*step/d)}
		}
		if d > 0 {
			a.Facing = round(math.Atan2(dx, dz))
		}
		a.last = now
		s.markChanged(a)
	}
}

func (s *Space) stopWalking(a *avatar) {
	if a.walking {
		a.walking = false
		s.walkers--
	}
}

// Put sets id's state as another node's world gave it (a mirror of a
// room of that node): no rules apply, and no State follows.
func (s *Space) Put(a mesh.AvatarState, now time.Time) {
	if cur := s.avatars[a.ID]; cur != nil {
		cur.AvatarState = a
		cur.last = now
		return
	}
	s.avatars[a.ID] = &avatar{AvatarState: a, last: now}
}

// Avatar returns id's state, if present.
func (s *Space) Avatar(id mesh.ParticipantID) (mesh.AvatarState, bool) {
	if a := s.avatars[id]; a != nil {
		return a.AvatarState, true
	}
	return mesh.AvatarState{}, false
}

// Changed reports whether a State is due.
func (s *Space) Changed() bool { return len(s.changed) > 0 }

// State returns the avatars that moved or appeared since the last call,
// as the frame for tick, and starts a new batch. It returns false when
// nothing changed.
func (s *Space) State(tick uint64) (mesh.State, bool) {
	if len(s.changed) == 0 {
		return mesh.State{}, false
	}
	moves := make([]mesh.AvatarState, len(s.changed))
	for i, a := range s.changed {
		moves[i] = a.AvatarState
		a.changed = false
	}
	s.changed = s.changed[:0]
	return mesh.State{Type: mesh.FrameState, Room: s.room, Tick: tick, Moves: moves}, true
}

// Snapshot returns every present avatar, ordered by id, for joined.state.
func (s *Space) Snapshot(tick uint64) mesh.WorldState {
	moves := make([]mesh.AvatarState, 0, len(s.avatars))
	for _, a := range s.avatars {
		moves = append(moves, a.AvatarState)
	}
	slices.SortFunc(moves, func(a, b mesh.AvatarState) int { return cmp.Compare(a.ID, b.ID) })
	return mesh.WorldState{Tick: tick, Size: s.rules.Size, Speed: s.rules.Speed, Moves: moves}
}

func (s *Space) markChanged(a *avatar) {
	if !a.changed {
		a.changed = true
		s.changed = append(s.changed, a)
	}
}

// Spawn is where id appears in room: a point within SpawnRadius of the
// centre, the same every time.
func Spawn(room mesh.RoomID, id mesh.ParticipantID) mesh.Vec {
	h := fnv.New64a()
	h.Write([]byte(room))
	h.Write([]byte{0})
	h.Write([]byte(id))
	v := h.Sum64()
	angle := float64(v&0xffff) / 0x10000 * 2 * math.Pi
	r := SpawnRadius * math.Sqrt(float64(v>>16&0xffff)/0xffff)
	return mesh.Vec{round(r * math.Cos(angle)), 0, round(r * math.Sin(angle))}
}

func clamp(v, half float64) float64 { return min(max(v, -half), half) }

// normalize maps an angle in radians into (-pi, pi].
func normalize(a float64) float64 {
	a = math.Mod(a, 2*math.Pi)
	switch {
	case a <= -math.Pi:
		a += 2 * math.Pi
	case a > math.Pi:
		a -= 2 * math.Pi
	}
	return a
}

// round keeps millimetres (and milliradians): enough for the eye, and the
// frames stay short.
// Negative zero becomes zero, so it never prints as -0.
func round(v float64) float64 {
	if r := math.Round(v*1000) / 1000; r != 0 {
		return r
	}
	return 0
}
