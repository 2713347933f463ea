package federation_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/meshtest"
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

// windowExtra bounds what a home queues for a joining node besides the
// recent window: per join and per subscribe, access bodies and a roster.
const windowExtra = 12

// queuedFor returns how many bodies node h has queued for node to so far.
func queuedFor(tb testing.TB, h *fedNode, to string) uint64 {
	tb.Helper()
	st, err := h.Node.Node.FederationStatus()
	if err != nil {
		tb.Fatal(err)
	}
	for _, o := range st.Outbound {
		if o.Node == to {
			return o.Next
		}
	}
	return 0
}

// TestJoinsAskForRecentWindowOnce: two participants of a node join a room
// of another node while it is down; both joins would make the mirror,
// empty, ask for the recent window, but one subscribe is out at a time,
// so the home sends the window once.
func TestJoinsAskForRecentWindowOnce(t *testing.T) {
	const history = 200
	r := startRelay(t, nil)
	a, b := startNode(t, r, "", nil), startNode(t, r, "", nil)
	room := b.federatedRoom(t, "archive", map[string]any{"limits": map[string]any{"messagesPerMinute": 0}})
	fill(t, b, "archive", history)
	a.waitDirectory(t, room)
	b.Stop()

	// The home is down: each join stays queued (an error after the wait).
	var ids []mesh.ParticipantID
	var tokens []string
	var clients []*meshtest.Client
	for _, name := range []string{"alice", "bob"} {
		id, tok := a.Register(t, name)
		c := a.Hello(t, tok)
		c.Send(map[string]any{"type": "join", "room": room})
		ids, tokens, clients = append(ids, id), append(tokens, tok), append(clients, c)
	}
	for _, c := range clients {
		if f := c.Next(10 * time.Second); f.Type() != "error" {
			t.Fatalf("join with the home down: got %v, want an error", f)
		}
	}
	b = startNode(t, r, b.Dir, nil)
	waitFor(t, "both joins confirmed and the window in the mirror", func() bool {
		for _, id := range ids {
			if !a.Node.Node.IsRemoteMember(room, id) {
				return false
			}
		}
		st, body := a.Do(t, "GET", fmt.Sprintf("/api/v1/rooms/%s/messages?after=%d&limit=100", room, history-1), tokens[0], nil)
		return st == 200 && len(seqs(t, body)) == 1
	})
	_, body := a.Do(t, "GET", fmt.Sprintf("/api/v1/rooms/%s/messages?after=0&limit=100", room), tokens[1], nil)
	if got := seqs(t, body); len(got) != mesh.DefaultHistory || got[0] != history-mesh.DefaultHistory+1 {
		t.Fatalf("the mirror holds seqs %v, want the recent window", got)
	}
	if sent := queuedFor(t, b, a.id); sent > mesh.DefaultHistory+2*windowExtra {
		t.Fatalf("the home queued %d bodies for the joining node, want the window (%d) once and at most %d others", sent, mesh.DefaultHistory, 2*windowExtra)
	}
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
	// The home sent that window once, not the history.
	if sent := queuedFor(t, b, a.id); sent > mesh.DefaultHistory+windowExtra {
		t.Fatalf("the home queued %d bodies for the joining node, want the window (%d) and at most %d others", sent, mesh.DefaultHistory, windowExtra)
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
