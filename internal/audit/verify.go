package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// VerifyError names the first line of the audit log that is not as it
// was written. Line is 0 when no line can be blamed (a bad audit.head).
type VerifyError struct {
	Line   uint64
	Reason string // a sentence naming the line and the problem
}

func (e *VerifyError) Error() string { return "audit log: " + e.Reason }

// Verify reads the audit log in dataDir from start to end, in constant
// memory, and checks that every line parses, that n counts 1, 2, 3..., that
// each prev is the hash of the line before, and that the file agrees with
// audit.head. It returns the number of lines read, and a *VerifyError for
// the first bad line, or another error if the files cannot be read.
// A missing audit.jsonl reads as empty.
func Verify(dataDir string) (lines uint64, err error) {
	v := verifier{}
	v.head, v.hasHead, err = readHead(dataDir)
	if err != nil {
		return 0, &VerifyError{Reason: HeadName + " is not valid: " + err.Error()}
	}
	f, err := os.Open(filepath.Join(dataDir, FileName))
	if errors.Is(err, os.ErrNotExist) {
		return 0, v.end()
	} else if err != nil {
		return 0, fmt.Errorf("verify audit log: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var scratch []byte
	for {
		line, err := readLine(br, &scratch)
		switch {
		case errors.Is(err, io.EOF):
			return v.k, v.end()
		case errors.Is(err, io.ErrUnexpectedEOF):
			if e := v.resolve(nil); e != nil {
				return v.k, e
			}
			if v.hasHead && v.head.N > v.k {
				return v.k, v.bad(v.k+1, "the file was cut in the middle of line %d: %s records line %d", v.k+1, HeadName, v.head.N)
			}
			return v.k, v.bad(v.k+1, "line %d has no newline: a crash tore it (starting the node sets it aside)", v.k+1)
		case errors.Is(err, errLineTooLong):
			return v.k, v.bad(v.k+1, "line %d is longer than %d bytes", v.k+1, MaxLineBytes)
		case err != nil:
			return v.k, fmt.Errorf("verify audit log: %w", err)
		}
		if e := v.line(line); e != nil {
			return v.k, e
		}
	}
}

// verifier holds the state of one Verify pass.
type verifier struct {
	head    head
	hasHead bool

	k        uint64   // lines read
	prev     [32]byte // hash of line k
	pending  uint64   // a line whose prev did not match, awaiting the next line
	pendHash [32]byte // hash of line pending
}

func (v *verifier) bad(line uint64, format string, args ...any) *VerifyError {
	return &VerifyError{Line: line, Reason: fmt.Sprintf(format, args...)}
}

// line checks the next line, without its newline.
func (v *verifier) line(line []byte) *VerifyError {
	k := v.k + 1
	h, why := parseLine(line)
	if why != "" {
		if e := v.resolve(nil); e != nil {
			return e
		}
		return v.bad(k, "line %d is not a valid audit line: %s", k, why)
	}
	if e := v.resolve(&h); e != nil {
		return e
	}
	linked := h.Prev == string(appendHex(nil, v.prev))
	switch {
	case h.N != k && linked:
		return v.bad(k, "line %d was changed after it was written: it carries n=%d", k, h.N)
	case k == 1 && h.N > 1:
		return v.bad(1, "line 1 is missing: the file starts at n=%d", h.N)
	case h.N == k+1:
		return v.bad(k, "line %d is missing: the line after line %d carries n=%d", k, k-1, h.N)
	case h.N > k:
		return v.bad(k, "lines %d to %d are missing: the line after line %d carries n=%d", k, h.N-1, k-1, h.N)
	case h.N < k:
		return v.bad(k, "line %d carries n=%d, which an earlier line has: a line was inserted or repeated", k, h.N)
	}
	v.k, v.prev = k, hashLine(line)
	if !linked {
		v.pending, v.pendHash = k, v.prev
	}
	if v.hasHead && v.head.N == k {
		if v.head.Hash != string(appendHex(nil, v.prev)) {
			return v.bad(k, "line %d was changed after it was written: its hash does not match the one in %s", k, HeadName)
		}
	}
	return nil
}

// resolve decides, once the line after it is known (next, or nil if there
// is none), whether a line whose prev did not match was itself changed or
// the line before it was.
func (v *verifier) resolve(next *lineHeader) *VerifyError {
	j := v.pending
	if j == 0 {
		return nil
	}
	v.pending = 0
	if next != nil && next.Prev != string(appendHex(nil, v.pendHash)) {
		return v.bad(j, "line %d was changed after it was written: its hash does not match the one recorded on line %d", j, j+1)
	}
	if j == 1 {
		return v.bad(1, "line 1 was changed after it was written: its prev is not 64 zeros")
	}
	return v.bad(j-1, "line %d was changed after it was written: its hash does not match the one recorded on line %d", j-1, j)
}

// end runs the checks that need the whole file.
func (v *verifier) end() error {
	if e := v.resolve(nil); e != nil {
		return e
	}
	if v.hasHead && v.head.N > v.k {
		return v.bad(v.k, "the file ends at line %d but %s records line %d: lines were removed from the end", v.k, HeadName, v.head.N)
	}
	return nil
}
