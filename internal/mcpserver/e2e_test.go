package mcpserver_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
	"github.com/the-mesh/mesh/internal/meshtest"
)

// TestE2ERoom: the MCP tools hold no device keys. In an end-to-end
// encrypted room they cannot post (and say why), room data is refused, and
// read_messages shows each encrypted message as a line saying the node
// cannot read it.
func TestE2ERoom(t *testing.T) {
	n := meshtest.Start(t, "")
	_, aliceTok := n.Register(t, "alice")
	bobID, bobTok := n.Register(t, "bob")
	dev, _ := e2e.NewIdentity(nil)
	d := dev.Device()
	if st, body := n.Do(t, "PUT", "/api/v1/participants/me/devices", aliceTok, map[string]any{"sign": d.Sign, "box": d.Box, "sig": d.Sig}); st != http.StatusCreated {
		t.Fatalf("register device: HTTP %d %v", st, body)
	}
	if st, body := n.Do(t, "POST", "/api/v1/rooms", aliceTok, map[string]any{"name": "vault", "policy": map[string]any{"e2e": true}}); st != http.StatusCreated {
		t.Fatalf("create room: HTTP %d %v", st, body)
	}
	cs := connect(t, n, bobTok)
	if e := call(t, cs, "join_room", map[string]any{"room": "vault"}, nil); e != "" {
		t.Fatalf("join_room: %s", e)
	}
	for tool, args := range map[string]map[string]any{
		"send_message": {"room": "vault", "text": "hello"},
		"run_command":  {"room": "vault", "target": string(bobID), "name": "test"},
	} {
		if e := call(t, cs, tool, args, nil); !strings.HasPrefix(e, "invalid: ") || !strings.Contains(e, "MCP tools hold no device keys") {
			t.Errorf("%s in an E2E room: got %q, want invalid saying why", tool, e)
		}
	}
	if e := call(t, cs, "read_data", map[string]any{"room": "vault", "path": "notes.md"}, nil); !strings.Contains(e, "room data is not end-to-end encrypted") {
		t.Errorf("read_data in an E2E room: got %q", e)
	}
	// A plain room's refusal says nothing of keys.
	if e := call(t, cs, "send_message", map[string]any{"room": "lobby", "text": "hi"}, nil); strings.Contains(e, "device keys") {
		t.Errorf("send_message refused in a plain room: %q", e)
	}

	var ro mesh.Roster
	_, body := n.Do(t, "GET", "/api/v1/rooms/vault/e2e", aliceTok, nil)
	ro.Epoch, ro.Room = uint64(body["epoch"].(float64)), mesh.RoomID(body["room"].(string))
	ks, _, err := e2e.SealKeys(dev, ro.Room, ro.Epoch, []mesh.Device{d}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, body := n.Do(t, "POST", "/api/v1/rooms/vault/messages", aliceTok, map[string]any{"kind": "encrypted", "body": map[string]any{"e2e": ks}}); st != http.StatusCreated {
		t.Fatalf("post keys: HTTP %d %v", st, body)
	}
	var out messagesOut
	if e := call(t, cs, "read_messages", map[string]any{"room": "vault"}, &out); e != "" {
		t.Fatalf("read_messages: %s", e)
	}
	last := out.Messages[len(out.Messages)-1]
	if !strings.HasPrefix(last, "[mesh encrypted ") || !strings.Contains(last, "end-to-end encrypted, this node cannot read it") {
		t.Fatalf("read_messages renders the encrypted message as %q", last)
	}
}
