package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
)

func TestInboxCLI(t *testing.T) {
	p := startNode(t, t.TempDir())
	alice, _ := mustRegister(t, p, "alice")
	bob, bobID := mustRegister(t, p, "bob")
	for _, c := range []string{alice, bob} {
		if code, _, errOut := run(t, "join", "lobby", "--config", c); code != 0 {
			t.Fatalf("mesh join: exit %d, %q", code, errOut)
		}
	}
	for _, text := range []string{"first", "second"} {
		if code, _, errOut := run(t, "say", "lobby", text, "--to", "bob", "--config", alice); code != 0 {
			t.Fatalf("mesh say: exit %d, %q", code, errOut)
		}
	}
	code, out, errOut := run(t, "inbox", "--config", bob)
	want := fmt.Sprintf("#1 to lobby#1 [local] alice -> %s: first\n#2 to lobby#2 [local] alice -> %s: second\n", bobID, bobID)
	if code != 0 || out != want {
		t.Fatalf("mesh inbox: exit %d\ngot  %q\nwant %q (%s)", code, out, want, errOut)
	}
	code, out, errOut = run(t, "inbox", "--json", "--limit", "1", "--ack", "--config", bob)
	var it mesh.InboxItem
	if err := json.Unmarshal([]byte(out), &it); code != 0 || err != nil || it.N != 1 || it.Reason != "to" || !strings.Contains(errOut, "acknowledged up to #1; 1 left") {
		t.Fatalf("mesh inbox --json --limit 1 --ack: exit %d %q %q (%v)", code, out, errOut, err)
	}
	if code, out, _ := run(t, "inbox", "--config", bob); code != 0 || !strings.HasPrefix(out, "#2 ") || strings.Count(out, "\n") != 1 {
		t.Fatalf("after --ack: exit %d %q, want item 2 only", code, out)
	}
	if code, _, _ := run(t, "inbox", "--ack", "--config", bob); code != 0 {
		t.Fatalf("mesh inbox --ack: exit %d", code)
	}
	start := time.Now()
	if code, out, errOut := run(t, "inbox", "--wait", "1", "--config", bob); code != 3 || out != "" || time.Since(start) < time.Second {
		t.Fatalf("mesh inbox --wait 1 on an empty inbox: exit %d %q %q after %v, want exit 3 after 1s", code, out, errOut, time.Since(start))
	}
	if code, _, errOut := run(t, "inbox", "--limit", "501", "--config", bob); code != 2 || !strings.Contains(errOut, "--limit") {
		t.Fatalf("mesh inbox --limit 501: exit %d %q, want a usage error", code, errOut)
	}
}

func TestRegisterWebhookCLI(t *testing.T) {
	p := startNode(t, t.TempDir())
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	config := t.TempDir() + "/config.json"
	code, out, errOut := run(t, "register", "--config", config, "--node", p.url, "--name", "hooked", "--webhook", srv.URL)
	if code != 0 || !strings.HasPrefix(out, "p_") || !strings.Contains(errOut, "webhook secret (shown once") {
		t.Fatalf("mesh register --webhook: exit %d %q %q", code, out, errOut)
	}
	var c struct {
		WebhookSecret string `json:"webhookSecret"`
	}
	if err := json.Unmarshal(mustRead(t, config), &c); err != nil || !strings.HasPrefix(c.WebhookSecret, "whsec_") || !strings.Contains(errOut, c.WebhookSecret) {
		t.Fatalf("config: %+v %v, want the secret printed", c, err)
	}
	if code, _, errOut := run(t, "register", "--config", t.TempDir()+"/c.json", "--node", p.url, "--name", "bad", "--webhook", "ftp://example.com"); code != 1 || !strings.Contains(errOut, "invalid") {
		t.Fatalf("mesh register --webhook ftp: exit %d %q, want invalid", code, errOut)
	}
}

// TestCrashKeepsInbox kills the node with SIGKILL in the middle of a burst
// of messages addressed to bob and checks, after a restart, that bob's
// acknowledgement held and that every acknowledged message is in his
// inbox exactly once.
func TestCrashKeepsInbox(t *testing.T) {
	dir := t.TempDir()
	p := startNode(t, dir, "--rate", "0")
	n := p.node()
	bobID, bobTok := n.Register(t, "bob")
	n.Do(t, "POST", "/api/v1/rooms/lobby/join", bobTok, nil)
	owner := strings.TrimSpace(string(mustRead(t, dir+"/owner.token")))
	if st, body := n.Do(t, "POST", "/api/v1/rooms", owner, map[string]any{"name": "burst",
		"policy": map[string]any{"limits": map[string]any{"messagesPerMinute": 0}}}); st != 201 {
		t.Fatalf("create room: HTTP %d %v", st, body)
	}
	n.Do(t, "POST", "/api/v1/rooms/burst/join", bobTok, nil)
	_, aliceTok := n.Register(t, "alice")
	n.Do(t, "POST", "/api/v1/rooms/lobby/join", aliceTok, nil)
	for i := range 10 {
		if st, _ := n.Do(t, "POST", "/api/v1/rooms/lobby/messages", aliceTok, map[string]any{"text": fmt.Sprint("early ", i), "to": bobID}); st != 201 {
			t.Fatal("post early")
		}
	}
	if st, body := n.Do(t, "POST", "/api/v1/inbox/ack", bobTok, map[string]any{"upTo": 5}); st != 200 {
		t.Fatalf("ack: HTTP %d %v", st, body)
	}

	const writers = 3
	var mu sync.Mutex
	acked := map[string]bool{} // message ids the node acknowledged
	var wg sync.WaitGroup
	for i := range writers {
		_, tok := n.Register(t, fmt.Sprintf("writer-%d", i))
		c := n.Hello(t, tok)
		c.Join("burst")
		wg.Add(2)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				if c.SendQuiet(map[string]any{"type": "say", "room": "burst", "text": fmt.Sprintf("w%d-%d", i, k), "to": bobID}) != nil {
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
					acked[f["id"].(string)] = true
					mu.Unlock()
				}
			}
		}()
	}
	for {
		mu.Lock()
		k := len(acked)
		mu.Unlock()
		if k >= 1000 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.stop(t, syscall.SIGKILL)
	wg.Wait()

	n2 := startNode(t, dir).node()
	seen := map[string]bool{}
	var first uint64
	for after := uint64(0); ; {
		st, body := n2.Do(t, "GET", fmt.Sprintf("/api/v1/inbox?after=%d&limit=500", after), bobTok, nil)
		if st != 200 {
			t.Fatalf("inbox after restart: HTTP %d %v", st, body)
		}
		items := body["items"].([]any)
		if len(items) == 0 {
			break
		}
		for _, raw := range items {
			it := raw.(map[string]any)
			id := it["message"].(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("message %s is in the inbox twice", id)
			}
			seen[id] = true
			if first == 0 {
				first = uint64(it["n"].(float64))
			}
		}
		after = uint64(body["next"].(float64))
	}
	if first != 6 {
		t.Fatalf("the first item after the crash is %d, want 6: the acknowledgement up to 5 was lost", first)
	}
	for id := range acked {
		if !seen[id] {
			t.Fatalf("acknowledged message %s is missing from the inbox after the crash", id)
		}
	}
	t.Logf("%d acked in the burst, %d items after SIGKILL", len(acked), len(seen))
}

func TestUpInboxFlags(t *testing.T) {
	for _, tt := range [][]string{
		{"--inbox-max", "0"}, {"--webhook-retries", "-1"}, {"--webhook-concurrency", "0"}, {"--webhook-timeout", "0s"}, {"--webhook-backoff", "-1s"},
	} {
		if code, _, errOut := run(t, append([]string{"up", "--data", t.TempDir()}, tt...)...); code == 0 || !strings.Contains(errOut, tt[0]) {
			t.Errorf("mesh up %v: exit %d %q, want a refusal naming %s", tt, code, errOut, tt[0])
		}
	}
	if code, _, errOut := run(t, "up", "--help"); code != 0 || !strings.Contains(errOut, "-inbox-max") || !strings.Contains(errOut, "-webhook-retries") {
		t.Errorf("mesh up --help does not explain the inbox flags: %q", errOut)
	}
}
