package jsonl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxLineBytes is the longest line a log or journal may hold, newline excluded.
const maxLineBytes = 4 << 20

// Scanning errors. errCorrupt marks bad bytes, as opposed to I/O errors.
var (
	errCorrupt = errors.New("corrupt line")
	errTorn    = fmt.Errorf("%w: no newline or too long", errCorrupt)
)

// lineReader splits a stream into '\n'-ended lines. It is the only place
// that reads lines from disk.
type lineReader struct {
	br  *bufio.Reader
	off int64  // offset of the next line
	buf []byte // holds lines longer than br's buffer
}

// newLineReader reads lines from r, which starts at offset off, through
// a buffer of bufSize bytes (longer lines are still read whole).
func newLineReader(r io.Reader, off int64, bufSize int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, bufSize), off: off}
}

// Buffer sizes for newLineReader.
const (
	oneLineBuf = 4 << 10  // reading one line
	scanBuf    = 64 << 10 // reading many
)

// next returns the next line without its '\n' and the offset where it
// starts. The line is valid until the next call. At a clean end it returns
// io.EOF; a final line without '\n', or one over maxLineBytes, gives
// errTorn, after which the reader must not be used.
func (lr *lineReader) next() (line []byte, start int64, err error) {
	start = lr.off
	lr.buf = lr.buf[:0]
	for {
		frag, err := lr.br.ReadSlice('\n')
		if len(lr.buf)+len(frag) > maxLineBytes+1 {
			return nil, start, errTorn
		}
		switch {
		case err == nil && len(lr.buf) == 0:
			line = frag
		case err == nil || err == bufio.ErrBufferFull:
			lr.buf = append(lr.buf, frag...)
			if err != nil {
				continue
			}
			line = lr.buf
		case err == io.EOF && len(lr.buf)+len(frag) == 0:
			return nil, start, io.EOF
		case err == io.EOF:
			return nil, start, errTorn
		default:
			return nil, start, err
		}
		lr.off += int64(len(line))
		return line[:len(line)-1], start, nil
	}
}

// lineSeq checks that line is a single valid JSON object with no raw
// newline and returns its top-level "seq" member, which must be an integer
// from 1 to 2^64-1 (the last one wins if the key repeats; the key must be
// spelled exactly "seq", without escapes). json.Valid checks the syntax;
// a hand scan, which relies on it, finds the member without decoding.
func lineSeq(line []byte) (uint64, error) {
	if len(line) < 2 || line[0] != '{' || line[len(line)-1] != '}' {
		return 0, errors.New("not a JSON object")
	}
	if bytes.IndexByte(line, '\n') >= 0 {
		return 0, errors.New("newline inside line")
	}
	if !json.Valid(line) {
		return 0, errors.New("invalid JSON")
	}
	var seq uint64
	found := false
	depth, key := 0, false // key: the next string at depth 1 is a member name
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case '{', '[':
			depth++
			key = depth == 1
		case '}', ']':
			depth--
		case ',':
			key = depth == 1
		case '"':
			j := i + 1
			for ; line[j] != '"'; j++ {
				if line[j] == '\\' {
					j++
				}
			}
			if key && string(line[i+1:j]) == "seq" {
				n, next, err := parseSeqValue(line, j+1)
				if err != nil {
					return 0, err
				}
				seq, found, j = n, true, next-1
			}
			key = false
			i = j
		}
	}
	if !found {
		return 0, errors.New("no seq member")
	}
	return seq, nil
}

// parseSeqValue parses the value after a member name ending before i in
// valid JSON: optional space, ':', optional space, then digits.
func parseSeqValue(line []byte, i int) (n uint64, next int, err error) {
	for line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == ':' {
		i++
	}
	start := i
	for ; line[i] >= '0' && line[i] <= '9'; i++ {
		d := uint64(line[i] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, 0, errors.New("seq out of range")
		}
		n = n*10 + d
	}
	if i == start || n == 0 || line[i] == '.' || line[i] == 'e' || line[i] == 'E' {
		return 0, 0, errors.New("seq is not a positive integer")
	}
	return n, i, nil
}

// scanLog reads lines from r, which starts at offset off with the line
// whose seq should be seq. It calls mark (if not nil) for every good line
// whose seq is 1 modulo every. It stops at the end of r or at the first
// line that is torn, not a JSON object, or out of sequence, and returns
// the seq after the last good line, the offset just past it, and why it
// stopped: nil at the end, an error wrapping errCorrupt at a bad line, or
// a read error.
func scanLog(r io.Reader, off int64, seq uint64, every int, mark func(seq uint64, off int64)) (next uint64, end int64, err error) {
	lr := newLineReader(r, off, scanBuf)
	next, end = seq, off
	for {
		line, start, err := lr.next()
		if err == io.EOF {
			return next, end, nil
		} else if err != nil {
			return next, end, fmt.Errorf("seq %d: %w", next, err)
		}
		got, err := lineSeq(line)
		if err != nil {
			return next, end, fmt.Errorf("seq %d: %w: %w", next, errCorrupt, err)
		} else if got != next {
			return next, end, fmt.Errorf("%w: got seq %d, want %d", errCorrupt, got, next)
		}
		if mark != nil && (next-1)%uint64(every) == 0 {
			mark(next, start)
		}
		next++
		end = start + int64(len(line)) + 1
	}
}
