package node_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
	"github.com/the-mesh/mesh/internal/node"
)

// mustDevice registers a new device for p and returns its keys.
func mustDevice(tb testing.TB, n *node.Node, p mesh.Participant) *e2e.Identity {
	tb.Helper()
	id, err := e2e.NewIdentity(nil)
	if err != nil {
		tb.Fatal(err)
	}
	if _, created, err := n.AddDevice(p, id.Device()); err != nil || !created {
		tb.Fatalf("add device: %v (new %v)", err, created)
	}
	return id
}

func mustRoster(tb testing.TB, n *node.Node, p mesh.Participant, room mesh.RoomID) mesh.Roster {
	tb.Helper()
	r, err := n.Roster(p, room)
	if err != nil {
		tb.Fatalf("roster: %v", err)
	}
	return r
}

// TestE2EEpochsReplay: devices and epoch numbers are replayed from the
// journals; every open starts a new epoch above every number recorded,
// including one recorded just before a crash whose event never made it.
func TestE2EEpochsReplay(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	n := MustOpen(t, dir, clk.Now)
	alice, _ := MustRegister(t, n, nil, node.Registration{Name: "alice"})
	bob, _ := MustRegister(t, n, nil, node.Registration{Name: "bob"})
	da := mustDevice(t, n, alice)
	mustDevice(t, n, bob)
	room, err := n.CreateRoom(alice, node.NewRoom{Name: "vault", Policy: json.RawMessage(`{"e2e": true}`)})
	if err != nil {
		t.Fatal(err)
	}
	MustJoin(t, n, bob, room.ID)
	if r := mustRoster(t, n, alice, room.ID); r.Epoch != 2 || len(r.Devices) != 2 {
		t.Fatalf("epoch %d with %d devices, want 2 with both", r.Epoch, len(r.Devices))
	}
	if err := n.DeleteDevice(alice, da.ID()); err != nil {
		t.Fatal(err)
	}
	n = MustReopen(t, n, dir, clk.Now)
	r := mustRoster(t, n, alice, room.ID)
	if r.Epoch != 4 || len(r.Devices) != 1 || r.Devices[0].Participant != bob.ID {
		t.Fatalf("after a reopen: epoch %d with %+v, want epoch 4 with bob's device only", r.Epoch, r.Devices)
	}
	if got := n.Devices(bob); len(got) != 1 || got[0].ID != r.Devices[0].ID {
		t.Fatalf("bob's devices after a reopen: %+v", got)
	}

	// A crash after the number was written and before its event: the
	// number is spent, the next start goes above it.
	n.Close()
	f, err := os.OpenFile(filepath.Join(dir, "rooms.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"op":"epoch","id":"vault","epoch":9,"ts":"2026-01-02T03:04:05Z"}` + "\n")
	f.Close()
	n = MustOpen(t, dir, clk.Now)
	if r := mustRoster(t, n, alice, room.ID); r.Epoch != 10 {
		t.Fatalf("after a crash that spent epoch 9: epoch %d, want 10", r.Epoch)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "rooms.jsonl"))
	if k := strings.Count(string(b), `"op":"epoch"`); k != 6 {
		t.Fatalf("rooms.jsonl holds %d epoch records, want 6 (1, 2, 3, 4, 9, 10)", k)
	}
}

// TestE2ERefusals checks the node's refusals that need no socket.
func TestE2ERefusals(t *testing.T) {
	n := MustOpen(t, "", newClock().Now)
	alice, _ := MustRegister(t, n, nil, node.Registration{Name: "alice"})
	room, err := n.CreateRoom(alice, node.NewRoom{Name: "vault", Policy: json.RawMessage(`{"e2e": true}`)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = say(t, n, alice, node.Post{Room: room.ID, Text: "in clear"})
	checkCode(t, err, mesh.EInvalid)
	_, err = say(t, n, alice, node.Post{Room: room.ID, Kind: mesh.MessageEncrypted})
	checkCode(t, err, mesh.EInvalid)
	_, err = n.DataList(alice, room.ID, "")
	checkCode(t, err, mesh.EInvalid)
	_, err = n.SetPolicy(alice, room.ID, []byte(`{"e2e": false}`))
	checkCode(t, err, mesh.EInvalid)
	_, err = n.Roster(alice, mesh.Lobby)
	checkCode(t, err, mesh.EInvalid)
	bad := alice
	bad.ID = "p_nobody"
	_, err = n.Roster(bad, room.ID)
	checkCode(t, err, mesh.EForbidden)
	if recs := auditRecords(t, n, "say"); len(recs) != 2 || recs[0].Outcome != "refused" {
		t.Fatalf("audit: %+v, want both refused posts", recs)
	}
}
