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
	"testing"

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
