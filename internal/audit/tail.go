package audit

import (
	"bytes"
	"fmt"
	"github.com/the-mesh/mesh/internal/atomicfile"
	"io"
	"os"
	"path/filepath"
)

// tail is where the file stands after Open's recovery.
type tail struct {
	n    uint64   // n of the last line, 0 for an empty file
	hash [32]byte // hash of the last line, zeroHash for an empty file
	prev string   // prev of the last line
	cut  *cut     // what was set aside, if anything
}

// cut describes bytes moved to audit.jsonl.corrupt; it is the Detail of the
// "audit-recovered" line.
type cut struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Bytes  int64  `json:"bytes"`
	Reason string `json:"reason"`
}

// recoverTail finds the last line of f by reading backwards from the end.
// Bytes after the last newline, and a last line that does not parse, are
// appended to corruptPath, fsynced, and cut from f. A second bad line
// before them is not a crash's doing: recoverTail returns an error.
func recoverTail(f *os.File, corruptPath string) (tail, error) {
	fi, err := f.Stat()
	if err != nil {
		return tail{}, err
	}
	size := fi.Size()
	nl, err := lastIndexByte(f, size, '\n')
	if err != nil {
		return tail{}, err
	}
	cutAt, reason := nl+1, "the last line has no newline (torn write)"
	for try := 0; ; try++ {
		if nl < 0 { // no complete line left
			t := tail{hash: zeroHash}
			if cutAt < size {
				t.cut, err = setAside(f, corruptPath, cutAt, size, reason)
			}
			return t, err
		}
		start, line, why, err := lineBefore(f, nl)
		if err != nil {
			return tail{}, err
		}
		if why == "" {
			h, _ := parseLine(line)
			t := tail{n: h.N, hash: hashLine(line), prev: h.Prev}
			if cutAt < size {
				t.cut, err = setAside(f, corruptPath, cutAt, size, reason)
			}
			return t, err
		}
		if try == 1 {
			return tail{}, fmt.Errorf("the last two lines are bad (%s): run mesh audit verify", why)
		}
		cutAt, nl = start, start-1
		reason = "the last line is not a valid audit line: " + why
	}
}

// lineBefore returns the line that ends with the newline at offset nl, its
// start offset, and why it is not a valid line ("" if it is).
func lineBefore(f *os.File, nl int64) (start int64, line []byte, why string, err error) {
	prevNL, err := lastIndexByte(f, nl, '\n')
	if err != nil {
		return 0, nil, "", err
	}
	start = prevNL + 1
	if nl-start > MaxLineBytes {
		return start, nil, "it is longer than MaxLineBytes", nil
	}
	line = make([]byte, nl-start)
	if _, err := f.ReadAt(line, start); err != nil {
		return 0, nil, "", fmt.Errorf("read last line: %w", err)
	}
	_, why = parseLine(line)
	return start, line, why, nil
}

// setAside appends f[from:to] to corruptPath, fsyncs it, then truncates f
// to from and fsyncs f.
func setAside(f *os.File, corruptPath string, from, to int64, reason string) (*cut, error) {
	c, err := os.OpenFile(corruptPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("set aside torn tail: %w", err)
	}
	_, err = io.Copy(c, io.NewSectionReader(f, from, to-from))
	if err == nil {
		err = c.Sync()
	}
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = atomicfile.SyncDir(filepath.Dir(corruptPath))
	}
	if err == nil {
		err = f.Truncate(from)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return nil, fmt.Errorf("set aside torn tail: %w", err)
	}
	return &cut{File: CorruptName, Offset: from, Bytes: to - from, Reason: reason}, nil
}

// lastIndexByte returns the offset of the last c in f before offset end,
// or -1. It reads backwards in small chunks.
func lastIndexByte(f *os.File, end int64, c byte) (int64, error) {
	buf := make([]byte, 64<<10)
	for end > 0 {
		start := max(0, end-int64(len(buf)))
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil {
			return 0, fmt.Errorf("read audit log tail: %w", err)
		}
		if i := bytes.LastIndexByte(b, c); i >= 0 {
			return start + int64(i), nil
		}
		end = start
	}
	return -1, nil
}
