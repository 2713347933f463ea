package roomdata_test

import (
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	mesh "github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/roomdata"
)

// badPaths break one path rule each; word is what the message must say.
var badPaths = map[string]struct{ path, word string }{
	"Empty":          {"", "empty"},
	"DotDot":         {"..", ".."},
	"DotDotInside":   {"a/../b", ".."},
	"DotDotEnd":      {"a/..", ".."},
	"Dot":            {".", "."},
	"DotInside":      {"a/./b", "."},
	"Absolute":       {"/etc/passwd", "slash"},
	"Backslash":      {`a\b`, "backslash"},
	"BackslashDots":  {`..\..\x`, "backslash"},
	"NUL":            {"a\x00b", "NUL"},
	"Control":        {"a\tb", "control"},
	"Newline":        {"a\nb", "control"},
	"DEL":            {"a\x7fb", "control"},
	"C1Control":      {"a\u0085b", "control"},
	"DoubleSlash":    {"a//b", "empty segment"},
	"TrailingSlash":  {"a/", "empty segment"},
	"Hidden":         {".hidden", "dot"},
	"HiddenInside":   {"a/.git/config", "dot"},
	"TempName":       {"a/.tmp-ABC", "dot"},
	"TooLong":        {strings.Repeat("a", 257), "257 bytes"},
	"TooDeep":        {"1/2/3/4/5/6/7/8/9", "9 segments"},
	"InvalidUTF8":    {"a\xffb", "UTF-8"},
	"Overlong":       {"\xc0\xaf", "UTF-8"},
	"Colon":          {"a:b", "':'"},
	"Star":           {"a*", "'*'"},
	"Symbol":         {"a€", "'€'"},
	"Emoji":          {"😀.png", "'😀'"},
	"ZeroWidthSpace": {"a\u200bb", "U+200B"},
}

// goodPaths follow every rule.
var goodPaths = []string{
	"a",
	"A-Z_0.9",
	"notes/2024-01-01 meeting.md",
	"a.b.c",
	"x..y",
	"trailing.",
	"naïve/日本語.txt",
	"हिन्दी.txt",
	"Ελληνικά/Ω",
	"1/2/3/4/5/6/7/8",
	strings.Repeat("a", 200) + "/" + strings.Repeat("b", 55),
}

func TestCheckPath(t *testing.T) {
	var l roomdata.Limits // zero: defaults
	for name, tt := range badPaths {
		t.Run(name, func(t *testing.T) {
			wantCode(t, "CheckPath", l.CheckPath(tt.path), mesh.EInvalid, tt.word)
		})
	}
	for _, p := range goodPaths {
		if err := l.CheckPath(p); err != nil {
			t.Errorf("%q: got %v, want nil", p, err)
		}
	}
	t.Run("SegmentTooLong", func(t *testing.T) {
		l := roomdata.Limits{MaxPathBytes: 1000}
		if err := l.CheckPath(strings.Repeat("a", 255)); err != nil {
			t.Fatalf("255 bytes: got %v, want nil", err)
		}
		wantCode(t, "256 bytes", l.CheckPath("x/"+strings.Repeat("a", 256)), mesh.EInvalid, "256 bytes", "255")
	})
	t.Run("CustomLimits", func(t *testing.T) {
		l := roomdata.Limits{MaxPathBytes: 5, MaxDepth: 2}
		wantCode(t, "long", l.CheckPath("abcdef"), mesh.EInvalid, "limit is 5")
		wantCode(t, "deep", l.CheckPath("a/b/c"), mesh.EInvalid, "limit is 2")
	})
}

// TestStore_BadPath checks that every operation refuses every bad path and
// touches nothing.
func TestStore_BadPath(t *testing.T) {
	s, dir := MustOpen(t, roomdata.Limits{})
	MustPut(t, s, room, "a/b", "x")
	for name, tt := range badPaths {
		t.Run(name, func(t *testing.T) {
			_, _, err := s.Get(room, tt.path)
			wantCode(t, "Get", err, mesh.EInvalid, tt.word)
			_, err = s.Put(room, tt.path, []byte("y"))
			wantCode(t, "Put", err, mesh.EInvalid, tt.word)
			wantCode(t, "Delete", s.Delete(room, tt.path), mesh.EInvalid, tt.word)
			if tt.path != "" && tt.path != "a/" { // the room root, and a directory
				_, err = s.List(room, tt.path)
				wantCode(t, "List", err, mesh.EInvalid, tt.word)
			}
		})
	}
	if got := names(t, filepath.Join(dir, "data")); len(got) != 3 {
		t.Fatalf("files on disk: got %q, want garden, garden/a, garden/a/b", got)
	}
}

func FuzzCheckPath(f *testing.F) {
	for _, tt := range badPaths {
		f.Add(tt.path)
	}
	for _, p := range goodPaths {
		f.Add(p)
	}
	l := roomdata.DefaultLimits()
	f.Fuzz(func(t *testing.T, p string) {
		err := l.CheckPath(p)
		if err != nil {
			if code := mesh.ErrorCode(err); code != mesh.EInvalid {
				t.Fatalf("%q: got code %q, want %q", p, code, mesh.EInvalid)
			}
			return
		}
		// A valid path stays inside the room whatever joins it.
		if !utf8.ValidString(p) || len(p) > l.MaxPathBytes || !filepath.IsLocal(p) || path.Clean(p) != p {
			t.Fatalf("%q: accepted, but not a clean local UTF-8 path within the length limit", p)
		}
		if strings.ContainsAny(p, "\\\x00") || strings.IndexFunc(p, unicode.IsControl) >= 0 {
			t.Fatalf("%q: accepted with a backslash, NUL or control character", p)
		}
		segs := strings.Split(p, "/")
		if len(segs) > l.MaxDepth {
			t.Fatalf("%q: accepted with %d segments", p, len(segs))
		}
		for _, seg := range segs {
			if seg == "" || seg[0] == '.' || len(seg) > 255 {
				t.Fatalf("%q: accepted with segment %q", p, seg)
			}
		}
	})
}
