package mcpserver_test

import (
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/meshtest"
)

type inboxOut struct {
	Items []struct {
		N       uint64 `json:"n"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"items"`
	NextCursor uint64 `json:"next_cursor"`
	Unacked    int    `json:"unacked"`
}

func TestInboxTools(t *testing.T) {
	n := meshtest.Start(t, "")
	aliceID, tokA := n.Register(t, "alice")
	_, tokB := n.Register(t, "bob")
	for _, tok := range []string{tokA, tokB} {
		if st, body := n.Do(t, "POST", "/api/v1/rooms/lobby/join", tok, nil); st != 200 {
			t.Fatalf("join: %d %v", st, body)
		}
	}
	bobSays := func(text string) {
		if st, body := n.Do(t, "POST", "/api/v1/rooms/lobby/messages", tokB, map[string]any{"text": text, "to": aliceID}); st != 201 {
			t.Fatalf("post: %d %v", st, body)
		}
	}
	bobSays("alice, a question")
	cs := connect(t, n, tokA)

	var in inboxOut
	if e := call(t, cs, "read_inbox", nil, &in); e != "" || len(in.Items) != 1 || in.NextCursor != 1 || in.Unacked != 1 {
		t.Fatalf("read_inbox: %q %+v", e, in)
	}
	it := in.Items[0]
	if it.N != 1 || it.Reason != "to" || !strings.HasPrefix(it.Message, "[mesh chat ") ||
		!strings.Contains(it.Message, "<<<mesh:data") || !strings.Contains(it.Message, "alice, a question") {
		t.Fatalf("item: %+v, want the message rendered with ForPrompt", it)
	}
	if e := call(t, cs, "ack_inbox", map[string]any{"upTo": 5}, nil); !strings.HasPrefix(e, "invalid:") {
		t.Fatalf("ack_inbox past the newest: %q, want invalid", e)
	}
	var acked struct {
		Acked   uint64 `json:"acked"`
		Unacked int    `json:"unacked"`
	}
	if e := call(t, cs, "ack_inbox", map[string]any{"upTo": 1}, &acked); e != "" || acked.Acked != 1 || acked.Unacked != 0 {
		t.Fatalf("ack_inbox: %q %+v", e, acked)
	}
	go func() {
		time.Sleep(300 * time.Millisecond) // read_inbox waits either way
		bobSays("and another")
	}()
	start := time.Now()
	if e := call(t, cs, "read_inbox", map[string]any{"after": 1, "wait_seconds": 20}, &in); e != "" || len(in.Items) != 1 || in.Items[0].N != 2 {
		t.Fatalf("read_inbox with wait: %q %+v", e, in)
	}
	if time.Since(start) > 15*time.Second {
		t.Fatal("read_inbox waited past the item")
	}
	if e := call(t, cs, "read_inbox", map[string]any{"wait_seconds": 56}, nil); !strings.HasPrefix(e, "invalid:") {
		t.Fatalf("wait_seconds 56: %q, want invalid", e)
	}
}
