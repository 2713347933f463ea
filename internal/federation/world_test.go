package federation_test

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/meshtest"
)

// The world across nodes: the home of a room is the authority on its
// world; moves of other nodes' participants go to it, and its world comes
// back to their nodes (federation_world.go in internal/node).

// view is what a client saw of a room: the last state of each avatar
// and the presence events.
type view struct {
	c        *meshtest.Client
	avatars  map[string]map[string]any
	presence []string // "event id"
	joined   bool
}

func watch(c *meshtest.Client) *view { return &view{c: c, avatars: map[string]map[string]any{}} }

// until reads frames until cond holds.
func (v *view) until(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		f, err := v.c.TryNext(time.Until(deadline))
		if err != nil {
			tb.Fatalf("waiting for %s: %v", what, err)
		}
		var moves []any
		switch f.Type() {
		case "state":
			moves, _ = f["moves"].([]any)
		case "joined":
			v.joined = true
			if st, ok := f["state"].(map[string]any); ok {
				moves, _ = st["moves"].([]any)
			}
		case "presence":
			v.presence = append(v.presence, fmt.Sprint(f["event"], " ", f["participant"].(map[string]any)["id"]))
		case "error":
			tb.Fatalf("waiting for %s: %v", what, f)
		}
		for _, m := range moves {
			a := m.(map[string]any)
			v.avatars[a["id"].(string)] = a
		}
	}
}

// avatar waits for avatar id with ack at least ack.
func (v *view) avatar(tb testing.TB, id string, ack float64) map[string]any {
	tb.Helper()
	v.until(tb, fmt.Sprintf("avatar %s ack %v", id, ack), func() bool {
		a := v.avatars[id]
		return a != nil && a["ack"].(float64) >= ack
	})
	return v.avatars[id]
}

// saw waits for a presence event of participant id.
func (v *view) saw(tb testing.TB, event, id string) {
	tb.Helper()
	v.until(tb, "presence "+event+" "+id, func() bool { return slices.Contains(v.presence, event+" "+id) })
}

// avatars returns the ids in a joined frame's world.
func avatars(f meshtest.Frame) []string {
	var ids []string
	st, _ := f["state"].(map[string]any)
	moves, _ := st["moves"].([]any)
	for _, m := range moves {
		ids = append(ids, m.(map[string]any)["id"].(string))
	}
	return ids
}

func TestWorldAcrossNodes(t *testing.T) {
	r := startRelay(t, nil)
	a, b := startNode(t, r, "", nil), startNode(t, r, "", nil)
	room := b.federatedRoom(t, "r", nil)
	a.waitDirectory(t, room)
	aliceID, aliceTok := a.Register(t, "alice")
	bobID, bobTok := b.Register(t, "bob")
	remoteAlice := string(aliceID) + "@" + a.id // as b names her
	remoteBob := string(bobID) + "@" + b.id     // as a names him

	aliceC := a.Hello(t, aliceTok)
	aliceC.World = true // keep state frames
	aliceC.Send(map[string]any{"type": "join", "room": room})
	alice := watch(aliceC)
	alice.until(t, "alice's joined", func() bool { return alice.joined })

	// Presence: bob joining on b is seen by alice on a; bob's world holds
	// alice's avatar (spawned on her join), named as b names her.
	bobC := b.Hello(t, bobTok)
	bobC.World = true
	bobC.Send(map[string]any{"type": "join", "room": "r"})
	bob := watch(bobC)
	bob.avatar(t, remoteAlice, 0)
	alice.saw(t, "join", remoteBob)

	// alice moves on a: b applies it, bob sees it; alice's own move comes
	// back acked by the home.
	start := alice.avatar(t, string(aliceID), 0)
	pos := start["pos"].([]any)
	x, z := pos[0].(float64)+0.5, pos[2].(float64)
	aliceC.Send(map[string]any{"type": "move", "room": room, "pos": []float64{x, 0, z}, "facing": 1, "seq": 1})
	got := bob.avatar(t, remoteAlice, 1)
	if p := got["pos"].([]any); math.Abs(p[0].(float64)-x) > 1e-3 || math.Abs(p[2].(float64)-z) > 1e-3 { // positions go out in mm
		t.Fatalf("bob sees alice at %v, want x %v z %v", p, x, z)
	}
	alice.avatar(t, string(aliceID), 1)

	// bob moves on b: alice sees it on a with his id@b.
	bstart := alice.avatar(t, remoteBob, 0)
	bp := bstart["pos"].([]any)
	bobC.Send(map[string]any{"type": "move", "room": "r", "pos": []float64{bp[0].(float64), 0, bp[2].(float64) - 0.5}, "facing": 0, "seq": 1})
	alice.avatar(t, remoteBob, 1)

	// A move by a participant not in the room is refused on its node.
	carol, _ := a.agent(t, "carol")
	carol.Send(map[string]any{"type": "move", "room": room, "pos": []float64{0, 0, 0}, "facing": 0, "seq": 1, "ref": "m1"})
	if f := expect2(t, carol, "error"); f["ref"] != "m1" {
		t.Fatalf("carol's move: %v", f)
	}

	// alice leaves: her avatar is gone from b's world; bob leaves: his is
	// gone from a's mirror.
	aliceC.Send(map[string]any{"type": "leave", "room": room})
	expect(t, aliceC, "left")
	bob.saw(t, "leave", remoteAlice)
	bob2 := b.Hello(t, bobTok)
	bob2.Send(map[string]any{"type": "join", "room": "r"})
	if ids := avatars(expect(t, bob2, "joined")); fmt.Sprint(ids) != fmt.Sprint([]string{string(bobID)}) {
		t.Fatalf("b's world after alice left: %v", ids)
	}

	alice2 := a.Hello(t, aliceTok)
	alice2.Send(map[string]any{"type": "join", "room": room})
	expect(t, alice2, "joined")
	bobC.Send(map[string]any{"type": "leave", "room": "r"})
	expect(t, bobC, "left")
	watch(alice2).saw(t, "leave", remoteBob)
	alice3 := a.Hello(t, aliceTok)
	alice3.Send(map[string]any{"type": "join", "room": room})
	for _, id := range avatars(expect(t, alice3, "joined")) {
		if id == remoteBob {
			t.Fatalf("a's mirror still shows bob after he left")
		}
	}
}

// TestRemoteAvatarsAfterHomeRestart: a remote member's avatar is back in
// its home's world after the home restarts, before it moves again, at its
// spawn point (positions are not kept, local or remote); its next move
// goes on from there.
func TestRemoteAvatarsAfterHomeRestart(t *testing.T) {
	r := startRelay(t, nil)
	a, b := startNode(t, r, "", nil), startNode(t, r, "", nil)
	room := b.federatedRoom(t, "r", nil)
	a.waitDirectory(t, room)
	aliceID, aliceTok := a.Register(t, "alice")
	_, bobTok := b.Register(t, "bob")
	remoteAlice := string(aliceID) + "@" + a.id // as b names her

	aliceC := a.Hello(t, aliceTok)
	aliceC.World = true
	aliceC.Send(map[string]any{"type": "join", "room": room})
	alice := watch(aliceC)
	spawn := alice.avatar(t, string(aliceID), 0)["pos"].([]any)
	x, z := spawn[0].(float64)+0.5, spawn[2].(float64)
	aliceC.Send(map[string]any{"type": "move", "room": room, "pos": []float64{x, 0, z}, "facing": 1, "seq": 1})
	alice.avatar(t, string(aliceID), 1) // the home applied it

	b.Stop()
	b = startNode(t, r, b.Dir, nil)
	bobC := b.Hello(t, bobTok)
	bobC.World = true
	bobC.Send(map[string]any{"type": "join", "room": "r"})
	j := expect(t, bobC, "joined")
	var got map[string]any
	for _, m := range j["state"].(map[string]any)["moves"].([]any) {
		if a := m.(map[string]any); a["id"] == remoteAlice {
			got = a
		}
	}
	if got == nil {
		t.Fatalf("b's world after a restart: %v, want alice's avatar (%s) in it", avatars(j), remoteAlice)
	}
	if fmt.Sprint(got["pos"]) != fmt.Sprint(spawn) || got["ack"] != float64(0) {
		t.Errorf("alice after the restart: %v, want her spawn point %v and ack 0", got, spawn)
	}
	aliceC.Send(map[string]any{"type": "move", "room": room, "pos": []float64{x, 0, z}, "facing": 1, "seq": 2})
	watch(bobC).avatar(t, remoteAlice, 2)
}

// expect2 reads frames until one of type typ (errors included).
func expect2(tb testing.TB, c *meshtest.Client, typ string) meshtest.Frame {
	tb.Helper()
	for {
		if f := c.Next(10 * time.Second); f.Type() == typ {
			return f
		}
	}
}
