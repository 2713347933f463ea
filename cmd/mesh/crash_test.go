package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/meshtest"
)

// TestCrashKeepsAckedMessages kills the node with SIGKILL in the middle of
// a burst and checks, after a restart, that every acknowledged message is
// stored once, in order, with gap-free seqs.
func TestCrashKeepsAckedMessages(t *testing.T) {
	dir := t.TempDir()
	p := startNode(t, dir, "--rate", "0")
	n := p.node()
	owner := strings.TrimSpace(string(mustRead(t, filepath.Join(dir, "owner.token"))))
	if st, body := n.Do(t, "POST", "/api/v1/rooms", owner, map[string]any{"name": "burst",
		"policy": map[string]any{"limits": map[string]any{"messagesPerMinute": 0}}}); st != 201 {
		t.Fatalf("create room: HTTP %d %v", st, body)
	}
	const writers = 4
	tokens := make([]string, writers)
	for i := range tokens {
		_, tokens[i] = n.Register(t, fmt.Sprintf("writer-%d", i))
	}

	var mu sync.Mutex
	acked := map[string]float64{} // message id -> seq
	var wg sync.WaitGroup
	for i, tok := range tokens {
		c := n.Hello(t, tok)
		c.Join("burst")
		wg.Add(2)
		go func() { // keep sending until the socket dies
			defer wg.Done()
			for k := 0; ; k++ {
				if c.SendQuiet(map[string]any{"type": "say", "room": "burst", "text": fmt.Sprintf("w%d-%d", i, k)}) != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for {
				f, err := c.TryNext(10 * time.Second)
				if err != nil {
					return
				}
				if f.Type() == "ack" {
					mu.Lock()
					acked[f["id"].(string)] = f["seq"].(float64)
					mu.Unlock()
				}
			}
		}()
	}
	for {
		mu.Lock()
		k := len(acked)
		mu.Unlock()
		if k >= 2000 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.stop(t, syscall.SIGKILL)
	wg.Wait()

	p2 := startNode(t, dir)
	n2 := p2.node()
	var stored []map[string]any
	for after := 0; ; {
		st, body := n2.Do(t, "GET", fmt.Sprintf("/api/v1/rooms/burst/messages?after=%d&limit=500", after), tokens[0], nil)
		if st != 200 {
			t.Fatalf("read after restart: HTTP %d %v", st, body)
		}
		page := body["messages"].([]any)
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			stored = append(stored, m.(map[string]any))
		}
		after += len(page)
	}
	seen := map[string]bool{}
	for i, m := range stored {
		if m["seq"] != float64(i+1) {
			t.Fatalf("message %d has seq %v: not gap-free and in order", i+1, m["seq"])
		}
		id := m["id"].(string)
		if seen[id] {
			t.Fatalf("message %s stored twice", id)
		}
		seen[id] = true
		if seq, ok := acked[id]; ok && seq != m["seq"] {
			t.Fatalf("message %s acked with seq %v but stored with %v", id, seq, m["seq"])
		}
	}
	for id, seq := range acked {
		if !seen[id] {
			t.Fatalf("acked message %s (seq %v) is missing after the crash", id, seq)
		}
	}
	t.Logf("%d acked, %d stored after SIGKILL", len(acked), len(stored))
	if code, out, errOut := run(t, "audit", "verify", "--data", dir); code != 0 {
		t.Fatalf("audit verify after a crash: exit %d: %s%s", code, out, errOut)
	}
}

// TestTornLineSetAside appends half a line to a room log, as a crash in
// the middle of a write leaves it, and checks the node sets it aside.
func TestTornLineSetAside(t *testing.T) {
	dir := t.TempDir()
	p := startNode(t, dir)
	n := p.node()
	_, tok := n.Register(t, "w")
	n.Do(t, "POST", "/api/v1/rooms/lobby/join", tok, nil)
	for i := range 3 {
		if st, body := n.Do(t, "POST", "/api/v1/rooms/lobby/messages", tok, map[string]any{"text": fmt.Sprint(i)}); st != 201 {
			t.Fatalf("post: HTTP %d %v", st, body)
		}
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("clean stop: %v", err)
	}
	log := filepath.Join(dir, "messages", "lobby.jsonl")
	torn := `{"id":"m_torn","room":"lobby","seq":4,"kind":"ch`
	f, _ := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(torn)
	f.Close()

	p2 := startNode(t, dir)
	n2 := p2.node()
	if got := string(mustRead(t, log+".corrupt")); got != torn {
		t.Fatalf(".corrupt holds %q, want the torn bytes %q", got, torn)
	}
	if st, body := n2.Do(t, "POST", "/api/v1/rooms/lobby/messages", tok, map[string]any{"text": "after"}); st != 201 ||
		body["message"].(map[string]any)["seq"] != 4.0 {
		t.Fatalf("post after recovery: HTTP %d %v, want seq 4", st, body)
	}
}

// TestCleanShutdown: SIGTERM tells clients, closes them and exits 0; the
// data is intact afterwards.
func TestCleanShutdown(t *testing.T) {
	dir := t.TempDir()
	p := startNode(t, dir)
	n := p.node()
	_, tok := n.Register(t, "w")
	c := n.Hello(t, tok)
	c.Join("lobby")
	c.Send(map[string]any{"type": "say", "room": "lobby", "text": "last words"})
	c.Expect("ack")
	p.cmd.Process.Signal(syscall.SIGTERM)
	f := c.ExpectError()
	if f["code"] != "unavailable" || !strings.Contains(f["message"].(string), "shutting down") {
		t.Fatalf("client got %v, want unavailable: shutting down", f)
	}
	if _, err := c.TryNext(5 * time.Second); err == nil {
		t.Fatal("connection still open after shutdown")
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	var stopped bool
	for line := range p.out {
		stopped = stopped || strings.Contains(line, "stopped")
	}
	if !stopped {
		t.Error("mesh up did not report that it stopped")
	}
	if code, out, errOut := run(t, "audit", "verify", "--data", dir); code != 0 {
		t.Fatalf("audit verify: exit %d %s%s", code, out, errOut)
	}
	p2 := startNode(t, dir)
	if _, body := p2.node().Do(t, "GET", "/api/v1/rooms/lobby/messages", tok, nil); len(body["messages"].([]any)) != 1 {
		t.Fatalf("after restart: %v, want the one message", body)
	}
}

// TestAuditVerifyCatchesEdit edits one audit line and expects verify to
// fail naming that line.
func TestAuditVerifyCatchesEdit(t *testing.T) {
	dir := t.TempDir()
	p := startNode(t, dir)
	n := p.node()
	for i := range 5 {
		n.Register(t, fmt.Sprintf("p%d", i))
	}
	p.stop(t, syscall.SIGTERM)
	if code, out, _ := run(t, "audit", "verify", "--data", dir); code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("verify of an untouched log: exit %d %q", code, out)
	}
	path := filepath.Join(dir, "audit.jsonl")
	lines := strings.SplitAfter(string(mustRead(t, path)), "\n")
	if len(lines) < 5 {
		t.Fatalf("audit log has %d lines, want at least 5", len(lines))
	}
	lines[2] = strings.Replace(lines[2], `"register"`, `"rEgister"`, 1)
	os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600)
	code, _, errOut := run(t, "audit", "verify", "--data", dir)
	if code != 1 || !strings.Contains(errOut, "line 3") {
		t.Fatalf("verify of an edited log: exit %d %q, want 1 naming line 3", code, errOut)
	}
}

// TestInvite mints an invite with the CLI and spends it once.
func TestInvite(t *testing.T) {
	dir := t.TempDir()
	p := startNode(t, dir)
	code, out, errOut := run(t, "invite", "--node", p.url, "--data", dir)
	if code != 0 || !strings.HasPrefix(out, "inv_") {
		t.Fatalf("mesh invite: exit %d %q %q", code, out, errOut)
	}
	inv := strings.TrimSpace(out)
	n := p.node()
	body := map[string]any{"name": "guest", "kind": "human", "invite": inv}
	if st, b := n.Do(t, "POST", "/api/v1/participants", "", body); st != 201 {
		t.Fatalf("register with invite: HTTP %d %v", st, b)
	}
	if st, b := n.Do(t, "POST", "/api/v1/participants", "", body); st != 401 || !strings.Contains(fmt.Sprint(b), "already used") {
		t.Fatalf("second use of the invite: HTTP %d %v, want 401 already used", st, b)
	}
}

var _ = meshtest.Start
