package jsonl

import (
	"errors"
	"fmt"
	"github.com/the-mesh/mesh/internal/atomicfile"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/the-mesh/mesh"
)

// room is one room's log state.
type room struct {
	id mesh.RoomID

	// mu is held by Append while it assigns a seq and queues the line.
	// It must be taken before Store.q.mu.
	mu   sync.Mutex
	head uint64 // last seq assigned; guarded by mu

	// cmu guards the committed state below. Only the committer (or Open)
	// writes it, and the committer may read it without cmu.
	cmu    sync.Mutex
	seq    uint64 // last durable seq
	size   int64  // bytes of durable lines
	idxN   int64  // index entries written
	epoch  string
	onDisk bool // the log file exists

	idxBroken bool // the committer stopped writing the index after an error
}

// committed returns the durable seq, size and index entry count.
func (r *room) committed() (seq uint64, size, idxN int64, epoch string) {
	r.cmu.Lock()
	defer r.cmu.Unlock()
	return r.seq, r.size, r.idxN, r.epoch
}

// recoverRoom checks room id's log and index in dir, repairs a torn tail
// and a stale index, and returns the room's state (package doc, "Open").
func recoverRoom(dir string, id mesh.RoomID, every int, logger *slog.Logger) (*room, error) {
	logPath := filepath.Join(dir, string(id)+".jsonl")
	log, err := os.OpenFile(logPath, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	idx, err := os.OpenFile(filepath.Join(dir, string(id)+".idx"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	defer idx.Close()
	fi, err := log.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()

	epoch := ""
	line, _, err := newLineReader(io.NewSectionReader(log, 0, size), 0, oneLineBuf).next()
	if err == nil {
		if seq, err := lineSeq(line); err == nil && seq == 1 {
			epoch = makeEpoch(string(id), line)
		}
	} else if err != io.EOF && !errors.Is(err, errCorrupt) {
		return nil, fmt.Errorf("read %s: %w", logPath, err)
	}

	n, err := checkIndex(idx, log, size, every, epoch)
	if err != nil {
		return nil, fmt.Errorf("check index of room %s: %w", id, err)
	}
	start := idxEntry{seq: 1}
	if n > 0 {
		if start, err = readEntry(idx, n-1); err != nil {
			return nil, fmt.Errorf("read index of room %s: %w", id, err)
		}
	}
	var entries []byte
	next, end, err := scanLog(io.NewSectionReader(log, start.off, size-start.off), start.off, start.seq, every,
		func(seq uint64, off int64) {
			if n == 0 || seq > start.seq {
				entries = appendEntry(entries, idxEntry{seq, off})
			}
		})
	if err != nil && !errors.Is(err, errCorrupt) {
		return nil, fmt.Errorf("read %s: %w", logPath, err)
	}
	if end < size {
		if err := setAside(log, logPath+".corrupt", end, size); err != nil {
			return nil, fmt.Errorf("set aside torn tail of room %s: %w", id, err)
		}
		logger.Warn("torn room log set aside", "room", id, "offset", end, "bytes", size-end,
			"file", logPath+".corrupt", "reason", err)
		size = end
	}
	if next == 1 {
		epoch, n, entries = "", 0, nil
	}

	// Rewrite the index from entry n on: header too if n is 0.
	trunc := entryPos(n)
	if n == 0 {
		trunc = 0
		if next > 1 {
			entries = append(encodeHeader(every, epoch), entries...)
		}
	}
	if err := idx.Truncate(trunc); err != nil {
		return nil, fmt.Errorf("truncate index of room %s: %w", id, err)
	}
	if _, err := idx.WriteAt(entries, trunc); err != nil {
		return nil, fmt.Errorf("write index of room %s: %w", id, err)
	}
	if n == 0 && next > 1 {
		n = int64(len(entries)-idxHeaderLen) / idxEntryLen
	} else {
		n += int64(len(entries)) / idxEntryLen
	}
	r := &room{id: id, head: next - 1, seq: next - 1, size: size, idxN: n, epoch: epoch, onDisk: true}
	return r, nil
}

// setAside appends src's bytes from off to size to the file at path,
// fsyncs it, then truncates src to off and fsyncs it.
func setAside(src *os.File, path string, off, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, io.NewSectionReader(src, off, size-off)); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
		return err
	}
	if err := src.Truncate(off); err != nil {
		return err
	}
	return src.Sync()
}
