package e2e

import "encoding/binary"

// Domain labels: every signature and derivation starts with one, so no
// input of one can be replayed as another.
const (
	labelDevice  = "mesh-e2e-v1/device"
	labelWrap    = "mesh-e2e-v1/wrap"
	labelKeys    = "mesh-e2e-v1/keys"
	labelMsg     = "mesh-e2e-v1/msg"
	labelMessage = "mesh-e2e-v1/message" // message key from a chain key
	labelChain   = "mesh-e2e-v1/chain"   // next chain key
)

// enc builds the canonical byte strings of the protocol: lp(x) is a 4-byte
// big-endian length then x, u64(n) 8 bytes big-endian.
type enc []byte

func (e enc) lp(s string) enc { return e.lpb([]byte(s)) }

func (e enc) lpb(b []byte) enc {
	e = binary.BigEndian.AppendUint32(e, uint32(len(b)))
	return append(e, b...)
}

func (e enc) u64(n uint64) enc { return binary.BigEndian.AppendUint64(e, n) }
