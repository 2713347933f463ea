package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/meshtest"
)

func TestTwoParticipantsTalk(t *testing.T) {
	n := meshtest.Start(t, "")
	aliceID, aliceTok := n.Register(t, "alice")
	bobID, bobTok := n.Register(t, "bob")
	alice, bob := n.Hello(t, aliceTok), n.Hello(t, bobTok)
	alice.Join("lobby")
	joined := bob.Join("lobby")
	if got := len(joined["members"].([]any)); got < 2 {
		t.Fatalf("joined lists %d members, want at least alice and bob", got)
	}
	if p := alice.Expect("presence"); p["event"] != "join" || p["participant"].(map[string]any)["id"] != string(bobID) {
		t.Fatalf("alice got presence %v, want bob's join", p)
	}

	alice.Send(map[string]any{"type": "say", "room": "lobby", "text": "hello bob", "ref": "r1"})
	ack := alice.Expect("ack")
	if ack["ref"] != "r1" || ack["seq"] != 1.0 || ack["id"] == "" {
		t.Fatalf("ack = %v, want ref r1, seq 1 and an id", ack)
	}
	msg := bob.Expect("message")["message"].(map[string]any)
	if msg["id"] != ack["id"] || msg["seq"] != 1.0 || msg["body"].(map[string]any)["text"] != "hello bob" {
		t.Fatalf("bob got %v, want the message acked as %v", msg, ack)
	}
	if from := msg["from"].(map[string]any); from["id"] != string(aliceID) || msg["trust"] != "local" {
		t.Fatalf("message from %v trust %v, want alice at trust local", from, msg["trust"])
	}

	bob.Send(map[string]any{"type": "say", "room": "lobby", "text": "hi alice", "to": aliceID})
	bob.Expect("ack")
	if got := alice.Expect("message")["message"].(map[string]any); got["seq"] != 2.0 || got["to"] != string(aliceID) {
		t.Fatalf("alice got %v, want seq 2 addressed to her", got)
	}

	// A second connection of alice's gets her own messages as messages.
	alice2 := n.Hello(t, aliceTok)
	if h := alice2.Join("lobby")["history"].([]any); len(h) != 2 {
		t.Fatalf("history has %d messages, want 2", len(h))
	}
	alice.Send(map[string]any{"type": "say", "room": "lobby", "text": "from my other tab"})
	alice.Expect("ack")
	if got := alice2.Expect("message")["message"].(map[string]any); got["seq"] != 3.0 {
		t.Fatalf("alice's second connection got %v, want seq 3", got)
	}

	bob.Conn.Close()
	if p := alice.Expect("presence"); p["event"] != "leave" {
		t.Fatalf("after bob disconnects alice got %v, want presence leave", p)
	}
}

func TestPingPong(t *testing.T) {
	n := meshtest.Start(t, "")
	_, tok := n.Register(t, "a")
	c := n.Hello(t, tok)
	c.Send(map[string]any{"type": "ping", "ref": "p1"})
	if f := c.Expect("pong"); f["ref"] != "p1" {
		t.Fatalf("pong = %v, want ref p1", f)
	}
}

// TestResume checks that a client that reconnects with hello.resume gets
// exactly the messages it missed, once and in order, then live ones; both
// from memory (few missed) and from disk (more than the room keeps).
func TestResume(t *testing.T) {
	for name, missed := range map[string]int{"memory": 5, "disk": 700} {
		t.Run(name, func(t *testing.T) {
			n := meshtest.Start(t, "", func(_ *nodeConfig, w *webConfig) { w.Rate = 0 })
			room := n.UnlimitedRoom(t, "burst")
			_, aTok := n.Register(t, "alice")
			_, bTok := n.Register(t, "bob")
			alice, bob := n.Hello(t, aTok), n.Hello(t, bTok)
			alice.Join(room)
			bob.Join(room)
			sayIn(t, alice, room, 3)
			for range 3 {
				bob.Expect("message")
			}
			bob.Conn.Close()
			sayIn(t, alice, room, missed)

			bob = n.Dial(t)
			bob.Send(map[string]any{"type": "hello", "token": bTok, "resume": map[string]int{room: 3}})
			bob.Expect("welcome")
			if h := bob.Expect("joined")["history"].([]any); len(h) != 0 {
				t.Fatalf("resume joined carries %d history messages, want 0", len(h))
			}
			for want := 4; want <= 3+missed; want++ {
				if got := bob.Expect("message")["message"].(map[string]any)["seq"]; got != float64(want) {
					t.Fatalf("resumed message seq %v, want %d", got, want)
				}
			}
			sayIn(t, alice, room, 1)
			if got := bob.Expect("message")["message"].(map[string]any)["seq"]; got != float64(4+missed) {
				t.Fatalf("live message after resume has seq %v, want %d", got, 4+missed)
			}
			bob.Send(map[string]any{"type": "ping"})
			bob.Expect("pong") // nothing else was queued in between
		})
	}
}

// say sends k messages from c and waits for their acks.
func say(t *testing.T, c *meshtest.Client, k int) {
	t.Helper()
	sayIn(t, c, "lobby", k)
}

// sayIn sends k messages from c to room and waits for their acks.
func sayIn(t *testing.T, c *meshtest.Client, room string, k int) {
	t.Helper()
	for i := range k {
		c.Send(map[string]any{"type": "say", "room": room, "text": fmt.Sprintf("message %d", i)})
	}
	for range k {
		c.Expect("ack")
	}
}

func TestBadFrames(t *testing.T) {
	n := meshtest.Start(t, "", func(nc *nodeConfig, w *webConfig) {
		w.MaxFrameBytes = 4096
		nc.MaxTextBytes = 1024
	})
	_, tok := n.Register(t, "alice")
	c := n.Hello(t, tok)
	c.Join("lobby")
	say(t, c, 1)

	for name, tt := range map[string]struct {
		frame string
		code  string
		in    string // a word the message must contain
	}{
		"malformed JSON":         {`{"type":"say",`, "invalid", "Malformed JSON"},
		"not an object":          {`[1,2]`, "invalid", "object"},
		"unknown type":           {`{"type":"dance"}`, "invalid", "dance"},
		"no type":                {`{"room":"lobby"}`, "invalid", "type"},
		"wrong field type":       {`{"type":"say","room":"lobby","text":42}`, "invalid", "text"},
		"unknown field":          {`{"type":"say","room":"lobby","text":"x","color":"red"}`, "invalid", "color"},
		"trailing data":          {`{"type":"ping"} {"type":"ping"}`, "invalid", "after"},
		"invalid UTF-8":          {"{\"type\":\"say\",\"room\":\"lobby\",\"text\":\"\xff\xfe\"}", "invalid", "UTF-8"},
		"frame over limit":       {`{"type":"say","room":"lobby","text":"` + strings.Repeat("x", 5000) + `"}`, "too_large", "4096"},
		"text over limit":        {`{"type":"say","room":"lobby","text":"` + strings.Repeat("x", 1500) + `"}`, "too_large", "1024"},
		"empty text":             {`{"type":"say","room":"lobby","text":""}`, "invalid", "text"},
		"room does not exist":    {`{"type":"join","room":"nowhere"}`, "not_found", "nowhere"},
		"say in room not joined": {`{"type":"say","room":"other","text":"x"}`, "forbidden", "Join"},
		"bad room id":            {`{"type":"join","room":"../etc"}`, "invalid", "room"},
		"second hello":           {`{"type":"hello","token":"x"}`, "invalid", "already"},
	} {
		t.Run(name, func(t *testing.T) {
			c.SendRaw([]byte(tt.frame))
			f := c.ExpectError()
			if f["code"] != tt.code || !strings.Contains(f["message"].(string), tt.in) {
				t.Fatalf("got %v, want code %s with %q in the message", f, tt.code, tt.in)
			}
		})
	}
	// The connection still works and nothing accepted was lost.
	say(t, c, 1)
	_, body := n.Do(t, "GET", "/api/v1/rooms/lobby/messages", tok, nil)
	if got := len(body["messages"].([]any)); got != 2 {
		t.Fatalf("lobby holds %d messages, want 2", got)
	}
}

func TestBinaryFrameRefused(t *testing.T) {
	n := meshtest.Start(t, "")
	_, tok := n.Register(t, "a")
	c := n.Hello(t, tok)
	c.SendBinary([]byte(`{"type":"ping"}`))
	if f := c.ExpectError(); f["code"] != "invalid" {
		t.Fatalf("binary frame: got %v, want invalid", f)
	}
}

func TestAuthentication(t *testing.T) {
	n := meshtest.Start(t, "")
	id, tok := n.Register(t, "mallory")
	for name, tt := range map[string]struct {
		first string
		code  string
	}{
		"missing token":  {`{"type":"hello"}`, "invalid"},
		"empty token":    {`{"type":"hello","token":""}`, "invalid"},
		"forged token":   {`{"type":"hello","token":"mesh_` + strings.Repeat("A", 43) + `"}`, "unauthorized"},
		"no hello first": {`{"type":"join","room":"lobby"}`, "unauthorized"},
	} {
		t.Run(name, func(t *testing.T) {
			c := n.Dial(t)
			c.SendRaw([]byte(tt.first))
			if f := c.ExpectError(); f["code"] != tt.code {
				t.Fatalf("got %v, want code %s", f, tt.code)
			}
			if tt.code == "unauthorized" {
				if _, err := c.TryNext(5 * time.Second); err == nil {
					t.Fatal("connection still open after a refused hello")
				}
			}
		})
	}

	t.Run("revoked token", func(t *testing.T) {
		live := n.Hello(t, tok)
		if st, body := n.Do(t, "DELETE", "/api/v1/participants/"+string(id), tok, nil); st != 204 {
			t.Fatalf("revoke: HTTP %d %v", st, body)
		}
		if f := live.ExpectError(); f["code"] != "unauthorized" {
			t.Fatalf("open connection got %v, want unauthorized", f)
		}
		c := n.Dial(t)
		c.Send(map[string]any{"type": "hello", "token": tok})
		if f := c.ExpectError(); f["code"] != "unauthorized" {
			t.Fatalf("hello with revoked token: got %v, want unauthorized", f)
		}
		if st, _ := n.Do(t, "GET", "/api/v1/participants/me", tok, nil); st != 401 {
			t.Fatalf("REST with revoked token: HTTP %d, want 401", st)
		}
	})
}

func TestRateLimit(t *testing.T) {
	n := meshtest.Start(t, "", func(_ *nodeConfig, w *webConfig) { w.Rate, w.Burst = 5, 5 })
	_, tok := n.Register(t, "flooder")
	c := n.Hello(t, tok) // hello took one token
	c.Join("lobby")      // and join another
	for range 20 {
		c.Send(map[string]any{"type": "ping"})
	}
	pongs, limited := 0, 0
	for range 20 {
		switch f := c.Next(5 * time.Second); {
		case f.Type() == "pong":
			pongs++
		case f["code"] == "rate_limited":
			limited++
		default:
			t.Fatalf("unexpected frame %v", f)
		}
	}
	if pongs > 5 || limited < 15 {
		t.Fatalf("20 pings at burst 5: %d pongs and %d rate_limited, want at most 5 pongs", pongs, limited)
	}
	// Keep flooding: the node hangs up.
	for range 200 {
		c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		if err := writeText(c, `{"type":"ping"}`); err != nil {
			break
		}
	}
	for {
		if _, err := c.TryNext(5 * time.Second); err != nil {
			break
		}
	}
	st, _ := n.Do(t, "GET", "/healthz", "", nil)
	if st != 200 {
		t.Fatalf("node unhealthy after a flood: HTTP %d", st)
	}
}

func TestConnectionsPerIP(t *testing.T) {
	n := meshtest.Start(t, "", func(_ *nodeConfig, w *webConfig) { w.MaxConnsPerIP = 20 })
	var refused int
	for i := range 200 {
		c, err := n.TryDial()
		if err != nil {
			refused++
			if !strings.Contains(err.Error(), "429") {
				t.Fatalf("dial %d refused with %v, want HTTP 429", i, err)
			}
			continue
		}
		t.Cleanup(func() { c.Conn.Close() })
	}
	if refused != 180 {
		t.Fatalf("%d of 200 sockets refused, want 180 over the limit of 20", refused)
	}
	if st, _ := n.Do(t, "GET", "/healthz", "", nil); st != 200 {
		t.Fatalf("node unhealthy: HTTP %d", st)
	}
}

// TestSlowConsumer: a member that never reads is disconnected; the room
// keeps delivering to the others and nothing is lost.
func TestSlowConsumer(t *testing.T) {
	n := meshtest.Start(t, "", func(_ *nodeConfig, w *webConfig) {
		w.Rate = 0
		w.SendQueue.MaxFrames = 64
		// No server pings: under -race on a busy machine the test can
		// outlast the ping interval, and the reader's pong would then hit
		// the write deadline its last Send set.
		w.PingInterval = 0
	})
	room := n.UnlimitedRoom(t, "burst")
	_, aTok := n.Register(t, "talker")
	_, bTok := n.Register(t, "reader")
	_, sTok := n.Register(t, "sleeper")
	talker, reader, sleeper := n.Hello(t, aTok), n.Hello(t, bTok), n.Hello(t, sTok)
	talker.Join(room)
	reader.Join(room)
	sleeper.Join(room)
	sleeper.SetReadBuffer(4096) // a small kernel buffer fills fast

	const total = 3000
	big := strings.Repeat("z", 4000)
	talkErr := make(chan error, 1)
	go func() { // in windows of 16, so that only the sleeper falls behind
		for sent := 0; sent < total; sent += 16 {
			for range 16 {
				if err := talker.SendQuiet(map[string]any{"type": "say", "room": room, "text": big}); err != nil {
					talkErr <- err
					return
				}
			}
			for acks := 0; acks < 16; {
				f, err := talker.TryNext(10 * time.Second)
				if err != nil {
					talkErr <- err
					return
				}
				if f.Type() == "ack" {
					acks++
				} else if f.Type() != "presence" {
					talkErr <- fmt.Errorf("talker got %v", f)
					return
				}
			}
		}
	}()
	for want := 1; want <= total; want++ {
		f, err := reader.TryNext(30 * time.Second)
		if err != nil {
			select {
			case err := <-talkErr:
				t.Fatalf("talker: %v", err)
			default:
			}
			t.Fatalf("reader at seq %d: %v (slow consumers %d)", want, err, n.Node.Stats().SlowConsumers.Value())
		}
		if f.Type() != "message" {
			want--
			continue
		}
		if got := f["message"].(map[string]any)["seq"]; got != float64(want) {
			t.Fatalf("reader got seq %v, want %d", got, want)
		}
	}
	waitFor(t, func() bool { return n.Node.Stats().SlowConsumers.Value() > 0 })
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTimeouts(t *testing.T) {
	n := meshtest.Start(t, "", func(_ *nodeConfig, w *webConfig) {
		w.HelloTimeout, w.IdleTimeout, w.PingInterval = 300*time.Millisecond, 400*time.Millisecond, 100*time.Millisecond
	})
	_, tok := n.Register(t, "a")

	t.Run("no hello", func(t *testing.T) {
		c := n.Dial(t)
		go func() { // garbage does not buy time
			for range 10 {
				if writeText(c, `{"nonsense":1}`) != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		var sawError bool
		for {
			f, err := c.TryNext(3 * time.Second)
			if err != nil {
				break
			}
			sawError = sawError || f.Type() == "error"
		}
		if !sawError {
			t.Fatal("connection without hello closed without an error frame")
		}
	})

	t.Run("pongs keep a connection alive", func(t *testing.T) {
		c := n.Hello(t, tok)
		// TryNext answers the node's pings; no frame arrives in 1 s.
		if f, err := c.TryNext(time.Second); err == nil {
			t.Fatalf("unexpected frame %v", f)
		} else if !isTimeout(err) {
			t.Fatalf("connection closed although it answered pings: %v", err)
		}
		c.Send(map[string]any{"type": "ping"})
		c.Expect("pong")
	})

	t.Run("silent client is dropped", func(t *testing.T) {
		c := n.Hello(t, tok)
		time.Sleep(time.Second) // neither reads nor answers pings
		for {
			if _, err := c.TryNext(2 * time.Second); err != nil {
				if isTimeout(err) {
					t.Fatal("silent connection still open after the idle timeout")
				}
				return
			}
		}
	})
}

// TestLeaveEndsEveryConnection: leave ends membership, so every connection
// of the participant in the room gets left and no more messages.
func TestLeaveEndsEveryConnection(t *testing.T) {
	n := meshtest.Start(t, "")
	_, aTok := n.Register(t, "a")
	_, bTok := n.Register(t, "b")
	a1, a2, b := n.Hello(t, aTok), n.Hello(t, aTok), n.Hello(t, bTok)
	a1.Join("lobby")
	a2.Join("lobby")
	b.Join("lobby")
	a1.Send(map[string]any{"type": "leave", "room": "lobby", "ref": "bye"})
	if f := a1.Expect("left"); f["ref"] != "bye" {
		t.Fatalf("left = %v, want ref bye", f)
	}
	a2.Expect("left")
	if f := b.Expect("presence"); f["event"] != "leave" {
		t.Fatalf("b got %v, want a's leave", f)
	}
	b.Send(map[string]any{"type": "say", "room": "lobby", "text": "still there?"})
	b.Expect("ack")
	a2.Send(map[string]any{"type": "say", "room": "lobby", "text": "x"})
	if f := a2.ExpectError(); f["code"] != "forbidden" {
		t.Fatalf("say after leave: %v, want forbidden", f)
	}
	a1.Send(map[string]any{"type": "leave", "room": "lobby", "ref": "again"})
	if f := a1.ExpectError(); f["code"] != "not_found" || f["ref"] != "again" {
		t.Fatalf("leave when not a member: %v, want not_found with the ref", f)
	}
	a2.Join("lobby") // rejoining works
}

// TestResumeSmallQueue resumes more messages than a small send queue holds.
func TestResumeSmallQueue(t *testing.T) {
	n := meshtest.Start(t, "", func(_ *nodeConfig, w *webConfig) {
		w.Rate = 0
		w.SendQueue.MaxFrames = 16
	})
	room := n.UnlimitedRoom(t, "burst")
	_, aTok := n.Register(t, "a")
	_, bTok := n.Register(t, "b")
	a := n.Hello(t, aTok)
	a.Join(room)
	n.Hello(t, bTok).Join(room)
	for i := range 300 {
		a.Send(map[string]any{"type": "say", "room": room, "text": fmt.Sprint(i)})
		a.Expect("ack")
	}
	b := n.Dial(t)
	b.Send(map[string]any{"type": "hello", "token": bTok, "resume": map[string]int{room: 0}})
	b.Expect("welcome")
	b.Expect("joined")
	for want := 1; want <= 300; want++ {
		if got := b.Expect("message")["message"].(map[string]any)["seq"]; got != float64(want) {
			t.Fatalf("seq %v, want %d", got, want)
		}
	}
}
