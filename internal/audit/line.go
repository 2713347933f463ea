package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// zeroHash is the prev of line 1.
var zeroHash [32]byte

// hashLine returns the SHA-256 of a line's bytes, without its newline.
func hashLine(line []byte) [32]byte { return sha256.Sum256(line) }

func appendHex(b []byte, h [32]byte) []byte { return hex.AppendEncode(b, h[:]) }

// isHash reports whether s is 64 lowercase hex digits.
func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// lineHeader is the chain part of a line.
type lineHeader struct {
	N    uint64 `json:"n"`
	TS   string `json:"ts"`
	Prev string `json:"prev"`
}

// parseLine checks a line (without its newline) and returns its header,
// or a reason, a phrase saying what is wrong.
func parseLine(line []byte) (lineHeader, string) {
	var h lineHeader
	if !bytes.HasPrefix(line, []byte(`{"n":`)) {
		return h, `it does not start with {"n":`
	}
	if err := json.Unmarshal(line, &h); err != nil {
		return h, "it is not valid JSON (" + err.Error() + ")"
	}
	if h.N == 0 {
		return h, "its n is missing or 0"
	}
	if _, err := time.Parse(time.RFC3339Nano, h.TS); err != nil {
		return h, fmt.Sprintf("its ts %q is not an RFC 3339 time", h.TS)
	}
	if !isHash(h.Prev) {
		return h, "its prev is not 64 lowercase hex digits"
	}
	return h, ""
}

// errLineTooLong is returned by readLine for a line over MaxLineBytes.
var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its newline. The slice is valid
// until the next call. At the end of the file it returns io.EOF, or the
// bytes after the last newline with io.ErrUnexpectedEOF.
func readLine(br *bufio.Reader, scratch *[]byte) ([]byte, error) {
	b, err := br.ReadSlice('\n')
	if err == nil {
		return b[:len(b)-1], nil
	}
	if errors.Is(err, bufio.ErrBufferFull) {
		*scratch = append((*scratch)[:0], b...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(*scratch) > MaxLineBytes {
				return nil, errLineTooLong
			}
			b, err = br.ReadSlice('\n')
			*scratch = append(*scratch, b...)
		}
		b = *scratch
		if err == nil {
			if len(b) > MaxLineBytes+1 {
				return nil, errLineTooLong
			}
			return b[:len(b)-1], nil
		}
	}
	if errors.Is(err, io.EOF) {
		if len(b) == 0 {
			return nil, io.EOF
		}
		return b, io.ErrUnexpectedEOF
	}
	return nil, err
}
