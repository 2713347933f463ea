package jsonl_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/store/jsonl"
)

// line is the test envelope for seq.
func line(room mesh.RoomID, seq uint64) []byte {
	return fmt.Appendf(nil, `{"seq":%d,"room":%q,"text":"message %d"}`, seq, room, seq)
}

// MustOpen opens a store in dir, closed at the end of the test.
func MustOpen(tb testing.TB, dir string, every int) *jsonl.Store {
	tb.Helper()
	s, err := jsonl.Open(dir, jsonl.Options{IndexEvery: every})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// MustClose closes s.
func MustClose(tb testing.TB, s *jsonl.Store) {
	tb.Helper()
	if err := s.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
}

// appendN appends n test lines to room and waits for them to be durable.
func appendN(tb testing.TB, s *jsonl.Store, room mesh.RoomID, n int) {
	tb.Helper()
	errs := make(chan error, n)
	for range n {
		s.Append(room, func(seq uint64) ([]byte, error) { return line(room, seq), nil },
			func(e mesh.Entry, err error) { errs <- err })
	}
	for range n {
		if err := <-errs; err != nil {
			tb.Fatalf("append to %s: %v", room, err)
		}
	}
}

// appendOne appends one line and returns what done got.
func appendOne(s *jsonl.Store, room mesh.RoomID, encode func(uint64) ([]byte, error)) (mesh.Entry, error) {
	type result struct {
		e   mesh.Entry
		err error
	}
	ch := make(chan result, 1)
	s.Append(room, encode, func(e mesh.Entry, err error) { ch <- result{e, err} })
	r := <-ch
	return r.e, r.err
}

// checkRead checks that room holds exactly seqs 1..n with the test lines.
func checkRead(tb testing.TB, s *jsonl.Store, room mesh.RoomID, n int) {
	tb.Helper()
	if h, err := s.Head(room); err != nil || h.Seq != uint64(n) {
		tb.Fatalf("Head(%s) = %v, %v; want seq %d", room, h, err, n)
	}
	es, err := s.Read(room, 0, n+10)
	if err != nil {
		tb.Fatalf("Read(%s): %v", room, err)
	}
	if len(es) != n {
		tb.Fatalf("Read(%s): got %d entries, want %d", room, len(es), n)
	}
	for i, e := range es {
		want := uint64(i + 1)
		if e.Seq != want || string(e.Line) != string(line(room, want)) {
			tb.Fatalf("Read(%s)[%d]: got %d %s, want %d %s", room, i, e.Seq, e.Line, want, line(room, want))
		}
	}
}

func logPath(dir string, room mesh.RoomID) string {
	return filepath.Join(dir, "messages", string(room)+".jsonl")
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func appendFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		tb.Fatal(err)
	}
}
