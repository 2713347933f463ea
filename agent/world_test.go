package agent_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
	"github.com/the-mesh/mesh/internal/meshtest"
)

func TestMoveTo(t *testing.T) {
	n := meshtest.Start(t, "")
	walker, walkerTok := mustRegister(t, n.URL, "walker")
	_, watcherTok := mustRegister(t, n.URL, "watcher")
	w, watcher := mustDial(t, n.URL, walkerTok), mustDial(t, n.URL, watcherTok)
	mustJoin(t, w, "lobby")
	mustJoin(t, watcher, "lobby")
	from := position(t, w, "lobby", walker.ID)

	// A bound for a stuck walk, not a schedule: the walks take seconds.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	// The spawn is within 6 m of the centre, so (12, -12) is at least 10.9 m away.
	got, err := w.MoveTo(ctx, "lobby", 12, -12)
	if err != nil {
		t.Fatal(err)
	}
	if got.Pos[0] != 12 || got.Pos[2] != -12 || got.ID != walker.ID {
		t.Fatalf("MoveTo(12, -12) ended at %+v", got)
	}
	// No faster than the room's speed: the walk takes at least distance/speed,
	// however slow the machine (load only makes it longer).
	d := math.Hypot(12-from[0], -12-from[2])
	if el, least := time.Since(start), time.Duration(d/mesh.DefaultWorldSpeed*float64(time.Second)); el < least {
		t.Errorf("a walk of %.1f m took %v, under %v: faster than the room's speed", d, el, least)
	}
	eventually(t, 20*time.Second, "the watcher sees the walker arrive", func() bool {
		for _, a := range watcher.Positions("lobby") {
			if a.ID == walker.ID {
				return a.Pos[0] == 12 && a.Pos[2] == -12
			}
		}
		return false
	})

	// Off the floor: the node clamps, and MoveTo reports where it stopped.
	got, err = w.MoveTo(ctx, "lobby", 5, -40)
	if err != nil {
		t.Fatal(err)
	}
	if got.Pos[2] != -20 || math.Abs(got.Pos[0]-5) > 0.001 {
		t.Errorf("MoveTo off the floor ended at %v, want [5 0 -20]", got.Pos)
	}
	if _, err := w.MoveTo(ctx, "elsewhere", 1, 1); err == nil {
		t.Error("MoveTo in a room not joined succeeded")
	}
}

// A move that claims more walking than the node allows is cut short; MoveTo
// walks on from where the node has the avatar and still arrives. A clock
// running a second ahead at every reading makes every step such a move:
// 5.4 m claimed where the node, seeing moves a tick apart, allows about
// 1.3 m (the same as a client stalled under load, or a late frame).
func TestMoveToWalksOnAfterTheNodeCutsAMove(t *testing.T) {
	n := meshtest.Start(t, "")
	walker, tok := mustRegister(t, n.URL, "walker")
	w := mustDial(t, n.URL, tok)
	mustJoin(t, w, "lobby")
	var skew time.Duration
	agent.SetClock(w, func() time.Time {
		skew += time.Second
		return time.Now().Add(skew)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got, err := w.MoveTo(ctx, "lobby", -12, 12)
	if err != nil {
		t.Fatal(err)
	}
	if got.Pos != (mesh.Vec{-12, 0, 12}) || got.ID != walker.ID {
		t.Fatalf("MoveTo(-12, 12) with moves cut short ended at %+v", got)
	}
}

// position returns where c last heard its participant id stands in room.
func position(tb testing.TB, c *agent.Client, room mesh.RoomID, id mesh.ParticipantID) mesh.Vec {
	tb.Helper()
	for _, a := range c.Positions(room) {
		if a.ID == id {
			return a.Pos
		}
	}
	tb.Fatalf("no position of %s in %s", id, room)
	return mesh.Vec{}
}
