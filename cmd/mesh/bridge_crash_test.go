package main_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/meshtest"
)

// TestBridgeAfterCrash kills the node with SIGKILL while a bridge carries a
// stream of messages and checks, after a restart, that every chat message
// of the source is in the target exactly once, in order.
func TestBridgeAfterCrash(t *testing.T) {
	dir := t.TempDir()
	p := startNode(t, dir, "--rate", "0")
	n := p.node()
	owner := strings.TrimSpace(string(mustRead(t, filepath.Join(dir, "owner.token"))))
	alice, aliceTok := n.Register(t, "alice")
	for _, room := range []string{"a", "b"} {
		policy := map[string]any{"limits": map[string]any{"messagesPerMinute": 0},
			"grants": map[string]any{string(alice): []string{"bridge"}}, "data": map[string]any{"egress": "allow"}}
		if st, body := n.Do(t, "POST", "/api/v1/rooms", owner, map[string]any{"name": room, "policy": policy}); st != 201 {
			t.Fatalf("create room %s: HTTP %d %v", room, st, body)
		}
		if st, body := n.Do(t, "POST", "/api/v1/rooms/"+room+"/join", aliceTok, nil); st != 200 {
			t.Fatalf("join %s: HTTP %d %v", room, st, body)
		}
	}
	st, body := n.Do(t, "POST", "/api/v1/rooms/a/bridges", aliceTok, map[string]any{"to": "b"})
	if st != 201 {
		t.Fatalf("bridge: HTTP %d %v", st, body)
	}
	id := body["bridge"].(map[string]any)["id"].(string)

	var wg sync.WaitGroup
	for i := range 2 {
		_, tok := n.Register(t, fmt.Sprintf("writer-%d", i))
		c := n.Hello(t, tok)
		c.Join("a")
		wg.Add(2)
		go func() { // send 600, or until the socket dies
			defer wg.Done()
			for k := range 600 {
				if c.SendQuiet(map[string]any{"type": "say", "room": "a", "text": fmt.Sprintf("w%d-%d", i, k)}) != nil {
					return
				}
			}
		}()
		go func() { // read, so the node never stalls on this client
			defer wg.Done()
			for {
				if _, err := c.TryNext(10 * time.Second); err != nil {
					return
				}
			}
		}()
	}
	waitCursor(t, n, owner, id, func(cursor float64) bool { return cursor >= 300 })
	p.stop(t, syscall.SIGKILL)
	wg.Wait()

	p2 := startNode(t, dir)
	n2 := p2.node()
	source := readAll(t, n2, owner, "a")
	head := source[len(source)-1]["seq"].(float64)
	waitCursor(t, n2, owner, id, func(cursor float64) bool { return cursor >= head })

	var want []float64
	for _, m := range source {
		if m["kind"] == "chat" {
			want = append(want, m["seq"].(float64))
		}
	}
	var got []float64
	for _, m := range readAll(t, n2, owner, "b") {
		if b, ok := m["bridged"].(map[string]any); ok {
			got = append(got, b["seq"].(float64))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("the target holds %d bridged messages, the source %d chat messages: want each exactly once", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("bridged message %d is of source seq %v, want %v: each once, in order", i, got[i], want[i])
		}
	}
	t.Logf("%d messages bridged across a SIGKILL", len(got))
}

// waitCursor waits until ok accepts the cursor of bridge id out of room a.
func waitCursor(t *testing.T, n *meshtest.Node, token, id string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last any
	for time.Now().Before(deadline) {
		st, body := n.Do(t, "GET", "/api/v1/rooms/a/bridges", token, nil)
		if st == 200 {
			for _, b := range body["bridges"].([]any) {
				if b := b.(map[string]any); b["id"] == id {
					if last = b; ok(b["cursor"].(float64)) {
						return
					}
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("bridge %s never got there: %v", id, last)
}

// readAll reads every message of room.
func readAll(t *testing.T, n *meshtest.Node, token, room string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for after := 0.0; ; {
		st, body := n.Do(t, "GET", fmt.Sprintf("/api/v1/rooms/%s/messages?after=%v&limit=500", room, after), token, nil)
		if st != 200 {
			t.Fatalf("read %s: HTTP %d %v", room, st, body)
		}
		page := body["messages"].([]any)
		if len(page) == 0 {
			return out
		}
		for _, m := range page {
			out = append(out, m.(map[string]any))
		}
		after = out[len(out)-1]["seq"].(float64)
	}
}
