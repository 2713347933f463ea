package governance_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/governance"
)

// fuzzTrusts are the trust levels a fuzzed chain draws from, one unknown.
var fuzzTrusts = []mesh.Trust{mesh.TrustOwner, mesh.TrustLocal, mesh.TrustFederated, mesh.TrustUntrusted, "admin"}

// fuzzCase builds a chain of up to four participants p_0 (the subject) to
// p_3, a policy with grants and revokes for them, and a creator, all from
// the bytes of data.
func fuzzCase(data []byte) (governance.Subject, governance.Room) {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	id := func(i int) mesh.ParticipantID { return mesh.ParticipantID(fmt.Sprintf("p_%d", i)) }
	n := 1 + int(next()%4)
	s := governance.Subject{ID: id(0), Trust: fuzzTrusts[int(next())%len(fuzzTrusts)]}
	for i := 1; i < n; i++ {
		s.Ancestors = append(s.Ancestors, governance.Ancestor{ID: id(i), Trust: fuzzTrusts[int(next())%len(fuzzTrusts)]})
	}
	p := mesh.DefaultPolicy()
	for i := 0; i < n; i++ {
		if g := governance.Set(next()) & governance.All; g != 0 {
			p.Grants[id(i)] = g.List()
		}
		if r := governance.Set(next()) & governance.All; r != 0 {
			p.Revokes[id(i)] = r.List()
		}
	}
	room := governance.Room{Policy: &p}
	if c := int(next() % 6); c < n {
		// The node knows the creator's ancestors as it knows the subject's.
		room.Creator = id(c)
		for i := c + 1; i < n; i++ {
			room.CreatorAncestors = append(room.CreatorAncestors, id(i))
		}
	} else if c == 5 {
		room.Creator = "p_other"
		room.CreatorAncestors = []mesh.ParticipantID{id(int(next()) % n)}
	}
	return s, room
}

// FuzzCapabilities checks the rules as invariants over random chains.
func FuzzCapabilities(f *testing.F) {
	for _, seed := range []string{"", "\x00", "\x03\x01\x01\x00\x00\x04\x00\x7f\x01", "\x02\x00\x01\x10\x00\x00\x20\x00", "\x01\x04\x02\xff\x00\x00\x00\x05\x00"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, r := fuzzCase(data)
		got := governance.Capabilities(s, r)
		if got&^governance.All != 0 {
			t.Fatalf("got bits outside All: %08b", got)
		}
		// Rule 1: revokes always win.
		if rev := governance.SetOf(r.Policy.Revokes[s.ID]...); got&rev != 0 {
			t.Errorf("holds revoked %v", got&rev)
		}
		// Rule 3: never more than the parent.
		if len(s.Ancestors) > 0 {
			a := s.Ancestors[0]
			parent := governance.Subject{ID: a.ID, Trust: a.Trust, Ancestors: s.Ancestors[1:]}
			if up := governance.Capabilities(parent, r); got&^up != 0 {
				t.Errorf("holds %v that its parent (holding %v) lacks", got&^up, up)
			}
		}
		// Rule 4: an unknown trust anywhere holds nothing.
		unknown := !s.Trust.Valid()
		for _, a := range s.Ancestors {
			unknown = unknown || !a.Trust.Valid()
		}
		if unknown && got != 0 {
			t.Errorf("an unknown trust in the chain, yet holds %v", got)
		}
		// Check agrees with Can and explains every refusal.
		for _, c := range mesh.Capabilities {
			err := governance.Check(s, c, r)
			if (err == nil) != got.Has(c) {
				t.Errorf("%s: Check %v, Capabilities %v", c, err, got)
			}
			if err != nil && (mesh.ErrorCode(err) != mesh.EForbidden || !strings.Contains(mesh.ErrorMessage(err), fmt.Sprintf("%q", c)) || strings.Contains(mesh.ErrorMessage(err), "not granted")) {
				t.Errorf("%s: refusal %v does not name it and its cause", c, err)
			}
		}
	})
}
