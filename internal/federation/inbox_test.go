package federation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
)

// A participant's inbox takes the messages that address it in the remote
// rooms it joined, as in local ones (inbox.go and onMessage in
// internal/node).

// inboxRoom is the room "ops" on node b, joined by bob of b and by alice
// and carol of a; alice may execute commands there.
type inboxRoom struct {
	r                  *relay
	a, b               *fedNode
	room               mesh.RoomID
	aliceID, carolID   mesh.ParticipantID
	aliceTok, carolTok string
	bobTok             string
	remoteA, remoteC   string // alice and carol as b names them
	policy             map[string]any
}

func startInboxRoom(tb testing.TB) *inboxRoom {
	tb.Helper()
	r := startRelay(tb, nil)
	g := &inboxRoom{r: r, a: startNode(tb, r, "", nil), b: startNode(tb, r, "", nil)}
	g.aliceID, g.aliceTok = g.a.Register(tb, "alice")
	g.carolID, g.carolTok = g.a.Register(tb, "carol")
	g.remoteA, g.remoteC = string(g.aliceID)+"@"+g.a.id, string(g.carolID)+"@"+g.a.id
	g.policy = map[string]any{"grants": map[string]any{g.remoteA: []string{"execute"}}, "limits": map[string]any{"messagesPerMinute": 0}}
	g.room = g.b.federatedRoom(tb, "ops", g.policy)
	g.a.waitDirectory(tb, g.room)
	_, g.bobTok = g.b.Register(tb, "bob")
	g.join(tb, g.b, "ops", g.bobTok)
	g.join(tb, g.a, string(g.room), g.aliceTok)
	g.join(tb, g.a, string(g.room), g.carolTok)
	return g
}

func (g *inboxRoom) join(tb testing.TB, n *fedNode, room, token string) {
	tb.Helper()
	if st, body := n.Do(tb, "POST", "/api/v1/rooms/"+room+"/join", token, nil); st != 200 {
		tb.Fatalf("join %s: HTTP %d %v", room, st, body)
	}
}

// post posts body to the room's endpoint (messages or commands) on its
// home as bob and returns the message id.
func (g *inboxRoom) post(tb testing.TB, endpoint string, body map[string]any) string {
	tb.Helper()
	st, res := g.b.Do(tb, "POST", "/api/v1/rooms/ops/"+endpoint, g.bobTok, body)
	if st != 201 {
		tb.Fatalf("post %v to %s: HTTP %d %v", body, endpoint, st, res)
	}
	return res["message"].(map[string]any)["id"].(string)
}

// items waits until token's inbox on n holds at least k items and returns
// them.
func items(tb testing.TB, n *fedNode, token string, k int) []map[string]any {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, body := n.Do(tb, "GET", "/api/v1/inbox?limit=500", token, nil)
		if st != 200 {
			tb.Fatalf("read inbox: HTTP %d %v", st, body)
		}
		var out []map[string]any
		for _, it := range body["items"].([]any) {
			out = append(out, it.(map[string]any))
		}
		if len(out) >= k {
			return out
		}
		if time.Now().After(deadline) {
			tb.Fatalf("inbox holds %d items, want %d: %v", len(out), k, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// itemSays describes an item as "reason kind room id".
func itemSays(it map[string]any) string {
	m := it["message"].(map[string]any)
	return fmt.Sprint(it["reason"], " ", m["kind"], " ", m["room"], " ", m["id"])
}

// TestRemoteRoomInbox: chat to alice and a command for her, in a room of
// another node, enter her inbox with the room's address; her own message
// and messages to carol once the home took carol's listen do not; the SDK
// reads them; an acknowledgement removes them.
func TestRemoteRoomInbox(t *testing.T) {
	g := startInboxRoom(t)
	// Alice's own message, addressed to herself, is not hers to handle.
	if st, body := g.a.Do(t, "POST", "/api/v1/rooms/"+string(g.room)+"/messages", g.aliceTok,
		map[string]any{"text": "note to self", "to": g.aliceID}); st != 201 {
		t.Fatalf("alice's post: HTTP %d %v", st, body)
	}
	chat := g.post(t, "messages", map[string]any{"text": "for alice", "to": g.remoteA})
	cmd := g.post(t, "commands", map[string]any{"target": g.remoteA, "name": "status"})
	hello := g.post(t, "messages", map[string]any{"text": "hello carol", "to": g.remoteC})
	items(t, g.a, g.carolTok, 1) // on the mirror before the revocation (the home may send it after)
	// The home takes carol's listen: what comes to her next stays out.
	revoked := map[string]any{"visibility": "federated", "revokes": map[string]any{g.remoteC: []string{"listen"}}}
	for k, v := range g.policy {
		revoked[k] = v
	}
	if st, body := g.b.Do(t, "PUT", "/api/v1/rooms/ops/policy", g.b.owner, revoked); st != 200 {
		t.Fatalf("revoke carol's listen: HTTP %d %v", st, body)
	}
	g.post(t, "messages", map[string]any{"text": "secret for carol", "to": g.remoteC})
	last := g.post(t, "messages", map[string]any{"text": "after", "to": g.remoteA})

	got := items(t, g.a, g.aliceTok, 3)
	want := []string{"to chat " + string(g.room) + " " + chat, "command command " + string(g.room) + " " + cmd, "to chat " + string(g.room) + " " + last}
	if len(got) != len(want) {
		t.Fatalf("alice's inbox holds %d items, want %d: %v", len(got), len(want), got)
	}
	for i, it := range got {
		if itemSays(it) != want[i] || it["n"] != float64(i+1) {
			t.Fatalf("alice's item %d is %q n=%v, want %q n=%d", i, itemSays(it), it["n"], want[i], i+1)
		}
	}
	m := got[0]["message"].(map[string]any)
	if m["to"] != string(g.aliceID) || m["body"].(map[string]any)["text"] != "for alice" || m["from"].(map[string]any)["node"] != g.b.id {
		t.Fatalf("alice's first item holds %v, want bob's message to her as her node names her", m)
	}
	// Carol got what came before the revocation, and only that: the
	// mirror applied everything up to alice's last item. Her item is kept
	// but not shown while she may not listen.
	if got := items(t, g.a, g.carolTok, 0); len(got) != 0 {
		t.Fatalf("carol, who may not listen, reads %v", got)
	}
	st, body := g.a.Do(t, "GET", "/api/v1/inbox", g.carolTok, nil)
	if st != 200 || body["unacked"] != 1.0 {
		t.Fatalf("carol's inbox: HTTP %d %v, want the one item from before the revocation kept (unacked 1)", st, body)
	}
	g.b.Do(t, "PUT", "/api/v1/rooms/ops/policy", g.b.owner, map[string]any{"visibility": "federated", "grants": g.policy["grants"], "limits": g.policy["limits"]})
	if got := items(t, g.a, g.carolTok, 1); len(got) != 1 || itemSays(got[0]) != "to chat "+string(g.room)+" "+hello {
		t.Fatalf("carol's inbox with listen back: %v, want only %s", got, hello)
	}

	// The SDK reads the same items.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialSDK(t, g.a.URL, g.aliceTok, nil)
	in, err := c.Inbox(ctx, 0, 0)
	if err != nil || len(in.Items) != 3 {
		t.Fatalf("SDK inbox: %+v %v, want 3 items", in, err)
	}
	if it := in.Items[1]; it.Reason != mesh.InboxCommand || it.Message.Room != g.room || it.Message.ID != cmd || it.Message.Body.Command != "status" {
		t.Fatalf("SDK item 2: %+v, want the command %s in %s", it, cmd, g.room)
	}

	// An acknowledgement removes them.
	st, body = g.a.Do(t, "POST", "/api/v1/inbox/ack", g.aliceTok, map[string]any{"upTo": 3})
	if st != 200 || body["acked"] != 3.0 || body["unacked"] != 0.0 {
		t.Fatalf("ack: HTTP %d %v", st, body)
	}
	if got := items(t, g.a, g.aliceTok, 0); len(got) != 0 {
		t.Fatalf("alice's inbox after the ack: %v", got)
	}
}

// TestRemoteRoomWebhook: a participant with a webhook is called for an
// item from a remote room, with the message from the mirror.
func TestRemoteRoomWebhook(t *testing.T) {
	g := startInboxRoom(t)
	events := make(chan mesh.WebhookEvent, 10)
	var secret string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := agent.VerifyWebhook(secret, r.Header, body, time.Minute); err != nil {
			t.Errorf("the delivery does not verify: %v", err)
			w.WriteHeader(401)
			return
		}
		var ev mesh.WebhookEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("delivery body: %v", err)
		}
		events <- ev
	}))
	defer hook.Close()
	st, body := g.a.Do(t, "POST", "/api/v1/participants", "", map[string]any{"name": "dave", "webhook": hook.URL})
	if st != 201 {
		t.Fatalf("register dave: HTTP %d %v", st, body)
	}
	secret = body["webhookSecret"].(string)
	dave, daveTok := body["participant"].(map[string]any)["id"].(string), body["token"].(string)
	g.join(t, g.a, string(g.room), daveTok)
	id := g.post(t, "messages", map[string]any{"text": "wake up, dave", "to": dave + "@" + g.a.id})
	select {
	case ev := <-events:
		var m mesh.Message
		json.Unmarshal(ev.Item.Message, &m)
		if ev.Participant != mesh.ParticipantID(dave) || ev.Item.Reason != mesh.InboxTo || m.ID != id || m.Room != g.room || m.Body.Text != "wake up, dave" {
			t.Fatalf("webhook event %+v (message %+v), want %s in %s for %s", ev, m, id, g.room, dave)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook delivery for the remote room's item in 30 s")
	}
}

// TestRemoteInboxUpgrade: an inbox checkpoint written before remote rooms
// were routed (no "remote" in marks.json) starts each mirror at its head:
// the mirror's history does not flood the inbox, what comes next enters.
func TestRemoteInboxUpgrade(t *testing.T) {
	g := startInboxRoom(t)
	old := g.post(t, "messages", map[string]any{"text": "old", "to": g.remoteA})
	items(t, g.a, g.aliceTok, 1)
	g.a.Stop()
	// As a node of before: no items of remote rooms, no mark, no flag.
	marks := filepath.Join(g.a.Dir, "inbox", "marks.json")
	if err := os.WriteFile(marks, []byte(`{"rooms":{"lobby":0}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(g.a.Dir, "inbox", string(g.aliceID)+".jsonl"), 0); err != nil {
		t.Fatal(err)
	}
	g.a = startNode(t, g.r, g.a.Dir, nil)
	next := g.post(t, "messages", map[string]any{"text": "next", "to": g.remoteA})
	got := items(t, g.a, g.aliceTok, 1)
	if len(got) != 1 || got[0]["message"].(map[string]any)["id"] != next {
		t.Fatalf("after the upgrade alice's inbox holds %v, want only %s (not %s, from before)", got, next, old)
	}
	if b := string(mustReadFile(t, marks)); !strings.Contains(b, `"remote":true`) || !strings.Contains(b, string(g.room)) {
		t.Fatalf("marks.json after the upgrade: %s, want the mirror's mark and remote rooms routed", b)
	}
}

func mustReadFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
