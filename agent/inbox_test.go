package agent_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
	"github.com/the-mesh/mesh/internal/meshtest"
)

func nextItem(tb testing.TB, c *agent.Client) agent.InboxItem {
	tb.Helper()
	select {
	case it, ok := <-c.InboxItems():
		if !ok {
			tb.Fatal("InboxItems closed")
		}
		return it
	case <-time.After(10 * time.Second):
		tb.Fatal("no inbox item in 10s")
	}
	return agent.InboxItem{}
}

// TestInboxAcrossRestart reads the inbox, gets pushes, acknowledges, and
// after the node restarts gets what came while it was away as pushes.
func TestInboxAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	n := meshtest.Start(t, dir)
	px := startProxy(t, n)
	bob, tb := mustRegister(t, n.URL, "bob")
	_, ta := mustRegister(t, n.URL, "alice")
	alice, b := mustDial(t, px.URL(), ta), mustDial(t, px.URL(), tb)
	mustJoin(t, alice, mesh.Lobby)
	mustJoin(t, b, mesh.Lobby)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := alice.Say(ctx, mesh.Lobby, "before", agent.SayTo(bob.ID)); err != nil {
		t.Fatal(err)
	}
	in, err := b.Inbox(ctx, 0, 0)
	if err != nil || len(in.Items) != 1 || in.Items[0].Message.Body.Text != "before" || in.Items[0].Reason != mesh.InboxTo || in.Next != 1 {
		t.Fatalf("inbox: got %+v %v", in, err)
	}
	if _, err := alice.Say(ctx, mesh.Lobby, "pushed", agent.SayTo(bob.ID)); err != nil {
		t.Fatal(err)
	}
	if it := nextItem(t, b); it.N != 2 || it.Message.Body.Text != "pushed" {
		t.Fatalf("push: got %+v", it)
	}
	if acked, left, err := b.AckInbox(ctx, 2); err != nil || acked != 2 || left != 0 {
		t.Fatalf("ack: got %d %d %v", acked, left, err)
	}
	if _, _, err := b.AckInbox(ctx, 10); mesh.ErrorCode(err) != mesh.EInvalid {
		t.Fatalf("ack past the newest: got %v, want invalid", err)
	}

	n.Stop()
	n2 := meshtest.Start(t, dir)
	// While bob's client is away, alice (over REST) addresses him.
	if st, body := n2.Do(t, "POST", "/api/v1/rooms/lobby/messages", ta, map[string]any{"text": "while away", "to": bob.ID}); st != 201 {
		t.Fatalf("post: HTTP %d %v", st, body)
	}
	px.point(n2)
	if it := nextItem(t, b); it.N != 3 || it.Message.Body.Text != "while away" {
		t.Fatalf("after the restart: got %+v, want item 3 pushed on reconnect", it)
	}
}

func TestRegisterWebhook(t *testing.T) {
	n := meshtest.Start(t, "")
	got := make(chan error, 1)
	var secret string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- agent.VerifyWebhook(secret, r.Header, body, 0)
	}))
	defer srv.Close()
	ctx := context.Background()
	reg, err := agent.RegisterWebhook(ctx, n.URL, agent.Registration{Name: "hooked"}, srv.URL)
	if err != nil || reg.Token == "" || reg.WebhookSecret == "" || reg.Participant.Webhook != srv.URL {
		t.Fatalf("RegisterWebhook: got %+v %v", reg, err)
	}
	secret = reg.WebhookSecret
	if _, err := agent.RegisterWebhook(ctx, n.URL, agent.Registration{Name: "bad"}, "ftp://example.com"); mesh.ErrorCode(err) != mesh.EInvalid {
		t.Fatalf("ftp webhook: got %v, want invalid", err)
	}
	_, ta := mustRegister(t, n.URL, "alice")
	for _, tok := range []string{ta, reg.Token} {
		if st, _ := n.Do(t, "POST", "/api/v1/rooms/lobby/join", tok, nil); st != 200 {
			t.Fatal("join")
		}
	}
	if st, _ := n.Do(t, "POST", "/api/v1/rooms/lobby/messages", ta, map[string]any{"text": "hook", "to": reg.Participant.ID}); st != 201 {
		t.Fatal("post")
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("the delivery does not verify with the registration's secret: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
}
