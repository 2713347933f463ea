package mesh

// The world: each room is a square floor on which every present
// participant has a position. Positions live in the node's memory only.
const (
	FrameMove  = "move"  // client -> node
	FrameState = "state" // node -> client
)

// World defaults: the floor's edge in metres and the fastest a participant
// may walk, in metres per second.
const (
	DefaultWorldSize  = 40
	DefaultWorldSpeed = 6
)

// Move asks the node to put the sender's avatar at Pos in Room. Seq grows
// with every move a connection sends to a room; the node answers in the
// next State with Ack = Seq.
type Move struct {
	Type   string    `json:"type"`
	Room   RoomID    `json:"room"`
	Pos    []float64 `json:"pos"`
	Facing float64   `json:"facing"`
	Seq    uint64    `json:"seq"`
	Ref    string    `json:"ref,omitempty"`
}

// Vec is a position in metres: x and z on the floor, y up (always 0).
type Vec [3]float64

// AvatarState is a participant's authoritative place. Ack is the last seq
// of its moves the node applied (0 for a spawn).
type AvatarState struct {
	ID     ParticipantID `json:"id"`
	Pos    Vec           `json:"pos"`
	Facing float64       `json:"facing"`
	Ack    uint64        `json:"ack"`
}

// State carries every avatar that moved or appeared in a room during one
// tick, batched into one frame.
type State struct {
	Type  string        `json:"type"`
	Room  RoomID        `json:"room"`
	Tick  uint64        `json:"tick"`
	Moves []AvatarState `json:"moves"`
}

// WorldState is joined.state: the floor and every present avatar.
type WorldState struct {
	Tick  uint64        `json:"tick"`
	Size  float64       `json:"size"`
	Speed float64       `json:"speed"`
	Moves []AvatarState `json:"moves"`
}

func validMove(f *Move) error {
	if err := needRoomOrAddress("move", f.Room); err != nil { // a remote room's moves go to its home
		return err
	}
	if len(f.Pos) != 3 {
		return Errorf(EInvalid, `move needs "pos" as [x, y, z]; got %d numbers.`, len(f.Pos))
	}
	if f.Seq == 0 {
		return Errorf(EInvalid, `move needs a positive "seq".`)
	}
	return nil // JSON has no NaN or infinity: every number is finite
}
