package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/meshtest"
)

// joinLobby makes the participant with token a member of the lobby.
func joinLobby(tb testing.TB, n *meshtest.Node, tok string) {
	tb.Helper()
	if st, body := n.Do(tb, "POST", "/api/v1/rooms/lobby/join", tok, nil); st != 200 {
		tb.Fatalf("join: HTTP %d %v", st, body)
	}
}

func post(tb testing.TB, n *meshtest.Node, tok, text, to string) map[string]any {
	tb.Helper()
	body := map[string]any{"text": text}
	if to != "" {
		body["to"] = to
	}
	st, out := n.Do(tb, "POST", "/api/v1/rooms/lobby/messages", tok, body)
	if st != 201 {
		tb.Fatalf("post: HTTP %d %v", st, out)
	}
	return out["message"].(map[string]any)
}

// itemTexts renders an inbox answer's items as "n:text".
func itemTexts(items []any) string {
	var out []string
	for _, it := range items {
		m := it.(map[string]any)
		text := m["message"].(map[string]any)["body"].(map[string]any)["text"]
		out = append(out, fmt.Sprintf("%v:%v", m["n"], text))
	}
	return strings.Join(out, " ")
}

func TestInboxREST(t *testing.T) {
	n := meshtest.Start(t, "")
	bobID, bobTok := n.Register(t, "bob")
	_, aliceTok := n.Register(t, "alice")
	joinLobby(t, n, bobTok)
	joinLobby(t, n, aliceTok)
	post(t, n, aliceTok, "for everyone", "")
	post(t, n, aliceTok, "one", string(bobID))
	post(t, n, aliceTok, "two", string(bobID))

	// Read right after the sender's 201: the item is there.
	st, body := n.Do(t, "GET", "/api/v1/inbox", bobTok, nil)
	if st != 200 || itemTexts(body["items"].([]any)) != "1:one 2:two" || body["next"] != 2.0 || body["unacked"] != 2.0 {
		t.Fatalf("read: HTTP %d %v", st, body)
	}
	if it := body["items"].([]any)[0].(map[string]any); it["reason"] != "to" {
		t.Fatalf("reason: got %v, want to", it["reason"])
	}
	if _, body := n.Do(t, "GET", "/api/v1/inbox?after=1&limit=1", bobTok, nil); itemTexts(body["items"].([]any)) != "2:two" {
		t.Fatalf("after=1: got %v", body)
	}
	if st, body := n.Do(t, "POST", "/api/v1/inbox/ack", bobTok, map[string]any{"upTo": 1}); st != 200 || body["acked"] != 1.0 || body["unacked"] != 1.0 {
		t.Fatalf("ack: HTTP %d %v", st, body)
	}
	if _, body := n.Do(t, "GET", "/api/v1/inbox", bobTok, nil); itemTexts(body["items"].([]any)) != "2:two" {
		t.Fatalf("after ack: got %v", body)
	}

	for name, tt := range map[string]struct {
		method, path string
		body         any
		status       int
		contains     string
	}{
		"ErrLimit":        {"GET", "/api/v1/inbox?limit=501", nil, 400, "limit"},
		"ErrLimitZero":    {"GET", "/api/v1/inbox?limit=0", nil, 400, "limit"},
		"ErrAfter":        {"GET", "/api/v1/inbox?after=-1", nil, 400, "after"},
		"ErrWait":         {"GET", "/api/v1/inbox?wait=56", nil, 400, "wait"},
		"ErrNoUpTo":       {"POST", "/api/v1/inbox/ack", map[string]any{}, 400, "upTo"},
		"ErrUpToCase":     {"POST", "/api/v1/inbox/ack", map[string]any{"UpTo": 1}, 400, "Unknown field"},
		"ErrUpToPastLast": {"POST", "/api/v1/inbox/ack", map[string]any{"upTo": 9}, 400, "past the newest"},
		"ErrUpToNegative": {"POST", "/api/v1/inbox/ack", `{"upTo":-1}`, 400, "non-negative"},
		"ErrNoBody":       {"POST", "/api/v1/inbox/ack", nil, 400, "body"},
	} {
		t.Run(name, func(t *testing.T) {
			st, body := n.Do(t, tt.method, tt.path, bobTok, tt.body)
			e, _ := body["error"].(map[string]any)
			if st != tt.status || e == nil || !strings.Contains(fmt.Sprint(e["message"]), tt.contains) {
				t.Fatalf("got HTTP %d %v, want %d mentioning %q", st, body, tt.status, tt.contains)
			}
		})
	}
	if st, _ := n.Do(t, "GET", "/api/v1/inbox", "", nil); st != 401 {
		t.Fatalf("without a token: HTTP %d, want 401", st)
	}
}

func TestInboxLongPoll(t *testing.T) {
	n := meshtest.Start(t, "")
	bobID, bobTok := n.Register(t, "bob")
	_, aliceTok := n.Register(t, "alice")
	joinLobby(t, n, bobTok)
	joinLobby(t, n, aliceTok)
	got := make(chan map[string]any, 1)
	start := time.Now()
	go func() {
		_, body := n.Do(t, "GET", "/api/v1/inbox?wait=30", bobTok, nil)
		got <- body
	}()
	time.Sleep(100 * time.Millisecond) // the poll waits either way; this only lets it start waiting
	post(t, n, aliceTok, "wake", string(bobID))
	select {
	case body := <-got:
		if itemTexts(body["items"].([]any)) != "1:wake" {
			t.Fatalf("long poll: got %v", body)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the long poll answered late")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the long poll did not wake")
	}
	// One that runs out answers an empty page.
	if _, body := n.Do(t, "GET", "/api/v1/inbox?after=1&wait=1", bobTok, nil); len(body["items"].([]any)) != 0 || body["next"] != 1.0 {
		t.Fatalf("expired poll: got %v", body)
	}
}

func TestInboxWebSocket(t *testing.T) {
	n := meshtest.Start(t, "")
	bobID, bobTok := n.Register(t, "bob")
	_, aliceTok := n.Register(t, "alice")
	joinLobby(t, n, bobTok)
	joinLobby(t, n, aliceTok)
	post(t, n, aliceTok, "while away", string(bobID))

	bob := n.Hello(t, bobTok)
	// No push before the connection asks for its inbox.
	post(t, n, aliceTok, "still unasked", string(bobID))
	bob.Send(map[string]any{"type": "inbox", "ref": "i1"})
	page := bob.Expect("inbox")
	if page["ref"] != "i1" || itemTexts(page["items"].([]any)) != "1:while away 2:still unasked" || page["next"] != 2.0 || page["unacked"] != 2.0 {
		t.Fatalf("inbox page: got %v", page)
	}
	// Now new items are pushed.
	post(t, n, aliceTok, "live", string(bobID))
	push := bob.Expect("inbox.item")["item"].(map[string]any)
	if push["n"] != 3.0 || push["reason"] != "to" || push["message"].(map[string]any)["body"].(map[string]any)["text"] != "live" {
		t.Fatalf("push: got %v", push)
	}
	bob.Send(map[string]any{"type": "inbox.ack", "upTo": 3, "ref": "a1"})
	if f := bob.Expect("inbox.acked"); f["ref"] != "a1" || f["acked"] != 3.0 || f["unacked"] != 0.0 {
		t.Fatalf("inbox.acked: got %v", f)
	}
	bob.Send(map[string]any{"type": "inbox", "after": 1, "limit": 5})
	if f := bob.Expect("inbox"); len(f["items"].([]any)) != 0 || f["next"] != 3.0 {
		t.Fatalf("after acking all: got %v", f)
	}
	for name, tt := range map[string]struct {
		frame    string
		code     string
		contains string
	}{
		"ErrNoUpTo":    {`{"type":"inbox.ack","ref":"e1"}`, "invalid", "upTo"},
		"ErrPastLast":  {`{"type":"inbox.ack","upTo":7,"ref":"e1"}`, "invalid", "past the newest"},
		"ErrLimit":     {`{"type":"inbox","limit":501,"ref":"e1"}`, "invalid", "limit"},
		"ErrFieldCase": {`{"type":"inbox","After":1,"ref":"e1"}`, "invalid", "Unknown field"},
	} {
		t.Run(name, func(t *testing.T) {
			bob.SendRaw([]byte(tt.frame))
			f := bob.ExpectError()
			if f["code"] != tt.code || f["ref"] != "e1" || !strings.Contains(f["message"].(string), tt.contains) {
				t.Fatalf("got %v, want %s mentioning %q with ref e1", f, tt.code, tt.contains)
			}
		})
	}
}
