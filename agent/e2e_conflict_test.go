package agent_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
	"github.com/the-mesh/mesh/e2e"
	"github.com/the-mesh/mesh/internal/meshtest"
)

// TestE2EConflictRetry moves the room's epoch on between sealing a
// message and posting it (carol registers a device): the node answers
// conflict, the client re-keys and resends, and bob opens the message.
// When the epoch moves on at every attempt the send fails clearly.
func TestE2EConflictRetry(t *testing.T) {
	n := meshtest.Start(t, "")
	_, ta := n.Register(t, "alice")
	_, tb := n.Register(t, "bob")
	_, tc := n.Register(t, "carol")
	st, body := n.Do(t, "POST", "/api/v1/rooms", n.Node.OwnerToken(), map[string]any{"name": "moving",
		"policy": map[string]any{"e2e": true, "limits": map[string]any{"messagesPerMinute": 0}}})
	if st != http.StatusCreated {
		t.Fatalf("create room: HTTP %d %v", st, body)
	}
	room := mesh.RoomID(body["room"].(map[string]any)["id"].(string))
	if st, body := n.Do(t, "POST", "/api/v1/rooms/"+string(room)+"/join", tc, nil); st != http.StatusOK {
		t.Fatalf("carol joins: HTTP %d %v", st, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func(token string) *agent.Client {
		c, err := agent.Dial(ctx, agent.Config{URL: n.URL, Token: token, Keys: agent.MemoryKeys()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Join(ctx, room); err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := dial(ta), dial(tb)
	// carolDevice registers a new device for carol: a new epoch.
	carolDevice := func() {
		id, err := e2e.NewIdentity(nil)
		if err != nil {
			t.Error(err)
			return
		}
		d := id.Device()
		if st, body := n.Do(t, "PUT", "/api/v1/participants/me/devices", tc,
			map[string]any{"sign": d.Sign, "box": d.Box, "sig": d.Sig}); st != http.StatusCreated {
			t.Errorf("carol's device: HTTP %d %v", st, body)
		}
	}
	next := func() agent.Message {
		t.Helper()
		for {
			select {
			case m := <-b.Messages():
				if m.Kind == mesh.MessageChat || m.Kind == mesh.MessageEncrypted {
					return m
				}
			case <-ctx.Done():
				t.Fatal("no message")
			}
		}
	}
	if _, err := a.Say(ctx, room, "first"); err != nil {
		t.Fatal(err)
	}
	next()

	rekeys := a.E2EStats().Rekeys // "first" may have re-keyed: bob's device came after
	agent.SetBeforePost(a, func(attempt int) {
		if attempt == 0 {
			carolDevice()
		}
	})
	ack, err := a.Say(ctx, room, "second")
	if err != nil {
		t.Fatal(err)
	}
	if m := next(); m.ID != ack.ID || !m.E2E || m.Body.Text != "second" {
		t.Fatalf("bob got %+v (%q), want the opened %s", m.Message, m.Undecryptable, ack.ID)
	}
	if s := a.E2EStats(); s.Rekeys != rekeys+1 {
		t.Fatalf("re-keys: got %d, want 1", s.Rekeys-rekeys)
	}

	agent.SetBeforePost(a, func(int) { carolDevice() })
	_, err = a.Say(ctx, room, "never")
	if mesh.ErrorCode(err) != mesh.EConflict || !strings.Contains(err.Error(), "re-keys") {
		t.Fatalf("epoch moving at every attempt: got %v, want a conflict after %d re-keys", err, agent.MaxRekeys)
	}
}
