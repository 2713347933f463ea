package node_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/node"
)

func TestRegister(t *testing.T) {
	n := MustOpen(t, "", nil)
	owner := MustOwner(t, n)
	local, _ := MustRegister(t, n, nil, node.Registration{Name: "local"})
	fed, _ := MustRegister(t, n, &owner, node.Registration{Name: "fed", Trust: mesh.TrustFederated})
	gone, _ := MustRegister(t, n, &owner, node.Registration{Name: "gone"})
	if err := n.Revoke(owner, gone.ID); err != nil {
		t.Fatal(err)
	}

	for name, tt := range map[string]struct {
		actor      *mesh.Participant
		loopback   bool
		req        node.Registration
		code       string
		trust      mesh.Trust
		parent     mesh.ParticipantID
		kind       mesh.Kind
		ignoreKind bool
	}{
		"LoopbackOpenAtLocal":      {loopback: true, req: node.Registration{Name: "a"}, trust: mesh.TrustLocal},
		"LoopbackBelowCeiling":     {loopback: true, req: node.Registration{Name: "a", Trust: mesh.TrustFederated}, trust: mesh.TrustFederated},
		"LoopbackTrustOwner":       {loopback: true, req: node.Registration{Name: "a", Trust: mesh.TrustOwner}, code: mesh.EForbidden},
		"RemoteNeedsInvite":        {req: node.Registration{Name: "a"}, code: mesh.EUnauthorized},
		"RemoteUnknownInvite":      {req: node.Registration{Name: "a", Invite: "inv_nope"}, code: mesh.EUnauthorized},
		"OwnerRegistersOwner":      {actor: &owner, req: node.Registration{Name: "a", Trust: mesh.TrustOwner}, trust: mesh.TrustOwner, parent: owner.ID},
		"OwnerDefaultsToLocal":     {actor: &owner, req: node.Registration{Name: "a"}, trust: mesh.TrustLocal, parent: owner.ID},
		"ChildAboveParent":         {actor: &local, req: node.Registration{Name: "a", Trust: mesh.TrustOwner}, code: mesh.EForbidden},
		"ChildAtParentTrust":       {actor: &local, req: node.Registration{Name: "a", Trust: mesh.TrustLocal}, trust: mesh.TrustLocal, parent: local.ID},
		"ChildCappedAtParent":      {actor: &fed, req: node.Registration{Name: "a"}, trust: mesh.TrustFederated, parent: fed.ID},
		"ChildOfFederatedAsLocal":  {actor: &fed, req: node.Registration{Name: "a", Trust: mesh.TrustLocal}, code: mesh.EForbidden},
		"ParentWithoutToken":       {loopback: true, req: node.Registration{Name: "a", Parent: local.ID}, code: mesh.EUnauthorized},
		"ParentSelf":               {actor: &local, req: node.Registration{Name: "a", Parent: local.ID}, trust: mesh.TrustLocal, parent: local.ID},
		"OtherParentByNonOwner":    {actor: &local, req: node.Registration{Name: "a", Parent: fed.ID}, code: mesh.EForbidden},
		"OwnerNamesParent":         {actor: &owner, req: node.Registration{Name: "a", Parent: fed.ID}, trust: mesh.TrustFederated, parent: fed.ID},
		"OwnerNamesParentTooHigh":  {actor: &owner, req: node.Registration{Name: "a", Parent: fed.ID, Trust: mesh.TrustLocal}, code: mesh.EForbidden},
		"OwnerNamesUnknownParent":  {actor: &owner, req: node.Registration{Name: "a", Parent: "p_nobody"}, code: mesh.ENotFound},
		"OwnerNamesRevokedParent":  {actor: &owner, req: node.Registration{Name: "a", Parent: gone.ID}, code: mesh.EForbidden},
		"RevokedActor":             {actor: &gone, req: node.Registration{Name: "a"}, code: mesh.EUnauthorized},
		"KindDefaultsToAgent":      {loopback: true, req: node.Registration{Name: "a"}, trust: mesh.TrustLocal, kind: mesh.KindAgent},
		"KindHuman":                {loopback: true, req: node.Registration{Name: "a", Kind: mesh.KindHuman}, trust: mesh.TrustLocal, kind: mesh.KindHuman},
		"BadKind":                  {loopback: true, req: node.Registration{Name: "a", Kind: "robot"}, code: mesh.EInvalid},
		"BadTrust":                 {loopback: true, req: node.Registration{Name: "a", Trust: "root"}, code: mesh.EInvalid},
		"NoName":                   {loopback: true, req: node.Registration{Name: "  "}, code: mesh.EInvalid},
		"NameWithNewline":          {loopback: true, req: node.Registration{Name: "a\nb"}, code: mesh.EInvalid},
		"NameWithZeroWidthSpace":   {loopback: true, req: node.Registration{Name: "a\u200bb"}, code: mesh.EInvalid},
		"NameTooLong":              {loopback: true, req: node.Registration{Name: strings.Repeat("a", mesh.MaxNameBytes+1)}, code: mesh.EInvalid},
		"NameNotUTF8":              {loopback: true, req: node.Registration{Name: "a\xffb"}, code: mesh.EInvalid},
		"NameNonASCIIPrintable":    {loopback: true, req: node.Registration{Name: "設計"}, trust: mesh.TrustLocal},
		"RemoteWithOwnerTokenOnly": {actor: &owner, req: node.Registration{Name: "a"}, trust: mesh.TrustLocal, parent: owner.ID},
	} {
		t.Run(name, func(t *testing.T) {
			p, tok, err := n.Register(tt.actor, tt.loopback, "192.0.2.1", tt.req)
			checkCode(t, err, tt.code)
			if tt.code != "" {
				return
			}
			if p.Trust != tt.trust {
				t.Errorf("trust: got %v, want %v", p.Trust, tt.trust)
			}
			if p.Parent != tt.parent {
				t.Errorf("parent: got %v, want %v", p.Parent, tt.parent)
			}
			if tt.kind != "" && p.Kind != tt.kind {
				t.Errorf("kind: got %v, want %v", p.Kind, tt.kind)
			}
			got, err := n.Authenticate(tok)
			if err != nil || got.ID != p.ID {
				t.Errorf("authenticate new token: got %v, %v, want %v", got.ID, err, p.ID)
			}
		})
	}
}

func TestRegisterWebhook(t *testing.T) {
	n := MustOpen(t, "", nil)
	long := "https://example.com/" + strings.Repeat("a", node.MaxWebhookBytes-len("https://example.com/"))
	for name, tt := range map[string]struct {
		url  string
		code string
	}{
		"None":             {url: ""},
		"HTTPS":            {url: "https://example.com/hook"},
		"HTTP":             {url: "http://127.0.0.1:8080/hook"},
		"AtLimit":          {url: long},
		"OverLimit":        {url: long + "a", code: mesh.EInvalid},
		"FTP":              {url: "ftp://example.com/hook", code: mesh.EInvalid},
		"Relative":         {url: "/hook", code: mesh.EInvalid},
		"NoHost":           {url: "https:///hook", code: mesh.EInvalid},
		"UserPassword":     {url: "https://alice:s3cret@example.com/hook", code: mesh.EInvalid},
		"UserOnly":         {url: "https://alice@example.com/hook", code: mesh.EInvalid},
		"BadSchemeWithPwd": {url: "ftp://alice:s3cret@example.com/", code: mesh.EInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			p, _, err := n.Register(nil, true, "127.0.0.1", node.Registration{Name: "a", Webhook: tt.url})
			checkCode(t, err, tt.code)
			if err == nil && p.Webhook != tt.url {
				t.Errorf("webhook: got %q, want %q", p.Webhook, tt.url)
			}
			if msg := mesh.ErrorMessage(err); strings.Contains(msg, "s3cret") {
				t.Errorf("message %q echoes the password", msg)
			}
		})
	}
}

// A refused registration must leave its invite usable.
func TestRegisterSpendsInviteLast(t *testing.T) {
	n := MustOpen(t, "", nil)
	owner := MustOwner(t, n)
	local, _ := MustRegister(t, n, nil, node.Registration{Name: "local"})
	inv, _, err := n.CreateInvite(owner)
	if err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		req  node.Registration
		code string
	}{
		"TrustAboveCeiling": {req: node.Registration{Name: "a", Trust: mesh.TrustOwner}, code: mesh.EForbidden},
		"ParentNamed":       {req: node.Registration{Name: "a", Parent: local.ID}, code: mesh.EUnauthorized},
		"BadWebhook":        {req: node.Registration{Name: "a", Webhook: "ftp://x"}, code: mesh.EInvalid},
		"BadName":           {req: node.Registration{Name: ""}, code: mesh.EInvalid},
		"BadKind":           {req: node.Registration{Name: "a", Kind: "cat"}, code: mesh.EInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			tt.req.Invite = inv
			_, _, err := n.Register(nil, false, "192.0.2.1", tt.req)
			checkCode(t, err, tt.code)
		})
	}
	p, _, err := n.Register(nil, false, "192.0.2.1", node.Registration{Name: "late", Invite: inv})
	if err != nil {
		t.Fatalf("register with the invite after refusals: got %v, want success", err)
	}
	if p.Parent != owner.ID || p.Trust != mesh.TrustLocal {
		t.Errorf("invitee: got parent %v trust %v, want %v %v", p.Parent, p.Trust, owner.ID, mesh.TrustLocal)
	}
}

func TestRegisterInviteConcurrent(t *testing.T) {
	n := MustOpen(t, "", nil)
	owner := MustOwner(t, n)
	inv, _, err := n.CreateInvite(owner)
	if err != nil {
		t.Fatal(err)
	}
	const racers = 8
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			_, _, errs[i] = n.Register(nil, false, "192.0.2.1", node.Registration{Name: "racer", Invite: inv})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			checkCode(t, err, mesh.EUnauthorized)
		}
	}
	if ok != 1 {
		t.Errorf("successful registrations: got %v, want %v", ok, 1)
	}
}

func TestAuthenticate(t *testing.T) {
	n := MustOpen(t, "", nil)
	owner := MustOwner(t, n)
	p, tok := MustRegister(t, n, nil, node.Registration{Name: "a"})
	gone, goneTok := MustRegister(t, n, nil, node.Registration{Name: "b"})
	if err := n.Revoke(owner, gone.ID); err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		token string
		id    mesh.ParticipantID
		code  string
	}{
		"OK":        {token: tok, id: p.ID},
		"Owner":     {token: n.OwnerToken(), id: owner.ID},
		"Empty":     {token: "", code: mesh.EUnauthorized},
		"Unknown":   {token: "mesh_unknown", code: mesh.EUnauthorized},
		"Truncated": {token: tok[:len(tok)-1], code: mesh.EUnauthorized},
		"Revoked":   {token: goneTok, code: mesh.EUnauthorized},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := n.Authenticate(tt.token)
			checkCode(t, err, tt.code)
			if got.ID != tt.id {
				t.Errorf("id: got %v, want %v", got.ID, tt.id)
			}
		})
	}
}

func TestRevokeTree(t *testing.T) {
	dir := t.TempDir()
	n := MustOpen(t, dir, nil)
	owner := MustOwner(t, n)
	a, aTok := MustRegister(t, n, nil, node.Registration{Name: "a"})
	b, bTok := MustRegister(t, n, &a, node.Registration{Name: "b"})
	c, cTok := MustRegister(t, n, &a, node.Registration{Name: "c"})
	d, dTok := MustRegister(t, n, &b, node.Registration{Name: "d"})
	e, eTok := MustRegister(t, n, nil, node.Registration{Name: "e"})
	// An owner-made child of b: the owner names the parent.
	f, fTok := MustRegister(t, n, &owner, node.Registration{Name: "f", Parent: b.ID})

	got, err := n.RevokeTree(owner, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0] != a.ID {
		t.Fatalf("revoked: got %v, want %v first", got, a.ID)
	}
	want := []mesh.ParticipantID{a.ID, b.ID, c.ID, d.ID, f.ID}
	if !sameIDs(got, want) {
		t.Errorf("revoked: got %v, want %v in any order after the first", got, want)
	}
	if i, j := slices.Index(got, b.ID), slices.Index(got, d.ID); i > j {
		t.Errorf("order: got %v, want parent %v before child %v", got, b.ID, d.ID)
	}

	check := func(t *testing.T, n *node.Node) {
		t.Helper()
		for _, tok := range []string{aTok, bTok, cTok, dTok, fTok} {
			_, err := n.Authenticate(tok)
			checkCode(t, err, mesh.EUnauthorized)
		}
		if _, err := n.Authenticate(eTok); err != nil {
			t.Errorf("unrelated participant %v: got %v, want valid", e.ID, err)
		}
		for _, id := range want {
			if !n.Revoked(id) {
				t.Errorf("Revoked(%v): got false, want true", id)
			}
		}
	}
	check(t, n)

	var auditIDs []mesh.ParticipantID
	for _, r := range auditRecords(t, n, "revoke") {
		var d struct {
			ID mesh.ParticipantID `json:"id"`
		}
		json.Unmarshal(r.Detail, &d)
		if r.Outcome != "ok" {
			t.Errorf("audit outcome for %v: got %v, want ok", d.ID, r.Outcome)
		}
		auditIDs = append(auditIDs, d.ID)
	}
	if !sameIDs(auditIDs, want) {
		t.Errorf("audited revokes: got %v, want %v", auditIDs, want)
	}

	again, err := n.RevokeTree(owner, a.ID)
	if err != nil || len(again) != 0 {
		t.Errorf("revoke again: got %v, %v, want [], nil", again, err)
	}

	n = MustReopen(t, n, dir, nil)
	check(t, n)
	if got := journalRevokes(t, dir); !sameIDs(got, want) {
		t.Errorf("revoke lines in participants.jsonl: got %v, want %v", got, want)
	}
}

func TestRevokePermission(t *testing.T) {
	n := MustOpen(t, "", nil)
	owner := MustOwner(t, n)
	a, _ := MustRegister(t, n, nil, node.Registration{Name: "a"})
	stranger, _ := MustRegister(t, n, nil, node.Registration{Name: "s"})
	for name, tt := range map[string]struct {
		actor  mesh.Participant
		target func() mesh.ParticipantID
		code   string
	}{
		"Owner":       {actor: owner, target: func() mesh.ParticipantID { return MustRegisterID(t, n, &a) }},
		"Parent":      {actor: a, target: func() mesh.ParticipantID { return MustRegisterID(t, n, &a) }},
		"Self":        {actor: stranger, target: func() mesh.ParticipantID { return stranger.ID }},
		"Stranger":    {actor: a, target: func() mesh.ParticipantID { return MustRegisterID(t, n, nil) }, code: mesh.EForbidden},
		"TheOwner":    {actor: owner, target: func() mesh.ParticipantID { return owner.ID }, code: mesh.EForbidden},
		"Unknown":     {actor: owner, target: func() mesh.ParticipantID { return "p_nobody" }, code: mesh.ENotFound},
		"Grandparent": {actor: a, target: func() mesh.ParticipantID { c := MustRegisterP(t, n, &a); return MustRegisterID(t, n, &c) }, code: mesh.EForbidden},
	} {
		t.Run(name, func(t *testing.T) {
			id := tt.target()
			got, err := n.RevokeTree(tt.actor, id)
			checkCode(t, err, tt.code)
			if tt.code != "" && (len(got) != 0 || n.Revoked(id) && id != "p_nobody") {
				t.Errorf("refused revoke: got %v revoked, want none", got)
			}
		})
	}
	refused := 0
	for _, r := range auditRecords(t, n, "revoke") {
		if r.Outcome != "ok" {
			refused++
		}
	}
	if refused != 4 {
		t.Errorf("refused revoke records: got %v, want %v", refused, 4)
	}
}

// MustRegisterP registers an agent under actor (loopback when nil).
func MustRegisterP(tb testing.TB, n *node.Node, actor *mesh.Participant) mesh.Participant {
	tb.Helper()
	p, _ := MustRegister(tb, n, actor, node.Registration{})
	return p
}

// MustRegisterID is MustRegisterP's id.
func MustRegisterID(tb testing.TB, n *node.Node, actor *mesh.Participant) mesh.ParticipantID {
	tb.Helper()
	return MustRegisterP(tb, n, actor).ID
}

func sameIDs(got, want []mesh.ParticipantID) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// journalRevokes returns the ids of the revoke lines in participants.jsonl.
func journalRevokes(tb testing.TB, dir string) []mesh.ParticipantID {
	tb.Helper()
	f, err := os.Open(filepath.Join(dir, "participants.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []mesh.ParticipantID
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev struct {
			Op string             `json:"op"`
			ID mesh.ParticipantID `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			tb.Fatalf("participants.jsonl: %v", err)
		}
		if ev.Op == "revoke" {
			out = append(out, ev.ID)
		}
	}
	return out
}
