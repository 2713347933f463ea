package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
)

// MustOpen opens the log in dir and closes it when the test ends, unless
// the test closed it first.
func MustOpen(tb testing.TB, dir string, opts audit.Options) *audit.Log {
	tb.Helper()
	l, err := audit.Open(dir, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return l
}

func MustClose(tb testing.TB, l *audit.Log) {
	tb.Helper()
	if err := l.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
}

// say is a typical hot-path record.
func say(i int) audit.Record {
	return audit.Record{Actor: "p_alice", Action: "say", Room: mesh.Lobby, Outcome: audit.OK,
		Remote: "127.0.0.1:5000", Detail: map[string]any{"id": fmt.Sprintf("m_%d", i), "seq": i}}
}

// MustWrite makes a closed log of n say lines in dir.
func MustWrite(tb testing.TB, dir string, n int) {
	tb.Helper()
	l := MustOpen(tb, dir, audit.Options{})
	for i := 1; i <= n; i++ {
		l.Record(say(i))
	}
	MustClose(tb, l)
}

// MustLines returns the lines of dir's audit.jsonl, without newlines.
func MustLines(tb testing.TB, dir string) [][]byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, audit.FileName))
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

// line is the chain part of a line plus the fields the tests look at.
type line struct {
	N      uint64          `json:"n"`
	Prev   string          `json:"prev"`
	Action string          `json:"action"`
	Detail json.RawMessage `json:"detail"`
}

func parse(tb testing.TB, b []byte) line {
	tb.Helper()
	var l line
	if err := json.Unmarshal(b, &l); err != nil {
		tb.Fatalf("line %q: %v", b, err)
	}
	return l
}

func hashOf(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func MustVerify(tb testing.TB, dir string, want uint64) {
	tb.Helper()
	n, err := audit.Verify(dir)
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	if n != want {
		tb.Fatalf("Verify: got %d lines, want %d", n, want)
	}
}

func TestRecordConcurrent(t *testing.T) {
	const workers, each = 32, 300
	dir := t.TempDir()
	var fsyncs atomic.Int64
	l := MustOpen(t, dir, audit.Options{OnFsync: func(time.Duration) { fsyncs.Add(1) }})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				l.Record(say(w*each + i))
			}
		})
	}
	wg.Wait()
	if err := l.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	MustClose(t, l)
	if fsyncs.Load() == 0 {
		t.Errorf("OnFsync was never called")
	}
	MustVerify(t, dir, workers*each)

	seen := make(map[int]bool)
	for i, b := range MustLines(t, dir) {
		if got := parse(t, b).N; got != uint64(i+1) {
			t.Fatalf("line %d: got n=%d", i+1, got)
		}
		var d struct{ Seq int }
		if err := json.Unmarshal(parse(t, b).Detail, &d); err != nil || seen[d.Seq] {
			t.Fatalf("line %d: bad or repeated detail %s", i+1, parse(t, b).Detail)
		}
		seen[d.Seq] = true
	}
	if len(seen) != workers*each {
		t.Errorf("got %d distinct records, want %d", len(seen), workers*each)
	}
}

func TestReopenContinuesChain(t *testing.T) {
	dir := t.TempDir()
	MustWrite(t, dir, 10)
	l := MustOpen(t, dir, audit.Options{})
	for i := range 5 {
		l.Record(say(100 + i))
	}
	MustClose(t, l)
	MustVerify(t, dir, 15)

	lines := MustLines(t, dir)
	got := parse(t, lines[10])
	if got.N != 11 || got.Prev != hashOf(lines[9]) {
		t.Errorf("line 11: got n=%d prev=%s, want n=11 prev=%s", got.N, got.Prev, hashOf(lines[9]))
	}
	if got := parse(t, lines[0]).Prev; got != string(bytes.Repeat([]byte("0"), 64)) {
		t.Errorf("line 1: got prev %s, want 64 zeros", got)
	}
}

func TestSyncThenRead(t *testing.T) {
	l := MustOpen(t, t.TempDir(), audit.Options{})
	defer MustClose(t, l)
	l.Record(audit.Record{Action: "auth", Outcome: audit.Refused, Code: mesh.EUnauthorized, Remote: "10.0.0.1:1"})
	if err := l.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	got, err := l.Read(0, 10)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(got) != 1 || !bytes.Contains(got[0], []byte(`"code":"unauthorized"`)) {
		t.Errorf("got %s, want one refused auth line", got)
	}
}

func TestReadPaging(t *testing.T) {
	dir := t.TempDir()
	MustWrite(t, dir, 1205)
	l := MustOpen(t, dir, audit.Options{})
	defer MustClose(t, l)
	for name, tt := range map[string]struct {
		after       uint64
		limit       int
		first, size int
	}{
		"FirstPage":   {after: 0, limit: 10, first: 1, size: 10},
		"SecondPage":  {after: 10, limit: 10, first: 11, size: 10},
		"LastPage":    {after: 1200, limit: 10, first: 1201, size: 5},
		"PastEnd":     {after: 1205, limit: 10, size: 0},
		"ZeroLimit":   {after: 0, limit: 0, first: 1, size: 1000},
		"CappedLimit": {after: 100, limit: 5000, first: 101, size: 1000},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := l.Read(tt.after, tt.limit)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if len(got) != tt.size {
				t.Fatalf("got %d lines, want %d", len(got), tt.size)
			}
			for i, b := range got {
				if n := parse(t, b).N; n != uint64(tt.first+i) {
					t.Fatalf("line %d: got n=%d, want %d", i, n, tt.first+i)
				}
			}
		})
	}
}

func TestRecordOddDetail(t *testing.T) {
	dir := t.TempDir()
	l := MustOpen(t, dir, audit.Options{})
	l.Record(audit.Record{Action: "say", Outcome: audit.OK, Detail: make(chan int)})
	l.Record(audit.Record{Action: "say", Outcome: audit.OK, Detail: string(make([]byte, audit.MaxLineBytes))})
	MustClose(t, l)
	MustVerify(t, dir, 2)
	for i, want := range []string{"detail not JSON", "detail too large"} {
		if d := parse(t, MustLines(t, dir)[i]).Detail; !bytes.Contains(d, []byte(want)) {
			t.Errorf("line %d: got detail %s, want %q", i+1, d, want)
		}
	}
}

func TestCloseThenRecord(t *testing.T) {
	dir := t.TempDir()
	l := MustOpen(t, dir, audit.Options{})
	l.Record(say(1))
	MustClose(t, l)
	l.Record(say(2)) // logged, not written
	if err := l.Sync(context.Background()); err != nil {
		t.Errorf("Sync after Close: %v", err)
	}
	if err := l.Close(); err == nil {
		t.Errorf("second Close: got nil, want an error")
	}
	MustVerify(t, dir, 1)
}

func TestRecordLargeBacklog(t *testing.T) {
	const workers, each = 4, 50 // 20 MiB, over the 8 MiB Record buffers
	dir := t.TempDir()
	l := MustOpen(t, dir, audit.Options{})
	big := strings.Repeat("x", 100<<10)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				l.Record(audit.Record{Action: "data-write", Outcome: audit.OK, Detail: big})
			}
		})
	}
	wg.Wait()
	MustClose(t, l)
	MustVerify(t, dir, workers*each)
}

func TestCloseStopsWriter(t *testing.T) {
	before := runtime.NumGoroutine()
	l := MustOpen(t, t.TempDir(), audit.Options{})
	l.Record(say(1))
	MustClose(t, l)
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("got %d goroutines after Close, want %d", runtime.NumGoroutine(), before)
		}
	}
}
