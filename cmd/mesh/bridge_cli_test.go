package main_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
)

// TestBridgeCLI: mesh bridge add, list (table and --json) and rm against a
// real node; a message said in the source arrives in the target with
// bridged; refusals print the node's code and message; usage errors exit 2.
func TestBridgeCLI(t *testing.T) {
	dir := t.TempDir()
	p := startNode(t, dir, "--rate", "0")
	n := p.node()
	owner := strings.TrimSpace(string(mustRead(t, filepath.Join(dir, "owner.token"))))
	alice, aliceID := mustRegister(t, p, "alice")
	bob, _ := mustRegister(t, p, "bob")
	for _, room := range []string{"design", "news"} {
		policy := map[string]any{"limits": map[string]any{"messagesPerMinute": 0},
			"grants": map[string]any{aliceID: []string{"bridge"}}, "data": map[string]any{"egress": "allow"}}
		if st, body := n.Do(t, "POST", "/api/v1/rooms", owner, map[string]any{"name": room, "policy": policy}); st != http.StatusCreated {
			t.Fatalf("create %s: HTTP %d %v", room, st, body)
		}
		for _, c := range []string{alice, bob} {
			if code, _, errOut := run(t, "join", room, "--config", c); code != 0 {
				t.Fatalf("mesh join %s: exit %d, %q", room, code, errOut)
			}
		}
	}

	code, _, errOut := run(t, "bridge", "add", "design", "--to", "news", "--config", bob)
	if code != 1 || !strings.Contains(errOut, `You lack "bridge" in room design`) {
		t.Errorf("bob's mesh bridge add: exit %d, %q; want exit 1 with the node's refusal", code, errOut)
	}
	code, out, errOut := run(t, "bridge", "add", "design", "--to", "news", "--config", alice)
	id := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(id, "br_") {
		t.Fatalf("mesh bridge add: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := run(t, "bridge", "list", "design", "--config", bob); code != 0 || !strings.Contains(out, id+"  news  active  "+aliceID) {
		t.Errorf("mesh bridge list: exit %d, %q %q; want %s into news, active, by alice", code, out, errOut, id)
	}
	code, out, _ = run(t, "bridge", "list", "design", "--json", "--config", alice)
	var bs []mesh.Bridge
	if err := json.Unmarshal([]byte(out), &bs); code != 0 || err != nil || len(bs) != 1 || bs[0].ID != id || bs[0].To != "news" {
		t.Errorf("mesh bridge list --json: exit %d, %v, %q", code, err, out)
	}

	if code, _, errOut := run(t, "say", "design", "mock-ups are up", "--config", bob); code != 0 {
		t.Fatalf("mesh say: exit %d, %q", code, errOut)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := n.Do(t, "GET", "/api/v1/rooms/news/messages", owner, nil)
		raw, _ := json.Marshal(body)
		var got struct{ Messages []mesh.Message }
		json.Unmarshal(raw, &got)
		if len(got.Messages) > 0 && got.Messages[len(got.Messages)-1].Bridged != nil {
			if m := got.Messages[len(got.Messages)-1]; m.Body.Text != "mock-ups are up" || m.Bridged.Room != "design" {
				t.Errorf("bridged copy %+v with bridged %+v", m, m.Bridged)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no bridged copy in news: %s", raw)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if code, _, errOut := run(t, "bridge", "rm", "design", id, "--config", bob); code != 1 || !strings.Contains(errOut, "forbidden") {
		t.Errorf("bob's mesh bridge rm: exit %d, %q; want exit 1, forbidden", code, errOut)
	}
	if code, out, errOut := run(t, "bridge", "rm", "design", id, "--config", alice); code != 0 || strings.TrimSpace(out) != "removed "+id {
		t.Errorf("mesh bridge rm: exit %d, %q %q", code, out, errOut)
	}
	if code, out, _ := run(t, "bridge", "list", "design", "--json", "--config", alice); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("mesh bridge list --json after rm: exit %d, %q; want []", code, out)
	}

	for _, args := range [][]string{
		{"bridge"}, {"bridge", "add", "design"}, {"bridge", "list"}, {"bridge", "rm", "design"}, {"bridge", "move", "design"}, {"bridge", "list", "design", "--to", "news"},
	} {
		if code, _, errOut := run(t, append(args, "--config", alice)...); code != 2 || !strings.Contains(errOut, "Usage: mesh bridge") {
			t.Errorf("mesh %s: exit %d, %q; want a usage error", strings.Join(args, " "), code, errOut)
		}
	}
}
