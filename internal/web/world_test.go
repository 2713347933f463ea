package web_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/meshtest"
	"github.com/the-mesh/mesh/internal/node"
	"github.com/the-mesh/mesh/internal/web"
	"github.com/the-mesh/mesh/internal/world"
)

// expectState reads state frames until one names id, and returns that move.
func expectState(t *testing.T, c *meshtest.Client, id string) map[string]any {
	t.Helper()
	return expectAck(t, c, id, -1)
}

// expectAck reads state frames until one moves id with ack (any ack when
// ack < 0), and returns that move.
func expectAck(t *testing.T, c *meshtest.Client, id string, ack float64) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f := c.Next(5 * time.Second)
		if f.Type() != "state" {
			continue
		}
		for _, m := range f["moves"].([]any) {
			if m := m.(map[string]any); m["id"] == id && (ack < 0 || m["ack"] == ack) {
				return m
			}
		}
	}
	t.Fatalf("no state frame named %s", id)
	return nil
}

func pos(m map[string]any) (x, z float64) {
	p := m["pos"].([]any)
	return p[0].(float64), p[2].(float64)
}

func TestWorldMovesAreSharedAndChecked(t *testing.T) {
	n := meshtest.Start(t, "")
	aliceID, aliceTok := n.Register(t, "alice")
	bobID, bobTok := n.Register(t, "bob")
	alice, bob := n.Hello(t, aliceTok), n.Hello(t, bobTok)
	alice.World, bob.World = true, true

	alice.Send(map[string]any{"type": "move", "room": "lobby", "pos": []float64{1, 0, 1}, "facing": 0, "seq": 1, "ref": "m0"})
	if f := alice.ExpectError(); f["code"] != "forbidden" || f["ref"] != "m0" {
		t.Fatalf("move before join: got %v, want forbidden with the ref", f)
	}
	alice.Join("lobby")
	joined := bob.Join("lobby")
	state := joined["state"].(map[string]any)
	if state["size"] != 40.0 || state["speed"] != 6.0 {
		t.Fatalf("joined.state: got %v, want size 40 and speed 6", state)
	}
	start := map[string]map[string]any{}
	for _, m := range state["moves"].([]any) {
		start[m.(map[string]any)["id"].(string)] = m.(map[string]any)
	}
	if start[string(aliceID)] == nil || start[string(bobID)] == nil {
		t.Fatalf("joined.state.moves: got %v, want alice and bob", state["moves"])
	}
	ax, az := pos(start[string(aliceID)])

	// A short step arrives as sent, with alice's seq as ack, to both.
	alice.Send(map[string]any{"type": "move", "room": "lobby", "pos": []float64{ax + 0.5, 0, az}, "facing": 1.5, "seq": 5})
	for _, c := range []*meshtest.Client{alice, bob} {
		m := expectAck(t, c, string(aliceID), 5)
		if x, z := pos(m); m["ack"] != 5.0 || math.Abs(x-(ax+0.5)) > 0.001 || z != az || m["facing"] != 1.5 {
			t.Fatalf("after a short step: got %v, want [%v 0 %v] facing 1.5 ack 5", m, ax+0.5, az)
		}
	}
	// A leap across the room is cut to what the speed allows.
	alice.Send(map[string]any{"type": "move", "room": "lobby", "pos": []float64{ax + 0.5, 0, 1000}, "facing": 0, "seq": 6})
	m := expectAck(t, bob, string(aliceID), 6)
	if _, z := pos(m); z > az+6*1+1+0.001 || m["ack"] != 6.0 {
		t.Fatalf("a leap: got %v, want z at most %v and ack 6", m, az+7)
	}
	// A stale seq is ignored: the next state is bob's own step.
	alice.Send(map[string]any{"type": "move", "room": "lobby", "pos": []float64{0, 0, 0}, "facing": 0, "seq": 6})
	bx, bz := pos(start[string(bobID)])
	bob.Send(map[string]any{"type": "move", "room": "lobby", "pos": []float64{bx, 0, bz + 0.25}, "facing": 0, "seq": 1})
	f := bob.Expect("state")
	for _, m := range f["moves"].([]any) {
		if m.(map[string]any)["id"] == string(aliceID) {
			t.Fatalf("a stale move was applied: %v", f)
		}
	}
	bob.Send(map[string]any{"type": "move", "room": "lobby", "pos": []float64{0, 0}, "facing": 0, "seq": 2})
	if f := bob.ExpectError(); f["code"] != "invalid" || !strings.Contains(f["message"].(string), "[x, y, z]") {
		t.Fatalf("move with two coordinates: got %v, want invalid", f)
	}
}

func TestWorldSpawnAndLeave(t *testing.T) {
	n := meshtest.Start(t, "")
	_, aliceTok := n.Register(t, "alice")
	bobID, bobTok := n.Register(t, "bob")
	alice := n.Hello(t, aliceTok)
	alice.World = true
	alice.Join("lobby")
	bob := n.Hello(t, bobTok)
	bob.Join("lobby")
	if m := expectState(t, alice, string(bobID)); m["ack"] != 0.0 {
		t.Fatalf("bob's spawn: got %v, want ack 0", m)
	}
	bob.Conn.Close()
	for {
		f := alice.Next(5 * time.Second)
		if f.Type() == "presence" && f["event"] == "leave" {
			break
		}
	}
	r, err := n.Node.HubRoom("lobby")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Where(bobID); ok {
		t.Error("bob's avatar outlived his last connection")
	}
}

func TestWorldRESTMoveWalksAVisitor(t *testing.T) {
	n := meshtest.Start(t, "", func(_ *node.Config, wc *web.Config) { wc.VisitTTL = 1500 * time.Millisecond })
	walkerID, walkerTok := n.Register(t, "walker")
	_, watcherTok := n.Register(t, "watcher")
	watcher := n.Hello(t, watcherTok)
	watcher.World = true
	watcher.Join("lobby")

	body := map[string]any{"pos": []float64{3, 0, -19}}
	if st, b := n.Do(t, "POST", "/api/v1/rooms/lobby/move", walkerTok, body); st != 403 {
		t.Fatalf("move before joining: HTTP %d %v, want 403", st, b)
	}
	if st, _ := n.Do(t, "POST", "/api/v1/rooms/lobby/join", walkerTok, nil); st != 200 {
		t.Fatalf("join: HTTP %d", st)
	}
	sent := time.Now()
	st, b := n.Do(t, "POST", "/api/v1/rooms/lobby/move", walkerTok, map[string]any{"pos": []float64{3, 0, -50}})
	if st != 202 || b["eta"].(float64) <= 0 {
		t.Fatalf("move: HTTP %d %v, want 202 with an eta", st, b)
	}
	if to := b["to"].([]any); to[0] != 3.0 || to[2] != -20.0 {
		t.Fatalf("to: got %v, want the target clamped to [3 0 -20]", to)
	}
	if f := watcher.Expect("presence"); f["event"] != "join" || f["participant"].(map[string]any)["id"] != string(walkerID) {
		t.Fatalf("got %v, want the walker's presence join", f)
	}
	// The node walks it: positions approach the target, never faster than
	// the speed allows since the request (however late the node's ticks
	// come under load), until it arrives.
	fx, fz := pos(b["avatar"].(map[string]any))
	first := math.Hypot(fx-3, fz+20)
	last := first
	for {
		m := expectState(t, watcher, string(walkerID))
		x, z := pos(m)
		d := math.Hypot(x-3, z+20)
		if d > last {
			t.Fatalf("the walker went from %.3f to %.3f m away from its target", last, d)
		}
		if el := time.Since(sent); first-d > 6*el.Seconds()+0.001 {
			t.Fatalf("the walker covered %.3f m in %v: faster than 6 m/s", first-d, el)
		}
		if last = d; d == 0 {
			break
		}
	}
	// The visit ends with no connection: a presence leave.
	for {
		f := watcher.Next(5 * time.Second)
		if f.Type() == "presence" {
			if f["event"] != "leave" {
				t.Fatalf("got %v, want the walker's leave", f)
			}
			break
		}
	}
	r, _ := n.Node.HubRoom("lobby")
	if _, ok := r.Where(walkerID); ok {
		t.Error("the walker's avatar outlived its visit")
	}
}

// A visit lasts VisitTTL after the walk ends, however late it ends: here a
// node crediting each tick with at most 10 ms walks at a fifth of the speed
// its eta assumes, so a visit timed from the eta would end on the way.
func TestWorldVisitOutlastsALateWalk(t *testing.T) {
	n := meshtest.Start(t, "", func(nc *node.Config, wc *web.Config) {
		nc.World = world.Rules{Size: 40, Speed: 60, Slack: 1, MaxDt: 10 * time.Millisecond}
		wc.VisitTTL = 200 * time.Millisecond
	})
	walkerID, walkerTok := n.Register(t, "walker")
	_, watcherTok := n.Register(t, "watcher")
	watcher := n.Hello(t, watcherTok)
	watcher.World = true
	watcher.Join("lobby")
	if st, _ := n.Do(t, "POST", "/api/v1/rooms/lobby/join", walkerTok, nil); st != 200 {
		t.Fatalf("join: HTTP %d", st)
	}
	if st, b := n.Do(t, "POST", "/api/v1/rooms/lobby/move", walkerTok, map[string]any{"pos": []float64{3, 0, -20}}); st != 202 {
		t.Fatalf("move: HTTP %d %v, want 202", st, b)
	}
	for {
		f := watcher.Next(10 * time.Second)
		switch f.Type() {
		case "presence":
			if f["event"] == "leave" {
				t.Fatalf("the visit ended before the walker arrived: %v", f)
			}
		case "state":
			for _, m := range f["moves"].([]any) {
				if m := m.(map[string]any); m["id"] == string(walkerID) {
					if x, z := pos(m); x == 3 && z == -20 {
						return
					}
				}
			}
		}
	}
}
