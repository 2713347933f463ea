package main_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/meshtest"
)

// relayProc is a `mesh interchange` child process.
type relayProc struct {
	cmd  *exec.Cmd
	addr string
	url  string
	done chan error
}

// startRelay runs mesh interchange on addr with dir and waits until it listens.
func startRelay(t *testing.T, dir, addr string, flags ...string) *relayProc {
	t.Helper()
	args := append([]string{"interchange", "--data", dir, "--addr", addr, "--log-level", "warn"}, flags...)
	cmd := exec.Command(meshBin, args...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = &testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &relayProc{cmd: cmd, addr: addr, done: make(chan error, 1)}
	lines := bufio.NewScanner(stdout)
	listening := regexp.MustCompile(`listening on (wss?://\S+)`)
	timer := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
	for lines.Scan() {
		if m := listening.FindStringSubmatch(lines.Text()); m != nil {
			p.url = m[1]
			break
		}
	}
	timer.Stop()
	go func() {
		for lines.Scan() {
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	if p.url == "" {
		t.Fatalf("mesh interchange on %s did not start", addr)
	}
	t.Cleanup(func() { cmd.Process.Kill(); <-p.done; p.done <- nil })
	return p
}

func (p *relayProc) kill(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	err := <-p.done
	p.done <- err
}

// allow registers id on the relay in dir and writes the secret to a file.
func allow(t *testing.T, relayDir, id string) string {
	t.Helper()
	code, out, errOut := run(t, "interchange", "allow", "--data", relayDir, "--node", id)
	if code != 0 || !strings.HasPrefix(out, "mis_") {
		t.Fatalf("mesh interchange allow: exit %d %q %q", code, out, errOut)
	}
	if reg := string(mustRead(t, filepath.Join(relayDir, "registry.jsonl"))); strings.Contains(reg, strings.TrimSpace(out)) {
		t.Fatal("the registry holds the secret itself, not its hash")
	}
	f := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(f, []byte(out), 0o600)
	return f
}

// fedNode is a node process with its data directory and owner token.
type fedNode struct {
	*proc
	dir, id, owner string
}

// newFedNode makes a node's identity, allows it on the relay in relayDir
// and starts it linked to url.
func newFedNode(t *testing.T, relayDir, url string, flags ...string) *fedNode {
	t.Helper()
	dir := t.TempDir()
	p := startNode(t, dir) // first start: identity
	p.stop(t, syscall.SIGTERM)
	code, id, _ := run(t, "id", "--data", dir)
	if code != 0 {
		t.Fatal("mesh id failed")
	}
	n := &fedNode{dir: dir, id: strings.TrimSpace(id)}
	secret := allow(t, relayDir, n.id)
	n.proc = startNode(t, dir, append([]string{"--rate", "0", "--interchange", url, "--interchange-secret-file", secret,
		"--federation-retry-min", "100ms", "--federation-retry-max", "1s"}, flags...)...)
	n.owner = strings.TrimSpace(string(mustRead(t, filepath.Join(dir, "owner.token"))))
	return n
}

func (n *fedNode) restart(t *testing.T, flags []string) {
	t.Helper()
	n.proc = startNode(t, n.dir, flags...)
}

func (n *fedNode) room(t *testing.T, name string) string {
	t.Helper()
	st, body := n.node().Do(t, "POST", "/api/v1/rooms", n.owner, map[string]any{"name": name,
		"policy": map[string]any{"visibility": "federated", "limits": map[string]any{"messagesPerMinute": 0}}})
	if st != 201 {
		t.Fatalf("create room: HTTP %d %v", st, body)
	}
	return name + "@" + n.id
}

func (n *fedNode) waitDirectory(t *testing.T, address string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		_, body := n.node().Do(t, "GET", "/api/v1/directory", n.owner, nil)
		if strings.Contains(fmt.Sprint(body["rooms"]), address) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("node %s never saw %s in its directory", n.id, address)
}

func (n *fedNode) agent(t *testing.T, name string) *meshtest.Client {
	t.Helper()
	_, tok := n.node().Register(t, name)
	return n.node().Hello(t, tok)
}

func nextOf(t *testing.T, c *meshtest.Client, typ string, timeout time.Duration) meshtest.Frame {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, err := c.TryNext(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		if f.Type() == typ {
			return f
		}
		if f.Type() == "error" {
			t.Fatalf("waiting for %s: %v", typ, f)
		}
	}
}

// TestFederationThroughBridgedRelays: an agent on node A and an agent on
// node C talk in a room hosted on node B; A and B link to relay 1, C to
// relay 2, bridged to relay 1. Relay 1 is killed in the middle of a stream
// of 1,000 messages from A and restarted: C receives every message exactly
// once, in order.
func TestFederationThroughBridgedRelays(t *testing.T) {
	const total = 1000
	r1dir, r2dir := t.TempDir(), t.TempDir()
	r1addr := freeAddr(t)
	r1 := startRelay(t, r1dir, r1addr)
	code, r2id, _ := run(t, "interchange", "id", "--data", r2dir)
	if code != 0 {
		t.Fatal("mesh interchange id failed")
	}
	_, r1id, _ := run(t, "interchange", "id", "--data", r1dir)
	bridgeSecret := allow(t, r1dir, strings.TrimSpace(r2id))
	// Relay 1 must prove it is r1id (over plain ws nothing else does).
	r2 := startRelay(t, r2dir, freeAddr(t), "--bridge", r1.url+"#"+strings.TrimSpace(r1id), "--bridge-secret-file", bridgeSecret)

	a := newFedNode(t, r1dir, r1.url)
	b := newFedNode(t, r1dir, r1.url)
	c := newFedNode(t, r2dir, r2.url)
	room := b.room(t, "design")
	a.waitDirectory(t, room)
	c.waitDirectory(t, room)

	alice, carol := a.agent(t, "alice"), c.agent(t, "carol")
	alice.Send(map[string]any{"type": "join", "room": room})
	nextOf(t, alice, "joined", 15*time.Second)
	carol.Send(map[string]any{"type": "join", "room": room})
	nextOf(t, carol, "joined", 15*time.Second)

	// Carol speaks first: Alice hears her across the bridge.
	carol.Send(map[string]any{"type": "say", "room": room, "text": "hello from C"})
	if m := nextOf(t, alice, "message", 15*time.Second)["message"].(map[string]any); m["body"].(map[string]any)["text"] != "hello from C" ||
		m["from"].(map[string]any)["node"] != c.id || m["trust"] != "federated" {
		t.Fatalf("alice got %v", m)
	}

	// Alice sends 1,000 messages; relay 1 dies after 300 are acked (queued
	// durably on A) and comes back 500 ms later.
	acks := make(chan struct{}, total)
	go func() {
		for {
			f, err := alice.TryNext(60 * time.Second)
			if err != nil {
				return
			}
			if f.Type() == "ack" {
				acks <- struct{}{}
			}
		}
	}()
	start := time.Now()
	for i := range total {
		alice.Send(map[string]any{"type": "say", "room": room, "text": fmt.Sprintf("m%04d", i)})
		if i == 300 {
			for range 300 {
				<-acks
			}
			r1.kill(t)
			time.AfterFunc(500*time.Millisecond, func() { r1 = startRelay(t, r1dir, r1addr) })
		}
		if i%50 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	var lastSeq float64
	for i := 0; i < total; {
		f, err := carol.TryNext(30 * time.Second)
		if err != nil {
			t.Fatalf("carol got %d of %d messages: %v", i, total, err)
		}
		if f.Type() != "message" {
			continue
		}
		m := f["message"].(map[string]any)
		text := m["body"].(map[string]any)["text"]
		if text == "hello from C" {
			continue
		}
		if want := fmt.Sprintf("m%04d", i); text != want {
			t.Fatalf("carol's message %d: got %v, want %s (exactly once, in order)", i, text, want)
		}
		if seq := m["seq"].(float64); seq <= lastSeq {
			t.Fatalf("seq %v after %v", seq, lastSeq)
		} else {
			lastSeq = seq
		}
		i++
	}
	t.Logf("%d messages A -> B -> C across a relay restart in %v", total, time.Since(start).Round(time.Millisecond))
	if f, err := carol.TryNext(300 * time.Millisecond); err == nil && f.Type() == "message" {
		t.Fatalf("carol got a message too many: %v", f)
	}
	// B stored each once.
	_, body := b.node().Do(t, "GET", fmt.Sprintf("/api/v1/rooms/design/messages?after=%d&limit=10", total+1), b.owner, nil)
	if k := len(body["messages"].([]any)); k != 0 {
		t.Fatalf("B holds %d messages past %d: a retry doubled some", k, total+1)
	}
}

// TestInterchangeBridgeRelayID: what follows # in --bridge must be a
// relay id.
func TestInterchangeBridgeRelayID(t *testing.T) {
	code, _, stderr := run(t, "interchange", "--data", t.TempDir(), "--addr", freeAddr(t), "--bridge", "ws://127.0.0.1:1#nq4c7ha2lmx5tyvbk")
	if code == 0 || !strings.Contains(stderr, "after # comes the bridged relay's id") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestFederationDeadLetters: node B is down longer than A's retry bound;
// A's messages land in dead-letter.jsonl, and replaying them after B is
// back delivers each once.
func TestFederationDeadLetters(t *testing.T) {
	rdir := t.TempDir()
	r := startRelay(t, rdir, freeAddr(t))
	a := newFedNode(t, rdir, r.url, "--federation-max-age", "1s")
	b := newFedNode(t, rdir, r.url)
	room := b.room(t, "ops")
	a.waitDirectory(t, room)
	alice := a.agent(t, "alice")
	alice.Send(map[string]any{"type": "join", "room": room})
	nextOf(t, alice, "joined", 15*time.Second)

	bFlags := b.proc.cmd.Args[2:]
	b.proc.stop(t, syscall.SIGKILL)
	for i := range 20 {
		alice.Send(map[string]any{"type": "say", "room": room, "text": fmt.Sprintf("d%02d", i)})
		nextOf(t, alice, "ack", 10*time.Second)
	}
	// Wait for the dead letters.
	deadline := time.Now().Add(20 * time.Second)
	var out string
	for {
		var code int
		code, out, _ = run(t, "federation", "dead-letters", "--node", a.url, "--data", a.dir)
		if code == 0 && strings.Count(out, " say ") >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead letters: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out, "not acknowledged") || !strings.Contains(string(mustRead(t, filepath.Join(a.dir, "dead-letter.jsonl"))), "the bound is 1s") {
		t.Fatalf("dead letters without a reason: %s", out)
	}
	code, st, _ := run(t, "federation", "status", "--node", a.url, "--data", a.dir)
	var dead int
	if m := regexp.MustCompile(`dead letters +(\d+)`).FindStringSubmatch(st); m != nil {
		fmt.Sscan(m[1], &dead)
	}
	if code != 0 || dead < 20 || !strings.Contains(st, "link         up") {
		t.Fatalf("status: exit %d, %d dead letters:\n%s", code, dead, st)
	}

	b.restart(t, bFlags)
	b.waitDirectory(t, room)
	code, out, errOut := run(t, "federation", "dead-letters", "replay", "--node", a.url, "--data", a.dir)
	if code != 0 || !strings.HasPrefix(out, "replayed ") {
		t.Fatalf("replay: exit %d %q %q", code, out, errOut)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		_, body := b.node().Do(t, "GET", "/api/v1/rooms/ops/messages?limit=100", b.owner, nil)
		var texts []string
		for _, m := range body["messages"].([]any) {
			if s, ok := m.(map[string]any)["body"].(map[string]any)["text"].(string); ok {
				texts = append(texts, s)
			}
		}
		if len(texts) >= 20 {
			seen := map[string]bool{}
			for _, s := range texts {
				if seen[s] {
					t.Fatalf("%s stored twice: %v", s, texts)
				}
				seen[s] = true
			}
			if len(texts) != 20 {
				t.Fatalf("B stored %d messages, want 20: %v", len(texts), texts)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B stored %v after the replay", texts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, out, _ := run(t, "federation", "dead-letters", "--node", a.url, "--data", a.dir); strings.Count(out, " say ") != 0 {
		t.Fatalf("dead letters left after the replay: %s", out)
	}
}
