package node_test

import (
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/node"
)

func TestCreateInvite(t *testing.T) {
	clk := newClock()
	n := MustOpen(t, "", clk.Now)
	owner := MustOwner(t, n)
	local, _ := MustRegister(t, n, nil, node.Registration{Name: "local"})
	for name, tt := range map[string]struct {
		actor mesh.Participant
		code  string
	}{
		"Owner": {actor: owner},
		"Local": {actor: local, code: mesh.EForbidden},
	} {
		t.Run(name, func(t *testing.T) {
			tok, exp, err := n.CreateInvite(tt.actor)
			checkCode(t, err, tt.code)
			if err != nil {
				return
			}
			if tok == "" {
				t.Errorf("token: got %q, want non-empty", tok)
			}
			if want := clk.Now().Add(node.InviteTTL); !exp.Equal(want) {
				t.Errorf("expires: got %v, want %v", exp, want)
			}
		})
	}
}

func TestInviteSingleUse(t *testing.T) {
	n := MustOpen(t, "", nil)
	owner := MustOwner(t, n)
	inv, _, err := n.CreateInvite(owner)
	if err != nil {
		t.Fatal(err)
	}
	reg := node.Registration{Name: "guest", Invite: inv}
	if _, _, err := n.Register(nil, false, "192.0.2.1", reg); err != nil {
		t.Fatalf("first use: got %v, want success", err)
	}
	_, _, err = n.Register(nil, false, "192.0.2.1", reg)
	checkCode(t, err, mesh.EUnauthorized)
}

func TestInviteExpiry(t *testing.T) {
	for name, tt := range map[string]struct {
		after time.Duration
		code  string
	}{
		"Fresh":       {after: 0},
		"AtExpiry":    {after: node.InviteTTL},
		"JustExpired": {after: node.InviteTTL + time.Nanosecond, code: mesh.EUnauthorized},
		"LongExpired": {after: 30 * 24 * time.Hour, code: mesh.EUnauthorized},
	} {
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			n := MustOpen(t, "", clk.Now)
			inv, _, err := n.CreateInvite(MustOwner(t, n))
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(tt.after)
			_, _, err = n.Register(nil, false, "192.0.2.1", node.Registration{Name: "guest", Invite: inv})
			checkCode(t, err, tt.code)
		})
	}
}
