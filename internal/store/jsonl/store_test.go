package jsonl_test

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/store/jsonl"
)

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := MustOpen(t, dir, 4)
	if h, err := s.Head("lobby"); err != nil || h != (mesh.LogHead{}) {
		t.Fatalf("Head of new room: got %v, %v, want zero", h, err)
	}
	appendN(t, s, "lobby", 10)
	appendN(t, s, "dev", 3)
	checkRead(t, s, "lobby", 10)
	checkRead(t, s, "dev", 3)
	h1, _ := s.Head("lobby")
	if h1.Epoch == "" {
		t.Fatalf("epoch: got empty, want set")
	}
	MustClose(t, s)

	s = MustOpen(t, dir, 4)
	checkRead(t, s, "lobby", 10)
	checkRead(t, s, "dev", 3)
	if h2, _ := s.Head("lobby"); h2 != h1 {
		t.Fatalf("head after reopen: got %v, want %v", h2, h1)
	}
	appendN(t, s, "lobby", 5)
	checkRead(t, s, "lobby", 15)
	if got, want := s.Rooms(), []mesh.RoomID{"dev", "lobby"}; !slices.Equal(got, want) {
		t.Fatalf("Rooms: got %v, want %v", got, want)
	}
	MustClose(t, s)

	s = MustOpen(t, dir, 7) // another IndexEvery rebuilds the index
	checkRead(t, s, "lobby", 15)
	if h3, _ := s.Head("lobby"); h3 != (mesh.LogHead{Seq: 15, Epoch: h1.Epoch}) {
		t.Fatalf("head after rebuild: got %v, want seq 15 epoch %s", h3, h1.Epoch)
	}
}

func TestReadPaging(t *testing.T) {
	s := MustOpen(t, t.TempDir(), 4)
	appendN(t, s, "lobby", 17)
	for name, tt := range map[string]struct {
		after      uint64
		limit      int
		first, num int
	}{
		"all":            {0, 100, 1, 17},
		"first":          {0, 1, 1, 1},
		"at entry":       {4, 4, 5, 4},
		"before entry":   {3, 2, 4, 2},
		"after entry":    {5, 3, 6, 3},
		"last entry":     {16, 10, 17, 1},
		"last indexed":   {12, 10, 13, 5},
		"at head":        {17, 10, 0, 0},
		"past head":      {30, 10, 0, 0},
		"zero limit":     {0, 0, 0, 0},
		"negative limit": {0, -1, 0, 0},
		"cross entries":  {2, 11, 3, 11},
	} {
		t.Run(name, func(t *testing.T) {
			es, err := s.Read("lobby", tt.after, tt.limit)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if len(es) != tt.num {
				t.Fatalf("got %d entries, want %d", len(es), tt.num)
			}
			for i, e := range es {
				want := uint64(tt.first + i)
				if e.Seq != want || string(e.Line) != string(line("lobby", want)) {
					t.Fatalf("entry %d: got %d %s, want %d", i, e.Seq, e.Line, want)
				}
			}
		})
	}
}

func TestConcurrentAppend(t *testing.T) {
	dir := t.TempDir()
	s := MustOpen(t, dir, 16)
	const rooms, writers, each = 20, 8, 200
	var mu sync.Mutex
	doneOrder := map[mesh.RoomID][]uint64{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			var inner sync.WaitGroup
			for i := range each {
				room := mesh.RoomID(fmt.Sprintf("room-%d", (w*each+i)%rooms))
				inner.Add(1)
				s.Append(room, func(seq uint64) ([]byte, error) { return line(room, seq), nil },
					func(e mesh.Entry, err error) {
						defer inner.Done()
						if err != nil {
							t.Errorf("append %s: %v", room, err)
							return
						}
						mu.Lock()
						doneOrder[room] = append(doneOrder[room], e.Seq)
						mu.Unlock()
					})
			}
			inner.Wait()
		})
	}
	wg.Wait()
	total := 0
	for room, seqs := range doneOrder {
		for i, seq := range seqs {
			if seq != uint64(i+1) {
				t.Fatalf("%s: done %d got seq %d, want %d", room, i, seq, i+1)
			}
		}
		checkRead(t, s, room, len(seqs))
		total += len(seqs)
	}
	if total != writers*each {
		t.Fatalf("done calls: got %d, want %d", total, writers*each)
	}
	MustClose(t, s)
	s = MustOpen(t, dir, 16)
	for room, seqs := range doneOrder {
		checkRead(t, s, room, len(seqs))
	}
}

func TestManyRooms(t *testing.T) {
	// More rooms than the store keeps open at once.
	s := MustOpen(t, t.TempDir(), 2)
	const n = 600
	errs := make(chan error, 3*n)
	for range 3 {
		for i := range n {
			room := mesh.RoomID(fmt.Sprintf("r%d", i))
			s.Append(room, func(seq uint64) ([]byte, error) { return line(room, seq), nil },
				func(e mesh.Entry, err error) { errs <- err })
		}
	}
	for range 3 * n {
		if err := <-errs; err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	for i := range n {
		checkRead(t, s, mesh.RoomID(fmt.Sprintf("r%d", i)), 3)
	}
	if got := len(s.Rooms()); got != n {
		t.Fatalf("Rooms: got %d, want %d", got, n)
	}
}

func TestAppendErrors(t *testing.T) {
	s := MustOpen(t, t.TempDir(), 4)
	appendN(t, s, "lobby", 2)
	errEncode := errors.New("boom")
	for name, tt := range map[string]struct {
		room   mesh.RoomID
		encode func(seq uint64) ([]byte, error)
		code   string
	}{
		"encode error": {"lobby", func(uint64) ([]byte, error) { return nil, errEncode }, mesh.EInternal},
		"coded encode error": {"lobby", func(uint64) ([]byte, error) {
			return nil, mesh.Errorf(mesh.EForbidden, "No.")
		}, mesh.EForbidden},
		"invalid room": {"../etc", func(seq uint64) ([]byte, error) { return line("x", seq), nil }, mesh.EInvalid},
		"wrong seq":    {"lobby", func(seq uint64) ([]byte, error) { return line("lobby", seq+1), nil }, mesh.EInternal},
		"newline":      {"lobby", func(seq uint64) ([]byte, error) { return fmt.Appendf(nil, "{\"seq\":%d,\n\"a\":1}", seq), nil }, mesh.EInternal},
		"not object":   {"lobby", func(seq uint64) ([]byte, error) { return []byte("[1]"), nil }, mesh.EInternal},
		"bad json":     {"lobby", func(seq uint64) ([]byte, error) { return fmt.Appendf(nil, `{"seq":%d,}`, seq), nil }, mesh.EInternal},
		"no seq":       {"lobby", func(seq uint64) ([]byte, error) { return []byte(`{"a":1}`), nil }, mesh.EInternal},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := appendOne(s, tt.room, tt.encode)
			if got := mesh.ErrorCode(err); err == nil || got != tt.code {
				t.Fatalf("got %v (code %q), want code %q", err, got, tt.code)
			}
		})
	}
	// No failed append used a seq.
	e, err := appendOne(s, "lobby", func(seq uint64) ([]byte, error) { return line("lobby", seq), nil })
	if err != nil || e.Seq != 3 {
		t.Fatalf("append after errors: got seq %d, %v, want 3", e.Seq, err)
	}
	checkRead(t, s, "lobby", 3)
	if _, err := s.Read("Bad Room", 0, 1); mesh.ErrorCode(err) != mesh.EInvalid {
		t.Fatalf("Read of bad room: got %v, want code %s", err, mesh.EInvalid)
	}
	if _, err := s.Head("Bad Room"); mesh.ErrorCode(err) != mesh.EInvalid {
		t.Fatalf("Head of bad room: got %v, want code %s", err, mesh.EInvalid)
	}
}

func TestCloseDrains(t *testing.T) {
	dir := t.TempDir()
	goroutines := runtime.NumGoroutine()
	s, err := jsonl.Open(dir, jsonl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	rooms := []mesh.RoomID{"a", "b", "c"}
	errs := make(chan error, n)
	for i := range n {
		room := rooms[i%len(rooms)]
		s.Append(room, func(seq uint64) ([]byte, error) { return line(room, seq), nil },
			func(e mesh.Entry, err error) { errs <- err })
	}
	MustClose(t, s)
	// Goroutines that have finished their work may take a moment to exit.
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > goroutines; {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines after Close: got %d, want %d", runtime.NumGoroutine(), goroutines)
		}
		time.Sleep(time.Millisecond)
	}
	if len(errs) != n {
		t.Fatalf("done calls after Close: got %d, want %d", len(errs), n)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("append before Close: got %v, want nil", err)
		}
	}
	_, err = appendOne(s, "a", func(seq uint64) ([]byte, error) { return line("a", seq), nil })
	if got := mesh.ErrorCode(err); got != mesh.EUnavailable {
		t.Fatalf("append after Close: got %v, want code %s", err, mesh.EUnavailable)
	}
	if _, err := s.Read("a", 0, 1); mesh.ErrorCode(err) != mesh.EUnavailable {
		t.Fatalf("Read after Close: got %v, want code %s", err, mesh.EUnavailable)
	}
	s = MustOpen(t, dir, 0)
	for i, room := range rooms {
		checkRead(t, s, room, n/len(rooms)+btoi(i < n%len(rooms)))
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestWriteFailure(t *testing.T) {
	dir := t.TempDir()
	s := MustOpen(t, dir, 4)
	appendN(t, s, "lobby", 2)
	// A directory where the log should be makes its write fail.
	if err := os.Mkdir(logPath(dir, "bad"), 0o755); err != nil {
		t.Fatal(err)
	}
	encode := func(room mesh.RoomID) func(uint64) ([]byte, error) {
		return func(seq uint64) ([]byte, error) { return line(room, seq), nil }
	}
	_, err := appendOne(s, "bad", encode("bad"))
	if err == nil || !strings.Contains(err.Error(), "append room bad") {
		t.Fatalf("append to unwritable room: got %v, want an error naming the room", err)
	}
	_, err = appendOne(s, "lobby", encode("lobby"))
	if got := mesh.ErrorCode(err); got != mesh.EUnavailable {
		t.Fatalf("append after failure: got %v, want code %s", err, mesh.EUnavailable)
	}
	if h, _ := s.Head("bad"); h.Seq != 0 {
		t.Fatalf("head of failed room: got %d, want 0", h.Seq)
	}
	checkRead(t, s, "lobby", 2)
	if got, want := s.Rooms(), []mesh.RoomID{"lobby"}; !slices.Equal(got, want) {
		t.Fatalf("Rooms: got %v, want %v", got, want)
	}
	MustClose(t, s)

	os.Remove(logPath(dir, "bad"))
	s = MustOpen(t, dir, 4)
	appendN(t, s, "bad", 1)
	appendN(t, s, "lobby", 1)
	checkRead(t, s, "bad", 1)
	checkRead(t, s, "lobby", 3)
}
