package jsonl

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/the-mesh/mesh/internal/atomicfile"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/the-mesh/mesh"
)

// Journal is a small append-only JSON Lines file, replayed in full when it
// is opened. Its methods are safe for concurrent use. Concurrent Appends
// share fsyncs: each queues its line, and a flusher goroutine, started
// when lines are queued and none runs, writes everything queued with one
// write and one fsync.
type Journal struct {
	path    string
	onFsync func(time.Duration) // if set, called after every fsync

	mu      sync.Mutex
	f       *os.File      // written only by the flusher, closed by Close once none runs
	closed  bool          // set by Close; guarded by mu
	size    int64         // bytes of durable lines; guarded by mu
	failed  error         // a failed write that could not be undone; guarded by mu
	next    *journalBatch // lines queued for the next write; guarded by mu
	running bool          // a flusher runs; guarded by mu
	flusher sync.WaitGroup
}

// journalBatch is the lines written by one write and one fsync.
type journalBatch struct {
	buf  []byte        // the lines, each ended by '\n'
	done chan struct{} // closed once written, with err set
	err  error
}

func newJournalBatch() *journalBatch { return &journalBatch{done: make(chan struct{})} }

// OpenJournal opens or creates the journal at path and calls replay with
// each line in order (without its '\n'; valid only during the call). A
// torn or invalid line and all bytes after it are moved to path+".corrupt"
// and a warning is logged (nil logger = discard). An error from replay
// stops the replay and is returned.
func OpenJournal(path string, logger *slog.Logger, replay func(line []byte) error) (*Journal, error) {
	return openJournal(path, logger, replay, nil)
}

func openJournal(path string, logger *slog.Logger, replay func(line []byte) error, onFsync func(time.Duration)) (*Journal, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil { // f may be new
		f.Close()
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j := &Journal{path: path, onFsync: onFsync, f: f, next: newJournalBatch()}
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

// Append writes v, encoded by json.Marshal, as one line and returns once
// an fsync covering it is done. v must encode to a JSON object. Lines are
// written in the order Append calls take the journal's lock; concurrent
// calls share a write and an fsync, and share its error. After Close it
// fails with mesh.EUnavailable; once a failed write could not be undone,
// with mesh.EUnavailable until the journal is opened again.
func (j *Journal) Append(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("append journal %s: %w", j.path, err)
	}
	if err := checkObject(line); err != nil {
		return fmt.Errorf("append journal %s: %w", j.path, err)
	}
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return fmt.Errorf("append journal %s: %w", j.path,
			mesh.Errorf(mesh.EUnavailable, "The journal is closed."))
	} else if j.failed != nil {
		j.mu.Unlock()
		return fmt.Errorf("append journal %s: %w", j.path, j.failed)
	}
	b := j.next
	b.buf = append(b.buf, line...)
	b.buf = append(b.buf, '\n')
	if !j.running {
		j.running = true
		j.flusher.Go(j.flush)
	}
	j.mu.Unlock()
	<-b.done
	if b.err != nil {
		return fmt.Errorf("append journal %s: %w", j.path, b.err)
	}
	return nil
}

// flush is the flusher goroutine: it writes and fsyncs queued batches, in
// order, until none is left.
func (j *Journal) flush() {
	j.mu.Lock()
	defer j.mu.Unlock()
	for len(j.next.buf) > 0 {
		b, off := j.next, j.size
		j.next = newJournalBatch()
		if j.failed != nil {
			b.err = j.failed
			close(b.done)
			continue
		}
		j.mu.Unlock()
		b.err = j.write(b.buf, off)
		j.mu.Lock()
		if b.err == nil {
			j.size += int64(len(b.buf))
		} else if terr := j.f.Truncate(off); terr != nil {
			// Undoing the write failed: later lines would follow torn bytes.
			j.failed = mesh.Errorf(mesh.EUnavailable, "The journal failed; restart the node.")
		}
		close(b.done)
	}
	j.running = false
}

// write writes buf at off and fsyncs the journal.
func (j *Journal) write(buf []byte, off int64) error {
	if _, err := j.f.WriteAt(buf, off); err != nil {
		return err
	}
	t := time.Now()
	if err := j.f.Sync(); err != nil {
		return err
	}
	if j.onFsync != nil {
		j.onFsync(time.Since(t))
	}
	return nil
}

// Close waits for queued lines to be written, then closes the journal
// file. Appends that have not queued their line by then fail. Later calls
// do nothing.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.mu.Unlock()
	j.flusher.Wait()
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("close journal %s: %w", j.path, err)
	}
	return nil
}
