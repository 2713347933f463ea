package world

import (
	"math"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestMove(t *testing.T) {
	const id = mesh.ParticipantID("p_alicea3kq6tzm2wx")
	start := Spawn("lobby", id)
	tests := []struct {
		name   string
		after  time.Duration
		to     mesh.Vec
		facing float64
		want   mesh.Vec
		wantF  float64
	}{
		{"within reach", time.Second, mesh.Vec{start[0] + 3, 0, start[2] - 4}, 0.5, mesh.Vec{start[0] + 3, 0, start[2] - 4}, 0.5},
		{"y is ignored", time.Second, mesh.Vec{start[0], 9, start[2]}, 0, mesh.Vec{start[0], 0, start[2]}, 0},
		{"too far: cut to speed*dt+slack", 500 * time.Millisecond, mesh.Vec{start[0] + 100, 0, start[2]}, 0, mesh.Vec{round(start[0] + 4), 0, start[2]}, 0},
		{"dt is capped at one second", time.Hour, mesh.Vec{start[0], 0, start[2] + 100}, 0, mesh.Vec{start[0], 0, round(start[2] + 7)}, 0},
		{"a clock going back gives only the slack", -time.Second, mesh.Vec{start[0] - 5, 0, start[2]}, 0, mesh.Vec{round(start[0] - 1), 0, start[2]}, 0},
		{"facing is normalised", time.Second, start, 3 * math.Pi, start, round(math.Pi)},
		{"negative facing is normalised", time.Second, start, -3 * math.Pi / 2, start, round(math.Pi / 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSpace("lobby", DefaultRules)
			s.Enter(id, t0)
			if !s.Move(id, tt.to, tt.facing, 7, t0.Add(tt.after)) {
				t.Fatal("Move reported the avatar absent")
			}
			got, _ := s.Avatar(id)
			if got.Pos != tt.want || got.Facing != tt.wantF || got.Ack != 7 {
				t.Errorf("got pos %v facing %v ack %d, want %v %v 7", got.Pos, got.Facing, got.Ack, tt.want, tt.wantF)
			}
		})
	}
}

func TestMoveClampsToTheFloor(t *testing.T) {
	s := NewSpace("lobby", Rules{Size: 10, Speed: 1000, Slack: 1, MaxDt: time.Second})
	s.Enter("p_a", t0)
	s.Move("p_a", mesh.Vec{50, 0, -50}, 0, 1, t0.Add(time.Second))
	if got, _ := s.Avatar("p_a"); got.Pos != (mesh.Vec{5, 0, -5}) {
		t.Errorf("got %v, want the corner [5 0 -5]", got.Pos)
	}
}

func TestMoveAbsent(t *testing.T) {
	s := NewSpace("lobby", DefaultRules)
	if s.Move("p_nobody", mesh.Vec{}, 0, 1, t0) {
		t.Error("a move by someone absent was applied")
	}
	if s.Changed() {
		t.Error("an absent avatar's move made a state due")
	}
}

func TestStateBatchesATick(t *testing.T) {
	s := NewSpace("lobby", DefaultRules)
	s.Enter("p_a", t0)
	s.Enter("p_b", t0)
	s.Enter("p_a", t0) // present already: no second spawn
	st, ok := s.State(1)
	if !ok || len(st.Moves) != 2 || st.Type != mesh.FrameState || st.Room != "lobby" || st.Tick != 1 {
		t.Fatalf("first tick: got %+v %v, want both spawns", st, ok)
	}
	if _, ok := s.State(2); ok {
		t.Fatal("a tick with no change gave a state")
	}
	s.Move("p_a", mesh.Vec{1, 0, 1}, 0, 1, t0.Add(time.Second))
	s.Move("p_a", mesh.Vec{2, 0, 2}, 0, 2, t0.Add(2*time.Second))
	st, _ = s.State(3)
	if len(st.Moves) != 1 || st.Moves[0].ID != "p_a" || st.Moves[0].Ack != 2 || st.Moves[0].Pos != (mesh.Vec{2, 0, 2}) {
		t.Errorf("two moves in one tick: got %+v, want p_a once at its last move", st.Moves)
	}
}

func TestLeaveDropsPendingChange(t *testing.T) {
	s := NewSpace("lobby", DefaultRules)
	s.Enter("p_a", t0)
	s.Enter("p_b", t0)
	s.Leave("p_a")
	s.Leave("p_nobody")
	st, _ := s.State(1)
	if len(st.Moves) != 1 || st.Moves[0].ID != "p_b" {
		t.Errorf("got %+v, want only p_b", st.Moves)
	}
	if s.Len() != 1 {
		t.Errorf("Len: got %d, want 1", s.Len())
	}
}

func TestSnapshotOrderedByID(t *testing.T) {
	s := NewSpace("lobby", DefaultRules)
	for _, id := range []mesh.ParticipantID{"p_c", "p_a", "p_b"} {
		s.Enter(id, t0)
	}
	w := s.Snapshot(9)
	if w.Tick != 9 || w.Size != mesh.DefaultWorldSize || w.Speed != mesh.DefaultWorldSpeed || len(w.Moves) != 3 {
		t.Fatalf("got %+v", w)
	}
	for i, want := range []mesh.ParticipantID{"p_a", "p_b", "p_c"} {
		if w.Moves[i].ID != want {
			t.Errorf("moves[%d]: got %s, want %s", i, w.Moves[i].ID, want)
		}
	}
}

func TestSpawn(t *testing.T) {
	seen := map[mesh.Vec]bool{}
	for i := range 500 {
		id := mesh.ParticipantID("p_" + string(rune('a'+i%26)) + string(rune('a'+i/26)))
		v := Spawn("lobby", id)
		if r := math.Hypot(v[0], v[2]); r > SpawnRadius+0.001 || v[1] != 0 {
			t.Fatalf("%s spawns at %v, %.3f m from the centre", id, v, r)
		}
		if v != Spawn("lobby", id) {
			t.Fatalf("%s spawns at two places", id)
		}
		seen[v] = true
	}
	if len(seen) < 490 {
		t.Errorf("500 participants share %d spawn points", len(seen))
	}
	if Spawn("lobby", "p_a") == Spawn("build", "p_a") {
		t.Error("a participant spawns at the same point in two rooms")
	}
}

func TestRoundHasNoNegativeZero(t *testing.T) {
	if v := round(-0.0001); math.Signbit(v) {
		t.Errorf("round(-0.0001) = %v, want +0", v)
	}
}

func TestWalkAdvancesAtSpeed(t *testing.T) {
	s := NewSpace("lobby", DefaultRules)
	s.Enter("p_a", t0)
	s.Move("p_a", mesh.Vec{0, 0, 0}, 0, 1, t0.Add(time.Second)) // from the centre
	s.State(1)
	to, eta, ok := s.Walk("p_a", mesh.Vec{0, 0, 100}, t0.Add(time.Second))
	if !ok || to != (mesh.Vec{0, 0, 20}) || eta != 20*time.Second/6 {
		t.Fatalf("Walk: got %v %v %v, want to [0 0 20] in 3.33s", to, eta, ok)
	}
	s.Advance(t0.Add(1500 * time.Millisecond))
	if a, _ := s.Avatar("p_a"); a.Pos != (mesh.Vec{0, 0, 3}) || a.Facing != 0 || a.Ack != 1 {
		t.Fatalf("after 0.5 s: got %+v, want [0 0 3], ack unchanged", a)
	}
	s.Advance(t0.Add(10 * time.Second))
	if a, _ := s.Avatar("p_a"); a.Pos != (mesh.Vec{0, 0, 9}) {
		t.Fatalf("a step is credited at most MaxDt: got %v, want [0 0 9]", a.Pos)
	}
	if !s.Walking() {
		t.Fatal("stopped walking before arriving")
	}
	s.Move("p_a", mesh.Vec{0, 0, 9}, 0, 2, t0.Add(11*time.Second)) // the client takes over
	if s.Walking() {
		t.Error("a client move did not end the walk")
	}
	if _, _, ok := s.Walk("p_nobody", mesh.Vec{}, t0); ok {
		t.Error("an absent avatar walked")
	}
}

func TestWalkArrivesAndLeaveEndsIt(t *testing.T) {
	s := NewSpace("lobby", DefaultRules)
	s.Enter("p_a", t0)
	s.Enter("p_b", t0)
	s.Walk("p_a", mesh.Vec{1, 0, 1}, t0) // at most 7.5 m from the spawn
	s.Advance(t0.Add(time.Second))
	s.Advance(t0.Add(2 * time.Second))
	if a, _ := s.Avatar("p_a"); a.Pos != (mesh.Vec{1, 0, 1}) || s.Walking() {
		t.Fatalf("got %v walking=%v, want arrived at [1 0 1]", a.Pos, s.Walking())
	}
	s.Walk("p_b", mesh.Vec{10, 0, 10}, t0)
	s.Leave("p_b")
	if s.Walking() {
		t.Error("a walker that left is still counted")
	}
}

func TestWalks(t *testing.T) {
	s := NewSpace("lobby", DefaultRules)
	s.Enter("p_a", t0)
	s.Enter("p_b", t0)
	from := Spawn("lobby", "p_a")
	s.Walk("p_a", mesh.Vec{from[0] + 1, 0, from[2] + 1}, t0)
	if !s.Walks("p_a") || s.Walks("p_b") || s.Walks("p_nobody") {
		t.Fatalf("Walks: p_a %v p_b %v p_nobody %v, want only p_a", s.Walks("p_a"), s.Walks("p_b"), s.Walks("p_nobody"))
	}
	s.Advance(t0.Add(time.Second)) // 6 m: there
	if s.Walks("p_a") {
		t.Error("p_a walks after arriving")
	}
}
