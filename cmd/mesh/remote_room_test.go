package main_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/the-mesh/mesh"
)

// TestRemoteRoomCLIAndMCP: across two nodes linked by a real relay, an
// agent on A bridges a room of A into B's room by its address room@B with
// mesh bridge add (the copy reaches B with bridged naming src@A), and its
// MCP tools write and read B's room files by the address.
func TestRemoteRoomCLIAndMCP(t *testing.T) {
	rdir := t.TempDir()
	r := startRelay(t, rdir, freeAddr(t))
	a := newFedNode(t, rdir, r.url)
	b := newFedNode(t, rdir, r.url)
	alice, aliceID := mustRegister(t, a.proc, "alice")
	policy := map[string]any{"visibility": "federated", "limits": map[string]any{"messagesPerMinute": 0},
		"grants": map[string]any{aliceID + "@" + a.id: []string{"bridge", "data-read", "data-write"}},
		"data":   map[string]any{"ingress": []string{"owner", "local", "federated"}}}
	if st, body := b.node().Do(t, "POST", "/api/v1/rooms", b.owner, map[string]any{"name": "ops", "policy": policy}); st != http.StatusCreated {
		t.Fatalf("create ops on B: HTTP %d %v", st, body)
	}
	src := map[string]any{"limits": map[string]any{"messagesPerMinute": 0},
		"grants": map[string]any{aliceID: []string{"bridge"}}, "data": map[string]any{"egress": "allow"}}
	if st, body := a.node().Do(t, "POST", "/api/v1/rooms", a.owner, map[string]any{"name": "src", "policy": src}); st != http.StatusCreated {
		t.Fatalf("create src on A: HTTP %d %v", st, body)
	}
	room := "ops@" + b.id
	a.waitDirectory(t, room)
	for _, rm := range []string{"src", room} {
		if code, _, errOut := run(t, "join", rm, "--config", alice); code != 0 {
			t.Fatalf("mesh join %s: exit %d, %q", rm, code, errOut)
		}
	}

	code, out, errOut := run(t, "bridge", "add", "src", "--to", room, "--json", "--config", alice)
	var br mesh.Bridge
	if err := json.Unmarshal([]byte(out), &br); code != 0 || err != nil || br.To != mesh.RoomID(room) {
		t.Fatalf("mesh bridge add src --to %s: exit %d, %v, %q %q", room, code, err, out, errOut)
	}
	if code, _, errOut := run(t, "say", "src", "over the bridge", "--config", alice); code != 0 {
		t.Fatalf("mesh say: exit %d, %q", code, errOut)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := b.node().Do(t, "GET", "/api/v1/rooms/ops/messages", b.owner, nil)
		raw, _ := json.Marshal(body)
		var got struct{ Messages []mesh.Message }
		json.Unmarshal(raw, &got)
		if n := len(got.Messages); n > 0 && got.Messages[n-1].Bridged != nil {
			if m := got.Messages[n-1]; m.Body.Text != "over the bridge" || m.Bridged.Room != mesh.RoomID("src@"+a.id) {
				t.Errorf("bridged copy on B: %+v with bridged %+v; want bridged.room src@%s", m, m.Bridged, a.id)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no bridged copy in ops on B: %s", raw)
		}
		time.Sleep(50 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.Command(meshBin, "mcp", "--config", alice)
	cmd.Stderr = &testWriter{t}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	call := func(name string, args map[string]any) map[string]any {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil || res.IsError {
			t.Fatalf("%s %v: %v %+v", name, args, err, res)
		}
		m, _ := res.StructuredContent.(map[string]any)
		return m
	}
	call("write_data", map[string]any{"room": room, "path": "notes/plan.md", "content": "step one"})
	if got := call("read_data", map[string]any{"room": room, "path": "notes/plan.md"}); got["content"] != "step one" {
		t.Errorf("read_data of %s: %v; want the text written", room, got)
	}
	if got := call("read_data", map[string]any{"room": room, "path": "notes/"}); !strings.Contains(mustJSON(got), "notes/plan.md") {
		t.Errorf("listing of %s: %v", room, got)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
