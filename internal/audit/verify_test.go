package audit_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/the-mesh/mesh/internal/audit"
)

// flip changes one character of line i (1-based) at the first occurrence
// of old.
func flip(i int, old, new string) func([][]byte) [][]byte {
	return func(ls [][]byte) [][]byte {
		ls[i-1] = bytes.Replace(ls[i-1], []byte(old), []byte(new), 1)
		return ls
	}
}

// flipPrev changes the first hex digit of line i's prev.
func flipPrev(i int) func([][]byte) [][]byte {
	return func(ls [][]byte) [][]byte {
		j := bytes.Index(ls[i-1], []byte(`"prev":"`)) + len(`"prev":"`)
		if ls[i-1][j] == '1' {
			ls[i-1][j] = '2'
		} else {
			ls[i-1][j] = '1'
		}
		return ls
	}
}

func drop(i int) func([][]byte) [][]byte {
	return func(ls [][]byte) [][]byte { return append(ls[:i-1], ls[i:]...) }
}

func TestVerifyDetects(t *testing.T) {
	for name, tt := range map[string]struct {
		edit   func([][]byte) [][]byte // the file's lines
		raw    func([]byte) []byte     // the file's bytes, after edit
		line   uint64                  // 0: want no error
		reason string
	}{
		"Untouched":        {},
		"EditAction":       {edit: flip(5, `"say"`, `"sax"`), line: 5, reason: "line 5 was changed after it was written: its hash does not match the one recorded on line 6"},
		"EditTimestamp":    {edit: flip(5, `"ts":"2`, `"ts":"3`), line: 5, reason: "line 5 was changed"},
		"EditPrev":         {edit: flipPrev(5), line: 5, reason: "line 5 was changed after it was written: its hash does not match the one recorded on line 6"},
		"EditN":            {edit: flip(5, `"n":5`, `"n":6`), line: 5, reason: "line 5 was changed after it was written: it carries n=6"},
		"EditFirstLine":    {edit: flip(1, `"say"`, `"sax"`), line: 1, reason: "line 1 was changed"},
		"EditFirstPrev":    {edit: flipPrev(1), line: 1, reason: "line 1 was changed"},
		"BreakJSON":        {edit: flip(5, `}`, `]`), line: 5, reason: "line 5 is not a valid audit line"},
		"DeleteMiddle":     {edit: drop(5), line: 5, reason: "line 5 is missing"},
		"DeleteTwo":        {edit: func(ls [][]byte) [][]byte { return drop(5)(drop(5)(ls)) }, line: 5, reason: "lines 5 to 6 are missing"},
		"DeleteFirst":      {edit: drop(1), line: 1, reason: "line 1 is missing: the file starts at n=2"},
		"RepeatLine":       {edit: func(ls [][]byte) [][]byte { return append(ls[:4:4], append([][]byte{ls[2]}, ls[4:]...)...) }, line: 5, reason: "line 5 carries n=3"},
		"EditLastLine":     {edit: flip(10, `"say"`, `"sax"`), line: 10, reason: "line 10 was changed after it was written: its hash does not match the one in audit.head"},
		"DeleteLastLine":   {edit: drop(10), line: 9, reason: "the file ends at line 9 but audit.head records line 10"},
		"TruncateAtLine4":  {edit: func(ls [][]byte) [][]byte { return ls[:4] }, line: 4, reason: "the file ends at line 4"},
		"TruncateEmpty":    {raw: func([]byte) []byte { return nil }, line: 0, reason: "the file ends at line 0"},
		"CutMidLine7":      {raw: cutInLine(7), line: 7, reason: "the file was cut in the middle of line 7"},
		"TornAfterHead":    {raw: func(b []byte) []byte { return append(b, `{"n":11,"ts`...) }, line: 11, reason: "line 11 has no newline"},
		"GarbageAfterHead": {raw: func(b []byte) []byte { return append(b, "hello\n"...) }, line: 11, reason: "line 11 is not a valid audit line"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			MustWrite(t, dir, 10)
			path := filepath.Join(dir, audit.FileName)
			if tt.edit != nil {
				ls := tt.edit(MustLines(t, dir))
				mustWriteFile(t, path, append(bytes.Join(ls, []byte("\n")), '\n'))
			}
			if tt.raw != nil {
				b, _ := os.ReadFile(path)
				mustWriteFile(t, path, tt.raw(b))
			}
			_, err := audit.Verify(dir)
			if tt.line == 0 && tt.reason == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var ve *audit.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *VerifyError", err)
			}
			if ve.Line != tt.line || !strings.Contains(ve.Reason, tt.reason) {
				t.Errorf("got line %d %q, want line %d %q", ve.Line, ve.Reason, tt.line, tt.reason)
			}
		})
	}
}

// cutInLine cuts the file in the middle of line i.
func cutInLine(i int) func([]byte) []byte {
	return func(b []byte) []byte {
		ls := bytes.SplitAfter(b, []byte("\n"))
		keep := bytes.Join(ls[:i-1], nil)
		return append(keep, ls[i-1][:len(ls[i-1])/2]...)
	}
}

func mustWriteFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

func TestVerifyBadHead(t *testing.T) {
	dir := t.TempDir()
	MustWrite(t, dir, 3)
	mustWriteFile(t, filepath.Join(dir, audit.HeadName), []byte("{}"))
	_, err := audit.Verify(dir)
	var ve *audit.VerifyError
	if !errors.As(err, &ve) || ve.Line != 0 {
		t.Errorf("got %v, want a *VerifyError for line 0", err)
	}
}

func TestVerifyEmpty(t *testing.T) {
	MustVerify(t, t.TempDir(), 0)
}
