// Package governance decides what a participant may do in a room. It is
// pure: every decision is a function of a Subject (who acts, as the node
// knows them), a Room (its creator and policy) and a capability, with no
// I/O, no clock and no state. Can and Capabilities allocate nothing, so the
// node may call them for every message it routes.
//
// The capabilities a subject holds in a room follow these rules:
//
//  1. Base. A participant holds the capabilities the policy grants its trust
//     level, plus Policy.Grants[id], minus Policy.Revokes[id]. Revokes win
//     over grants.
//  2. Room ownership. The room's creator holds every capability in it, and
//     so does every ancestor of the creator: a parent answers for the rooms
//     its agents make. Revokes naming them still apply. An ancestor of the
//     creator is recognised when it appears in Room.CreatorAncestors or
//     above the creator in the subject's own chain of ancestors.
//  3. Agents never exceed their parent. The result is intersected with the
//     parent's capabilities in the same room, computed by these same rules
//     up the chain: the parent's own ancestors are Subject.Ancestors[1:].
//     Each ancestor's trust is its own, but a trust above the parent's is
//     treated as the parent's (it is clamped), comparing levels with
//     mesh.Trust.Rank. The clamped trust is the one every rule uses,
//     including execute.from and data.ingress.
//  4. Unknown trust levels hold nothing: neither the policy, nor a grant,
//     nor room ownership gives anything to a participant whose trust, or
//     whose ancestor's trust, is not a known level.
//  5. Commands. A command may be sent only when the sender's trust is in
//     Policy.Execute.From, the sender holds speak, and the target holds
//     execute (MayCommand). The default execute.from is owner and local, so
//     federated senders can never trigger commands unless a room's policy
//     names "federated".
//
// Room data needs data-read to read (MayReadData); writing needs data-write
// and a trust level listed in Policy.Data.Ingress (MayWriteData).
//
// Refusals are *mesh.Error values with code mesh.EForbidden whose message
// names the capability and the rule that failed. The decisions are pinned
// by the vectors in testdata/protocol/governance, which the TypeScript SDK
// reads too.
package governance

import (
	"math/bits"
	"strings"

	"github.com/the-mesh/mesh"
)

// Subject is who acts: its id, its trust level and its ancestors (parent
// first, then grandparent...), as the node knows them.
type Subject struct {
	ID        mesh.ParticipantID
	Trust     mesh.Trust
	Ancestors []Ancestor
}

// Ancestor is one participant in a subject's chain of parents.
type Ancestor struct {
	ID    mesh.ParticipantID
	Trust mesh.Trust
}

// Room is what a decision needs of a room. A nil Policy is the default
// policy (mesh.DefaultPolicy). CreatorAncestors lists the creator's own
// ancestors, parent first; it is optional, and without it a creator's
// ancestor is recognised as one only when it acts through the creator's
// chain (see rule 2 in the package doc).
type Room struct {
	Creator          mesh.ParticipantID
	CreatorAncestors []mesh.ParticipantID
	Policy           *mesh.Policy
}

// Set is a set of capabilities, one bit each in the order of
// mesh.Capabilities (speak is bit 0). The zero Set is empty.
type Set uint8

// All is the set of every capability.
const All Set = 1<<7 - 1

// bit returns c's bit, or 0 for an unknown capability. The order is that of
// mesh.Capabilities, which only ever grows at the end.
func bit(c mesh.Capability) Set {
	switch c {
	case mesh.CapSpeak:
		return 1 << 0
	case mesh.CapListen:
		return 1 << 1
	case mesh.CapExecute:
		return 1 << 2
	case mesh.CapModerate:
		return 1 << 3
	case mesh.CapBridge:
		return 1 << 4
	case mesh.CapDataRead:
		return 1 << 5
	case mesh.CapDataWrite:
		return 1 << 6
	}
	return 0
}

// SetOf returns the set of caps; unknown capabilities are ignored.
func SetOf(caps ...mesh.Capability) Set {
	var s Set
	for _, c := range caps {
		s |= bit(c)
	}
	return s
}

// Has reports whether c is in s. An unknown capability is in no set.
func (s Set) Has(c mesh.Capability) bool {
	b := bit(c)
	return b != 0 && s&b == b
}

// List returns the capabilities in s in the order of mesh.Capabilities,
// never nil, for messages and vectors. It allocates.
func (s Set) List() []mesh.Capability {
	out := make([]mesh.Capability, 0, bits.OnesCount8(uint8(s&All)))
	for _, c := range mesh.Capabilities {
		if s.Has(c) {
			out = append(out, c)
		}
	}
	return out
}

// String returns s as a comma-separated list, e.g. "speak,listen".
func (s Set) String() string {
	var b strings.Builder
	for _, c := range s.List() {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(c))
	}
	return b.String()
}
