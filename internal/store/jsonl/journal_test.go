package jsonl_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/store/jsonl"
)

type event struct {
	N    int    `json:"n"`
	Text string `json:"text"`
}

// openJournal opens the journal at path and returns the lines it replayed.
func openJournal(t *testing.T, path string, logger *slog.Logger) (*jsonl.Journal, []string) {
	t.Helper()
	var lines []string
	j, err := jsonl.OpenJournal(path, logger, func(line []byte) error {
		lines = append(lines, string(line))
		return nil
	})
	if err != nil {
		t.Fatalf("OpenJournal: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	return j, lines
}

func TestJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rooms.jsonl")
	j, lines := openJournal(t, path, nil)
	if len(lines) != 0 {
		t.Fatalf("new journal replayed %v, want nothing", lines)
	}
	var want []string
	var wg sync.WaitGroup
	for i := range 10 {
		want = append(want, fmt.Sprintf(`{"n":%d,"text":"a\nb"}`, i))
		if i < 5 {
			if err := j.Append(event{i, "a\nb"}); err != nil {
				t.Fatalf("Append: %v", err)
			}
		} else {
			wg.Go(func() {
				if err := j.Append(event{i, "a\nb"}); err != nil {
					t.Errorf("Append: %v", err)
				}
			})
		}
	}
	wg.Wait()
	if err := j.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := j.Append(event{}); mesh.ErrorCode(err) != mesh.EUnavailable {
		t.Fatalf("Append after Close: got %v, want code %s", err, mesh.EUnavailable)
	}
	if err := j.Append([]int{1}); err == nil {
		t.Fatalf("Append of a non-object: got nil, want error")
	}

	_, lines = openJournal(t, path, nil)
	slices.Sort(lines[5:]) // the concurrent appends may land in any order
	if !slices.Equal(lines, want) {
		t.Fatalf("replay: got %q, want %q", lines, want)
	}
}

func TestJournalTornTail(t *testing.T) {
	for name, torn := range map[string]string{
		"no newline":    `{"n":3,"te`,
		"not an object": "[1,2]\n",
		"bad json":      "{\"n\":3,}\n" + `{"n":4,"text":""}` + "\n",
		"empty line":    "\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "participants.jsonl")
			j, _ := openJournal(t, path, nil)
			for i := range 3 {
				if err := j.Append(event{N: i}); err != nil {
					t.Fatal(err)
				}
			}
			j.Close()
			good := readFile(t, path)
			appendFile(t, path, []byte(torn))

			var logs bytes.Buffer
			j, lines := openJournal(t, path, slog.New(slog.NewTextHandler(&logs, nil)))
			if len(lines) != 3 {
				t.Fatalf("replayed %d lines, want 3", len(lines))
			}
			if got := string(readFile(t, path+".corrupt")); got != torn {
				t.Fatalf("corrupt file: got %q, want %q", got, torn)
			}
			if got := readFile(t, path); !bytes.Equal(got, good) {
				t.Fatalf("journal after repair: got %q, want %q", got, good)
			}
			if !strings.Contains(logs.String(), fmt.Sprintf("offset=%d", len(good))) {
				t.Fatalf("warning: got %q, want offset %d", logs.String(), len(good))
			}
			if err := j.Append(event{N: 3}); err != nil {
				t.Fatal(err)
			}
			j.Close()
			if _, lines = openJournal(t, path, nil); len(lines) != 4 || lines[3] != `{"n":3,"text":""}` {
				t.Fatalf("replay after repair: got %q, want 4 lines ending in n 3", lines)
			}
		})
	}
}

func TestJournalReplayError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "invites.jsonl")
	j, _ := openJournal(t, path, nil)
	j.Append(event{N: 1})
	j.Close()
	errStop := errors.New("stop")
	_, err := jsonl.OpenJournal(path, nil, func([]byte) error { return errStop })
	if !errors.Is(err, errStop) {
		t.Fatalf("got %v, want %v", err, errStop)
	}
	if _, err := os.Stat(path + ".corrupt"); !os.IsNotExist(err) {
		t.Fatalf("corrupt file: got %v, want none", err)
	}
}

// TestJournalGroupCommit holds the first fsync until 199 more appends are
// queued behind it, and checks that they all share the next one.
func TestJournalGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rooms.jsonl")
	var fsyncs atomic.Int64
	busy, release := make(chan struct{}), make(chan struct{})
	j, err := jsonl.OpenJournalFsync(path, nil, func([]byte) error { return nil }, func(time.Duration) {
		if fsyncs.Add(1) == 1 {
			close(busy)
			<-release
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	const n = 200
	var wg sync.WaitGroup
	appendOne := func(i int) {
		wg.Go(func() {
			if err := j.Append(event{N: i}); err != nil {
				t.Errorf("Append %d: %v", i, err)
			}
		})
	}
	appendOne(0)
	<-busy
	for i := 1; i < n; i++ {
		appendOne(i)
	}
	for deadline := time.Now().Add(10 * time.Second); j.Queued() < n-1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("queued: got %d, want %d", j.Queued(), n-1)
		}
	}
	close(release)
	wg.Wait()
	if got := fsyncs.Load(); got != 2 {
		t.Fatalf("fsyncs for %d appends: got %d, want 2", n, got)
	}
	j.Close()

	_, lines := openJournal(t, path, nil)
	seen := make(map[string]int)
	for _, l := range lines {
		seen[l]++
	}
	for i := range n {
		if l := fmt.Sprintf(`{"n":%d,"text":""}`, i); seen[l] != 1 {
			t.Fatalf("line %s: got %d copies, want 1", l, seen[l])
		}
	}
	if len(lines) != n {
		t.Fatalf("lines: got %d, want %d", len(lines), n)
	}
}

// TestJournalCloseWhileAppending checks that an Append racing Close either
// succeeds, and its line is kept, or fails with mesh.EUnavailable.
func TestJournalCloseWhileAppending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "invites.jsonl")
	j, _ := openJournal(t, path, nil)
	const n = 100
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = j.Append(event{N: i}) })
	}
	if err := j.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	_, lines := openJournal(t, path, nil)
	kept := make(map[string]bool)
	for _, l := range lines {
		kept[l] = true
	}
	for i, err := range errs {
		l := fmt.Sprintf(`{"n":%d,"text":""}`, i)
		if err == nil && !kept[l] {
			t.Fatalf("append %d succeeded but its line is missing", i)
		} else if err != nil && (kept[l] || mesh.ErrorCode(err) != mesh.EUnavailable) {
			t.Fatalf("append %d: got %v (line kept: %v), want code %s and no line", i, err, kept[l], mesh.EUnavailable)
		}
	}
}
