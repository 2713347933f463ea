package federation_test

import (
	"slices"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
)

// TestBridgeToRemoteRoom bridges a room of node a into two federated rooms
// of node b: r, whose policy grants bridge to federated participants,
// gets the messages with their original named; r2, whose policy does not,
// refuses them at its home, and a audits the refusal.
func TestBridgeToRemoteRoom(t *testing.T) {
	r := startRelay(t, nil)
	a, b := startNode(t, r, "", nil), startNode(t, r, "", nil)
	open := b.federatedRoom(t, "r", map[string]any{"limits": map[string]any{"messagesPerMinute": 0},
		"capabilities": map[string]any{"federated": []string{"speak", "listen", "bridge"}}})
	closed := b.federatedRoom(t, "r2", map[string]any{"limits": map[string]any{"messagesPerMinute": 0}})
	a.waitDirectory(t, open)
	a.waitDirectory(t, closed)

	alice, aliceTok := a.Register(t, "alice")
	policy := map[string]any{"limits": map[string]any{"messagesPerMinute": 0},
		"grants": map[string]any{string(alice): []string{"bridge"}}, "data": map[string]any{"egress": "allow"}}
	if st, body := a.Do(t, "POST", "/api/v1/rooms", a.owner, map[string]any{"name": "src", "policy": policy}); st != 201 {
		t.Fatalf("create src: HTTP %d %v", st, body)
	}
	for _, room := range []mesh.RoomID{"src", open, closed} {
		if st, body := a.Do(t, "POST", "/api/v1/rooms/"+string(room)+"/join", aliceTok, nil); st != 200 {
			t.Fatalf("join %s: HTTP %d %v", room, st, body)
		}
	}
	var ids []string
	for _, to := range []mesh.RoomID{open, closed} {
		st, body := a.Do(t, "POST", "/api/v1/rooms/src/bridges", aliceTok, map[string]any{"to": to})
		if st != 201 {
			t.Fatalf("bridge to %s: HTTP %d %v", to, st, body)
		}
		ids = append(ids, body["bridge"].(map[string]any)["id"].(string))
	}
	_, me := a.Do(t, "GET", "/api/v1/participants/me", a.owner, nil)
	ownerA := me["participant"].(map[string]any)["id"].(string)
	want := []string{"one", "two", "three"}
	for _, text := range want {
		if st, body := a.Do(t, "POST", "/api/v1/rooms/src/messages", a.owner, map[string]any{"text": text}); st != 201 {
			t.Fatalf("say %q: HTTP %d %v", text, st, body)
		}
	}

	// On b, the home of r: carried in order, from alice of a, naming the original.
	var got []map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		got = got[:0]
		_, body := b.Do(t, "GET", "/api/v1/rooms/r/messages?limit=500", b.owner, nil)
		for _, m := range body["messages"].([]any) {
			if m := m.(map[string]any); m["bridged"] != nil {
				got = append(got, m)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	var texts []string
	for _, m := range got {
		texts = append(texts, textOf(m))
	}
	if !slices.Equal(texts, want) {
		t.Fatalf("bridged into r on its home: got %q, want %q", texts, want)
	}
	m := got[0]
	bridged := m["bridged"].(map[string]any)
	from := m["from"].(map[string]any)
	if from["id"] != string(alice)+"@"+a.id || bridged["room"] != "src@"+a.id ||
		bridged["from"].(map[string]any)["id"] != ownerA+"@"+a.id || m["trust"] != "federated" || bridged["trust"] != "owner" {
		t.Fatalf("bridged message on the home: from %v trust %v bridged %v; want from alice@a, trust federated, the original src@a by a's owner",
			from, m["trust"], bridged)
	}

	// Back on a, r's mirror names the source room as a names it.
	_, body := a.Do(t, "GET", "/api/v1/rooms/"+string(open)+"/messages?wait=10", aliceTok, nil)
	msgs := body["messages"].([]any)
	if len(msgs) == 0 {
		t.Fatal("r's mirror on a is empty")
	}
	for _, x := range msgs {
		if b, ok := x.(map[string]any)["bridged"].(map[string]any); ok && (b["room"] != "src" || b["from"].(map[string]any)["id"] != ownerA) {
			t.Fatalf("bridged in the mirror on a: got %v, want room src and the owner's bare id", b)
		}
	}

	// r2's home does not grant bridge: it refuses each message, and a audits it.
	a.audited(t, "bridged-blocked", "forbidden", ids[1], `lack "bridge"`)
	b.audited(t, "federated-say", "forbidden", "bridge")
	for _, text := range b.texts(t, "r2") {
		if slices.Contains(want, text) {
			t.Fatalf("r2 holds %q: its home should have refused every bridged message", text)
		}
	}
}
