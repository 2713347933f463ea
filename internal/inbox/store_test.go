package inbox_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/inbox"
)

const alice = mesh.ParticipantID("p_alice")

// MustOpen opens a store in dir with a bound of max and closes it when the
// test ends.
func MustOpen(tb testing.TB, dir string, max int) *inbox.Store {
	tb.Helper()
	s, err := inbox.Open(dir, inbox.Options{Max: max})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func mustAdd(tb testing.TB, s *inbox.Store, p mesh.ParticipantID, room mesh.RoomID, seq uint64) inbox.Ref {
	tb.Helper()
	r, ok, err := s.Add(p, inbox.Ref{Room: room, Seq: seq, ID: fmt.Sprintf("m_%s%d", room, seq), Reason: mesh.InboxTo})
	if err != nil || !ok {
		tb.Fatalf("add %s#%d: got %v %v, want added", room, seq, ok, err)
	}
	return r
}

func mustPage(tb testing.TB, s *inbox.Store, p mesh.ParticipantID, after uint64) inbox.Page {
	tb.Helper()
	pg, err := s.Page(p, after, 100)
	if err != nil {
		tb.Fatalf("page: %v", err)
	}
	return pg
}

func ns(pg inbox.Page) []uint64 {
	var out []uint64
	for _, r := range pg.Refs {
		out = append(out, r.N)
	}
	return out
}

func TestAddNumbersAndDedupes(t *testing.T) {
	s := MustOpen(t, t.TempDir(), 0)
	for i, seq := range []uint64{3, 5, 9} {
		if r := mustAdd(t, s, alice, "lobby", seq); r.N != uint64(i+1) {
			t.Fatalf("n: got %d, want %d", r.N, i+1)
		}
	}
	// A seq at or below the highest seen in the room is a repeat (a
	// re-routed tail after a crash).
	for _, seq := range []uint64{9, 4} {
		if _, ok, err := s.Add(alice, inbox.Ref{Room: "lobby", Seq: seq, ID: "m_x", Reason: mesh.InboxTo}); ok || err != nil {
			t.Fatalf("add seq %d again: got %v %v, want skipped", seq, ok, err)
		}
	}
	mustAdd(t, s, alice, "other", 1) // another room counts on its own
	pg := mustPage(t, s, alice, 1)
	if got := fmt.Sprint(ns(pg)); got != "[2 3 4]" || pg.Unacked != 4 || pg.Last != 4 {
		t.Fatalf("page after 1: got %s unacked %d last %d, want [2 3 4] 4 4", got, pg.Unacked, pg.Last)
	}
}

func TestAckPersists(t *testing.T) {
	dir := t.TempDir()
	s := MustOpen(t, dir, 0)
	for seq := range uint64(5) {
		mustAdd(t, s, alice, "lobby", seq+1)
	}
	acked, left, err := s.Ack(alice, 3)
	if err != nil || acked != 3 || left != 2 {
		t.Fatalf("ack 3: got %d %d %v, want 3 2", acked, left, err)
	}
	if acked, left, err := s.Ack(alice, 2); err != nil || acked != 3 || left != 2 {
		t.Fatalf("ack 2 after 3: got %d %d %v, want 3 2 (acks only move forward)", acked, left, err)
	}
	if _, _, err := s.Ack(alice, 6); mesh.ErrorCode(err) != mesh.EInvalid {
		t.Fatalf("ack past the newest: got %v, want invalid", err)
	}
	if err := s.SetHook(alice, 4, true); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = MustOpen(t, dir, 0)
	pg := mustPage(t, s, alice, 0)
	if got := fmt.Sprint(ns(pg)); got != "[4 5]" || pg.Ack != 3 {
		t.Fatalf("after reopen: got %s ack %d, want [4 5] ack 3", got, pg.Ack)
	}
	if h, _ := s.Hook(alice); h != 4 {
		t.Fatalf("hook after reopen: got %d, want 4", h)
	}
	if r := mustAdd(t, s, alice, "lobby", 6); r.N != 6 {
		t.Fatalf("n after reopen: got %d, want 6", r.N)
	}
}

func TestBoundDropsOldest(t *testing.T) {
	dir := t.TempDir()
	s := MustOpen(t, dir, 3)
	for seq := range uint64(5) {
		mustAdd(t, s, alice, "lobby", seq+1)
	}
	for name, tt := range map[string]struct {
		after   uint64
		want    string
		dropped uint64
	}{
		"from the start":    {0, "[3 4 5]", 2},
		"read one already":  {1, "[3 4 5]", 1},
		"read past the gap": {3, "[4 5]", 0},
	} {
		t.Run(name, func(t *testing.T) {
			pg := mustPage(t, s, alice, tt.after)
			if got := fmt.Sprint(ns(pg)); got != tt.want || pg.Dropped != tt.dropped || pg.Unacked != 3 {
				t.Fatalf("got %s dropped %d unacked %d, want %s dropped %d unacked 3", got, pg.Dropped, pg.Unacked, tt.want, tt.dropped)
			}
		})
	}
	s.Close()
	// A lower bound applies at the next load.
	s = MustOpen(t, dir, 2)
	if pg := mustPage(t, s, alice, 0); fmt.Sprint(ns(pg)) != "[4 5]" || pg.Dropped != 3 {
		t.Fatalf("with bound 2: got %v dropped %d, want [4 5] dropped 3", ns(pg), pg.Dropped)
	}
}

func TestCompactionKeepsState(t *testing.T) {
	dir := t.TempDir()
	s := MustOpen(t, dir, 0)
	const total = 3000
	for seq := range uint64(total) {
		mustAdd(t, s, alice, "lobby", seq+1)
		if (seq+1)%10 == 0 {
			if _, _, err := s.Ack(alice, seq+1); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustAdd(t, s, alice, "lobby", total+1)
	s.SetHook(alice, total, true)
	s.Close()
	lines := strings.Count(string(mustRead(t, filepath.Join(dir, string(alice)+".jsonl"))), "\n")
	if lines > 2*1024+10 {
		t.Fatalf("file has %d lines after %d acked items, want it compacted", lines, total)
	}
	s = MustOpen(t, dir, 0)
	pg := mustPage(t, s, alice, 0)
	if got := fmt.Sprint(ns(pg)); got != fmt.Sprintf("[%d]", total+1) || pg.Ack != total {
		t.Fatalf("after compaction and reopen: got %s ack %d", got, pg.Ack)
	}
	if _, ok, _ := s.Add(alice, inbox.Ref{Room: "lobby", Seq: 5, ID: "m_old", Reason: mesh.InboxTo}); ok {
		t.Fatal("an old seq was added again after compaction: seen was lost")
	}
	if h, _ := s.Hook(alice); h != total {
		t.Fatalf("hook: got %d, want %d", h, total)
	}
}

func TestTornTailSetAside(t *testing.T) {
	dir := t.TempDir()
	s := MustOpen(t, dir, 0)
	mustAdd(t, s, alice, "lobby", 1)
	mustAdd(t, s, alice, "lobby", 2)
	s.Close()
	path := filepath.Join(dir, string(alice)+".jsonl")
	torn := `{"op":"item","n":3,"room":"lob`
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(torn)
	f.Close()
	s = MustOpen(t, dir, 0)
	if got := fmt.Sprint(ns(mustPage(t, s, alice, 0))); got != "[1 2]" {
		t.Fatalf("after a torn tail: got %s, want [1 2]", got)
	}
	if got := string(mustRead(t, path+".corrupt")); got != torn {
		t.Fatalf(".corrupt holds %q, want %q", got, torn)
	}
	if r := mustAdd(t, s, alice, "lobby", 3); r.N != 3 {
		t.Fatalf("n after recovery: got %d, want 3", r.N)
	}
}

func TestMarksCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s := MustOpen(t, dir, 0)
	if _, fresh := s.Marks(); !fresh {
		t.Fatal("a new store is not fresh")
	}
	s.Mark("lobby", 7)
	s.Mark("lobby", 5) // marks only move forward
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = MustOpen(t, dir, 0)
	if m, fresh := s.Marks(); fresh || m["lobby"] != 7 {
		t.Fatalf("marks after reopen: got %v fresh %v, want lobby 7", m, fresh)
	}
}

func TestBadParticipantID(t *testing.T) {
	s := MustOpen(t, t.TempDir(), 0)
	for _, p := range []mesh.ParticipantID{"", "../x", "a/b", "p.x"} {
		if _, _, err := s.Add(p, inbox.Ref{Room: "lobby", Seq: 1, ID: "m", Reason: mesh.InboxTo}); mesh.ErrorCode(err) != mesh.EInvalid {
			t.Errorf("%q: got %v, want invalid", p, err)
		}
	}
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestRemoteRoomItems: items and marks of a remote room, by its address
// room@node, survive a reopen; the checkpoint says whether remote rooms
// are routed (an older one does not).
func TestRemoteRoomItems(t *testing.T) {
	const address = mesh.RoomID("design@nq4c7ha2lmx5tyvbk")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "marks.json"), []byte(`{"rooms":{"lobby":3}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := MustOpen(t, dir, 0)
	if s.RemoteMarked() {
		t.Fatal("a checkpoint from before remote rooms were routed says they were")
	}
	mustAdd(t, s, alice, address, 9)
	s.Mark(address, 9)
	s.RouteRemote()
	if s.RemoteMarked() {
		t.Fatal("RemoteMarked changed after Open: it tells what the checkpoint said")
	}
	s.Close()
	s = MustOpen(t, dir, 0)
	if m, _ := s.Marks(); !s.RemoteMarked() || m[address] != 9 || m["lobby"] != 3 {
		t.Fatalf("after reopen: marks %v, remote %v; want %s at 9, lobby at 3, remote", m, s.RemoteMarked(), address)
	}
	if pg := mustPage(t, s, alice, 0); len(pg.Refs) != 1 || pg.Refs[0].Room != address || pg.Refs[0].Seq != 9 {
		t.Fatalf("after reopen: %+v, want the item of %s#9", pg.Refs, address)
	}
	if _, err := os.Stat(filepath.Join(dir, string(alice)+".jsonl.corrupt")); err == nil {
		t.Fatal("the item of a remote room was set aside as corrupt")
	}
	if _, ok, _ := s.Add(alice, inbox.Ref{Room: address, Seq: 9, ID: "m_again", Reason: mesh.InboxTo}); ok {
		t.Fatal("a remote room's seq was added twice")
	}
}
