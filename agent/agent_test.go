package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
	"github.com/the-mesh/mesh/internal/meshtest"
)

func TestTwoClientsTalk(t *testing.T) {
	n := meshtest.Start(t, "")
	pa, ta := mustRegister(t, n.URL, "alice")
	pb, tb := mustRegister(t, n.URL, "bob")
	a, b := mustDial(t, n.URL, ta), mustDial(t, n.URL, tb)
	if a.Me().ID != pa.ID || b.Me().ID != pb.ID {
		t.Fatalf("Me: got %s and %s, want %s and %s", a.Me().ID, b.Me().ID, pa.ID, pb.ID)
	}
	room := mesh.RoomID(n.UnlimitedRoom(t, "talk"))
	mustJoin(t, a, room)
	mustJoin(t, b, room)
	ctx := context.Background()

	ack, err := a.Say(ctx, room, "hello, bob", agent.SayTo(pb.ID))
	if err != nil {
		t.Fatal(err)
	}
	m := next(t, b, 5*time.Second)
	if m.ID != ack.ID || m.Seq != ack.Seq || m.Body.Text != "hello, bob" || m.From.ID != pa.ID || m.To != pb.ID {
		t.Fatalf("got %+v, want the message acked as %+v", m.Message, ack)
	}
	if _, err := b.Say(ctx, room, "hi alice"); err != nil {
		t.Fatal(err)
	}
	if m := next(t, a, 5*time.Second); m.Body.Text != "hi alice" {
		t.Fatalf("got %q, want %q", m.Body.Text, "hi alice")
	}

	// A burst over the node's frame rate (30/s, bursts of 60) is paced by
	// the client, not refused.
	const burst = 100
	for i := range burst {
		if _, err := a.Say(ctx, room, fmt.Sprint("burst ", i)); err != nil {
			t.Fatalf("say %d: %v", i, err)
		}
	}
	for i := range burst {
		if m := next(t, b, 5*time.Second); m.Body.Text != fmt.Sprint("burst ", i) {
			t.Fatalf("got %q, want %q", m.Body.Text, fmt.Sprint("burst ", i))
		}
	}
	// Neither client saw its own messages.
	select {
	case m := <-a.Messages():
		t.Fatalf("alice got %q", m.Body.Text)
	default:
	}
}

func TestJoinReturnsHistory(t *testing.T) {
	n := meshtest.Start(t, "")
	_, ta := mustRegister(t, n.URL, "alice")
	_, tb := mustRegister(t, n.URL, "bob")
	room := mesh.RoomID(n.UnlimitedRoom(t, "history"))
	a := mustDial(t, n.URL, ta)
	mustJoin(t, a, room)
	var last agent.Ack
	for i := range 3 {
		var err error
		if last, err = a.Say(context.Background(), room, fmt.Sprint("line ", i)); err != nil {
			t.Fatal(err)
		}
	}
	b := mustDial(t, n.URL, tb)
	j := mustJoin(t, b, room)
	if j.Head != last.Seq || len(j.History) != 3 || j.History[2].ID != last.ID || j.History[0].Body.Text != "line 0" {
		t.Fatalf("joined: head %d, history %+v; want head %d and 3 lines", j.Head, j.History, last.Seq)
	}
	if len(j.Members) != 3 { // the owner created the room
		t.Errorf("got %d members, want 3", len(j.Members))
	}
}

func TestSayRefused(t *testing.T) {
	n := meshtest.Start(t, "")
	_, ta := mustRegister(t, n.URL, "alice")
	a := mustDial(t, n.URL, ta)
	room := mesh.RoomID(n.UnlimitedRoom(t, "elsewhere"))
	_, err := a.Say(context.Background(), room, "not joined")
	var me *mesh.Error
	if !errors.As(err, &me) || me.Code != mesh.EForbidden {
		t.Fatalf("got %v, want a *mesh.Error with code forbidden", err)
	}
	if _, err := a.Join(context.Background(), "no-such-room"); mesh.ErrorCode(err) != mesh.ENotFound {
		t.Fatalf("join a missing room: got %v, want not_found", err)
	}
	// The connection is still good.
	mustJoin(t, a, room)
	if _, err := a.Say(context.Background(), room, "now joined"); err != nil {
		t.Fatal(err)
	}
}

func TestDialBadToken(t *testing.T) {
	n := meshtest.Start(t, "")
	_, err := agent.Dial(context.Background(), agent.Config{URL: n.URL, Token: "mesh_nope"})
	if mesh.ErrorCode(err) != mesh.EUnauthorized {
		t.Fatalf("got %v, want unauthorized", err)
	}
}

// TestResumeAcrossRestart stops and restarts the node (same data, new
// port behind a fixed proxy) while 200 messages are sent: the receiver
// gets every acknowledged message once, in one gap-free run of seqs.
func TestResumeAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	n := meshtest.Start(t, dir, noRate)
	px := startProxy(t, n)
	room := mesh.RoomID(n.UnlimitedRoom(t, "firehose"))
	_, ta := mustRegister(t, n.URL, "receiver")
	_, tb := mustRegister(t, n.URL, "sender")
	a, b := mustDial(t, px.URL(), ta), mustDial(t, px.URL(), tb)
	head := mustJoin(t, a, room).Head
	mustJoin(t, b, room)

	const total = 200
	var sent atomic.Int64
	acked := make(chan agent.Ack, total)
	retries := 0
	go func() {
		defer close(acked)
		for i := 0; i < total; i++ {
			for attempt := 0; ; attempt++ {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				ack, err := b.Say(ctx, room, fmt.Sprintf("m%03d", i))
				cancel()
				if err == nil {
					acked <- ack
					break
				}
				if errors.Is(err, agent.ErrClosed) || attempt > 100 {
					t.Errorf("say m%03d: %v", i, err)
					return
				}
				retries++
			}
			sent.Store(int64(i + 1))
		}
	}()

	eventually(t, 10*time.Second, "half the messages", func() bool { return sent.Load() >= total/2 })
	n.Stop()
	n2 := meshtest.Start(t, dir, noRate)
	px.point(n2)

	want := map[string]bool{} // acked ids
	for ack := range acked {
		want[ack.ID] = true
	}
	if len(want) != total {
		t.Fatalf("%d messages acked, want %d", len(want), total)
	}
	seen := map[string]bool{}
	texts := map[string]int{}
	last := head
	deadline := time.Now().Add(20 * time.Second)
	for missing := len(want); missing > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("still %d acked messages missing", missing)
		}
		m := next(t, a, 20*time.Second)
		if m.Seq != last+1 {
			t.Fatalf("got seq %d after %d: lost or doubled", m.Seq, last)
		}
		last = m.Seq
		if seen[m.ID] {
			t.Fatalf("message %s delivered twice", m.ID)
		}
		seen[m.ID] = true
		texts[m.Body.Text]++
		if want[m.ID] {
			missing--
		}
	}
	if len(texts) != total {
		t.Fatalf("got %d distinct texts, want %d", len(texts), total)
	}
	t.Logf("sender retried %d times; %d messages stored twice by a retry", retries, int(last-head)-total)
}

// TestCommandTrust: a handler that needs owner trust is never called for
// a local sender, who gets a refusing result; the owner's command runs.
func TestCommandTrust(t *testing.T) {
	n := meshtest.Start(t, "")
	runner, tr := mustRegister(t, n.URL, "runner")
	_, tl := mustRegister(t, n.URL, "localbob")
	st, body := n.Do(t, "POST", "/api/v1/rooms", n.Node.OwnerToken(), map[string]any{"name": "build",
		"policy": map[string]any{"grants": map[string]any{string(runner.ID): []string{"execute"}}}})
	if st != http.StatusCreated {
		t.Fatalf("create room: %d %v", st, body)
	}
	room := mesh.RoomID("build")
	r := mustDial(t, n.URL, tr)
	var calls atomic.Int32
	r.Command("deploy", mesh.TrustOwner, func(ctx context.Context, cmd agent.Command) (string, error) {
		calls.Add(1)
		return "deployed " + cmd.Text(), nil
	})
	r.Command("fail", mesh.TrustLocal, func(ctx context.Context, cmd agent.Command) (string, error) {
		return "", errors.New("boom")
	})
	mustJoin(t, r, room)
	local := mustDial(t, n.URL, tl)
	mustJoin(t, local, room)
	owner := mustDial(t, n.URL, n.Node.OwnerToken())
	mustJoin(t, owner, room)
	ctx := context.Background()

	// result waits for the result of the command acked as ack.
	result := func(c *agent.Client, ack agent.Ack) agent.Message {
		t.Helper()
		for {
			m := next(t, c, 5*time.Second)
			if m.Kind == mesh.MessageResult && m.Ref == ack.ID {
				return m
			}
		}
	}
	ack, err := local.SendCommand(ctx, room, runner.ID, "deploy", map[string]any{"env": "prod"})
	if err != nil {
		t.Fatal(err)
	}
	res := result(local, ack)
	if res.Body.OK == nil || *res.Body.OK || calls.Load() != 0 {
		t.Fatalf("local sender: result %+v, %d calls; want ok:false and no call", res.Body, calls.Load())
	}
	t.Logf("refusal: %q", res.Body.Output)

	ack, err = owner.SendCommand(ctx, room, runner.ID, "deploy", "v2")
	if err != nil {
		t.Fatal(err)
	}
	res = result(owner, ack)
	if res.Body.OK == nil || !*res.Body.OK || res.Body.Output != "deployed v2" || calls.Load() != 1 {
		t.Fatalf("owner: result %+v, %d calls; want ok:true, deployed v2", res.Body, calls.Load())
	}

	ack, err = local.SendCommand(ctx, room, runner.ID, "fail", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res := result(local, ack); res.Body.OK == nil || *res.Body.OK || res.Body.Output != "error: boom" {
		t.Fatalf("failing handler: got %+v", res.Body)
	}

	// A chat command from a local sender is refused the same way, by chat.
	if _, err := local.Say(ctx, room, "/deploy now", agent.SayTo(runner.ID)); err != nil {
		t.Fatal(err)
	}
	for {
		m := next(t, local, 5*time.Second)
		if m.Kind == mesh.MessageChat && m.From.ID == runner.ID {
			if calls.Load() != 1 || len(m.Body.Text) < 8 || m.Body.Text[:8] != "refused:" {
				t.Fatalf("chat command: got %q, %d calls", m.Body.Text, calls.Load())
			}
			break
		}
	}
	if _, err := owner.Say(ctx, room, "/deploy now", agent.SayTo(runner.ID)); err != nil {
		t.Fatal(err)
	}
	for {
		m := next(t, owner, 5*time.Second)
		if m.Kind == mesh.MessageChat && m.From.ID == runner.ID && m.To == owner.Me().ID {
			if m.Body.Text != "deployed now" || calls.Load() != 2 {
				t.Fatalf("owner chat command: got %q, %d calls", m.Body.Text, calls.Load())
			}
			break
		}
	}
}

// TestForPromptVectors renders every prompt vector through agent.Message.
func TestForPromptVectors(t *testing.T) {
	files, err := filepath.Glob("../testdata/protocol/prompt/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no prompt vectors: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				Input mesh.Message `json:"input"`
				Want  struct {
					Text string `json:"text"`
				} `json:"want"`
			}
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatal(err)
			}
			if got := (agent.Message{Message: v.Input}).ForPrompt(); got != v.Want.Text {
				t.Errorf("got\n%s\nwant\n%s", got, v.Want.Text)
			}
		})
	}
}

func TestCloseStopsEverything(t *testing.T) {
	n := meshtest.Start(t, "")
	_, ta := mustRegister(t, n.URL, "alice")
	a := mustDial(t, n.URL, ta)
	room := mesh.RoomID(n.UnlimitedRoom(t, "closing"))
	mustJoin(t, a, room)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-a.Messages(); ok {
		t.Fatal("Messages still open after Close")
	}
	if _, err := a.Say(context.Background(), room, "late"); !errors.Is(err, agent.ErrClosed) {
		t.Fatalf("Say after Close: got %v, want ErrClosed", err)
	}
	a.Close() // twice is fine
}

// BenchmarkSayThroughput measures messages per second from one client
// saying (with 256 Says in flight) to one receiving client, through a
// local node with the frame rate limit off. Once the sender's connection
// is busy the node coalesces its writes (--write-delay, 40 ms), so acks
// come in batches every 40 ms and throughput is about Says-in-flight / 40ms:
// 32 in flight give some 800 msgs/s, 256 some 7000.
func BenchmarkSayThroughput(b *testing.B) {
	n := meshtest.Start(b, "", noRate)
	room := mesh.RoomID(n.UnlimitedRoom(b, "bench"))
	_, ta := mustRegister(b, n.URL, "sender")
	_, tr := mustRegister(b, n.URL, "receiver")
	s, r := mustDial(b, n.URL, ta), mustDial(b, n.URL, tr)
	mustJoin(b, s, room)
	mustJoin(b, r, room)
	const inFlight = 256
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range inFlight {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := s.Say(context.Background(), room, "benchmark message"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	for i := 0; i < b.N; i++ {
		select {
		case <-r.Messages():
		case <-time.After(10 * time.Second):
			b.Fatalf("received %d of %d", i, b.N)
		}
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// TestOwnMessagesNotDelivered: the participant's own messages never show
// in Messages(), live (from another connection) or replayed on resume.
func TestOwnMessagesNotDelivered(t *testing.T) {
	n := meshtest.Start(t, "")
	px := startProxy(t, n)
	room := mesh.RoomID(n.UnlimitedRoom(t, "mirror"))
	_, ta := mustRegister(t, n.URL, "alice")
	_, tb := mustRegister(t, n.URL, "bob")
	a := mustDial(t, px.URL(), ta) // through the proxy: its connection will be cut
	a2 := mustDial(t, n.URL, ta)   // the same participant, another connection
	b := mustDial(t, n.URL, tb)
	for _, c := range []*agent.Client{a, a2, b} {
		mustJoin(t, c, room)
	}
	ctx := context.Background()
	say := func(c *agent.Client, text string) {
		t.Helper()
		if _, err := c.Say(ctx, room, text); err != nil {
			t.Fatal(err)
		}
	}
	say(a, "a: live")
	say(a2, "a2: live")
	say(b, "b: live")
	px.drop()
	say(a2, "a2: while a was away")
	say(b, "b: while a was away")
	for _, want := range []string{"b: live", "b: while a was away"} {
		if m := next(t, a, 5*time.Second); m.Body.Text != want {
			t.Fatalf("got %q, want %q", m.Body.Text, want)
		}
	}
	say(b, "b: after")
	if m := next(t, a, 5*time.Second); m.Body.Text != "b: after" {
		t.Fatalf("got %q, want %q", m.Body.Text, "b: after")
	}
}

// TestPresenceAndLeave: a client sees others arrive and go; after Leave
// it gets nothing more from the room and its Say there is refused.
func TestPresenceAndLeave(t *testing.T) {
	n := meshtest.Start(t, "")
	_, aTok := mustRegister(t, n.URL, "a")
	bp, bTok := mustRegister(t, n.URL, "b")
	a, b := mustDial(t, n.URL, aTok), mustDial(t, n.URL, bTok)
	mustJoin(t, a, "lobby")
	mustJoin(t, b, "lobby")
	presence := func(event string) {
		t.Helper()
		select {
		case p := <-a.Presence():
			if p.Event != event || p.Participant.ID != bp.ID {
				t.Fatalf("presence %s of %s, want %s of b", p.Event, p.Participant.ID, event)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no presence %s within 5 s", event)
		}
	}
	presence("join")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Leave(ctx, "lobby"); err != nil {
		t.Fatalf("leave: %v", err)
	}
	presence("leave")
	_, err := b.Say(ctx, "lobby", "still here?")
	var me *mesh.Error
	if !errors.As(err, &me) || me.Code != mesh.EForbidden {
		t.Fatalf("say after leave: %v, want forbidden", err)
	}
}
