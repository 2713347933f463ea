package jsonl_test

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/store/jsonl"
)

func TestTornTail(t *testing.T) {
	for name, tt := range map[string]struct {
		good  int    // lines written by the store
		torn  string // bytes then appended by hand
		prior string // already in the .corrupt file
	}{
		"no newline":       {5, `{"seq":6,"room":"lobby","text":"message 6"}`, ""},
		"half line":        {5, `{"seq":6,"ro`, ""},
		"garbage":          {5, "\x00\x00\x00", ""},
		"wrong seq":        {5, string(line("lobby", 9)) + "\n", ""},
		"repeated seq":     {5, string(line("lobby", 5)) + "\n", ""},
		"not an object":    {5, "hello\n", ""},
		"bad then good":    {5, "{\"seq\":6,\n" + string(line("lobby", 7)) + "\n", ""},
		"empty line":       {5, "\n", ""},
		"first line torn":  {0, `{"seq":1`, ""},
		"corrupt appended": {5, `{"seq":6`, "older torn bytes\n"},
		"index boundary":   {4, `{"seq":5,"x"`, ""},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := MustOpen(t, dir, 2)
			if tt.good > 0 {
				appendN(t, s, "lobby", tt.good)
			} else {
				os.WriteFile(logPath(dir, "lobby"), nil, 0o644)
			}
			MustClose(t, s)
			path := logPath(dir, "lobby")
			good := readFile(t, path)
			appendFile(t, path, []byte(tt.torn))
			if tt.prior != "" {
				os.WriteFile(path+".corrupt", []byte(tt.prior), 0o644)
			}

			var logs bytes.Buffer
			s, err := jsonl.Open(dir, jsonl.Options{IndexEvery: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if got, want := string(readFile(t, path+".corrupt")), tt.prior+tt.torn; got != want {
				t.Fatalf("corrupt file: got %q, want %q", got, want)
			}
			if got := readFile(t, path); !bytes.Equal(got, good) {
				t.Fatalf("log after repair: got %q, want %q", got, good)
			}
			for _, want := range []string{"room=lobby", "offset=" + strconv.Itoa(len(good)), "bytes=" + strconv.Itoa(len(tt.torn))} {
				if !strings.Contains(logs.String(), want) {
					t.Fatalf("warning: got %q, want it to contain %q", logs.String(), want)
				}
			}
			checkRead(t, s, "lobby", tt.good)
			appendN(t, s, "lobby", 3)
			checkRead(t, s, "lobby", tt.good+3)
			MustClose(t, s)

			s = MustOpen(t, dir, 2)
			checkRead(t, s, "lobby", tt.good+3)
			if got, want := string(readFile(t, path+".corrupt")), tt.prior+tt.torn; got != want {
				t.Fatalf("corrupt file after second open: got %q, want %q", got, want)
			}
		})
	}
}

// Index layout, from the package doc.
const (
	idxHeaderLen = 64
	idxEntryLen  = 16
)

func entry(seq, off uint64) []byte {
	b := binary.BigEndian.AppendUint64(nil, seq)
	return binary.BigEndian.AppendUint64(b, off)
}

func TestStaleIndex(t *testing.T) {
	const every, n = 3, 20 // entries for seqs 1, 4, ..., 19
	for name, tt := range map[string]struct {
		damage func(t *testing.T, idx, log string)
		head   int
	}{
		"deleted": {func(t *testing.T, idx, log string) { os.Remove(idx) }, n},
		"empty":   {func(t *testing.T, idx, log string) { os.Truncate(idx, 0) }, n},
		"cut in header": {func(t *testing.T, idx, log string) {
			os.Truncate(idx, 10)
		}, n},
		"cut in entry": {func(t *testing.T, idx, log string) {
			os.Truncate(idx, idxHeaderLen+2*idxEntryLen+5)
		}, n},
		"only header": {func(t *testing.T, idx, log string) { os.Truncate(idx, idxHeaderLen) }, n},
		"past EOF": {func(t *testing.T, idx, log string) {
			appendFile(t, idx, append(entry(22, 1<<20), entry(25, 1<<21)...))
		}, n},
		"wrong offset": {func(t *testing.T, idx, log string) {
			b := readFile(t, idx)
			last := b[len(b)-idxEntryLen:]
			binary.BigEndian.PutUint64(last[8:], binary.BigEndian.Uint64(last[8:])+3)
			os.WriteFile(idx, b, 0o644)
		}, n},
		"all entries wrong": {func(t *testing.T, idx, log string) {
			b := readFile(t, idx)
			for i := idxHeaderLen; i < len(b); i += idxEntryLen {
				binary.BigEndian.PutUint64(b[i+8:], 7)
			}
			os.WriteFile(idx, b, 0o644)
		}, n},
		"bad magic": {func(t *testing.T, idx, log string) {
			b := readFile(t, idx)
			b[0] = 'X'
			os.WriteFile(idx, b, 0o644)
		}, n},
		"foreign epoch": {func(t *testing.T, idx, log string) {
			b := readFile(t, idx)
			b[16] ^= 1
			os.WriteFile(idx, b, 0o644)
		}, n},
		"log cut": {func(t *testing.T, idx, log string) {
			b := readFile(t, log)
			cut := 0
			for range 11 {
				cut += bytes.IndexByte(b[cut:], '\n') + 1
			}
			os.Truncate(log, int64(cut))
		}, 11},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := MustOpen(t, dir, every)
			appendN(t, s, "lobby", n)
			h, _ := s.Head("lobby")
			MustClose(t, s)
			idx := filepath.Join(dir, "messages", "lobby.idx")
			log := logPath(dir, "lobby")
			want := readFile(t, idx)
			tt.damage(t, idx, log)

			s = MustOpen(t, dir, every)
			if got, _ := s.Head("lobby"); got != (mesh.LogHead{Seq: uint64(tt.head), Epoch: h.Epoch}) {
				t.Fatalf("Head: got %v, want seq %d epoch %s", got, tt.head, h.Epoch)
			}
			for after := range tt.head + 1 {
				es, err := s.Read("lobby", uint64(after), 2)
				if err != nil {
					t.Fatalf("Read after %d: %v", after, err)
				}
				if wantN := min(2, tt.head-after); len(es) != wantN || wantN > 0 && es[0].Seq != uint64(after+1) {
					t.Fatalf("Read after %d: got %v, want %d entries from %d", after, es, wantN, after+1)
				}
			}
			checkRead(t, s, "lobby", tt.head)
			if tt.head == n {
				if got := readFile(t, idx); !bytes.Equal(got, want) {
					t.Fatalf("rebuilt index: got %x, want %x", got, want)
				}
			}
			if _, err := os.Stat(log + ".corrupt"); !os.IsNotExist(err) {
				t.Fatalf("corrupt file: got %v, want none", err)
			}
		})
	}
}

// TestFormatV1 opens a store written in format version 1, kept frozen
// under testdata/v1.
func TestFormatV1(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/v1")); err != nil {
		t.Fatal(err)
	}
	idx := filepath.Join(dir, "messages", "lobby.idx")
	before := readFile(t, idx)
	s := MustOpen(t, dir, 4)
	checkRead(t, s, "lobby", 10)
	if h, _ := s.Head("lobby"); h.Epoch != "b11bb3702139f6ec" {
		t.Fatalf("epoch: got %q, want %q", h.Epoch, "b11bb3702139f6ec")
	}
	if got := readFile(t, idx); !bytes.Equal(got, before) {
		t.Fatalf("index was rewritten: got %x, want %x", got, before)
	}
}

func TestEntriesBefore(t *testing.T) {
	var idx []byte
	for k := range 10 {
		idx = append(idx, entry(uint64(k*4+1), uint64(k*100))...)
	}
	for name, tt := range map[string]struct {
		n, size int64
		want    int64
	}{
		"all before":    {10, 5000, 10},
		"none":          {0, 5000, 0},
		"cut mid":       {10, 450, 5},
		"cut at entry":  {10, 400, 4},
		"cut past one":  {10, 1, 1},
		"empty log":     {10, 0, 0},
		"last only":     {10, 901, 10},
		"last excluded": {10, 900, 9},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := jsonl.EntriesBefore(bytes.NewReader(append(make([]byte, idxHeaderLen), idx...)), tt.n, tt.size)
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}
