package jsonl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/the-mesh/mesh"
)

// replayWAL brings the logs up to date from wal.old and wal, in that order
// (package doc, "Recovery"), fsyncs the logs it extended, and leaves an
// empty WAL open for the committer. It runs in Open after recoverAll.
func (s *Store) replayWAL() error {
	writes := make(map[*room]*roomWrite)
	var order []*roomWrite
	apply := func(rec walRecord) error {
		id := mesh.RoomID(rec.room)
		if !id.Valid() {
			return fmt.Errorf("record for seq %d names room %q, which is not valid", rec.seq, rec.room)
		}
		r := s.room(id, true)
		w := writes[r]
		head := r.seq
		if w != nil {
			head = w.last
		}
		if rec.seq <= head {
			return nil // the log has it
		} else if rec.seq > head+1 {
			return fmt.Errorf("room %s: gap: record has seq %d but the log ends at seq %d (seqs %d to %d are missing)",
				id, rec.seq, head, head+1, rec.seq-1)
		}
		if got, err := lineSeq(rec.line); err != nil || got != rec.seq {
			return fmt.Errorf("room %s: record for seq %d holds a bad line (seq %d, %v)", id, rec.seq, got, err)
		}
		if w == nil {
			w = &roomWrite{r: r}
			writes[r] = w
			order = append(order, w)
		}
		line := rec.line
		if rec.seq == 1 {
			line = bytes.Clone(line) // kept for the epoch
		}
		w.add(rec.seq, line, s.every)
		return nil
	}
	oldPath, path := filepath.Join(s.dir, walOldName), filepath.Join(s.dir, walName)
	hadOld, _, err := s.readWAL(oldPath, apply)
	if err != nil {
		return err
	}
	hasWAL, empty, err := s.readWAL(path, apply)
	if err != nil {
		return err
	}

	// Extend the logs and make them durable before the WAL goes.
	parallel(len(order), maxParallelFsync, func(i int) {
		w := order[i]
		if w.err = s.writeLines(w); w.err != nil {
			return
		}
		s.writeIndex(w)
		h, err := s.files.acquire(w.r.id)
		if err == nil {
			err = s.sync(h.log)
			s.files.release(h)
		}
		if err != nil {
			w.err = fmt.Errorf("replay wal into room %s: fsync: %w", w.r.id, err)
		}
	})
	created, lines := false, uint64(0)
	for _, w := range order {
		if w.err != nil {
			return w.err
		}
		r := w.r
		created = created || !r.onDisk
		r.head, r.seq, r.size, r.onDisk = w.last, w.last, r.size+int64(len(w.buf)), true
		if !r.idxBroken {
			r.idxN += int64(len(w.entries) / idxEntryLen)
		}
		if w.line1 != nil {
			r.epoch = w.epoch
		}
		lines += w.last - w.first + 1
	}
	if len(order) > 0 {
		s.logger.Info("room logs completed from the wal", "rooms", len(order), "lines", lines)
	}
	if created {
		if err := s.syncDir(); err != nil {
			return fmt.Errorf("replay wal: fsync directory: %w", err)
		}
	}

	if hasWAL && empty && !hadOld {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("open wal: %w", err)
		}
		s.wal = walFile{f: f, size: walHeaderLen}
		return nil
	}
	if err := os.Remove(oldPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove replayed wal: %w", err)
	}
	f, err := s.createWAL() // also makes the removal durable
	if err != nil {
		return fmt.Errorf("create wal: %w", err)
	}
	s.wal = walFile{f: f, size: walHeaderLen}
	return nil
}

// readWAL calls apply with each record of the WAL at path, in order, and
// reports whether the file exists and is exactly an empty WAL. A torn
// tail (a record cut short or failing its checksum, and all bytes after
// it) was never acknowledged: it is appended to wal.corrupt, cut from the
// WAL, and a warning is logged.
func (s *Store) readWAL(path string, apply func(walRecord) error) (exists, empty bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, false, nil
	} else if err != nil {
		return false, false, fmt.Errorf("open wal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return true, false, fmt.Errorf("read %s: %w", path, err)
	}
	size := fi.Size()
	if size == 0 {
		return true, false, nil // created, then a crash before its header
	}
	torn, at := checkWALHeader(f, size), int64(0)
	if torn != nil && !errors.Is(torn, errCorrupt) {
		return true, false, fmt.Errorf("read %s: %w", path, torn)
	}
	n := 0
	if torn == nil {
		wr := newWALReader(io.NewSectionReader(f, walHeaderLen, size-walHeaderLen), walHeaderLen)
		for {
			at = wr.off
			rec, err := wr.next()
			if err == io.EOF {
				return true, n == 0, nil
			} else if errors.Is(err, errCorrupt) {
				torn = err
				break
			} else if err != nil {
				return true, false, fmt.Errorf("read %s: %w", path, err)
			}
			if err := apply(rec); err != nil {
				return true, false, fmt.Errorf("replay %s at offset %d: %w", path, at, err)
			}
			n++
		}
	}
	corrupt := filepath.Join(s.dir, walCorruptName)
	if err := setAside(f, corrupt, at, size); err != nil {
		return true, false, fmt.Errorf("set aside torn tail of %s: %w", path, err)
	}
	s.logger.Warn("torn wal tail set aside", "file", path, "offset", at, "bytes", size-at,
		"to", corrupt, "reason", torn)
	return true, false, nil
}
