package governance_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/governance"
)

// caps is shorthand for a capability list.
func caps(cs ...mesh.Capability) []mesh.Capability { return cs }

// MustPolicy parses a policy document over the defaults.
func MustPolicy(tb testing.TB, doc string) *mesh.Policy {
	tb.Helper()
	p, err := mesh.ParsePolicy([]byte(doc))
	if err != nil {
		tb.Fatalf("policy %s: %v", doc, err)
	}
	return &p
}

// agent returns a subject with the given chain of (id, trust) ancestors.
func agent(id mesh.ParticipantID, trust mesh.Trust, ancestors ...governance.Ancestor) governance.Subject {
	return governance.Subject{ID: id, Trust: trust, Ancestors: ancestors}
}

func TestSetOrder(t *testing.T) {
	if n := len(mesh.Capabilities); n > 8 {
		t.Fatalf("mesh.Capabilities has %d entries, want at most 8 for a uint8 Set", n)
	}
	for i, c := range mesh.Capabilities {
		if got, want := governance.SetOf(c), governance.Set(1<<i); got != want {
			t.Errorf("SetOf(%s): got %08b, want %08b (the order of mesh.Capabilities)", c, got, want)
		}
	}
	if got, want := governance.All.List(), mesh.Capabilities; !slices.Equal(got, want) {
		t.Errorf("All.List(): got %v, want %v", got, want)
	}
}

func TestSet(t *testing.T) {
	s := governance.SetOf(mesh.CapDataWrite, mesh.CapSpeak, "fly")
	if !s.Has(mesh.CapSpeak) || !s.Has(mesh.CapDataWrite) || s.Has(mesh.CapListen) || s.Has("fly") || s.Has("") {
		t.Errorf("Has: got the wrong answers for %v", s)
	}
	if got, want := s.List(), caps(mesh.CapSpeak, mesh.CapDataWrite); !slices.Equal(got, want) {
		t.Errorf("List: got %v, want %v", got, want)
	}
	if got := governance.Set(0).List(); got == nil || len(got) != 0 {
		t.Errorf("empty List: got %#v, want an empty, non-nil slice", got)
	}
	if got, want := s.String(), "speak,data-write"; got != want {
		t.Errorf("String: got %q, want %q", got, want)
	}
}

func TestCapabilities(t *testing.T) {
	for name, tt := range map[string]struct {
		subject governance.Subject
		room    governance.Room
		want    []mesh.Capability
	}{
		"OwnerDefault": {
			subject: agent("p_o", mesh.TrustOwner),
			want:    mesh.Capabilities,
		},
		"LocalDefault": {
			subject: agent("p_a", mesh.TrustLocal),
			want:    caps(mesh.CapSpeak, mesh.CapListen, mesh.CapDataRead),
		},
		"FederatedDefault": {
			subject: agent("p_a", mesh.TrustFederated),
			want:    caps(mesh.CapSpeak, mesh.CapListen),
		},
		"UntrustedDefault": {
			subject: agent("p_a", mesh.TrustUntrusted),
			want:    caps(mesh.CapListen),
		},
		"NilPolicyIsDefault": {
			subject: agent("p_a", mesh.TrustLocal),
			room:    governance.Room{Creator: "p_c"},
			want:    caps(mesh.CapSpeak, mesh.CapListen, mesh.CapDataRead),
		},
		"PolicyLevels": {
			subject: agent("p_a", mesh.TrustLocal),
			room:    governance.Room{Policy: MustPolicy(t, `{"capabilities": {"local": ["bridge"]}}`)},
			want:    caps(mesh.CapBridge),
		},
		"GrantAdds": {
			subject: agent("p_a", mesh.TrustLocal),
			room:    governance.Room{Policy: MustPolicy(t, `{"grants": {"p_a": ["execute"]}}`)},
			want:    caps(mesh.CapSpeak, mesh.CapListen, mesh.CapExecute, mesh.CapDataRead),
		},
		"RevokeRemoves": {
			subject: agent("p_a", mesh.TrustLocal),
			room:    governance.Room{Policy: MustPolicy(t, `{"revokes": {"p_a": ["speak"]}}`)},
			want:    caps(mesh.CapListen, mesh.CapDataRead),
		},
		"RevokeBeatsGrant": {
			subject: agent("p_a", mesh.TrustLocal),
			room:    governance.Room{Policy: MustPolicy(t, `{"grants": {"p_a": ["execute"]}, "revokes": {"p_a": ["execute"]}}`)},
			want:    caps(mesh.CapSpeak, mesh.CapListen, mesh.CapDataRead),
		},
		"CreatorHoldsAll": {
			subject: agent("p_a", mesh.TrustUntrusted),
			room:    governance.Room{Creator: "p_a"},
			want:    mesh.Capabilities,
		},
		"CreatorRevoked": {
			subject: agent("p_a", mesh.TrustLocal),
			room:    governance.Room{Creator: "p_a", Policy: MustPolicy(t, `{"revokes": {"p_a": ["moderate"]}}`)},
			want:    caps(mesh.CapSpeak, mesh.CapListen, mesh.CapExecute, mesh.CapBridge, mesh.CapDataRead, mesh.CapDataWrite),
		},
		"EmptyCreatorOwnsNothing": {
			subject: agent("", mesh.TrustUntrusted),
			room:    governance.Room{Creator: ""},
			want:    caps(mesh.CapListen),
		},
		"CreatorParentFromRoom": {
			subject: agent("p_p", mesh.TrustLocal),
			room:    governance.Room{Creator: "p_a", CreatorAncestors: []mesh.ParticipantID{"p_p"}},
			want:    mesh.Capabilities,
		},
		"CreatorAgentThroughChain": {
			subject: agent("p_a", mesh.TrustLocal, governance.Ancestor{ID: "p_p", Trust: mesh.TrustLocal}, governance.Ancestor{ID: "p_g", Trust: mesh.TrustLocal}),
			room:    governance.Room{Creator: "p_a"},
			want:    mesh.Capabilities,
		},
		"CreatorsChildIsNotOwner": {
			subject: agent("p_k", mesh.TrustLocal, governance.Ancestor{ID: "p_a", Trust: mesh.TrustLocal}),
			room:    governance.Room{Creator: "p_a"},
			want:    caps(mesh.CapSpeak, mesh.CapListen, mesh.CapDataRead),
		},
		"CreatorAgentParentRevoked": {
			subject: agent("p_a", mesh.TrustLocal, governance.Ancestor{ID: "p_p", Trust: mesh.TrustLocal}),
			room:    governance.Room{Creator: "p_a", Policy: MustPolicy(t, `{"revokes": {"p_p": ["bridge"]}}`)},
			want:    caps(mesh.CapSpeak, mesh.CapListen, mesh.CapExecute, mesh.CapModerate, mesh.CapDataRead, mesh.CapDataWrite),
		},
		"ParentRevoked": {
			subject: agent("p_a", mesh.TrustLocal, governance.Ancestor{ID: "p_p", Trust: mesh.TrustOwner}),
			room:    governance.Room{Policy: MustPolicy(t, `{"revokes": {"p_p": ["listen"]}}`)},
			want:    caps(mesh.CapSpeak, mesh.CapDataRead),
		},
		"GrandparentRevoked": {
			subject: agent("p_a", mesh.TrustLocal, governance.Ancestor{ID: "p_p", Trust: mesh.TrustOwner}, governance.Ancestor{ID: "p_g", Trust: mesh.TrustOwner}),
			room:    governance.Room{Policy: MustPolicy(t, `{"revokes": {"p_g": ["speak"]}}`)},
			want:    caps(mesh.CapListen, mesh.CapDataRead),
		},
		"GrantCannotExceedParent": {
			subject: agent("p_a", mesh.TrustLocal, governance.Ancestor{ID: "p_p", Trust: mesh.TrustLocal}),
			room:    governance.Room{Policy: MustPolicy(t, `{"grants": {"p_a": ["moderate"]}}`)},
			want:    caps(mesh.CapSpeak, mesh.CapListen, mesh.CapDataRead),
		},
		"TrustClamped": {
			// Unclamped, owner would keep the execute its parent was granted.
			subject: agent("p_a", mesh.TrustOwner, governance.Ancestor{ID: "p_p", Trust: mesh.TrustLocal}),
			room:    governance.Room{Policy: MustPolicy(t, `{"grants": {"p_p": ["execute"]}}`)},
			want:    caps(mesh.CapSpeak, mesh.CapListen, mesh.CapDataRead),
		},
		"TrustClampedByGrandparent": {
			subject: agent("p_a", mesh.TrustOwner, governance.Ancestor{ID: "p_p", Trust: mesh.TrustOwner}, governance.Ancestor{ID: "p_g", Trust: mesh.TrustFederated}),
			room:    governance.Room{Policy: MustPolicy(t, `{"grants": {"p_p": ["data-read"], "p_g": ["data-read"]}}`)},
			want:    caps(mesh.CapSpeak, mesh.CapListen),
		},
		"UnknownTrust": {
			subject: agent("p_a", "admin"),
			room:    governance.Room{Creator: "p_a", Policy: MustPolicy(t, `{"grants": {"p_a": ["speak"]}}`)},
			want:    caps(),
		},
		"UnknownAncestorTrust": {
			subject: agent("p_a", mesh.TrustOwner, governance.Ancestor{ID: "p_p", Trust: mesh.TrustOwner}, governance.Ancestor{ID: "p_g", Trust: ""}),
			want:    caps(),
		},
	} {
		t.Run(name, func(t *testing.T) {
			got := governance.Capabilities(tt.subject, tt.room)
			if !slices.Equal(got.List(), tt.want) {
				t.Errorf("got %v, want %v", got.List(), tt.want)
			}
			for _, c := range mesh.Capabilities {
				err := governance.Check(tt.subject, c, tt.room)
				if can := governance.Can(tt.subject, c, tt.room); can != got.Has(c) || can != (err == nil) {
					t.Errorf("%s: Can %v, Check %v, Capabilities %v disagree", c, can, err, got)
				}
			}
		})
	}
}

// refusal is a decision the table tests expect to be refused.
type refusal struct {
	err      error
	contains string
}

func TestRefusals(t *testing.T) {
	local := agent("p_a", mesh.TrustLocal)
	owner := agent("p_o", mesh.TrustOwner)
	withParent := agent("p_a", mesh.TrustLocal, governance.Ancestor{ID: "p_p", Trust: mesh.TrustLocal})
	def := governance.Room{Creator: "p_c"}
	revokeParent := governance.Room{Policy: MustPolicy(t, `{"revokes": {"p_p": ["speak"]}}`)}
	for name, tt := range map[string]refusal{
		"TrustLacks":         {governance.Check(local, mesh.CapExecute, def), `You lack "execute" in this room: trust local does not grant it.`},
		"Revoked":            {governance.Check(local, mesh.CapSpeak, governance.Room{Policy: MustPolicy(t, `{"revokes": {"p_a": ["speak"]}}`)}), `You lack "speak" in this room: it is revoked for you.`},
		"ParentLacks":        {governance.Check(withParent, mesh.CapSpeak, revokeParent), `your parent p_p lacks it (it is revoked for p_p)`},
		"Clamped":            {governance.Check(agent("p_a", mesh.TrustOwner, governance.Ancestor{ID: "p_p", Trust: mesh.TrustLocal}), mesh.CapModerate, def), `trust local does not grant it (your trust owner is clamped to your parent's)`},
		"Unknown":            {governance.Check(agent("p_a", "root"), mesh.CapListen, def), `trust "root" is unknown`},
		"NoSuchCapability":   {governance.Check(owner, "fly", def), `there is no such capability`},
		"CommandFederated":   {governance.MayCommand(agent("p_r", mesh.TrustFederated), owner, def), `trust federated may not trigger commands in this room: execute.from allows owner, local`},
		"CommandClamped":     {governance.MayCommand(agent("p_a", mesh.TrustOwner, governance.Ancestor{ID: "p_p", Trust: mesh.TrustFederated}), owner, def), `federated (owner, clamped to your parent's)`},
		"CommandNoSpeak":     {governance.MayCommand(withParent, owner, revokeParent), `so you cannot send commands: your parent p_p lacks it`},
		"CommandTarget":      {governance.MayCommand(owner, local, def), `p_a lacks "execute" in this room, so it cannot receive commands: trust local does not grant it`},
		"CommandTargetAgent": {governance.MayCommand(owner, withParent, governance.Room{Policy: MustPolicy(t, `{"grants": {"p_a": ["execute"]}}`)}), `its parent p_p lacks it (trust local does not grant it)`},
		"DataWriteCap":       {governance.MayWriteData(local, def), `You lack "data-write"`},
		"DataWriteIngress":   {governance.MayWriteData(agent("p_c", mesh.TrustFederated), def), `data.ingress allows owner, local`},
		"DataRead":           {governance.MayReadData(agent("p_a", mesh.TrustFederated), def), `You lack "data-read" in this room: trust federated does not grant it.`},
	} {
		t.Run(name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatalf("got nil, want a refusal containing %q", tt.contains)
			}
			if got := mesh.ErrorCode(tt.err); got != mesh.EForbidden {
				t.Errorf("code: got %v, want %v", got, mesh.EForbidden)
			}
			if got := mesh.ErrorMessage(tt.err); !strings.Contains(got, tt.contains) {
				t.Errorf("message: got %q, want it to contain %q", got, tt.contains)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	owner := agent("p_o", mesh.TrustOwner)
	for name, err := range map[string]error{
		"CheckOwner":            governance.Check(owner, mesh.CapModerate, governance.Room{}),
		"CommandOwner":          governance.MayCommand(owner, owner, governance.Room{}),
		"CommandFederatedNamed": governance.MayCommand(agent("p_r", mesh.TrustFederated), owner, governance.Room{Policy: MustPolicy(t, `{"execute": {"from": ["federated"]}}`)}),
		"WriteOwner":            governance.MayWriteData(owner, governance.Room{}),
		"WriteGranted":          governance.MayWriteData(agent("p_a", mesh.TrustLocal), governance.Room{Policy: MustPolicy(t, `{"grants": {"p_a": ["data-write"]}}`)}),
		"ReadLocal":             governance.MayReadData(agent("p_a", mesh.TrustLocal), governance.Room{}),
	} {
		if err != nil {
			t.Errorf("%s: got %v, want nil", name, err)
		}
	}
}

// benchSubject is an agent with two ancestors in a room whose policy has
// grants and revokes, some naming the chain.
func benchCase(tb testing.TB) (governance.Subject, governance.Room) {
	s := agent("p_agentq5nd7wvf4y", mesh.TrustLocal,
		governance.Ancestor{ID: "p_parentz4xk7qm3n", Trust: mesh.TrustLocal},
		governance.Ancestor{ID: "p_ownerh2m6c3tqra", Trust: mesh.TrustOwner})
	p := MustPolicy(tb, `{
		"grants":  {"p_agentq5nd7wvf4y": ["execute"], "p_parentz4xk7qm3n": ["execute", "bridge"], "p_otherb7x2k4m9qz": ["moderate"]},
		"revokes": {"p_parentz4xk7qm3n": ["data-read"], "p_strangerr8w2nq6": ["speak"]}}`)
	return s, governance.Room{Creator: "p_roomcreator4k2m", CreatorAncestors: []mesh.ParticipantID{"p_nodeowner7h3k2"}, Policy: p}
}

func TestCanDoesNotAllocate(t *testing.T) {
	s, r := benchCase(t)
	if got, want := governance.Capabilities(s, r).List(), caps(mesh.CapSpeak, mesh.CapListen, mesh.CapExecute); !slices.Equal(got, want) {
		t.Fatalf("bench case: got %v, want %v", got, want)
	}
	n := testing.AllocsPerRun(1000, func() {
		_ = governance.Can(s, mesh.CapExecute, r)
		_ = governance.Capabilities(s, r)
		_ = governance.Check(s, mesh.CapSpeak, r)
		_ = governance.MayCommand(s, s, r)
	})
	if n != 0 {
		t.Errorf("got %v allocations per run, want 0", n)
	}
}

func BenchmarkCan(b *testing.B) {
	s, r := benchCase(b)
	b.ReportAllocs()
	for b.Loop() {
		if !governance.Can(s, mesh.CapExecute, r) {
			b.Fatal("want execute")
		}
	}
}

func BenchmarkCapabilities(b *testing.B) {
	s, r := benchCase(b)
	b.ReportAllocs()
	for b.Loop() {
		governance.Capabilities(s, r)
	}
}
