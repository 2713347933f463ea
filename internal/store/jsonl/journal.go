package jsonl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/the-mesh/mesh"
)

// Journal is a small append-only JSON Lines file, replayed in full when it
// is opened. Its methods are safe for concurrent use.
type Journal struct {
	path string

	mu     sync.Mutex
	f      *os.File // nil once closed; guarded by mu
	size   int64    // bytes of durable lines; guarded by mu
	failed error    // a failed write that could not be undone; guarded by mu
}

// OpenJournal opens or creates the journal at path and calls replay with
// each line in order (without its '\n'; valid only during the call). A
// torn or invalid line and all bytes after it are moved to path+".corrupt"
// and a warning is logged (nil logger = discard). An error from replay
// stops the replay and is returned.
func OpenJournal(path string, logger *slog.Logger, replay func(line []byte) error) (*Journal, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil { // f may be new
		f.Close()
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j := &Journal{path: path, f: f}
	if err := j.replay(logger, replay); err != nil {
		f.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	return j, nil
}

func (j *Journal) replay(logger *slog.Logger, replay func(line []byte) error) error {
	fi, err := j.f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	lr := newLineReader(io.NewSectionReader(j.f, 0, size), 0, scanBuf)
	var end int64
	for n := 1; ; n++ {
		line, start, err := lr.next()
		if err == nil {
			err = checkObject(line)
		}
		if err == io.EOF {
			break
		} else if errors.Is(err, errCorrupt) {
			if err := setAside(j.f, j.path+".corrupt", start, size); err != nil {
				return fmt.Errorf("set aside torn tail: %w", err)
			}
			logger.Warn("torn journal set aside", "file", j.path, "offset", start,
				"bytes", size-start, "reason", err)
			break
		} else if err != nil {
			return err
		}
		if err := replay(line); err != nil {
			return fmt.Errorf("replay line %d: %w", n, err)
		}
		end = start + int64(len(line)) + 1
	}
	j.size = end
	return nil
}

// checkObject reports, wrapping errCorrupt, a line that is not one JSON object.
func checkObject(line []byte) error {
	if len(line) < 2 || line[0] != '{' || line[len(line)-1] != '}' || !json.Valid(line) {
		return fmt.Errorf("%w: not a JSON object", errCorrupt)
	}
	return nil
}

// Append writes v, encoded by json.Marshal, as one line and fsyncs it
// before returning. v must encode to a JSON object. After Close it fails
// with mesh.EUnavailable.
func (j *Journal) Append(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("append journal %s: %w", j.path, err)
	}
	if err := checkObject(line); err != nil {
		return fmt.Errorf("append journal %s: %w", j.path, err)
	}
	line = append(line, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return fmt.Errorf("append journal %s: %w", j.path,
			mesh.Errorf(mesh.EUnavailable, "The journal is closed."))
	} else if j.failed != nil {
		return fmt.Errorf("append journal %s: %w", j.path, j.failed)
	}
	_, err = j.f.WriteAt(line, j.size)
	if err == nil {
		err = j.f.Sync()
	}
	if err != nil {
		// Undo the write so the next line does not follow torn bytes.
		if terr := j.f.Truncate(j.size); terr != nil {
			j.failed = mesh.Errorf(mesh.EUnavailable, "The journal failed; restart the node.")
		}
		return fmt.Errorf("append journal %s: %w", j.path, err)
	}
	j.size += int64(len(line))
	return nil
}

// Close closes the journal file. Later calls do nothing.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	if err != nil {
		return fmt.Errorf("close journal %s: %w", j.path, err)
	}
	return nil
}
