package jsonl_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/store/jsonl"
)

// MustOpenTuned opens a store in dir with the checkpoint triggers given,
// closed at the end of the test.
func MustOpenTuned(tb testing.TB, dir string, opts jsonl.Options, walBytes int64, walAge time.Duration, onCheckpoint func(error)) *jsonl.Store {
	tb.Helper()
	s, err := jsonl.OpenTuned(dir, opts, walBytes, walAge, onCheckpoint)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// crashCopy copies dir as a crash would leave it if the page cache
// survived: every acknowledged line is in the WAL and in its room log.
func crashCopy(tb testing.TB, dir string) string {
	tb.Helper()
	dst := tb.TempDir()
	if err := os.CopyFS(dst, os.DirFS(dir)); err != nil {
		tb.Fatal(err)
	}
	return dst
}

// cutLog cuts room's log to its first n lines plus extra bytes of line n+1.
func cutLog(tb testing.TB, dir string, room mesh.RoomID, n, extra int) {
	tb.Helper()
	b := readFile(tb, logPath(dir, room))
	off := 0
	for range n {
		off += bytes.IndexByte(b[off:], '\n') + 1
	}
	if err := os.Truncate(logPath(dir, room), int64(off+extra)); err != nil {
		tb.Fatal(err)
	}
}

func walPath(dir string, name string) string { return filepath.Join(dir, "messages", name) }

// writeWAL writes a WAL holding recs at dir/messages/name.
func writeWAL(tb testing.TB, dir, name string, recs ...jsonl.WALRecord) {
	tb.Helper()
	b := jsonl.WALHeader()
	for _, r := range recs {
		b = jsonl.AppendWALRecord(b, r)
	}
	if err := os.WriteFile(walPath(dir, name), b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func rec(room mesh.RoomID, seq uint64) jsonl.WALRecord {
	return jsonl.WALRecord{Room: room, Seq: seq, Line: line(room, seq)}
}

// checkPages reads room one or two entries at a time from every seq, which
// uses every index entry.
func checkPages(tb testing.TB, s *jsonl.Store, room mesh.RoomID, n int) {
	tb.Helper()
	for after := range n + 1 {
		es, err := s.Read(room, uint64(after), 2)
		if err != nil {
			tb.Fatalf("Read(%s) after %d: %v", room, after, err)
		}
		if want := min(2, n-after); len(es) != want || want > 0 && es[0].Seq != uint64(after+1) {
			tb.Fatalf("Read(%s) after %d: got %v, want %d entries from %d", room, after, es, want, after+1)
		}
	}
}

// TestCrashRecovery appends lines, copies the directory as a crash would
// leave it, loses what a crash may lose from the room logs (everything
// written since the last checkpoint), and checks that Open restores every
// acknowledged line from the WAL, once, in order.
func TestCrashRecovery(t *testing.T) {
	const before, after = 7, 20 // lines per room before the last checkpoint, and since
	rooms := []mesh.RoomID{"lobby", "dev", "ops"}
	for name, damage := range map[string]func(t *testing.T, dir string){
		"page cache kept": func(t *testing.T, dir string) {},
		"logs cut at checkpoint": func(t *testing.T, dir string) {
			for _, r := range rooms {
				cutLog(t, dir, r, before, 0)
			}
		},
		"logs cut mid-line": func(t *testing.T, dir string) {
			for i, r := range rooms {
				cutLog(t, dir, r, before+i*3, 5)
			}
		},
		"zeros after cut": func(t *testing.T, dir string) {
			cutLog(t, dir, "lobby", before+2, 0)
			appendFile(t, logPath(dir, "lobby"), make([]byte, 300))
		},
		"index lost too": func(t *testing.T, dir string) {
			for _, r := range rooms {
				cutLog(t, dir, r, before+1, 0)
				os.Remove(filepath.Join(dir, "messages", string(r)+".idx"))
			}
		},
		"new log lost": func(t *testing.T, dir string) {
			os.Remove(logPath(dir, "fresh"))
			os.Remove(filepath.Join(dir, "messages", "fresh.idx"))
		},
		"new log empty": func(t *testing.T, dir string) {
			os.Truncate(logPath(dir, "fresh"), 0)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := MustOpen(t, dir, 3)
			for _, r := range rooms {
				appendN(t, s, r, before)
			}
			MustClose(t, s) // checkpoint: the logs hold the first lines durably

			s = MustOpenTuned(t, dir, jsonl.Options{IndexEvery: 3}, 1<<30, time.Hour, nil)
			for _, r := range rooms {
				appendN(t, s, r, after)
			}
			appendN(t, s, "fresh", after)
			crashed := crashCopy(t, dir)
			damage(t, crashed)

			var logs bytes.Buffer
			s2, err := jsonl.Open(crashed, jsonl.Options{IndexEvery: 3, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatalf("Open after crash: %v", err)
			}
			for _, r := range append(rooms, "fresh") {
				n := after
				if r != "fresh" {
					n += before
				}
				checkRead(t, s2, r, n)
				checkPages(t, s2, r, n)
			}
			if _, err := os.Stat(walPath(crashed, "wal.corrupt")); !os.IsNotExist(err) {
				t.Fatalf("wal.corrupt: got %v, want none", err)
			}
			if got := readFile(t, walPath(crashed, "wal")); !bytes.Equal(got, jsonl.WALHeader()) {
				t.Fatalf("wal after recovery: got %d bytes, want an empty WAL", len(got))
			}
			appendN(t, s2, "lobby", 1)
			MustClose(t, s2)

			// The repaired logs stand on their own.
			os.Remove(walPath(crashed, "wal"))
			s2 = MustOpen(t, crashed, 3)
			checkRead(t, s2, "lobby", before+after+1)
			checkRead(t, s2, "fresh", after)
		})
	}
}

// TestRecoverMidCheckpoint replays a crash during a checkpoint: wal.old
// (some of whose records the logs already hold) and then wal.
func TestRecoverMidCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s := MustOpen(t, dir, 2)
	appendN(t, s, "lobby", 2)
	MustClose(t, s)
	writeWAL(t, dir, "wal.old", rec("lobby", 1), rec("lobby", 2), rec("lobby", 3), rec("new", 1), rec("lobby", 4))
	writeWAL(t, dir, "wal", rec("new", 2), rec("lobby", 5), rec("new", 3))

	s = MustOpen(t, dir, 2)
	checkRead(t, s, "lobby", 5)
	checkRead(t, s, "new", 3)
	checkPages(t, s, "lobby", 5)
	if _, err := os.Stat(walPath(dir, "wal.old")); !os.IsNotExist(err) {
		t.Fatalf("wal.old after Open: got %v, want none", err)
	}
	MustClose(t, s)
	s = MustOpen(t, dir, 2)
	checkRead(t, s, "lobby", 5)
	checkRead(t, s, "new", 3)
}

func TestWALTornTail(t *testing.T) {
	good := jsonl.AppendWALRecord(nil, rec("lobby", 4))
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-3] ^= 1
	for name, torn := range map[string][]byte{
		"half record":   good[:len(good)/2],
		"header only":   good[:5],
		"bad checksum":  badCRC,
		"bad length":    {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1},
		"zeros":         make([]byte, 100),
		"bad then good": append(bytes.Clone(badCRC), jsonl.AppendWALRecord(nil, rec("lobby", 5))...),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := MustOpen(t, dir, 2)
			appendN(t, s, "lobby", 1)
			MustClose(t, s)
			writeWAL(t, dir, "wal", rec("lobby", 1), rec("lobby", 2), rec("lobby", 3))
			size := len(readFile(t, walPath(dir, "wal")))
			appendFile(t, walPath(dir, "wal"), torn)

			var logs bytes.Buffer
			s, err := jsonl.Open(dir, jsonl.Options{IndexEvery: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			checkRead(t, s, "lobby", 3)
			if got := readFile(t, walPath(dir, "wal.corrupt")); !bytes.Equal(got, torn) {
				t.Fatalf("wal.corrupt: got %x, want %x", got, torn)
			}
			for _, want := range []string{"torn wal tail", fmt.Sprintf("offset=%d", size), fmt.Sprintf("bytes=%d", len(torn))} {
				if !strings.Contains(logs.String(), want) {
					t.Fatalf("warning: got %q, want it to contain %q", logs.String(), want)
				}
			}
			appendN(t, s, "lobby", 1)
			checkRead(t, s, "lobby", 4)
		})
	}
}

func TestWALGap(t *testing.T) {
	for name, tt := range map[string]struct {
		recs []jsonl.WALRecord
		want []string
	}{
		"log behind":   {[]jsonl.WALRecord{rec("lobby", 4), rec("lobby", 5)}, []string{"room lobby", "seq 4", "ends at seq 2"}},
		"inside wal":   {[]jsonl.WALRecord{rec("lobby", 3), rec("lobby", 5)}, []string{"room lobby", "seq 5", "ends at seq 3"}},
		"log missing":  {[]jsonl.WALRecord{rec("gone", 7)}, []string{"room gone", "seq 7", "ends at seq 0"}},
		"invalid room": {[]jsonl.WALRecord{{Room: "No Room", Seq: 1, Line: line("x", 1)}}, []string{`"No Room"`}},
		"line seq":     {[]jsonl.WALRecord{{Room: "lobby", Seq: 3, Line: line("lobby", 9)}}, []string{"room lobby", "seq 3", "bad line"}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := MustOpen(t, dir, 2)
			appendN(t, s, "lobby", 2)
			MustClose(t, s)
			writeWAL(t, dir, "wal", tt.recs...)
			before := readFile(t, walPath(dir, "wal"))

			_, err := jsonl.Open(dir, jsonl.Options{})
			if err == nil {
				t.Fatalf("Open: got nil, want an error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("Open: got %q, want it to contain %q", err, want)
				}
			}
			if got := readFile(t, walPath(dir, "wal")); !bytes.Equal(got, before) {
				t.Fatalf("wal was changed by the failed Open")
			}
		})
	}
}

func TestForeignWAL(t *testing.T) {
	dir := t.TempDir()
	MustClose(t, MustOpen(t, dir, 0))
	os.WriteFile(walPath(dir, "wal"), []byte("MWAL\x00\x00\x00\x09"), 0o644)
	if _, err := jsonl.Open(dir, jsonl.Options{}); err == nil || !strings.Contains(err.Error(), "WAL") {
		t.Fatalf("Open: got %v, want an error about the WAL", err)
	}
}

func TestCheckpointBySize(t *testing.T) {
	dir := t.TempDir()
	ckpts := make(chan error, 100)
	var fsyncs atomic.Int64
	s := MustOpenTuned(t, dir, jsonl.Options{IndexEvery: 4, OnFsync: func(time.Duration) { fsyncs.Add(1) }},
		4<<10, time.Hour, func(err error) { ckpts <- err })
	rooms := []mesh.RoomID{"a", "b", "c", "d"}
	for range 10 {
		for _, r := range rooms {
			appendN(t, s, r, 10) // 40 records, about 3 KiB, per round
		}
	}
	select {
	case err := <-ckpts:
		if err != nil {
			t.Fatalf("checkpoint: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no checkpoint after 400 records")
	}
	if fi, err := os.Stat(walPath(dir, "wal")); err != nil || fi.Size() > 8<<10 {
		t.Fatalf("wal after checkpoint: got %v, %v; want under 8 KiB", fi.Size(), err)
	}
	for _, r := range rooms {
		checkRead(t, s, r, 100)
	}
	MustClose(t, s)
	if got := readFile(t, walPath(dir, "wal")); !bytes.Equal(got, jsonl.WALHeader()) {
		t.Fatalf("wal after Close: got %d bytes, want an empty WAL", len(got))
	}
	if _, err := os.Stat(walPath(dir, "wal.old")); !os.IsNotExist(err) {
		t.Fatalf("wal.old after Close: got %v, want none", err)
	}
	s = MustOpen(t, dir, 4)
	for _, r := range rooms {
		checkRead(t, s, r, 100)
	}
}

func TestCheckpointByAge(t *testing.T) {
	dir := t.TempDir()
	ckpts := make(chan error, 10)
	s := MustOpenTuned(t, dir, jsonl.Options{}, 1<<30, 20*time.Millisecond, func(err error) { ckpts <- err })
	appendN(t, s, "lobby", 3)
	if n := len(readFile(t, walPath(dir, "wal"))); n <= len(jsonl.WALHeader()) {
		t.Fatalf("wal before checkpoint: got %d bytes, want records", n)
	}
	select {
	case err := <-ckpts:
		if err != nil {
			t.Fatalf("checkpoint: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no checkpoint 10s after the first record")
	}
	if got := readFile(t, walPath(dir, "wal")); !bytes.Equal(got, jsonl.WALHeader()) {
		t.Fatalf("wal after checkpoint: got %d bytes, want an empty WAL", len(got))
	}
	if _, err := os.Stat(walPath(dir, "wal.old")); !os.IsNotExist(err) {
		t.Fatalf("wal.old after checkpoint: got %v, want none", err)
	}
	checkRead(t, s, "lobby", 3)
}

// TestOneFsyncPerBatch checks that a batch touching many rooms costs one
// fsync, not one per room.
func TestOneFsyncPerBatch(t *testing.T) {
	var fsyncs atomic.Int64
	s := MustOpenTuned(t, t.TempDir(), jsonl.Options{OnFsync: func(time.Duration) { fsyncs.Add(1) }}, 1<<30, time.Hour, nil)
	appendN(t, s, "warmup", 1)
	start := fsyncs.Load()
	const rooms = 50
	errs := make(chan error, rooms)
	for i := range rooms {
		room := mesh.RoomID(fmt.Sprintf("r%d", i))
		s.Append(room, func(seq uint64) ([]byte, error) { return line(room, seq), nil },
			func(e mesh.Entry, err error) { errs <- err })
	}
	for range rooms {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The batches that carried 50 new rooms: at most a few.
	if got := fsyncs.Load() - start; got > 5 {
		t.Fatalf("fsyncs for %d rooms: got %d, want at most 5", rooms, got)
	}
}
