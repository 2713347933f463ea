package audit_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/the-mesh/mesh/internal/audit"
)

func TestOpenSetsAsideTornTail(t *testing.T) {
	for name, tt := range map[string]struct {
		lines int    // good lines before the tail
		tail  string // appended to the file
	}{
		"NoNewline":      {lines: 10, tail: `{"n":11,"ts":"2026-01-0`},
		"InvalidJSON":    {lines: 10, tail: "{\"n\":11,\"ts\n"},
		"NotALine":       {lines: 10, tail: "hello\n"},
		"BadLineAndTorn": {lines: 10, tail: "hello\n{\"n\":12"},
		"Zeros":          {lines: 10, tail: string(make([]byte, 4096))},
		"WholeFile":      {lines: 0, tail: "garbage without a newline"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, audit.FileName)
			if tt.lines > 0 {
				MustWrite(t, dir, tt.lines)
			}
			mustAppend(t, path, tt.tail)

			MustClose(t, MustOpen(t, dir, audit.Options{}))
			MustVerify(t, dir, uint64(tt.lines+1))

			corrupt, err := os.ReadFile(filepath.Join(dir, audit.CorruptName))
			if err != nil || string(corrupt) != tt.tail {
				t.Errorf("corrupt file: got %q, %v; want %q", corrupt, err, tt.tail)
			}
			last := parse(t, MustLines(t, dir)[tt.lines])
			var d struct{ Bytes int }
			if err := json.Unmarshal(last.Detail, &d); err != nil || last.Action != "audit-recovered" || d.Bytes != len(tt.tail) {
				t.Errorf("last line: got %s %s, want audit-recovered of %d bytes", last.Action, last.Detail, len(tt.tail))
			}
		})
	}
}

func TestOpenRefusesTwoBadLines(t *testing.T) {
	dir := t.TempDir()
	MustWrite(t, dir, 3)
	mustAppend(t, filepath.Join(dir, audit.FileName), "bad\nworse\n")
	if l, err := audit.Open(dir, audit.Options{}); err == nil {
		l.Close()
		t.Fatalf("Open: got nil error, want one")
	}
}

func TestOpenRecordsHeadMismatch(t *testing.T) {
	for name, edit := range map[string]func([][]byte) [][]byte{
		"LastLineDeleted": drop(10),
		"LastLineEdited":  flip(10, `"say"`, `"sax"`),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			MustWrite(t, dir, 10)
			ls := edit(MustLines(t, dir))
			mustWriteFile(t, filepath.Join(dir, audit.FileName), append(bytes.Join(ls, []byte("\n")), '\n'))

			MustClose(t, MustOpen(t, dir, audit.Options{}))
			MustVerify(t, dir, uint64(len(ls)+1))
			if got := parse(t, MustLines(t, dir)[len(ls)]).Action; got != "audit-head-mismatch" {
				t.Errorf("got action %q, want audit-head-mismatch", got)
			}
		})
	}
}

func mustAppend(tb testing.TB, path, s string) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatal(err)
	}
}
