package roomdata_test

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	mesh "github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/roomdata"
)

// mustSymlink makes newname a symbolic link to oldname.
func mustSymlink(tb testing.TB, oldname, newname string) {
	tb.Helper()
	if err := os.Symlink(oldname, newname); err != nil {
		tb.Fatal(err)
	}
}

// outside makes a directory outside the data directory holding secret.txt.
func outside(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// wantUntouched fails the test unless dir still holds only secret.txt,
// with its content.
func wantUntouched(tb testing.TB, dir string) {
	tb.Helper()
	if got := names(tb, dir); !slices.Equal(got, []string{"secret.txt"}) {
		tb.Fatalf("outside directory: got %q, want only secret.txt", got)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "secret.txt")); err != nil || string(b) != "secret" {
		tb.Fatalf("secret.txt: got %q, %v", b, err)
	}
}

func TestStore_Symlink(t *testing.T) {
	out := outside(t)
	s, dir := MustOpen(t, roomdata.Limits{})
	MustPut(t, s, room, "docs/real.txt", "real")
	rd := roomDir(dir, room)
	mustSymlink(t, out, filepath.Join(rd, "out"))                            // dir outside
	mustSymlink(t, filepath.Join(out, "secret.txt"), filepath.Join(rd, "s")) // file outside
	mustSymlink(t, "docs", filepath.Join(rd, "alias"))                       // dir inside, relative
	mustSymlink(t, "real.txt", filepath.Join(rd, "docs", "link.txt"))        // file inside
	mustSymlink(t, "nowhere", filepath.Join(rd, "dangling"))
	if err := syscall.Mkfifo(filepath.Join(rd, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	usage, err := s.Usage(room)
	if err != nil {
		t.Fatal(err)
	}

	// listDir: List of the path's parent must fail too.
	for name, tt := range map[string]struct {
		path    string
		listDir bool
	}{
		"DirOutside":      {"out/secret.txt", true},
		"DirOutsideNew":   {"out/new.txt", true},
		"DirOutsideDeep":  {"out/x/y.txt", true},
		"FileOutside":     {"s", false},
		"DirInside":       {"alias/real.txt", true},
		"FileInside":      {"docs/link.txt", false},
		"Dangling":        {"dangling", false},
		"DanglingUnder":   {"dangling/x", true},
		"FIFO":            {"fifo", false},
		"SymlinkAsParent": {"s/x", true},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := s.Get(room, tt.path)
			wantCode(t, "Get", err, mesh.EInvalid)
			_, err = s.Put(room, tt.path, []byte("pwned"))
			wantCode(t, "Put", err, mesh.EInvalid)
			wantCode(t, "Delete", s.Delete(room, tt.path), mesh.EInvalid)
			_, err = s.List(room, tt.path)
			wantCode(t, "List", err, mesh.EInvalid)
			if tt.listDir {
				_, err = s.List(room, filepath.Dir(tt.path))
				wantCode(t, "List dir", err, mesh.EInvalid)
			}
		})
	}
	t.Run("ListSkipsLinks", func(t *testing.T) {
		list, err := s.List(room, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Path != "docs/real.txt" {
			t.Fatalf("got %+v, want only docs/real.txt", list)
		}
	})
	wantUntouched(t, out)
	wantContent(t, s, room, "docs/real.txt", "real")
	wantUsage(t, s, room, usage)
	for _, p := range []string{"out", "s", "alias", "docs/link.txt", "dangling"} {
		if fi, err := os.Lstat(filepath.Join(rd, p)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s: got %v, %v, want the link left in place", p, fi, err)
		}
	}
}

func TestStore_SymlinkedRoom(t *testing.T) {
	out := outside(t)
	s, dir := MustOpen(t, roomdata.Limits{})
	mustSymlink(t, out, roomDir(dir, room))

	_, _, err := s.Get(room, "secret.txt")
	wantCode(t, "Get", err, mesh.EInvalid, "room directory", "symbolic link")
	_, err = s.Put(room, "new.txt", []byte("pwned"))
	wantCode(t, "Put", err, mesh.EInvalid, "room directory")
	wantCode(t, "Delete", s.Delete(room, "secret.txt"), mesh.EInvalid, "room directory")
	_, err = s.List(room, "")
	wantCode(t, "List", err, mesh.EInvalid, "room directory")
	_, err = s.Usage(room)
	wantCode(t, "Usage", err, mesh.EInvalid, "room directory")
	wantUntouched(t, out)

	// A room directory that links elsewhere inside the data directory is
	// refused as well.
	MustPut(t, s, "real", "a", "x")
	mustSymlink(t, "real", roomDir(dir, "alias"))
	_, _, err = s.Get("alias", "a")
	wantCode(t, "Get through alias room", err, mesh.EInvalid, "room directory")
}
