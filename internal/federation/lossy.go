package federation

import (
	"github.com/the-mesh/mesh"
)

// The lossy path: bodies that are worth sending only while they are
// fresh (a room's world: moves and avatar positions). They never touch the
// queue: no put line, no fsync, no acknowledgement, no retry. Each waits
// in memory under a key until the pump's next round; a newer body under
// the same key replaces it, merging their avatars (the newer position of
// each wins). While the node has no link they are dropped, and the relay
// link drops them too when its send buffer is full.

// LossyHandler is implemented by a Handler that takes unsequenced bodies
// (SendLossy's). ReceiveLossy is called on the read goroutine, in the
// order the sender sent them, after the frame's signature verified; it
// must not block.
type LossyHandler interface {
	ReceiveLossy(from Peer, b *mesh.FedBody)
}

// MaxLossyMoves bounds the avatars of one lossy body: beyond it the
// sender drops the rest (the next round sends them if they change again).
const MaxLossyMoves = 512

type lossyKey struct{ to, key string }

// SendLossy sends b to node to at the pump's next round, unless a newer
// body with the same key replaces it first. b must not change after the
// call.
func (c *Client) SendLossy(to, key string, b *mesh.FedBody) {
	c.mu.Lock()
	if c.lossy == nil {
		c.lossy = map[lossyKey]*mesh.FedBody{}
	}
	k := lossyKey{to, key}
	if old := c.lossy[k]; old != nil && len(old.Moves) > 0 {
		b = mergeMoves(old, b)
	}
	c.lossy[k] = b
	c.mu.Unlock()
	c.wake()
}

// mergeMoves returns newer with the avatars of older it does not have.
func mergeMoves(older, newer *mesh.FedBody) *mesh.FedBody {
	seen := make(map[mesh.ParticipantID]bool, len(newer.Moves))
	for _, m := range newer.Moves {
		seen[m.ID] = true
	}
	out := *newer
	out.Moves = append([]mesh.AvatarState(nil), newer.Moves...)
	for _, m := range older.Moves {
		if !seen[m.ID] && len(out.Moves) < MaxLossyMoves {
			out.Moves = append(out.Moves, m)
		}
	}
	return &out
}

// lossyLocked takes the lossy bodies waiting. c.mu must be held.
func (c *Client) lossyLocked() map[lossyKey]*mesh.FedBody {
	if len(c.lossy) == 0 {
		return nil
	}
	out := c.lossy
	c.lossy = nil
	return out
}

// lossyFrames encodes and signs the lossy bodies taken from the map, one
// frame each, without a position. Only the pump calls it.
func (c *Client) lossyFrames(bodies map[lossyKey]*mesh.FedBody) [][]byte {
	out := make([][]byte, 0, len(bodies))
	for k, b := range bodies {
		if len(b.Moves) > MaxLossyMoves {
			c.log.Warn("federation: lossy body over the bound; avatars dropped", "to", k.to, "kind", b.Kind,
				"room", b.Room, "avatars", len(b.Moves), "bound", MaxLossyMoves)
			cut := *b
			cut.Moves = cut.Moves[:MaxLossyMoves]
			b = &cut
		}
		raw, err := b.MarshalJSON()
		if err != nil {
			continue
		}
		out = append(out, c.frame(k.to, "l"+newID(""), 0, 0, "", "body", raw, c.sign(k.to, raw)))
	}
	return out
}

// receiveLossy hands an unsequenced body that is not an ack to the
// handler, if it takes them.
func (c *Client) receiveLossy(from Peer, b *mesh.FedBody) {
	if h, ok := c.h.(LossyHandler); ok {
		h.ReceiveLossy(from, b)
	}
}
