package federation_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
	"github.com/the-mesh/mesh/internal/federation"
)

// tap is a TCP proxy between a node and the relay that records every
// byte, both ways: what a relay (or anyone on the wire) sees.
type tap struct {
	ln  net.Listener
	mu  sync.Mutex
	buf bytes.Buffer
	wg  sync.WaitGroup
}

func startTap(tb testing.TB, target string) *tap {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	t := &tap{ln: ln}
	t.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.wg.Go(func() { t.pipe(c, target) })
		}
	})
	tb.Cleanup(func() { ln.Close() })
	return t
}

func (t *tap) pipe(c net.Conn, target string) {
	defer c.Close()
	u, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer u.Close()
	var wg sync.WaitGroup
	copyRec := func(dst, src net.Conn) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			k, err := src.Read(buf)
			if k > 0 {
				t.mu.Lock()
				t.buf.Write(buf[:k])
				t.mu.Unlock()
				dst.Write(buf[:k])
			}
			if err != nil {
				dst.Close()
				return
			}
		}
	}
	wg.Add(2)
	go copyRec(u, c)
	go copyRec(c, u)
	wg.Wait()
}

func (t *tap) url() string { return "ws://" + t.ln.Addr().String() }

func (t *tap) saw(s string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Contains(t.buf.Bytes(), []byte(s))
}

// dirHas reports the files under dir that contain s.
func dirHas(tb testing.TB, dir, s string) []string {
	tb.Helper()
	var hits []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		if bytes.Contains(b, []byte(s)) {
			hits = append(hits, path)
		}
		return nil
	})
	return hits
}

func dialSDK(tb testing.TB, url, token string, keys agent.KeyStore) *agent.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := agent.Dial(ctx, agent.Config{URL: url, Token: token, Keys: keys,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func sdkJoin(tb testing.TB, c *agent.Client, room mesh.RoomID) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Join(ctx, room); err != nil {
		tb.Fatalf("join %s: %v", room, err)
	}
}

func nextMatch(tb testing.TB, c *agent.Client, what string, match func(agent.Message) bool) agent.Message {
	tb.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				tb.Fatalf("Messages closed while waiting for %s: %v", what, c.Err())
			}
			if match(m) {
				return m
			}
		case <-deadline:
			tb.Fatalf("no %s within 20s", what)
		}
	}
}

// ownersOf lists the participants of a roster's devices.
func ownersOf(r mesh.Roster) []mesh.ParticipantID {
	var out []mesh.ParticipantID
	for _, d := range r.Devices {
		out = append(out, d.Participant)
	}
	return out
}

func say(tb testing.TB, c *agent.Client, room mesh.RoomID, text string, opts ...agent.SayOption) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Say(ctx, room, text, opts...); err != nil {
		tb.Fatalf("say %q in %s: %v", text, room, err)
	}
}

// TestFederatedE2ERoom: alice on node A and bob on node B, the room's
// home, in an end-to-end encrypted federated room, each node linked to
// the relay through a recording tap. They read each other's messages, a
// command from bob runs at alice's and its result opens at bob's; alice's
// second device enters the roster; a leave and a kick take her devices
// out. No secret phrase, command name or argument is on the wire or in
// either data directory; the same phrase in a plain federated room is.
func TestFederatedE2ERoom(t *testing.T) {
	r := startRelay(t, nil)
	relayAddr := strings.TrimPrefix(r.url, "ws://")
	tapA, tapB := startTap(t, relayAddr), startTap(t, relayAddr)
	a := startNode(t, r, "", func(fc *federation.Config) { fc.URL = tapA.url() })
	b := startNode(t, r, "", func(fc *federation.Config) { fc.URL = tapB.url() })

	aliceID, aliceTok := a.Register(t, "alice")
	bobID, bobTok := b.Register(t, "bob")
	aliceAtB := mesh.RemoteParticipant(aliceID, a.id)
	room := b.federatedRoom(t, "vault", map[string]any{"e2e": true,
		"limits":  map[string]any{"messagesPerMinute": 0},
		"execute": map[string]any{"from": []string{"local", "federated"}},
		"grants":  map[string]any{string(aliceAtB): []string{"execute"}}})
	local, _, _ := room.Split()
	a.waitDirectory(t, room)

	const phrase, cmdName, cmdArg = "zebra-quartz-7719", "opencask", "argon-moss-4411"
	bob := dialSDK(t, b.URL, bobTok, agent.MemoryKeys())
	sdkJoin(t, bob, local)
	alice := dialSDK(t, a.URL, aliceTok, agent.MemoryKeys())
	alice.Command(cmdName, mesh.TrustFederated, func(_ context.Context, cmd agent.Command) (string, error) {
		return "ran " + string(cmd.Args) + " " + phrase, nil
	})
	sdkJoin(t, alice, room)

	// Both rosters hold both participants, each in its node's naming.
	waitFor(t, "bob's roster with alice", func() bool {
		ro, _ := bob.Roster(local)
		return slices.Contains(ownersOf(ro), aliceAtB) && slices.Contains(ownersOf(ro), bobID)
	})
	waitFor(t, "alice's roster with bob", func() bool {
		ro, _ := alice.Roster(room)
		return slices.Contains(ownersOf(ro), aliceID) && slices.Contains(ownersOf(ro), mesh.RemoteParticipant(bobID, b.id))
	})
	st, body := a.Do(t, "GET", "/api/v1/rooms/"+string(room)+"/e2e", aliceTok, nil)
	if st != 200 || body["room"] != string(room) {
		t.Fatalf("GET e2e of %s on A: HTTP %d %v", room, st, body)
	}

	// A plain post to the E2E room is refused on A: its text never leaves
	// the node (the checks of the wire and the disks below cover it).
	if st, body := a.Do(t, "POST", "/api/v1/rooms/"+string(room)+"/messages", aliceTok, map[string]any{"text": "plain: " + phrase}); st != 400 {
		t.Fatalf("a plain post to %s on A: HTTP %d %v, want 400 invalid", room, st, body)
	}

	say(t, alice, room, "from alice: "+phrase)
	m := nextMatch(t, bob, "alice's message", func(m agent.Message) bool { return m.Kind == mesh.MessageChat && m.Body.Text != "" })
	if m.Body.Text != "from alice: "+phrase || m.From.ID != aliceAtB || !m.E2E {
		t.Fatalf("bob got %+v", m)
	}
	say(t, bob, local, "from bob: "+phrase, agent.SayTo(aliceAtB))
	m = nextMatch(t, alice, "bob's message", func(m agent.Message) bool { return m.Kind == mesh.MessageChat })
	if m.Body.Text != "from bob: "+phrase || m.From.ID != mesh.RemoteParticipant(bobID, b.id) || m.To != aliceID {
		t.Fatalf("alice got %+v", m)
	}

	// A command from bob runs at alice's; its sealed result opens at bob's.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ack, err := bob.SendCommand(ctx, local, aliceAtB, cmdName, map[string]string{"arg": cmdArg})
	if err != nil {
		t.Fatalf("command: %v", err)
	}
	res := nextMatch(t, bob, "the result", func(m agent.Message) bool { return m.Kind == mesh.MessageResult && m.Ref == ack.ID })
	if res.Body.OK == nil || !*res.Body.OK || !strings.Contains(res.Body.Output, cmdArg) || !strings.Contains(res.Body.Output, phrase) {
		t.Fatalf("result: %+v", res.Body)
	}

	// alice's second device: a new epoch on B with it; it reads what follows.
	alice2 := dialSDK(t, a.URL, aliceTok, agent.MemoryKeys())
	sdkJoin(t, alice2, room)
	waitFor(t, "bob's roster with alice's two devices", func() bool {
		ro, _ := bob.Roster(local)
		k := 0
		for _, p := range ownersOf(ro) {
			if p == aliceAtB {
				k++
			}
		}
		return k == 2
	})
	say(t, bob, local, "second device: "+phrase)
	m = nextMatch(t, alice2, "bob's message on alice's second device", func(m agent.Message) bool {
		return m.Kind == mesh.MessageChat && strings.HasPrefix(m.Body.Text, "second device")
	})
	if m.Undecryptable != "" {
		t.Fatalf("alice's second device: %+v", m)
	}

	// Nothing readable on the wire or on disk.
	for what, hit := range map[string]bool{"phrase": tapA.saw(phrase) || tapB.saw(phrase),
		"command name": tapA.saw(cmdName) || tapB.saw(cmdName), "argument": tapA.saw(cmdArg) || tapB.saw(cmdArg)} {
		if hit {
			t.Errorf("the relay taps saw the %s", what)
		}
	}
	for _, s := range []string{phrase, cmdName, cmdArg} {
		if hits := append(dirHas(t, a.Dir, s), dirHas(t, b.Dir, s)...); len(hits) > 0 {
			t.Errorf("%q is on disk: %v", s, hits)
		}
	}

	// alice leaves: the next epoch has no device of hers.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	alice2.Close()
	if err := alice.Leave(ctx2, room); err != nil {
		t.Fatalf("leave: %v", err)
	}
	waitFor(t, "bob's roster without alice", func() bool {
		ro, _ := bob.Roster(local)
		return !slices.Contains(ownersOf(ro), aliceAtB)
	})

	// She joins again, and is kicked on B: again no device of hers.
	sdkJoin(t, alice, room)
	waitFor(t, "bob's roster with alice again", func() bool {
		ro, _ := bob.Roster(local)
		return slices.Contains(ownersOf(ro), aliceAtB)
	})
	st, body = b.Do(t, "POST", "/api/v1/rooms/"+string(local)+"/moderation", b.owner, map[string]any{"action": "kick", "target": aliceAtB})
	if st != 200 && st != 204 {
		t.Fatalf("kick: HTTP %d %v", st, body)
	}
	waitFor(t, "bob's roster without alice after the kick", func() bool {
		ro, _ := bob.Roster(local)
		return !slices.Contains(ownersOf(ro), aliceAtB)
	})

	// Negative control: the same phrase in a plain federated room is seen.
	plain := b.federatedRoom(t, "plain", nil)
	a.waitDirectory(t, plain)
	carol := dialSDK(t, a.URL, aliceTok, nil)
	sdkJoin(t, carol, plain)
	say(t, carol, plain, "plain: "+phrase)
	waitFor(t, "the taps to see the plain phrase", func() bool { return tapA.saw(phrase) && tapB.saw(phrase) })
}
