package governance

import "github.com/the-mesh/mesh"

// defaultPolicy stands in for a nil Room.Policy. It is never modified.
var defaultPolicy = mesh.DefaultPolicy()

func (r Room) policy() *mesh.Policy {
	if r.Policy != nil {
		return r.Policy
	}
	return &defaultPolicy
}

// The levels of a subject's chain are numbered from 0, the subject itself,
// to len(Ancestors), its most distant known ancestor.

// level returns the id and own trust of level i of s's chain.
func (s Subject) level(i int) (mesh.ParticipantID, mesh.Trust) {
	if i == 0 {
		return s.ID, s.Trust
	}
	a := s.Ancestors[i-1]
	return a.ID, a.Trust
}

// effective returns the trust of level i once clamped to every level
// above it: the lowest-ranked trust from i up (rule 3). An unknown level
// anywhere from i up makes it unknown (rank -1).
func (s Subject) effective(i int) mesh.Trust {
	_, t := s.level(i)
	for j := i + 1; j <= len(s.Ancestors); j++ {
		if _, up := s.level(j); up.Rank() < t.Rank() {
			t = up
		}
	}
	return t
}

// creatorLevel returns the lowest level of s's chain that is r's creator,
// or -1. That level and every level above it own the room (rule 2).
func (r Room) creatorLevel(s Subject) int {
	if r.Creator == "" {
		return -1
	}
	for i := 0; i <= len(s.Ancestors); i++ {
		if id, _ := s.level(i); id == r.Creator {
			return i
		}
	}
	return -1
}

// isCreatorAncestor reports whether id is listed as an ancestor of r's creator.
func (r Room) isCreatorAncestor(id mesh.ParticipantID) bool {
	for _, a := range r.CreatorAncestors {
		if a == id && a != "" {
			return true
		}
	}
	return false
}

// base returns what a participant holds on its own (rules 1, 2 and 4),
// before the intersection with its parent: trust is its clamped trust and
// owner says whether it owns the room through its own chain.
func (r Room) base(p *mesh.Policy, id mesh.ParticipantID, trust mesh.Trust, owner bool) Set {
	if trust.Rank() < 0 {
		return 0
	}
	var b Set
	if owner || r.isCreatorAncestor(id) {
		b = All
	} else {
		b = SetOf(p.Capabilities[trust]...) | SetOf(p.Grants[id]...)
	}
	return b &^ SetOf(p.Revokes[id]...)
}

// Capabilities returns what s holds in r. It does not allocate.
func Capabilities(s Subject, r Room) Set {
	p := r.policy()
	owns := r.creatorLevel(s)
	held := All
	var eff mesh.Trust
	// Walk from the most distant ancestor down, so that each level's trust
	// is clamped to the level above and its set intersected with it.
	for i := len(s.Ancestors); i >= 0; i-- {
		id, t := s.level(i)
		if i < len(s.Ancestors) && t.Rank() > eff.Rank() {
			t = eff
		}
		eff = t
		held &= r.base(p, id, t, owns >= 0 && i >= owns)
		if held == 0 {
			return 0
		}
	}
	return held
}

// Can reports whether s holds c in r. It does not allocate.
func Can(s Subject, c mesh.Capability, r Room) bool {
	return Capabilities(s, r).Has(c)
}

// EffectiveTrust is s's trust once clamped to its ancestors': the level its
// messages are tagged and scanned with (rule 3).
func EffectiveTrust(s Subject) mesh.Trust { return s.effective(0) }
