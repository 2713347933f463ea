package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
	"github.com/the-mesh/mesh/internal/meshtest"
	"github.com/the-mesh/mesh/internal/webhook"
)

// hookNode starts a node whose webhooks retry quickly.
func hookNode(tb testing.TB, retries int) *meshtest.Node {
	return meshtest.Start(tb, "", func(nc *nodeConfig, _ *webConfig) {
		nc.Webhook.Backoff, nc.Webhook.Retries = 20*time.Millisecond, retries
	})
}

// registerHooked registers an agent with a webhook and returns its id,
// token and webhook secret.
func registerHooked(tb testing.TB, n *meshtest.Node, name, url string) (mesh.ParticipantID, string, string) {
	tb.Helper()
	st, body := n.Do(tb, "POST", "/api/v1/participants", "", map[string]any{"name": name, "webhook": url})
	if st != 201 {
		tb.Fatalf("register %s: HTTP %d %v", name, st, body)
	}
	secret, _ := body["webhookSecret"].(string)
	if !strings.HasPrefix(secret, "whsec_") {
		tb.Fatalf("register %s: no webhookSecret in %v", name, body)
	}
	return mesh.ParticipantID(body["participant"].(map[string]any)["id"].(string)), body["token"].(string), secret
}

// hookReceiver verifies each delivery and answers status(k) to the k-th.
type hookReceiver struct {
	tb     testing.TB
	secret string
	status func(k int) int
	mu     sync.Mutex
	got    []mesh.WebhookEvent
	at     []time.Time
	ids    []string
	seen   chan struct{} // a token per delivery
}

func newHookReceiver(tb testing.TB, status func(int) int) (*hookReceiver, *httptest.Server) {
	rc := &hookReceiver{tb: tb, status: status, seen: make(chan struct{}, 100)}
	srv := httptest.NewServer(rc)
	tb.Cleanup(srv.Close)
	return rc, srv
}

func (rc *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	secret := rc.secret
	rc.mu.Unlock()
	if err := agent.VerifyWebhook(secret, r.Header, body, time.Minute); err != nil {
		rc.tb.Errorf("the delivery does not verify: %v", err)
		w.WriteHeader(401)
		return
	}
	var ev mesh.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.tb.Errorf("delivery body: %v", err)
	}
	rc.mu.Lock()
	k := len(rc.got)
	rc.got = append(rc.got, ev)
	rc.at = append(rc.at, time.Now())
	rc.ids = append(rc.ids, r.Header.Get(mesh.HeaderWebhookDelivery))
	rc.mu.Unlock()
	w.WriteHeader(rc.status(k))
	rc.seen <- struct{}{}
}

func (rc *hookReceiver) setSecret(s string) {
	rc.mu.Lock()
	rc.secret = s
	rc.mu.Unlock()
}

func (rc *hookReceiver) wait(tb testing.TB, k int) {
	tb.Helper()
	for range k {
		select {
		case <-rc.seen:
		case <-time.After(10 * time.Second):
			tb.Fatalf("webhook: fewer than %d deliveries in time", k)
		}
	}
}

func eventText(ev mesh.WebhookEvent) string {
	var m mesh.Message
	json.Unmarshal(ev.Item.Message, &m)
	return m.Body.Text
}

func TestRegisterWebhookValidated(t *testing.T) {
	n := meshtest.Start(t, "")
	for name, tt := range map[string]struct {
		url      string
		contains string
	}{
		"ErrFTP":         {"ftp://example.com/hook", "http or https"},
		"ErrFile":        {"file:///etc/passwd", "http or https"},
		"ErrJavaScript":  {"javascript:alert(1)", "http or https"},
		"ErrRelative":    {"/hook", "http or https"},
		"ErrNoHost":      {"https:///hook", "http or https"},
		"ErrCredentials": {"https://user:pw@example.com/hook", "credentials"},
		"ErrUserOnly":    {"https://token@example.com/hook", "credentials"},
	} {
		t.Run(name, func(t *testing.T) {
			st, body := n.Do(t, "POST", "/api/v1/participants", "", map[string]any{"name": "h", "webhook": tt.url})
			e, _ := body["error"].(map[string]any)
			if st != 400 || e["code"] != "invalid" || !strings.Contains(e["message"].(string), tt.contains) {
				t.Fatalf("got HTTP %d %v, want 400 invalid mentioning %q", st, body, tt.contains)
			}
			if strings.Contains(e["message"].(string), "pw@") || strings.Contains(e["message"].(string), "token@") {
				t.Fatalf("the refusal echoes the credential: %v", e["message"])
			}
		})
	}
	_, tok, secret := registerHooked(t, n, "hooked", "https://hooks.example.com/mesh")
	_, me := n.Do(t, "GET", "/api/v1/participants/me", tok, nil)
	if strings.Contains(strings.Join(strings.Fields(toJSON(me)), ""), secret) || me["webhookSecret"] != nil {
		t.Fatalf("me shows the webhook secret: %v", me)
	}
	// Without a webhook there is no secret.
	if _, body := n.Do(t, "POST", "/api/v1/participants", "", map[string]any{"name": "plain"}); body["webhookSecret"] != nil {
		t.Fatalf("a registration without webhook got a secret: %v", body)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestWebhookRetriesThenDelivers(t *testing.T) {
	n := hookNode(t, 4)
	rc, srv := newHookReceiver(t, func(k int) int {
		if k < 2 {
			return 503
		}
		return 200
	})
	bobID, bobTok, secret := registerHooked(t, n, "bob", srv.URL+"/hook")
	rc.setSecret(secret)
	_, aliceTok := n.Register(t, "alice")
	joinLobby(t, n, bobTok)
	joinLobby(t, n, aliceTok)
	msg := post(t, n, aliceTok, "are you there?", string(bobID))
	rc.wait(t, 3)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ev := rc.got[2]
	if ev.Type != "inbox.item" || ev.Participant != bobID || ev.Item.N != 1 || ev.Item.Reason != "to" || eventText(ev) != "are you there?" {
		t.Fatalf("event: got %+v", ev)
	}
	if rc.ids[0] != rc.ids[2] || rc.ids[0] != webhook.DeliveryID(bobID, msg["id"].(string)) {
		t.Fatalf("X-Mesh-Delivery: got %v, want the same id on every attempt", rc.ids)
	}
	if g1, g2 := rc.at[1].Sub(rc.at[0]), rc.at[2].Sub(rc.at[1]); g1 < 10*time.Millisecond || g2 < 20*time.Millisecond {
		t.Fatalf("backoff: gaps %v and %v, want at least 10ms then 20ms", g1, g2)
	}
}

func TestWebhookDeadLetter(t *testing.T) {
	n := hookNode(t, 2)
	rc, srv := newHookReceiver(t, func(int) int { return 500 })
	bobID, bobTok, secret := registerHooked(t, n, "bob", srv.URL)
	rc.setSecret(secret)
	_, aliceTok := n.Register(t, "alice")
	joinLobby(t, n, bobTok)
	joinLobby(t, n, aliceTok)
	post(t, n, aliceTok, "first", string(bobID))
	post(t, n, aliceTok, "second", string(bobID))
	rc.wait(t, 6) // 3 attempts each: the cursor moved on past the first
	path := filepath.Join(n.Dir, "webhook-dead-letter.jsonl")
	var dls []webhook.DeadLetter
	for deadline := time.Now().Add(10 * time.Second); len(dls) < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		dls = nil
		b, _ := os.ReadFile(path)
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var dl webhook.DeadLetter
			if json.Unmarshal([]byte(line), &dl) == nil && dl.Participant != "" {
				dls = append(dls, dl)
			}
		}
	}
	if len(dls) != 2 {
		t.Fatalf("dead letters: got %+v, want 2", dls)
	}
	for i, want := range []string{"first", "second"} {
		var m mesh.Message
		json.Unmarshal(dls[i].Item.Message, &m)
		if dls[i].Participant != bobID || dls[i].Reason != "HTTP 500" || dls[i].Attempts != 3 || m.Body.Text != want {
			t.Fatalf("dead letter %d: got %+v (%q), want %q after 3 attempts with HTTP 500", i, dls[i], m.Body.Text, want)
		}
	}
	// The items stay in the inbox: the webhook is a delivery, not an ack.
	if _, body := n.Do(t, "GET", "/api/v1/inbox", bobTok, nil); body["unacked"] != 2.0 {
		t.Fatalf("inbox after dead letters: %v", body)
	}
}

func TestWebhookNotWhileConnected(t *testing.T) {
	n := hookNode(t, 0)
	rc, srv := newHookReceiver(t, func(int) int { return 204 })
	bobID, bobTok, secret := registerHooked(t, n, "bob", srv.URL)
	rc.setSecret(secret)
	_, aliceTok := n.Register(t, "alice")
	joinLobby(t, n, aliceTok)
	bob := n.Hello(t, bobTok)
	bob.Join("lobby")
	bob.Send(map[string]any{"type": "inbox"})
	bob.Expect("inbox")
	post(t, n, aliceTok, "while connected", string(bobID))
	if f := expectPast(t, bob, "inbox.item", "message"); f["item"].(map[string]any)["n"] != 1.0 {
		t.Fatalf("push: got %v", f)
	}
	bob.Conn.Close()
	// Wait until the node has seen bob go (he leaves the lobby's presence).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, body := n.Do(t, "GET", "/api/v1/rooms/lobby/members", aliceTok, nil)
		online := false
		for _, m := range body["members"].([]any) {
			if m := m.(map[string]any); m["id"] == string(bobID) {
				online = m["online"].(bool)
			}
		}
		if !online {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob still online")
		}
	}
	post(t, n, aliceTok, "while away", string(bobID))
	rc.wait(t, 1)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	// Deliveries are in order, so had the first item been sent it would
	// have come first.
	if len(rc.got) != 1 || rc.got[0].Item.N != 2 || eventText(rc.got[0]) != "while away" {
		t.Fatalf("deliveries: got %+v, want only item 2", rc.got)
	}
}

// expectPast reads frames until one of type typ, skipping presence and
// the types in skip.
func expectPast(tb testing.TB, c *meshtest.Client, typ string, skip ...string) meshtest.Frame {
	tb.Helper()
	for {
		f := c.Next(5 * time.Second)
		switch {
		case f.Type() == typ:
			return f
		case f.Type() == "presence" || slices.Contains(skip, f.Type()):
		default:
			tb.Fatalf("expected %s, got %v", typ, f)
		}
	}
}
