package federation_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/node"
)

// fill says n messages in room of node h as one of its agents, and waits
// until they are stored.
func fill(tb testing.TB, h *fedNode, room string, n int) {
	tb.Helper()
	id, tok := h.Register(tb, "writer")
	if st, body := h.Do(tb, "POST", "/api/v1/rooms/"+room+"/join", tok, nil); st != 200 {
		tb.Fatalf("join: %d %v", st, body)
	}
	p, ok := h.Node.Node.Participant(id)
	if !ok {
		tb.Fatal("no writer")
	}
	errs := make(chan error, n)
	for i := range n {
		h.Node.Node.Say(p, node.Post{Room: mesh.RoomID(room), Text: fmt.Sprint("old ", i+1)}, nil, func(_ mesh.Message, err error) { errs <- err })
	}
	for range n {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
}

// seqs returns the seqs of a page of messages as a REST read answers it.
func seqs(tb testing.TB, body map[string]any) []uint64 {
	tb.Helper()
	var out []uint64
	for _, m := range body["messages"].([]any) {
		out = append(out, uint64(m.(map[string]any)["seq"].(float64)))
	}
	return out
}

// TestJoinFetchesRecentWindow: a node that joins a room with a few
// thousand messages gets the recent window (mesh.DefaultHistory), not the
// history; its mirror holds the room from there, goes on with what comes
// next, survives a restart, and answers a read of older seqs with what it
// has, from its first seq.
func TestJoinFetchesRecentWindow(t *testing.T) {
	const history = 3000
	r := startRelay(t, nil)
	a, b := startNode(t, r, "", nil), startNode(t, r, "", nil)
	room := b.federatedRoom(t, "archive", map[string]any{"limits": map[string]any{"messagesPerMinute": 0}})
	fill(t, b, "archive", history)
	a.waitDirectory(t, room)

	alice, _ := a.agent(t, "alice")
	alice.Send(map[string]any{"type": "join", "room": room})
	// The window comes in the joined frame's history (what the mirror had
	// by then) and in message frames (the rest), in order.
	first := uint64(history - mesh.DefaultHistory + 1)
	want := first
	for _, m := range expect(t, alice, "joined")["history"].([]any) {
		if got := uint64(m.(map[string]any)["seq"].(float64)); got != want {
			t.Fatalf("joined history has seq %d, want %d: the recent window in order", got, want)
		}
		want++
	}
	for ; want <= history; want++ {
		if m := expectMessage(t, alice); uint64(m["seq"].(float64)) != want {
			t.Fatalf("got seq %v, want %d: the recent window in order", m["seq"], want)
		}
	}
	// The home sent that window, not the history. (A second ask racing the
	// first, e.g. the join's and a resync's, may get the window twice: the
	// mirror drops the repeats; the bound is far below the 3,000.)
	st, err := b.Node.Node.FederationStatus()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range st.Outbound {
		if o.Node == a.id && o.Next > 3*mesh.DefaultHistory {
			t.Fatalf("the home queued %d bodies for the joining node, want about %d (the window)", o.Next, mesh.DefaultHistory)
		}
	}
	_, tok := a.Register(t, "reader")
	if st, body := a.Do(t, "POST", "/api/v1/rooms/"+string(room)+"/join", tok, nil); st != 200 {
		t.Fatalf("join: %d %v", st, body)
	}
	read := func(after uint64) []uint64 {
		t.Helper()
		st, body := a.Do(t, "GET", fmt.Sprintf("/api/v1/rooms/%s/messages?after=%d&limit=100", room, after), tok, nil)
		if st != 200 {
			t.Fatalf("read: %d %v", st, body)
		}
		return seqs(t, body)
	}
	// Older seqs: what the mirror has, from its first.
	if got := read(0); len(got) != mesh.DefaultHistory || got[0] != first || got[len(got)-1] != history {
		t.Fatalf("read after 0: got seqs %v, want %d to %d", got, first, history)
	}
	if got := read(first + 9); len(got) != mesh.DefaultHistory-10 || got[0] != first+10 {
		t.Fatalf("read after %d: got %v", first+9, got)
	}
	// What comes next goes on from the window, before and after a restart.
	bob, _ := b.agent(t, "bob")
	bob.Send(map[string]any{"type": "join", "room": "archive"})
	expect(t, bob, "joined")
	bob.Send(map[string]any{"type": "say", "room": "archive", "text": "new 1"})
	if m := expectMessage(t, alice); m["seq"] != float64(history+1) || m["body"].(map[string]any)["text"] != "new 1" {
		t.Fatalf("alice got %v, want seq %d", m, history+1)
	}
	a.Stop()
	a = startNode(t, r, a.Dir, nil)
	if got := read(history - 1); fmt.Sprint(got) != fmt.Sprint([]uint64{history, history + 1}) {
		t.Fatalf("after a restart, read after %d: got %v", history-1, got)
	}
	alice, _ = a.agent(t, "alice2")
	alice.Send(map[string]any{"type": "join", "room": room})
	j := expect(t, alice, "joined")
	if h := j["history"].([]any); len(h) != mesh.DefaultHistory || h[len(h)-1].(map[string]any)["seq"] != float64(history+1) {
		t.Fatalf("joined history after a restart: %d messages, last %v", len(h), h[len(h)-1])
	}
	bob.Send(map[string]any{"type": "say", "room": "archive", "text": "new 2"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got := read(history); len(got) == 2 && got[1] == history+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mirror did not go on after the restart: %v", read(history))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
