package agent_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/meshtest"
)

func TestMoveTo(t *testing.T) {
	n := meshtest.Start(t, "")
	walker, walkerTok := mustRegister(t, n.URL, "walker")
	_, watcherTok := mustRegister(t, n.URL, "watcher")
	w, watcher := mustDial(t, n.URL, walkerTok), mustDial(t, n.URL, watcherTok)
	mustJoin(t, w, "lobby")
	mustJoin(t, watcher, "lobby")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	got, err := w.MoveTo(ctx, "lobby", 5, -4)
	if err != nil {
		t.Fatal(err)
	}
	if got.Pos[0] != 5 || got.Pos[2] != -4 || got.ID != walker.ID {
		t.Fatalf("MoveTo(5, -4) ended at %+v", got)
	}
	// At most 6 m/s: the walk from within 6 m of the centre to (5, -4)
	// takes at least distance/speed.
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Errorf("a walk of several metres took %v: faster than the room's speed", el)
	}
	eventually(t, 5*time.Second, "the watcher sees the walker arrive", func() bool {
		for _, a := range watcher.Positions("lobby") {
			if a.ID == walker.ID {
				return a.Pos[0] == 5 && a.Pos[2] == -4
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
