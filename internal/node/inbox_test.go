package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/node"
)

// stored runs an asynchronous store call and waits for its outcome.
func stored(tb testing.TB, run func(done func(mesh.Message, error))) mesh.Message {
	tb.Helper()
	ch := make(chan mesh.Message, 1)
	run(func(m mesh.Message, err error) {
		if err != nil {
			tb.Errorf("store: %v", err)
		}
		ch <- m
	})
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		tb.Fatal("store: no outcome after 10s")
	}
	return mesh.Message{}
}

func mustInbox(tb testing.TB, n *node.Node, p mesh.Participant, after uint64) mesh.Inbox {
	tb.Helper()
	in, err := n.Inbox(p, after, 100)
	if err != nil {
		tb.Fatalf("inbox of %s: %v", p.Name, err)
	}
	return in
}

// summary renders items as "n:reason:text" for comparison.
func summary(tb testing.TB, in mesh.Inbox) string {
	tb.Helper()
	var out []string
	for _, it := range in.Items {
		var m mesh.Message
		if err := json.Unmarshal(it.Message, &m); err != nil {
			tb.Fatalf("item %d: %v", it.N, err)
		}
		text := m.Body.Text
		if m.Kind == mesh.MessageCommand {
			text = "/" + m.Body.Command
		} else if m.Kind == mesh.MessageResult {
			text = "=" + m.Body.Output
		}
		out = append(out, fmt.Sprintf("%d:%s:%s", it.N, it.Reason, text))
	}
	return strings.Join(out, " ")
}

// inboxWorld is a node with an asker, a runner (with execute in "build")
// and a bystander, all members of the lobby and of build.
type inboxWorld struct {
	n                       *node.Node
	dir                     string
	owner, asker, runner, x mesh.Participant
}

func newInboxWorld(tb testing.TB, max int) *inboxWorld {
	tb.Helper()
	w := &inboxWorld{dir: tb.TempDir()}
	w.n = openInboxNode(tb, w.dir, max)
	w.owner = MustOwner(tb, w.n)
	w.asker, _ = MustRegister(tb, w.n, nil, node.Registration{Name: "asker"})
	w.runner, _ = MustRegister(tb, w.n, nil, node.Registration{Name: "runner"})
	w.x, _ = MustRegister(tb, w.n, nil, node.Registration{Name: "x"})
	MustCreateRoom(tb, w.n, w.owner, "build")
	if _, err := w.n.SetPolicy(w.owner, "build", fmt.Appendf(nil, `{"grants":{%q:["execute"]}}`, w.runner.ID)); err != nil {
		tb.Fatal(err)
	}
	for _, p := range []mesh.Participant{w.asker, w.runner, w.x} {
		MustJoin(tb, w.n, p, mesh.Lobby)
		MustJoin(tb, w.n, p, "build")
	}
	return w
}

func openInboxNode(tb testing.TB, dir string, max int) *node.Node {
	tb.Helper()
	cfg := node.DefaultConfig()
	cfg.DataDir, cfg.Name = dir, "test"
	if max > 0 {
		cfg.InboxMax = max
	}
	n, err := node.Open(cfg)
	if err != nil {
		tb.Fatalf("open node: %v", err)
	}
	tb.Cleanup(func() {
		if _, done := closed.LoadOrStore(n, true); !done {
			n.Close()
		}
	})
	return n
}

func (w *inboxWorld) reopen(tb testing.TB, max int) {
	tb.Helper()
	closed.Store(w.n, true)
	if err := w.n.Close(); err != nil {
		tb.Fatal(err)
	}
	w.n = openInboxNode(tb, w.dir, max)
}

func (w *inboxWorld) say(tb testing.TB, from mesh.Participant, room mesh.RoomID, text string, to mesh.ParticipantID) mesh.Message {
	tb.Helper()
	return stored(tb, func(done func(mesh.Message, error)) {
		w.n.Say(from, node.Post{Room: room, Text: text, To: to}, nil, done)
	})
}

func TestInboxRouting(t *testing.T) {
	w := newInboxWorld(t, 0)
	w.say(t, w.asker, mesh.Lobby, "to everyone", "")
	w.say(t, w.asker, mesh.Lobby, "hi runner", w.runner.ID)
	w.say(t, w.asker, mesh.Lobby, "note to self", w.asker.ID)
	cmd := stored(t, func(done func(mesh.Message, error)) {
		w.n.Command(w.asker, mesh.Command{Room: "build", Target: w.runner.ID, Name: "test"}, nil, done)
	})
	stored(t, func(done func(mesh.Message, error)) {
		w.n.Result(w.runner, mesh.Result{Room: "build", Ref: cmd.ID, OK: true, Output: "pass"}, nil, done)
	})
	for name, tt := range map[string]struct {
		p    mesh.Participant
		want string
	}{
		"Runner":    {w.runner, "1:to:hi runner 2:command:/test"},
		"Asker":     {w.asker, "1:to:=pass"}, // a result goes to the command's sender
		"Bystander": {w.x, ""},
	} {
		t.Run(name, func(t *testing.T) {
			if got := summary(t, mustInbox(t, w.n, tt.p, 0)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestInboxListenRespected(t *testing.T) {
	w := newInboxWorld(t, 0)
	// No listen in build for x: nothing addressed to x there enters.
	if _, err := w.n.SetPolicy(w.owner, "build", fmt.Appendf(nil, `{"revokes":{%q:["listen"]}}`, w.x.ID)); err != nil {
		t.Fatal(err)
	}
	w.say(t, w.asker, "build", "unheard", w.x.ID)
	w.say(t, w.asker, mesh.Lobby, "heard", w.x.ID)
	if got := summary(t, mustInbox(t, w.n, w.x, 0)); got != "1:to:heard" {
		t.Fatalf("got %q, want only the lobby item", got)
	}
	// An item of a room x can no longer listen in is left out of reads,
	// and the cursor moves past it.
	w.say(t, w.asker, mesh.Lobby, "later", w.x.ID)
	if _, err := w.n.SetPolicy(w.owner, mesh.Lobby, fmt.Appendf(nil, `{"revokes":{%q:["listen"]}}`, w.x.ID)); err != nil {
		t.Fatal(err)
	}
	in := mustInbox(t, w.n, w.x, 0)
	if len(in.Items) != 0 || in.Next != 2 || in.Unacked != 2 {
		t.Fatalf("got %s next %d unacked %d, want no items, next 2, unacked 2", summary(t, in), in.Next, in.Unacked)
	}
}

func TestInboxBoundAndAck(t *testing.T) {
	w := newInboxWorld(t, 3)
	for i := range 5 {
		w.say(t, w.asker, mesh.Lobby, fmt.Sprint("m", i), w.runner.ID)
	}
	in := mustInbox(t, w.n, w.runner, 0)
	if got := summary(t, in); got != "3:to:m2 4:to:m3 5:to:m4" || in.Dropped != 2 || in.Unacked != 3 {
		t.Fatalf("got %q dropped %d unacked %d, want the newest 3 and dropped 2", got, in.Dropped, in.Unacked)
	}
	if acked, left, err := w.n.AckInbox(w.runner, 4); err != nil || acked != 4 || left != 1 {
		t.Fatalf("ack 4: got %d %d %v", acked, left, err)
	}
	if _, _, err := w.n.AckInbox(w.runner, 9); mesh.ErrorCode(err) != mesh.EInvalid {
		t.Fatalf("ack past the newest: got %v, want invalid", err)
	}
	w.reopen(t, 3)
	in = mustInbox(t, w.n, w.runner, 0)
	if got := summary(t, in); got != "5:to:m4" || in.Next != 5 || in.Dropped != 0 {
		t.Fatalf("after reopen: got %q next %d dropped %d, want item 5 only", got, in.Next, in.Dropped)
	}
	if recs := auditRecords(t, w.n, "inbox-ack"); len(recs) != 2 || recs[0].Outcome != "ok" || recs[1].Code != mesh.EInvalid {
		t.Fatalf("audit: got %+v, want one ok and one refused ack", recs)
	}
}

// TestInboxRecoversLostTail loses what a crash may lose: the inbox lines
// written after the last checkpoint. The node routes the room's tail again
// on open, keeping what survived and adding nothing twice.
func TestInboxRecoversLostTail(t *testing.T) {
	w := newInboxWorld(t, 0)
	for i := range 3 {
		w.say(t, w.asker, mesh.Lobby, fmt.Sprint("early", i), w.runner.ID)
	}
	if _, _, err := w.n.AckInbox(w.runner, 1); err != nil {
		t.Fatal(err)
	}
	head := w.say(t, w.asker, mesh.Lobby, "checkpointed", "").Seq
	w.reopen(t, 0) // Close checkpoints: marks.json says lobby is routed up to head
	for i := range 4 {
		w.say(t, w.asker, mesh.Lobby, fmt.Sprint("late", i), w.runner.ID)
	}
	w.say(t, w.asker, "build", "elsewhere", w.runner.ID)
	closed.Store(w.n, true)
	if err := w.n.Close(); err != nil {
		t.Fatal(err)
	}
	// The crash: marks back at the old checkpoint, the inbox file cut after
	// the second late item, half a line at the end.
	marks := fmt.Sprintf(`{"rooms":{"lobby":%d,"build":1}}`, head)
	if err := os.WriteFile(filepath.Join(w.dir, "inbox", "marks.json"), []byte(marks), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(w.dir, "inbox", string(w.runner.ID)+".jsonl")
	lines := strings.SplitAfter(string(mustReadFile(t, path)), "\n")
	kept := strings.Join(lines[:6], "") + `{"op":"item","n":7,"ro` // 3 early, ack, 2 late
	if err := os.WriteFile(path, []byte(kept), 0o600); err != nil {
		t.Fatal(err)
	}
	w.n = openInboxNode(t, w.dir, 0)
	// Lost items come back numbered room by room, in room id order.
	want := "2:to:early1 3:to:early2 4:to:late0 5:to:late1 6:to:elsewhere 7:to:late2 8:to:late3"
	if got := summary(t, mustInbox(t, w.n, w.runner, 0)); got != want {
		t.Fatalf("after the crash:\ngot  %q\nwant %q", got, want)
	}
	if _, err := os.Stat(path + ".corrupt"); err != nil {
		t.Fatalf("the torn line was not set aside: %v", err)
	}
}

func TestWaitInboxWakes(t *testing.T) {
	w := newInboxWorld(t, 0)
	got := make(chan mesh.Inbox, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		in, err := w.n.WaitInbox(ctx, w.runner, 0, 10)
		if err != nil {
			t.Error(err)
		}
		got <- in
	}()
	time.Sleep(50 * time.Millisecond) // let the poll start waiting; it must not miss the item either way
	w.say(t, w.asker, mesh.Lobby, "wake up", w.runner.ID)
	select {
	case in := <-got:
		if summary(t, in) != "1:to:wake up" {
			t.Fatalf("got %q", summary(t, in))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the long poll did not wake")
	}
	// A poll that times out answers an empty page, not an error.
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if in, err := w.n.WaitInbox(short, w.runner, 1, 10); err != nil || len(in.Items) != 0 || in.Next != 1 {
		t.Fatalf("timed out poll: got %+v %v, want an empty page", in, err)
	}
}

func TestWebhookSecret(t *testing.T) {
	w := newInboxWorld(t, 0)
	a, b := w.n.WebhookSecret(w.asker.ID), w.n.WebhookSecret(w.runner.ID)
	if !strings.HasPrefix(a, "whsec_") || len(a) != len("whsec_")+43 || a == b {
		t.Fatalf("secrets: got %q and %q, want two distinct whsec_ secrets", a, b)
	}
	w.reopen(t, 0)
	if again := w.n.WebhookSecret(w.asker.ID); again != a {
		t.Fatalf("after reopen: got %q, want %q (derived, not stored)", again, a)
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
