package roomdata_test

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	mesh "github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/roomdata"
)

func TestStore_RoundTrip(t *testing.T) {
	s, _ := MustOpen(t, roomdata.Limits{})
	for name, tt := range map[string]struct{ path, data string }{
		"Top":     {"a.txt", "hello"},
		"Nested":  {"docs/sub/b.md", "# title\n"},
		"Empty":   {"empty", ""},
		"Unicode": {"naïve/日本語 メモ.txt", "ok"},
		"Binary":  {"bin/x.dat", "\x00\xff\x01"},
	} {
		t.Run(name, func(t *testing.T) {
			info := MustPut(t, s, room, tt.path, tt.data)
			if info.Path != tt.path || info.Size != int64(len(tt.data)) || info.SHA256 != sum(tt.data) {
				t.Fatalf("Put: got %+v, want path %q size %d sha256 %s", info, tt.path, len(tt.data), sum(tt.data))
			}
			if info.Modified.IsZero() {
				t.Fatalf("Put: got zero Modified")
			}
			_, got, err := s.Get(room, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Modified.Equal(info.Modified) {
				t.Fatalf("Get: got Modified %v, want %v", got.Modified, info.Modified)
			}
			wantContent(t, s, room, tt.path, tt.data)
		})
	}
}

func TestStore_Overwrite(t *testing.T) {
	s, dir := MustOpen(t, roomdata.Limits{})
	MustPut(t, s, room, "a/b.txt", "first version")
	MustPut(t, s, room, "a/b.txt", "second")
	wantContent(t, s, room, "a/b.txt", "second")
	wantUsage(t, s, room, roomdata.Usage{Bytes: 6, Files: 1})
	if got, want := names(t, roomDir(dir, room)), []string{"a", "a/b.txt"}; !slices.Equal(got, want) {
		t.Fatalf("files on disk: got %q, want %q", got, want)
	}
}

func TestStore_Delete(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s, dir := MustOpen(t, roomdata.Limits{})
		MustPut(t, s, room, "keep/x", "1")
		MustPut(t, s, room, "keep/deep/er/y", "22")
		MustPut(t, s, room, "z", "333")
		if err := s.Delete(room, "keep/deep/er/y"); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.Get(room, "keep/deep/er/y")
		wantCode(t, "Get after Delete", err, mesh.ENotFound)
		wantCode(t, "Delete again", s.Delete(room, "keep/deep/er/y"), mesh.ENotFound)
		wantUsage(t, s, room, roomdata.Usage{Bytes: 4, Files: 2})
		// Empty parents are pruned, up to the first non-empty one.
		if got, want := names(t, roomDir(dir, room)), []string{"keep", "keep/x", "z"}; !slices.Equal(got, want) {
			t.Fatalf("files on disk: got %q, want %q", got, want)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		s, _ := MustOpen(t, roomdata.Limits{})
		wantCode(t, "no room dir", s.Delete(room, "nope"), mesh.ENotFound)
		MustPut(t, s, room, "a/b", "x")
		wantCode(t, "no file", s.Delete(room, "a/c"), mesh.ENotFound, "a/c")
		wantCode(t, "no dir", s.Delete(room, "q/c"), mesh.ENotFound, "q/c")
	})
}

func TestStore_Conflict(t *testing.T) {
	s, _ := MustOpen(t, roomdata.Limits{})
	MustPut(t, s, room, "dir/file", "x")
	for name, tt := range map[string]struct {
		path string
		op   func(p string) error
	}{
		"GetDir":        {"dir", func(p string) error { _, _, err := s.Get(room, p); return err }},
		"PutOverDir":    {"dir", func(p string) error { _, err := s.Put(room, p, []byte("y")); return err }},
		"PutUnderFile":  {"dir/file/x", func(p string) error { _, err := s.Put(room, p, []byte("y")); return err }},
		"GetUnderFile":  {"dir/file/x", func(p string) error { _, _, err := s.Get(room, p); return err }},
		"DeleteDir":     {"dir", func(p string) error { return s.Delete(room, p) }},
		"ListFile":      {"dir/file", func(p string) error { _, err := s.List(room, p); return err }},
		"ListUnderFile": {"dir/file/x", func(p string) error { _, err := s.List(room, p); return err }},
	} {
		t.Run(name, func(t *testing.T) {
			wantCode(t, tt.path, tt.op(tt.path), mesh.EConflict)
		})
	}
	wantContent(t, s, room, "dir/file", "x")
	wantUsage(t, s, room, roomdata.Usage{Bytes: 1, Files: 1})
}

func TestStore_List(t *testing.T) {
	s, _ := MustOpen(t, roomdata.Limits{})
	if list, err := s.List(room, ""); err != nil || list == nil || len(list) != 0 {
		t.Fatalf("List of a new room: got %v, %v, want an empty list", list, err)
	}
	for _, p := range []string{"b.txt", "docs/z.md", "docs/a.md", "docs/sub/c.txt", "docsx/d.txt", "a.txt"} {
		MustPut(t, s, room, p, "content of "+p)
	}
	for name, tt := range map[string]struct {
		prefix string
		want   []string
	}{
		"Root":          {"", []string{"a.txt", "b.txt", "docs/a.md", "docs/sub/c.txt", "docs/z.md", "docsx/d.txt"}},
		"Dir":           {"docs", []string{"docs/a.md", "docs/sub/c.txt", "docs/z.md"}},
		"TrailingSlash": {"docs/", []string{"docs/a.md", "docs/sub/c.txt", "docs/z.md"}},
		"Deep":          {"docs/sub", []string{"docs/sub/c.txt"}},
	} {
		t.Run(name, func(t *testing.T) {
			list, err := s.List(room, tt.prefix)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, info := range list {
				got = append(got, info.Path)
				if want := "content of " + info.Path; info.Size != int64(len(want)) || info.SHA256 != sum(want) || info.Modified.IsZero() {
					t.Errorf("%s: got %+v, want size %d sha256 %s", info.Path, info, len(want), sum(want))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("List(%q): got %q, want %q", tt.prefix, got, tt.want)
			}
		})
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := s.List(room, "nope")
		wantCode(t, "List(nope)", err, mesh.ENotFound)
	})
	t.Run("SkipsUnreachable", func(t *testing.T) {
		s, dir := MustOpen(t, roomdata.Limits{})
		MustPut(t, s, room, "ok", "x")
		for _, p := range []string{".hidden", "back\\slash", "sub/.git/config"} {
			full := filepath.Join(roomDir(dir, room), filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		list, err := s.List(room, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Path != "ok" {
			t.Fatalf("got %+v, want only ok", list)
		}
	})
}

func TestStore_ErrRoom(t *testing.T) {
	s, _ := MustOpen(t, roomdata.Limits{})
	for _, id := range []mesh.RoomID{"", "Garden", "../etc", "a/b", ".x", "-x"} {
		_, _, err := s.Get(id, "a")
		wantCode(t, fmt.Sprintf("Get(%q)", id), err, mesh.EInvalid, "room")
		_, err = s.Put(id, "a", nil)
		wantCode(t, fmt.Sprintf("Put(%q)", id), err, mesh.EInvalid, "room")
		wantCode(t, fmt.Sprintf("Delete(%q)", id), s.Delete(id, "a"), mesh.EInvalid, "room")
		_, err = s.List(id, "")
		wantCode(t, fmt.Sprintf("List(%q)", id), err, mesh.EInvalid, "room")
	}
}

func TestStore_Limits(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		s, _ := MustOpen(t, roomdata.Limits{MaxFiles: 5})
		want := roomdata.DefaultLimits()
		want.MaxFiles = 5
		if got := s.Limits(); got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
	t.Run("ErrFileTooLarge", func(t *testing.T) {
		s, dir := MustOpen(t, roomdata.Limits{MaxFileBytes: 10})
		MustPut(t, s, room, "a", "0123456789")
		_, err := s.Put(room, "b/c", []byte("0123456789x"))
		wantCode(t, "Put", err, mesh.ETooLarge, "11 bytes", "per file", "10 bytes")
		if got, want := names(t, roomDir(dir, room)), []string{"a"}; !slices.Equal(got, want) {
			t.Fatalf("files on disk: got %q, want %q", got, want)
		}
	})
	t.Run("ErrRoomTooLarge", func(t *testing.T) {
		s, dir := MustOpen(t, roomdata.Limits{MaxFileBytes: 60, MaxRoomBytes: 100})
		MustPut(t, s, room, "a", strings.Repeat("a", 60))
		MustPut(t, s, room, "b", strings.Repeat("b", 40))
		_, err := s.Put(room, "new/c", []byte("c"))
		wantCode(t, "Put c", err, mesh.ETooLarge, "101 bytes", "per room is 100 bytes")
		_, err = s.Put(room, "b", []byte(strings.Repeat("B", 41)))
		wantCode(t, "grow b", err, mesh.ETooLarge, "per room")
		wantContent(t, s, room, "b", strings.Repeat("b", 40))
		// Overwriting counts the old size out.
		MustPut(t, s, room, "a", strings.Repeat("a", 50))
		MustPut(t, s, room, "new/c", strings.Repeat("c", 10))
		wantUsage(t, s, room, roomdata.Usage{Bytes: 100, Files: 3})
		// Other rooms have their own quota.
		MustPut(t, s, "other", "a", strings.Repeat("a", 60))
		// A restart recomputes the same usage.
		s2 := MustReopen(t, dir, roomdata.Limits{MaxFileBytes: 60, MaxRoomBytes: 100})
		wantUsage(t, s2, room, roomdata.Usage{Bytes: 100, Files: 3})
		_, err = s2.Put(room, "d", []byte("d"))
		wantCode(t, "Put d after restart", err, mesh.ETooLarge, "per room")
	})
	t.Run("ErrTooManyFiles", func(t *testing.T) {
		s, dir := MustOpen(t, roomdata.Limits{MaxFiles: 2})
		MustPut(t, s, room, "a", "1")
		MustPut(t, s, room, "b", "2")
		_, err := s.Put(room, "sub/c", []byte("3"))
		wantCode(t, "Put c", err, mesh.ETooLarge, "limit of 2 files")
		// A refused Put makes no directories.
		if got, want := names(t, roomDir(dir, room)), []string{"a", "b"}; !slices.Equal(got, want) {
			t.Fatalf("files on disk: got %q, want %q", got, want)
		}
		MustPut(t, s, room, "a", "overwrite is fine")
		if err := s.Delete(room, "b"); err != nil {
			t.Fatal(err)
		}
		MustPut(t, s, room, "sub/c", "3")
		wantUsage(t, s, room, roomdata.Usage{Bytes: 18, Files: 2})
	})
}

func TestStore_PutFailure(t *testing.T) {
	s, dir := MustOpen(t, roomdata.Limits{})
	MustPut(t, s, room, "doc/a.txt", "old content")
	var sawTmp string
	roomdata.SetBeforeRename(s, func(tmp string) error {
		sawTmp = tmp
		if !slices.ContainsFunc(names(t, roomDir(dir, room)), func(p string) bool { return path.Base(p) == tmp }) {
			t.Errorf("temporary file %s: not found during Put", tmp)
		}
		return errors.New("disk on fire")
	})
	_, err := s.Put(room, "doc/a.txt", []byte("new content, longer"))
	wantCode(t, "failed Put", err, mesh.EInternal)
	if !strings.HasPrefix(sawTmp, ".") {
		t.Errorf("temporary name %q: want it hidden (starting with a dot)", sawTmp)
	}
	_, err = s.Put(room, "doc/b.txt", []byte("new file"))
	wantCode(t, "failed Put of a new file", err, mesh.EInternal)
	_, err = s.Put(room, "new/deep/c.txt", []byte("new file in new directories"))
	wantCode(t, "failed Put in new directories", err, mesh.EInternal)
	roomdata.SetBeforeRename(s, nil)

	wantContent(t, s, room, "doc/a.txt", "old content")
	wantUsage(t, s, room, roomdata.Usage{Bytes: 11, Files: 1})
	if got, want := names(t, roomDir(dir, room)), []string{"doc", "doc/a.txt"}; !slices.Equal(got, want) {
		t.Fatalf("files on disk: got %q, want %q", got, want)
	}
}

func TestStore_StaleTempRemoved(t *testing.T) {
	s, dir := MustOpen(t, roomdata.Limits{})
	MustPut(t, s, room, "d/a", "12345")
	// As if a Put had crashed between create and rename.
	stale := filepath.Join(roomDir(dir, room), "d", ".tmp-CRASHED")
	if err := os.WriteFile(stale, []byte("half written"), 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := MustReopen(t, dir, roomdata.Limits{})
	wantUsage(t, s2, room, roomdata.Usage{Bytes: 5, Files: 1})
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temporary file: got %v, want it removed", err)
	}
}

func TestStore_ConcurrentPuts(t *testing.T) {
	t.Run("Accounting", func(t *testing.T) {
		s, dir := MustOpen(t, roomdata.Limits{})
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 30 {
					p := fmt.Sprintf("d%d/f%d", i%3, (g+i)%7)
					data := strings.Repeat("x", (g*31+i*17)%200)
					if _, err := s.Put(room, p, []byte(data)); err != nil {
						t.Error(err)
						return
					}
					if i%5 == 4 {
						if err := s.Delete(room, p); err != nil && mesh.ErrorCode(err) != mesh.ENotFound {
							t.Error(err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		list, err := s.List(room, "")
		if err != nil {
			t.Fatal(err)
		}
		var want roomdata.Usage
		for _, info := range list {
			want.Bytes += info.Size
			want.Files++
		}
		wantUsage(t, s, room, want)
		wantUsage(t, MustReopen(t, dir, roomdata.Limits{}), room, want)
	})
	t.Run("QuotaHolds", func(t *testing.T) {
		s, _ := MustOpen(t, roomdata.Limits{MaxFiles: 10, MaxRoomBytes: 1000})
		var mu sync.Mutex
		ok, tooLarge := 0, 0
		var wg sync.WaitGroup
		for g := range 40 {
			wg.Go(func() {
				_, err := s.Put(room, fmt.Sprintf("f%02d", g), []byte(strings.Repeat("y", 90)))
				mu.Lock()
				defer mu.Unlock()
				switch mesh.ErrorCode(err) {
				case "":
					ok++
				case mesh.ETooLarge:
					tooLarge++
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if ok != 10 || tooLarge != 30 {
			t.Fatalf("got %d stored and %d refused, want 10 and 30", ok, tooLarge)
		}
		wantUsage(t, s, room, roomdata.Usage{Bytes: 900, Files: 10})
	})
}
