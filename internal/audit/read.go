package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// MaxReadLimit caps the limit of Read.
const MaxReadLimit = 1000

// Read returns up to limit fsynced lines with n > after, in order, each
// without its newline. A limit <= 0 or over MaxReadLimit means
// MaxReadLimit. It streams the file from the start; it is safe for
// concurrent use with Record and works after Close.
func (l *Log) Read(after uint64, limit int) ([]json.RawMessage, error) {
	if limit <= 0 || limit > MaxReadLimit {
		limit = MaxReadLimit
	}
	l.mu.Lock()
	last := l.synced
	l.mu.Unlock()
	out := []json.RawMessage{}
	if after >= last {
		return out, nil
	}
	f, err := os.Open(filepath.Join(l.dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var scratch []byte
	for n := uint64(1); n <= last && len(out) < limit; n++ {
		line, err := readLine(br, &scratch)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break // the file ends early only after a write error
		} else if err != nil {
			return nil, fmt.Errorf("read audit log line %d: %w", n, err)
		}
		if n > after {
			out = append(out, json.RawMessage(append([]byte(nil), line...)))
		}
	}
	return out, nil
}
