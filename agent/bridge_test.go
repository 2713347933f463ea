package agent_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
	"github.com/the-mesh/mesh/internal/meshtest"
)

// TestBridges: an agent granted bridge creates, lists and deletes a bridge
// with the SDK; a message said in the source arrives in the target with
// Bridged decoded; an agent without bridge is refused with the node's
// code and message.
func TestBridges(t *testing.T) {
	n := meshtest.Start(t, "")
	pa, ta := mustRegister(t, n.URL, "alice")
	pb, tb := mustRegister(t, n.URL, "bob")
	owner := n.Node.OwnerToken()
	for _, room := range []string{"design", "news"} {
		policy := map[string]any{"limits": map[string]any{"messagesPerMinute": 0},
			"grants": map[string]any{string(pa.ID): []string{"bridge"}},
			"data":   map[string]any{"egress": "allow"}}
		if st, body := n.Do(t, "POST", "/api/v1/rooms", owner, map[string]any{"name": room, "policy": policy}); st != http.StatusCreated {
			t.Fatalf("create %s: HTTP %d %v", room, st, body)
		}
	}
	a, b := mustDial(t, n.URL, ta), mustDial(t, n.URL, tb)
	for _, c := range []*agent.Client{a, b} {
		mustJoin(t, c, "design")
		mustJoin(t, c, "news")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	_, err := b.CreateBridge(ctx, "design", "news")
	if mesh.ErrorCode(err) != mesh.EForbidden || !strings.Contains(mesh.ErrorMessage(err), `You lack "bridge" in room design`) {
		t.Fatalf("bob's bridge: got %v, want forbidden naming the bridge capability", err)
	}
	if _, err := a.CreateBridge(ctx, "", "news"); mesh.ErrorCode(err) != mesh.EInvalid {
		t.Fatalf("bridge from no room: got %v, want invalid", err)
	}

	br, err := a.CreateBridge(ctx, "design", "news")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(br.ID, "br_") || br.From != "design" || br.To != "news" || br.By != pa.ID || br.State != mesh.BridgeActive {
		t.Fatalf("created %+v", br)
	}
	list, err := agent.Config{URL: n.URL, Token: tb}.Bridges(ctx, "design") // without a connection, by another member
	if err != nil || len(list) != 1 || list[0].ID != br.ID {
		t.Fatalf("Bridges: %+v, %v; want the one bridge %s", list, err, br.ID)
	}

	ack, err := b.Say(ctx, "design", "mock-ups are up")
	if err != nil {
		t.Fatal(err)
	}
	var m agent.Message
	eventually(t, 15*time.Second, "the bridged copy in news", func() bool {
		select {
		case m = <-b.Messages():
			return m.Room == "news"
		default:
			return false
		}
	})
	want := mesh.Bridged{Room: "design", ID: ack.ID, Seq: ack.Seq, Trust: mesh.TrustLocal}
	if m.Bridged == nil || m.Bridged.Room != want.Room || m.Bridged.ID != want.ID || m.Bridged.Seq != want.Seq ||
		m.Bridged.From.ID != pb.ID || m.Bridged.Trust != want.Trust || m.From.ID != pa.ID || m.Body.Text != "mock-ups are up" {
		t.Fatalf("bridged copy: %+v with bridged %+v; want from alice with bridged %+v by bob", m.Message, m.Bridged, want)
	}

	if err := b.DeleteBridge(ctx, "design", br.ID); mesh.ErrorCode(err) != mesh.EForbidden {
		t.Fatalf("bob deleting alice's bridge: got %v, want forbidden", err)
	}
	if err := a.DeleteBridge(ctx, "design", br.ID); err != nil {
		t.Fatal(err)
	}
	if list, err := a.Bridges(ctx, "design"); err != nil || len(list) != 0 {
		t.Fatalf("Bridges after delete: %+v, %v", list, err)
	}
	if err := a.DeleteBridge(ctx, "design", br.ID); mesh.ErrorCode(err) != mesh.ENotFound {
		t.Fatalf("deleting it again: got %v, want not_found", err)
	}
}
