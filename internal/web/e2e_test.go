package web_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
	"github.com/the-mesh/mesh/internal/meshtest"
)

func TestE2EDevices(t *testing.T) {
	dir := t.TempDir()
	n := meshtest.Start(t, dir)
	alice := newMember(t, n, "alice")
	bob := newMember(t, n, "bob")
	const path = "/api/v1/participants/me/devices"
	list := func(m *member) []mesh.Device {
		t.Helper()
		var out struct {
			Devices []mesh.Device `json:"devices"`
		}
		if st, e := doJSON(t, n, "GET", path, m.tok, nil, &out); st != 200 {
			t.Fatalf("list devices: HTTP %d %v", st, e)
		}
		return out.Devices
	}
	got := list(alice)
	if len(got) != 1 || got[0].ID != alice.dev.ID() || len(got[0].Sig) != 64 || got[0].Created.IsZero() || got[0].Participant != "" {
		t.Fatalf("alice's devices: got %+v, want her one device with sig and created", got)
	}

	d := alice.dev.Device()
	var again struct {
		Device mesh.Device `json:"device"`
	}
	if st, e := doJSON(t, n, "PUT", path, alice.tok, map[string]any{"sign": d.Sign, "box": d.Box, "sig": d.Sig}, &again); st != 200 || !again.Device.Created.Equal(got[0].Created) {
		t.Fatalf("registering the same device again: HTTP %d %v %+v, want 200 with the first registration", st, e, again.Device)
	}

	other, _ := e2e.NewIdentity(nil)
	od := other.Device()
	newBox, _ := ecdh.X25519().GenerateKey(rand.Reader)
	rebox := (&e2e.Identity{Sign: alice.dev.Sign, Box: newBox}).Device()
	for name, tt := range map[string]struct {
		tok      string
		body     any
		status   int
		code     string
		contains string
	}{
		"a signature of another device": {bob.tok, map[string]any{"sign": od.Sign, "box": od.Box, "sig": d.Sig}, 400, "invalid", "sig"},
		"a short signing key":           {bob.tok, map[string]any{"sign": od.Sign[:31], "box": od.Box, "sig": od.Sig}, 400, "invalid", "sign"},
		"a long box key":                {bob.tok, map[string]any{"sign": od.Sign, "box": append(od.Box, 0), "sig": od.Sig}, 400, "invalid", "box"},
		"a short signature":             {bob.tok, map[string]any{"sign": od.Sign, "box": od.Box, "sig": od.Sig[:63]}, 400, "invalid", "sig"},
		"bad base64":                    {bob.tok, map[string]any{"sign": "not base64!", "box": od.Box, "sig": od.Sig}, 400, "invalid", `"sign"`},
		"base64 without padding":        {bob.tok, map[string]any{"sign": od.Sign, "box": strings.TrimRight(mustB64(od.Box), "="), "sig": od.Sig}, 400, "invalid", `"box"`},
		"an id given":                   {bob.tok, map[string]any{"id": od.ID, "sign": od.Sign, "box": od.Box, "sig": od.Sig}, 400, "invalid", `"id"`},
		"someone else's device":         {bob.tok, map[string]any{"sign": d.Sign, "box": d.Box, "sig": d.Sig}, 409, "conflict", "another participant"},
		"the same id with another box":  {alice.tok, map[string]any{"sign": rebox.Sign, "box": rebox.Box, "sig": rebox.Sig}, 409, "conflict", "another box key"},
	} {
		t.Run(name, func(t *testing.T) {
			st, e := doJSON(t, n, "PUT", path, tt.tok, tt.body, nil)
			if st != tt.status || e == nil || e.Code != tt.code || !strings.Contains(e.Message, tt.contains) {
				t.Fatalf("got HTTP %d %v, want %d %s containing %q", st, e, tt.status, tt.code, tt.contains)
			}
		})
	}
	for len(list(alice)) < mesh.MaxDevices {
		alice.addDevice()
	}
	ninth, _ := e2e.NewIdentity(nil)
	nd := ninth.Device()
	if st, e := doJSON(t, n, "PUT", path, alice.tok, map[string]any{"sign": nd.Sign, "box": nd.Box, "sig": nd.Sig}, nil); st != 409 || e.Code != mesh.EConflict {
		t.Fatalf("a 9th device: got HTTP %d %v, want 409 conflict", st, e)
	}

	if st, e := doJSON(t, n, "DELETE", path+"/"+alice.dev.ID(), bob.tok, nil, nil); st != 404 {
		t.Fatalf("bob deletes alice's device: got HTTP %d %v, want 404", st, e)
	}
	if st, e := doJSON(t, n, "DELETE", path+"/"+alice.dev.ID(), alice.tok, nil, nil); st != 204 {
		t.Fatalf("delete: got HTTP %d %v, want 204", st, e)
	}
	if st, _ := doJSON(t, n, "DELETE", path+"/"+alice.dev.ID(), alice.tok, nil, nil); st != 404 {
		t.Fatalf("delete again: got HTTP %d, want 404", st)
	}
	before := list(alice)
	if len(before) != mesh.MaxDevices-1 || slices.ContainsFunc(before, func(d mesh.Device) bool { return d.ID == alice.dev.ID() }) {
		t.Fatalf("after the delete: %d devices, want %d without the deleted one", len(before), mesh.MaxDevices-1)
	}

	// The devices are events of participants.jsonl: a restart has them.
	n.Stop()
	n = meshtest.Start(t, dir)
	alice.n, bob.n = n, n
	after := list(alice)
	if len(after) != len(before) {
		t.Fatalf("after a restart: %d devices, want %d", len(after), len(before))
	}
	for i := range after {
		if after[i].ID != before[i].ID || !after[i].Created.Equal(before[i].Created) || string(after[i].Box) != string(before[i].Box) {
			t.Fatalf("device %d after a restart: got %+v, want %+v", i, after[i], before[i])
		}
	}
	if got := list(bob); len(got) != 1 || got[0].ID != bob.dev.ID() {
		t.Fatalf("bob's devices after a restart: %+v", got)
	}
	// A deleted device's id is free again, for anyone.
	if st, e := doJSON(t, n, "PUT", path, bob.tok, map[string]any{"sign": d.Sign, "box": d.Box, "sig": d.Sig}, nil); st != 201 {
		t.Fatalf("bob registers alice's deleted device: HTTP %d %v, want 201", st, e)
	}

	var audit struct {
		Entries []json.RawMessage `json:"entries"`
	}
	doJSON(t, n, "GET", "/api/v1/audit?limit=1000", n.Node.OwnerToken(), nil, &audit)
	var added, refused, deleted int
	for _, line := range audit.Entries {
		var r struct{ Action, Outcome string }
		json.Unmarshal(line, &r)
		switch {
		case r.Action == "device-add" && r.Outcome == "ok":
			added++
		case r.Action == "device-add":
			refused++
		case r.Action == "device-delete":
			deleted++
		}
	}
	if added < mesh.MaxDevices+2 || refused < 4 || deleted != 3 {
		t.Fatalf("audit: %d devices added, %d refused, %d deletes; want every one recorded", added, refused, deleted)
	}
}

func mustB64(b []byte) string {
	j, _ := json.Marshal(b)
	var s string
	json.Unmarshal(j, &s)
	return s
}

// TestE2EEpochs walks an E2E room through every roster change and checks
// each starts an epoch with the right devices, then restarts the node.
func TestE2EEpochs(t *testing.T) {
	dir := t.TempDir()
	n := meshtest.Start(t, dir)
	alice, bob, carol := newMember(t, n, "alice"), newMember(t, n, "bob"), newMember(t, n, "carol")
	room := alice.createRoom("vault", nil)
	a, b, c := alice.dev.ID()+"/"+string(alice.id), bob.dev.ID()+"/"+string(bob.id), carol.dev.ID()+"/"+string(carol.id)
	var want [][]string // want[i]: the devices of epoch i+1
	step := func(what string, devices ...string) {
		t.Helper()
		slices.Sort(devices)
		want = append(want, devices)
		r := alice.roster(room)
		if r.Epoch != uint64(len(want)) || !slices.Equal(deviceIDs(r), devices) {
			t.Fatalf("after %s: epoch %d with %v, want epoch %d with %v", what, r.Epoch, deviceIDs(r), len(want), devices)
		}
	}
	setPolicy := func(policy map[string]any) {
		t.Helper()
		if st, e := doJSON(t, n, "PUT", "/api/v1/rooms/"+string(room)+"/policy", alice.tok, policy, nil); st != 200 {
			t.Fatalf("set policy: HTTP %d %v", st, e)
		}
	}
	base := map[string]any{"e2e": true, "limits": map[string]any{"messagesPerMinute": 0}}

	step("creation", a)
	if r := alice.roster(room); r.Room != mesh.RemoteRoom(room, n.Node.Info().ID) || r.Seq == 0 {
		t.Fatalf("roster %+v: want the home address %s@%s and the event's seq", r, room, n.Node.Info().ID)
	}
	bob.join(room)
	step("bob joins", a, b)
	bob2 := bob.addDevice()
	b2 := bob2.ID() + "/" + string(bob.id)
	step("bob adds a device", a, b, b2)
	if st, e := doJSON(t, n, "DELETE", "/api/v1/participants/me/devices/"+bob2.ID(), bob.tok, nil, nil); st != 204 {
		t.Fatalf("delete device: HTTP %d %v", st, e)
	}
	step("bob deletes it", a, b)
	setPolicy(map[string]any{"e2e": true, "limits": map[string]any{"messagesPerMinute": 0}, "revokes": map[string]any{string(bob.id): []string{"listen"}}})
	step("bob loses listen", a)
	setPolicy(base)
	step("bob gains listen again", a, b)
	setPolicy(map[string]any{"e2e": true, "limits": map[string]any{"messagesPerMinute": 1}})
	if r := alice.roster(room); r.Epoch != uint64(len(want)) {
		t.Fatalf("a policy change that leaves the roster alone started epoch %d", r.Epoch)
	}
	setPolicy(base)
	if st, e := doJSON(t, n, "POST", "/api/v1/rooms/"+string(room)+"/leave", bob.tok, nil, nil); st != 204 {
		t.Fatalf("leave: HTTP %d %v", st, e)
	}
	step("bob leaves", a)
	bob.join(room)
	step("bob joins again", a, b)
	if st, e := doJSON(t, n, "POST", "/api/v1/rooms/"+string(room)+"/moderation", alice.tok, map[string]any{"action": "kick", "target": bob.id}, nil); st != 200 {
		t.Fatalf("kick: HTTP %d %v", st, e)
	}
	step("bob is kicked", a)
	carol.join(room)
	step("carol joins", a, c)
	if st, e := doJSON(t, n, "POST", "/api/v1/rooms/"+string(room)+"/moderation", alice.tok, map[string]any{"action": "mute", "target": carol.id}, nil); st != 200 {
		t.Fatalf("mute: HTTP %d %v", st, e)
	}
	if r := alice.roster(room); r.Epoch != uint64(len(want)) {
		t.Fatalf("a mute (speak only) started epoch %d", r.Epoch)
	}
	bob.join(room)
	step("bob joins a third time", a, b, c)
	if st, e := doJSON(t, n, "POST", "/api/v1/rooms/"+string(room)+"/moderation", alice.tok, map[string]any{"action": "ban", "target": bob.id}, nil); st != 200 {
		t.Fatalf("ban: HTTP %d %v", st, e)
	}
	step("bob is banned", a, c)
	if st, e := doJSON(t, n, "DELETE", "/api/v1/participants/"+string(carol.id), carol.tok, nil, nil); st != 204 {
		t.Fatalf("revoke: HTTP %d %v", st, e)
	}
	step("carol is revoked", a)

	// The log holds one event per epoch, in order, each with its roster.
	evs := alice.waitEpoch(room, uint64(len(want)))
	if len(evs) != len(want) {
		t.Fatalf("%d epoch events, want %d", len(evs), len(want))
	}
	for i, ev := range evs {
		if ev.Epoch != uint64(i+1) || !slices.Equal(deviceIDs(ev), want[i]) || ev.Room != mesh.RemoteRoom(room, n.Node.Info().ID) {
			t.Fatalf("event %d: epoch %d %s %v, want epoch %d with %v", i, ev.Epoch, ev.Room, deviceIDs(ev), i+1, want[i])
		}
		if i > 0 && ev.Seq <= evs[i-1].Seq {
			t.Fatalf("event of epoch %d has seq %d, not after %d", ev.Epoch, ev.Seq, evs[i-1].Seq)
		}
	}
	if r := alice.roster(room); r.Seq != evs[len(evs)-1].Seq {
		t.Fatalf("roster seq %d, want the last event's %d", r.Seq, evs[len(evs)-1].Seq)
	}

	// Every start begins a new epoch with the same roster; numbers only grow.
	last := uint64(len(want))
	for range 2 {
		n.Stop()
		n = meshtest.Start(t, dir)
		alice.n = n
		r := alice.roster(room)
		if r.Epoch != last+1 || !slices.Equal(deviceIDs(r), []string{a}) {
			t.Fatalf("after a restart: epoch %d with %v, want epoch %d with %v", r.Epoch, deviceIDs(r), last+1, []string{a})
		}
		last = r.Epoch
		alice.waitEpoch(room, last)
	}
}

// TestE2EPolicy: e2e can be turned on, never off; a room's roster stays
// within mesh.MaxRosterDevices; plain rooms have no roster.
func TestE2EPolicy(t *testing.T) {
	n := meshtest.Start(t, "")
	alice, bob := newMember(t, n, "alice"), newMember(t, n, "bob")
	var out struct {
		Room mesh.Room `json:"room"`
	}
	doJSON(t, n, "POST", "/api/v1/rooms", alice.tok, map[string]any{"name": "plain"}, &out)
	plain := out.Room.ID
	bob.join(plain)
	if st, e := doJSON(t, n, "GET", "/api/v1/rooms/plain/e2e", alice.tok, nil, nil); st != 400 || !strings.Contains(e.Message, "not end-to-end encrypted") {
		t.Fatalf("roster of a plain room: HTTP %d %v, want 400 invalid", st, e)
	}
	if evs := alice.epochEvents(plain); len(evs) != 0 {
		t.Fatalf("a plain room has epoch events: %v", evs)
	}
	if st, e := doJSON(t, n, "PUT", "/api/v1/rooms/plain/policy", alice.tok, map[string]any{"e2e": true}, nil); st != 200 {
		t.Fatalf("turn e2e on: HTTP %d %v", st, e)
	}
	if r := alice.roster(plain); r.Epoch != 1 || len(r.Devices) != 2 {
		t.Fatalf("after e2e is turned on: epoch %d with %v, want epoch 1 with both members' devices", r.Epoch, deviceIDs(r))
	}
	st, e := doJSON(t, n, "PUT", "/api/v1/rooms/plain/policy", alice.tok, map[string]any{"e2e": false}, nil)
	if st != 400 || !strings.Contains(e.Message, "stays so; create a new room") {
		t.Fatalf("turn e2e off: HTTP %d %v, want 400 invalid", st, e)
	}
	carol := newMember(t, n, "carol")
	if st, e := doJSON(t, n, "GET", "/api/v1/rooms/plain/e2e", carol.tok, nil, nil); st != 403 {
		t.Fatalf("roster for a non-member: HTTP %d %v, want 403", st, e)
	}
	if st, e := doJSON(t, n, "GET", "/api/v1/rooms/attic/e2e", carol.tok, nil, nil); st != 404 {
		t.Fatalf("roster of no room: HTTP %d %v, want 404", st, e)
	}
	// Room data is refused in an E2E room.
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		st, e := doJSON(t, n, method, "/api/v1/rooms/plain/data/notes.txt", alice.tok, nil, nil)
		if st != 400 || !strings.Contains(e.Message, "room data is not end-to-end encrypted") {
			t.Fatalf("%s data in an E2E room: HTTP %d %v, want 400 invalid", method, st, e)
		}
	}
}

// TestE2ERosterLimit fills a room's roster to mesh.MaxRosterDevices.
func TestE2ERosterLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("registers 256 devices")
	}
	n := meshtest.Start(t, "")
	alice := newMember(t, n, "alice")
	room := alice.createRoom("crowd", nil)
	var last *member
	for k := 1; k < mesh.MaxRosterDevices; k += mesh.MaxDevices {
		m := newMember(t, n, fmt.Sprintf("m%d", k))
		for range min(mesh.MaxDevices, mesh.MaxRosterDevices-k) - 1 {
			m.addDevice()
		}
		m.join(room)
		last = m
	}
	if r := alice.roster(room); len(r.Devices) != mesh.MaxRosterDevices {
		t.Fatalf("roster of %d devices, want %d", len(r.Devices), mesh.MaxRosterDevices)
	}
	extra := newMember(t, n, "one-too-many")
	if st, e := doJSON(t, n, "POST", "/api/v1/rooms/"+string(room)+"/join", extra.tok, nil, nil); st != 409 || !strings.Contains(e.Message, "at most 256") {
		t.Fatalf("a join over the roster limit: HTTP %d %v, want 409 conflict", st, e)
	}
	// A member with room for a device on its own may not add it either.
	if st, e := doJSON(t, n, "DELETE", "/api/v1/participants/me/devices/"+last.dev.ID(), last.tok, nil, nil); st != 204 {
		t.Fatalf("delete: HTTP %d %v", st, e)
	}
	last.addDevice()
	d, _ := e2e.NewIdentity(nil)
	dd := d.Device()
	if st, e := doJSON(t, n, "PUT", "/api/v1/participants/me/devices", alice.tok, map[string]any{"sign": dd.Sign, "box": dd.Box, "sig": dd.Sig}, nil); st != 409 {
		t.Fatalf("a device over the roster limit: HTTP %d %v, want 409 conflict", st, e)
	}
	// A full roster is still usable: a keys entry wraps to all 256.
	ro := alice.roster(room)
	alice.rekey(room, ro)
	alice.say(room, ro.Room, "to everyone")
}

func TestE2EPosting(t *testing.T) {
	n := meshtest.Start(t, "")
	alice, bob := newMember(t, n, "alice"), newMember(t, n, "bob")
	room := alice.createRoom("vault", nil)
	bob.join(room)
	ro := alice.roster(room)
	home := ro.Room

	keys := alice.rekey(room, ro)
	if keys.Kind != mesh.MessageEncrypted || keys.Body.E2E.Type != mesh.SealedKeys || keys.Body.Text != "" {
		t.Fatalf("keys entry stored as %+v", keys)
	}
	m1 := alice.say(room, home, "hello bob")
	p, err := bob.open(room, home, m1, alice.dev.Device().Sign)
	if err != nil || p.Kind != mesh.MessageChat || p.Body.Text != "hello bob" {
		t.Fatalf("bob opens alice's message: %+v %v", p, err)
	}
	if m1.Trust != mesh.TrustLocal || m1.Flags != nil {
		t.Fatalf("stored with trust %s flags %v, want local and none", m1.Trust, m1.Flags)
	}

	// to and ref are bound by the signature and stored; the addressee
	// gets an inbox item.
	s := alice.seal(home, chat("for your eyes"), bob.id, "r-1")
	m2, e := alice.post(room, s, bob.id, "r-1")
	if e != nil || m2.To != bob.id || m2.Ref != "r-1" {
		t.Fatalf("addressed message: %+v %v", m2, e)
	}
	if p, err := bob.open(room, home, m2, alice.dev.Device().Sign); err != nil || p.Body.Text != "for your eyes" {
		t.Fatalf("bob opens the addressed message: %+v %v", p, err)
	}
	var inbox struct {
		Items []struct {
			Message mesh.Message `json:"message"`
		} `json:"items"`
	}
	doJSON(t, n, "GET", "/api/v1/inbox", bob.tok, nil, &inbox)
	if len(inbox.Items) != 1 || inbox.Items[0].Message.ID != m2.ID {
		t.Fatalf("bob's inbox: %+v, want the addressed message", inbox.Items)
	}
	if _, e := alice.post(room, s, bob.id, "r-2"); e == nil || e.Code != mesh.EInvalid || !strings.Contains(e.Message, "sig") {
		t.Fatalf("the same body with another ref: %v, want invalid sig", e)
	}

	// Over WebSocket: bob keys and says; alice hears it live.
	ca, cb := n.Hello(t, alice.tok), n.Hello(t, bob.tok)
	joined := ca.Join(string(room))
	var jr mesh.Roster
	if b, _ := json.Marshal(joined["e2e"]); json.Unmarshal(b, &jr) != nil || jr.Epoch != ro.Epoch || jr.Seq != ro.Seq || len(jr.Devices) != 2 {
		t.Fatalf("joined.e2e: got %v, want the roster %+v", joined["e2e"], ro)
	}
	cb.Join(string(room))
	ks, ck0, _ := e2e.SealKeys(bob.dev, home, ro.Epoch, ro.Devices, nil)
	cb.Send(map[string]any{"type": "say", "room": room, "kind": "encrypted", "body": map[string]any{"e2e": ks}, "ref": "k"})
	ack := cb.Expect("ack")
	bob.epoch, bob.keys, bob.chain = ro.Epoch, uint64(ack["seq"].(float64)), e2e.NewChain(ck0)
	cb.Send(map[string]any{"type": "say", "room": room, "kind": "encrypted", "body": map[string]any{"e2e": bob.seal(home, chat("over the socket"), "", "m")}, "ref": "m"})
	cb.Expect("ack")
	skipEvents(t, ca, "message") // bob's keys entry
	live := skipEvents(t, ca, "message")
	var lm mesh.Message
	b, _ := json.Marshal(live["message"])
	json.Unmarshal(b, &lm)
	if p, err := alice.open(room, home, lm, bob.dev.Device().Sign); err != nil || p.Body.Text != "over the socket" {
		t.Fatalf("alice opens bob's live message: %+v %v", p, err)
	}
	for name, frame := range map[string]map[string]any{
		"plain say":    {"type": "say", "room": room, "text": "in clear", "ref": "x"},
		"command":      {"type": "command", "room": room, "target": alice.id, "name": "deploy", "ref": "x"},
		"result":       {"type": "result", "room": room, "ref": "m_nope", "ok": true, "output": "done"},
		"text and e2e": {"type": "say", "room": room, "kind": "encrypted", "text": "both", "body": map[string]any{"e2e": ks}, "ref": "x"},
	} {
		cb.Send(frame)
		if f := cb.ExpectError(); f["code"] != "invalid" {
			t.Fatalf("%s in an E2E room: got %v, want invalid", name, f)
		}
	}

	mustRefuse := func(t *testing.T, e *mesh.Error, code, contains string) {
		t.Helper()
		if e == nil || e.Code != code || !strings.Contains(e.Message, contains) {
			t.Fatalf("got %v, want %s containing %q", e, code, contains)
		}
	}
	t.Run("plaintext chat", func(t *testing.T) {
		_, e := doJSON(t, n, "POST", "/api/v1/rooms/"+string(room)+"/messages", alice.tok, map[string]any{"text": "in clear"}, nil)
		mustRefuse(t, e, "invalid", `is end-to-end encrypted: post kind "encrypted"`)
	})
	t.Run("plaintext command", func(t *testing.T) {
		_, e := doJSON(t, n, "POST", "/api/v1/rooms/"+string(room)+"/commands", alice.tok, map[string]any{"target": bob.id, "name": "deploy"}, nil)
		mustRefuse(t, e, "invalid", "end-to-end encrypted")
	})
	t.Run("encrypted in a plain room", func(t *testing.T) {
		alice.join("lobby")
		_, e := alice.post("lobby", alice.seal(home, chat("x"), "", ""), "", "")
		mustRefuse(t, e, "invalid", "not end-to-end encrypted")
	})
	t.Run("a body beside the text", func(t *testing.T) {
		_, e := doJSON(t, n, "POST", "/api/v1/rooms/"+string(room)+"/messages", alice.tok, map[string]any{"kind": "encrypted", "body": map[string]any{"e2e": ks, "text": "x"}}, nil)
		mustRefuse(t, e, "invalid", `"body.text"`)
	})
	t.Run("a forged signature", func(t *testing.T) {
		s := alice.seal(home, chat("forged"), "", "")
		s.Sig[0] ^= 1
		_, e := alice.post(room, s, "", "")
		mustRefuse(t, e, "invalid", "body.e2e.sig")
	})
	t.Run("someone else's device", func(t *testing.T) {
		_, e := bob.post(room, alice.seal(home, chat("as alice"), "", ""), "", "")
		mustRefuse(t, e, "forbidden", "is not yours")
	})
	t.Run("a device not in the roster", func(t *testing.T) {
		stranger, _ := e2e.NewIdentity(nil)
		ks, _, _ := e2e.SealKeys(stranger, home, ro.Epoch, ro.Devices, nil)
		_, e := alice.post(room, ks, "", "")
		mustRefuse(t, e, "forbidden", "not in room")
	})
	t.Run("wraps missing a roster device", func(t *testing.T) {
		ks, _, _ := e2e.SealKeys(alice.dev, home, ro.Epoch, ro.Devices[:1], nil)
		_, e := alice.post(room, ks, "", "")
		mustRefuse(t, e, "invalid", "no wrap for device")
	})
	t.Run("a wrap to a device not in the roster", func(t *testing.T) {
		stranger, _ := e2e.NewIdentity(nil)
		ks, _, _ := e2e.SealKeys(alice.dev, home, ro.Epoch, append(slices.Clone(ro.Devices), stranger.Device()), nil)
		_, e := alice.post(room, ks, "", "")
		mustRefuse(t, e, "invalid", "is not in the roster")
	})
	t.Run("a ciphertext over the room's limit", func(t *testing.T) {
		_, e := alice.post(room, alice.seal(home, chat(strings.Repeat("x", 8192+512)), "", ""), "", "")
		mustRefuse(t, e, "too_large", "body.e2e.ct")
	})
	t.Run("a bad version", func(t *testing.T) {
		s := alice.seal(home, chat("v2"), "", "")
		s.V = 2
		_, e := alice.post(room, s, "", "")
		mustRefuse(t, e, "invalid", "body.e2e.v")
	})
	t.Run("a keys seq from before the epoch", func(t *testing.T) {
		s, _ := e2e.Seal(alice.dev, e2e.Envelope{Room: home}, ro.Epoch, 1, 1, make([]byte, 32), chat("x"), nil)
		_, e := alice.post(room, s, "", "")
		mustRefuse(t, e, "invalid", "body.e2e.keys")
	})
	t.Run("a stale epoch", func(t *testing.T) {
		carol := newMember(t, n, "carol")
		carol.join(room) // epoch 2
		_, e := alice.post(room, alice.seal(home, chat("late"), "", ""), "", "")
		mustRefuse(t, e, "conflict", fmt.Sprintf("at epoch %d, not %d", ro.Epoch+1, ro.Epoch))
		ro2 := alice.roster(room)
		alice.rekey(room, ro2)
		m := alice.say(room, home, "on time")
		if p, err := carol.open(room, home, m, alice.dev.Device().Sign); err != nil || p.Body.Text != "on time" {
			t.Fatalf("carol opens the message of the new epoch: %+v %v", p, err)
		}
	})
}

// TestE2EMentionOnly: agents' messages need "to" in a mention-only room,
// their keys entries do not.
func TestE2EMentionOnly(t *testing.T) {
	n := meshtest.Start(t, "")
	alice, bob := newMember(t, n, "alice"), newMember(t, n, "bob")
	room := alice.createRoom("quiet", map[string]any{"agents": map[string]any{"reply": "mention-only"}})
	bob.join(room)
	ro := bob.roster(room)
	bob.rekey(room, ro)
	if _, e := bob.post(room, bob.seal(ro.Room, chat("to all"), "", ""), "", ""); e == nil || e.Code != mesh.EForbidden {
		t.Fatalf("an agent's unaddressed message: %v, want forbidden", e)
	}
	if _, e := bob.post(room, bob.seal(ro.Room, chat("to alice"), alice.id, ""), alice.id, ""); e != nil {
		t.Fatalf("an agent's addressed message: %v", e)
	}
}

// TestE2ERemovedMember: a member that leaves or is kicked gets no key for
// what is sent after, while the others do.
func TestE2ERemovedMember(t *testing.T) {
	n := meshtest.Start(t, "")
	alice, bob, carol := newMember(t, n, "alice"), newMember(t, n, "bob"), newMember(t, n, "carol")
	room := alice.createRoom("vault", nil)
	bob.join(room)
	carol.join(room)
	sign := alice.dev.Device().Sign
	// bobWithCarolsReads opens as bob, with bob's keys, what carol (a
	// member) reads: bob can no longer read the room himself.
	bobKeys := *carol
	bobKeys.dev = bob.dev

	for _, removal := range []string{"kick", "leave"} {
		t.Run(removal, func(t *testing.T) {
			ro := alice.roster(room)
			if !slices.ContainsFunc(ro.Devices, func(d mesh.Device) bool { return d.ID == bob.dev.ID() }) {
				t.Fatalf("bob is not in the roster before his removal: %v", deviceIDs(ro))
			}
			alice.rekey(room, ro)
			before := alice.say(room, ro.Room, "before "+removal)
			for who, m := range map[string]*member{"bob": bob, "carol": carol} {
				if p, err := m.open(room, ro.Room, before, sign); err != nil || p.Body.Text != "before "+removal {
					t.Fatalf("%s opens the message sent before: %+v %v", who, p, err)
				}
			}
			if removal == "kick" {
				if st, e := doJSON(t, n, "POST", "/api/v1/rooms/"+string(room)+"/moderation", alice.tok, map[string]any{"action": "kick", "target": bob.id}, nil); st != 200 {
					t.Fatalf("kick: HTTP %d %v", st, e)
				}
			} else if st, e := doJSON(t, n, "POST", "/api/v1/rooms/"+string(room)+"/leave", bob.tok, nil, nil); st != 204 {
				t.Fatalf("leave: HTTP %d %v", st, e)
			}
			next := alice.roster(room)
			if next.Epoch != ro.Epoch+1 || slices.ContainsFunc(next.Devices, func(d mesh.Device) bool { return d.Participant == bob.id }) {
				t.Fatalf("after the %s: epoch %d with %v, want epoch %d without bob", removal, next.Epoch, deviceIDs(next), ro.Epoch+1)
			}
			if _, e := alice.post(room, alice.seal(ro.Room, chat("old epoch"), "", ""), "", ""); e == nil || e.Code != mesh.EConflict {
				t.Fatalf("alice posts in the old epoch: %v, want conflict", e)
			}
			keys := alice.rekey(room, next)
			if slices.ContainsFunc(keys.Body.E2E.Wraps, func(w mesh.Wrap) bool { return w.To == bob.dev.ID() }) {
				t.Fatalf("alice's keys entry of epoch %d wraps to bob's device", next.Epoch)
			}
			after := alice.say(room, next.Room, "after "+removal)
			if _, err := bobKeys.open(room, next.Room, after, sign); !errors.Is(err, e2e.ErrNoKey) {
				t.Fatalf("bob opens the message sent after his %s: %v, want ErrNoKey", removal, err)
			}
			if p, err := carol.open(room, next.Room, after, sign); err != nil || p.Body.Text != "after "+removal {
				t.Fatalf("carol opens the message sent after: %+v %v", p, err)
			}
			if st, _ := doJSON(t, n, "GET", "/api/v1/rooms/"+string(room)+"/messages", bob.tok, nil, nil); st != 403 {
				t.Fatalf("bob reads the room after his %s: HTTP %d, want 403", removal, st)
			}
			bob.join(room) // for the next removal
		})
	}
}

// TestE2EEpochOrder posts from two senders while the roster keeps
// changing: every message accepted for epoch N must have a seq between
// the events of epochs N and N+1.
func TestE2EEpochOrder(t *testing.T) {
	n := meshtest.Start(t, "")
	alice, dave, bob := newMember(t, n, "alice"), newMember(t, n, "dave"), newMember(t, n, "bob")
	room := alice.createRoom("churn", nil)
	dave.join(room)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	accepted := map[uint64]uint64{} // seq -> epoch
	for _, m := range []*member{alice, dave} {
		wg.Go(func() {
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				ro := m.roster(room)
				if m.epoch != ro.Epoch {
					s, ck0, err := e2e.SealKeys(m.dev, ro.Room, ro.Epoch, ro.Devices, nil)
					if err != nil {
						t.Error(err)
						return
					}
					msg, e := m.post(room, s, "", "")
					if e != nil {
						continue // the epoch moved on meanwhile
					}
					m.epoch, m.keys, m.chain = ro.Epoch, msg.Seq, e2e.NewChain(ck0)
					mu.Lock()
					accepted[msg.Seq] = ro.Epoch
					mu.Unlock()
				}
				msg, e := m.post(room, m.seal(ro.Room, chat(fmt.Sprint(k)), "", ""), "", "")
				switch {
				case e == nil:
					mu.Lock()
					accepted[msg.Seq] = m.epoch
					mu.Unlock()
				case e.Code != mesh.EConflict:
					t.Errorf("post: %v", e)
					return
				}
			}
		})
	}
	// Churn at least 8 times, and on until both senders have had messages
	// accepted (a loaded machine may run the churn before them).
	deadline := time.Now().Add(30 * time.Second)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(accepted) }
	for i := 0; i < 8 || count() < 8; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("only %d messages accepted in 30 s of churn", count())
		}
		bob.join(room)
		if st, e := doJSON(t, n, "POST", "/api/v1/rooms/"+string(room)+"/leave", bob.tok, nil, nil); st != 204 {
			t.Fatalf("leave: HTTP %d %v", st, e)
		}
	}
	close(stop)
	wg.Wait()
	ro := alice.roster(room)
	evs := alice.waitEpoch(room, ro.Epoch)
	eventSeq := map[uint64]uint64{}
	for _, ev := range evs {
		eventSeq[ev.Epoch] = ev.Seq
	}
	if len(accepted) < 4 {
		t.Fatalf("only %d messages accepted", len(accepted))
	}
	for seq, epoch := range accepted {
		if seq <= eventSeq[epoch] || (eventSeq[epoch+1] != 0 && seq >= eventSeq[epoch+1]) {
			t.Fatalf("message of epoch %d at seq %d: the epoch's event is at %d, the next at %d", epoch, seq, eventSeq[epoch], eventSeq[epoch+1])
		}
	}
	t.Logf("%d messages accepted over %d epochs", len(accepted), len(evs))
}

// TestE2ENoPlaintextOnDisk sends a phrase, a command name and its
// arguments in an E2E room and finds none of them in any file under the
// data directory: logs, audit, inbox, everything. The same phrase sent in
// a plain room is found, so the search can fail.
func TestE2ENoPlaintextOnDisk(t *testing.T) {
	dir := t.TempDir()
	n := meshtest.Start(t, dir)
	alice, bob := newMember(t, n, "alice"), newMember(t, n, "bob")
	room := alice.createRoom("vault", nil)
	bob.join(room)
	ro := alice.roster(room)
	tag := make([]byte, 8)
	rand.Read(tag)
	phrase := fmt.Sprintf("canary-phrase-%x", tag)
	command := fmt.Sprintf("exfiltrate-%x", tag)

	alice.rekey(room, ro)
	bob.rekey(room, ro)
	said, e := alice.post(room, alice.seal(ro.Room, chat("the secret is "+phrase), bob.id, ""), bob.id, "")
	if e != nil {
		t.Fatal(e)
	}
	cmd := e2e.Plain{Kind: mesh.MessageCommand, Body: mesh.Body{Command: command, Args: json.RawMessage(`{"secret":"` + phrase + `"}`)}}
	sent, e := alice.post(room, alice.seal(ro.Room, cmd, bob.id, ""), bob.id, "")
	if e != nil {
		t.Fatal(e)
	}
	ok := true
	res := e2e.Plain{Kind: mesh.MessageResult, Body: mesh.Body{OK: &ok, Output: "ran " + command + ": " + phrase}}
	if _, e := bob.post(room, bob.seal(ro.Room, res, alice.id, sent.ID), alice.id, sent.ID); e != nil {
		t.Fatal(e)
	}
	// Refused attempts leave nothing either: a plaintext post, a forged one.
	doJSON(t, n, "POST", "/api/v1/rooms/"+string(room)+"/messages", alice.tok, map[string]any{"text": phrase}, nil)
	doJSON(t, n, "POST", "/api/v1/rooms/"+string(room)+"/commands", alice.tok, map[string]any{"target": bob.id, "name": command, "args": map[string]any{"secret": phrase}}, nil)
	forged := alice.seal(ro.Room, chat(phrase), "", "")
	forged.Sig[0] ^= 1
	if _, e := alice.post(room, forged, "", ""); e == nil {
		t.Fatal("a forged body was accepted")
	}
	// A live reader over WebSocket and the inbox get their copies too.
	c := n.Hello(t, bob.tok)
	c.Join(string(room))
	c.Send(map[string]any{"type": "inbox", "ref": "i"})
	c.Expect("inbox")
	if p, err := bob.open(room, ro.Room, said, alice.dev.Device().Sign); err != nil || !strings.Contains(p.Body.Text, phrase) {
		t.Fatalf("bob opens the message: %+v %v", p, err)
	}
	n.Stop() // everything flushed: logs, WAL, audit, inbox

	needles := []string{phrase, command, strings.ToUpper(phrase)}
	if found := grepDir(t, dir, needles); len(found) > 0 {
		t.Fatalf("plaintext of an E2E room found on disk: %v", found)
	}
	ct := mustB64(said.Body.E2E.CT)
	if found := grepDir(t, dir, []string{ct}); len(found) != 1 || !strings.HasPrefix(found[0], "messages/") {
		t.Fatalf("the ciphertext is found in %v, want only the room's log (never the audit log)", found)
	}

	// The negative control: the same phrase in a plain room is on disk.
	n = meshtest.Start(t, dir)
	alice.n = n
	alice.join("lobby")
	if st, e := doJSON(t, n, "POST", "/api/v1/rooms/lobby/messages", alice.tok, map[string]any{"text": "the secret is " + phrase}, nil); st != 201 {
		t.Fatalf("plain post: HTTP %d %v", st, e)
	}
	n.Stop()
	if found := grepDir(t, dir, []string{phrase}); !slices.ContainsFunc(found, func(f string) bool { return strings.HasPrefix(f, "messages/lobby") }) {
		t.Fatalf("the phrase sent in a plain room is not found on disk (found in %v): the search is broken", found)
	}
}

// grepDir returns the files under dir (relative paths) holding one of
// needles.
func grepDir(tb testing.TB, dir string, needles []string) []string {
	tb.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range needles {
			if bytes.Contains(b, []byte(s)) {
				rel, _ := filepath.Rel(dir, path)
				found = append(found, filepath.ToSlash(rel))
				break
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return found
}
