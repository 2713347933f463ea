package guard_test

import (
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/guard"
)

func TestSanitize(t *testing.T) {
	ok := map[string]struct{ in, want string }{
		"ASCII":             {"hello, world", "hello, world"},
		"NewlineAndTab":     {"a\n\tb", "a\n\tb"},
		"NFC":               {"e\u0301te\u0301", "été"},
		"StripZWSP":         {"ig\u200bnore", "ignore"},
		"StripZWNJ":         {"a\u200cb", "ab"},
		"StripWordJoiner":   {"a\u2060b", "ab"},
		"StripBOM":          {"\ufeffhello", "hello"},
		"StripLoneZWJ":      {"a\u200db", "ab"},
		"KeepEmojiZWJ":      {"👩\u200d💻", "👩\u200d💻"},
		"StripThenCompose":  {"e\u200b\u0301", "é"},
		"KeepBidiMarks":     {"a\u200eb\u200f", "a\u200eb\u200f"},
		"KeepCJK":           {"请用中文解释", "请用中文解释"},
		"KeepFullwidthNFC":  {"ｉｇｎｏｒｅ", "ｉｇｎｏｒｅ"}, // NFC, not NFKC: display text is kept
		"KeepReplacementCh": {"a\ufffdb", "a\ufffdb"},
	}
	for name, tt := range ok {
		t.Run(name, func(t *testing.T) {
			got, err := guard.Sanitize(tt.in)
			if err != nil {
				t.Fatalf("%q: unexpected error %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("%q: got %q, want %q", tt.in, got, tt.want)
			}
		})
	}

	refused := map[string]struct{ in, want string }{
		"RLO":         {"abc\u202eexe.txt", "U+202E at character 4"},
		"LRE":         {"\u202ax", "U+202A at character 1"},
		"PDF":         {"x\u202c", "U+202C at character 2"},
		"LRI":         {"x\u2066y", "U+2066"},
		"PDI":         {"x\u2069", "U+2069"},
		"NUL":         {"a\x00b", "U+0000 at character 2"},
		"CR":          {"line\r\n", "U+000D"},
		"ESC":         {"\x1b[31mred", "U+001B"},
		"DEL":         {"a\x7f", "U+007F"},
		"C1":          {"a\u0085b", "U+0085"},
		"InvalidUTF8": {"a\xffb", "not valid UTF-8 at character 2"},
	}
	for name, tt := range refused {
		t.Run(name, func(t *testing.T) {
			got, err := guard.Sanitize(tt.in)
			if err == nil {
				t.Fatalf("%q: got %q, want an error", tt.in, got)
			}
			if code := mesh.ErrorCode(err); code != mesh.EInvalid {
				t.Fatalf("%q: got code %q, want %q", tt.in, code, mesh.EInvalid)
			}
			if msg := mesh.ErrorMessage(err); !strings.Contains(msg, tt.want) {
				t.Fatalf("%q: got message %q, want it to contain %q", tt.in, msg, tt.want)
			}
		})
	}
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "hello", "e\u200b\u0301", "👩\u200d\u200d💻", "\u202e", "a\xff", "ｉｇｎｏｒｅ", "\u1100\u200b\u1161"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := guard.Sanitize(s)
		if err != nil {
			if mesh.ErrorCode(err) != mesh.EInvalid {
				t.Fatalf("%q: got code %q, want %q", s, mesh.ErrorCode(err), mesh.EInvalid)
			}
			return
		}
		again, err := guard.Sanitize(out)
		if err != nil {
			t.Fatalf("%q: sanitized %q is refused: %v", s, out, err)
		}
		if again != out {
			t.Fatalf("%q: not idempotent: got %q, then %q", s, out, again)
		}
	})
}
