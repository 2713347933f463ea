package roomdata_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mesh "github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/roomdata"
)

const room mesh.RoomID = "garden"

// MustOpen opens a Store in a new temporary data directory, which it
// returns, and closes the store when the test ends.
func MustOpen(tb testing.TB, limits roomdata.Limits) (*roomdata.Store, string) {
	tb.Helper()
	dir := tb.TempDir()
	return MustReopen(tb, dir, limits), dir
}

// MustReopen opens a second Store on dataDir, as after a restart.
func MustReopen(tb testing.TB, dataDir string, limits roomdata.Limits) *roomdata.Store {
	tb.Helper()
	s, err := roomdata.Open(dataDir, limits)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// MustPut puts data at p in room, failing the test on error.
func MustPut(tb testing.TB, s *roomdata.Store, room mesh.RoomID, p, data string) roomdata.Info {
	tb.Helper()
	info, err := s.Put(room, p, []byte(data))
	if err != nil {
		tb.Fatalf("Put(%q): %v", p, err)
	}
	return info
}

// wantCode fails the test unless err is a *mesh.Error with code and, if
// given, a message containing each of words.
func wantCode(tb testing.TB, what string, err error, code string, words ...string) {
	tb.Helper()
	if got := mesh.ErrorCode(err); got != code {
		tb.Fatalf("%s: got error %v (code %q), want code %q", what, err, got, code)
	}
	for _, w := range words {
		if msg := mesh.ErrorMessage(err); !strings.Contains(msg, w) {
			tb.Errorf("%s: got message %q, want it to mention %q", what, msg, w)
		}
	}
}

// wantContent fails the test unless p in room holds data.
func wantContent(tb testing.TB, s *roomdata.Store, room mesh.RoomID, p, data string) {
	tb.Helper()
	got, info, err := s.Get(room, p)
	if err != nil {
		tb.Fatalf("Get(%q): %v", p, err)
	}
	if string(got) != data {
		tb.Fatalf("Get(%q): got %q, want %q", p, got, data)
	}
	if info.SHA256 != sum(data) || info.Size != int64(len(data)) || info.Path != p {
		tb.Fatalf("Get(%q): got info %+v, want path %q, size %d, sha256 %s", p, info, p, len(data), sum(data))
	}
}

func sum(data string) string {
	h := sha256.Sum256([]byte(data))
	return hex.EncodeToString(h[:])
}

// roomDir is where room's files live under dataDir.
func roomDir(dataDir string, room mesh.RoomID) string {
	return filepath.Join(dataDir, "data", string(room))
}

// names lists the entries of dir, recursively, as slash paths.
func names(tb testing.TB, dir string) []string {
	tb.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func wantUsage(tb testing.TB, s *roomdata.Store, room mesh.RoomID, want roomdata.Usage) {
	tb.Helper()
	got, err := s.Usage(room)
	if err != nil {
		tb.Fatal(err)
	}
	if got != want {
		tb.Fatalf("Usage: got %+v, want %+v", got, want)
	}
}
