package jsonl

import (
	"fmt"

	"github.com/the-mesh/mesh"
)

// maxParallelFsync bounds how many files are fsynced at once.
const maxParallelFsync = 8

// roomWrite is one room's share of a batch, or of a WAL replay.
type roomWrite struct {
	r       *room
	buf     []byte // the lines, each ended by '\n'
	entries []byte // index entries for lines in buf
	first   uint64 // seq of the first line
	last    uint64 // seq of the last line
	line1   []byte // the line with seq 1, if in buf
	epoch   string // set with line1 by writeLines
	err     error
}

// add appends the line with seq, the next one, to w.
func (w *roomWrite) add(seq uint64, line []byte, every int) {
	if w.first == 0 {
		w.first = seq
	}
	if (seq-1)%uint64(every) == 0 {
		w.entries = appendEntry(w.entries, idxEntry{seq, w.r.size + int64(len(w.buf))})
	}
	if seq == 1 {
		w.line1 = line
	}
	w.buf = append(w.buf, line...)
	w.buf = append(w.buf, '\n')
	w.last = seq
}

// commitLoop is the committer goroutine: it commits batches and starts
// checkpoints until the queue is closed and drained, then makes the
// final checkpoint.
func (s *Store) commitLoop() {
	defer s.committer.Done()
	var spare []pending
	for {
		batch, failed, closed := s.q.take(spare)
		if closed {
			break
		}
		if len(batch) > 0 {
			bytes := 0
			for _, p := range batch {
				bytes += len(p.line)
			}
			if failed != nil {
				for _, p := range batch {
					p.done(mesh.Entry{}, fmt.Errorf("append room %s: %w", p.r.id,
						mesh.Errorf(mesh.EUnavailable, "The message store failed; restart the node.")))
				}
			} else {
				s.commit(batch)
			}
			s.q.finished(len(batch), bytes)
			clear(batch)
			spare = batch[:0]
		}
		s.maybeCheckpoint()
	}
	s.closeErr = s.finalCheckpoint()
}

// commit writes batch to the room logs and the WAL, fsyncs the WAL,
// updates the rooms' committed state and runs the done callbacks in queue
// order.
func (s *Store) commit(batch []pending) {
	writes := make(map[*room]*roomWrite)
	var order []*roomWrite
	for _, p := range batch {
		w := writes[p.r]
		if w == nil {
			w = &roomWrite{r: p.r}
			writes[p.r] = w
			order = append(order, w)
		}
		w.add(p.seq, p.line, s.every)
	}
	// The logs are written first so that a room whose write fails leaves
	// nothing in the WAL: its appends fail and its seqs are never used.
	for _, w := range order {
		w.err = s.writeLines(w)
	}
	s.walBuf = s.walBuf[:0]
	for _, p := range batch {
		if writes[p.r].err == nil {
			s.walBuf = appendRecord(s.walBuf, p.r.id, p.seq, p.line)
		}
	}
	if len(s.walBuf) > 0 {
		if err := s.wal.append(s, s.walBuf); err != nil {
			for _, w := range order {
				if w.err == nil {
					w.err = fmt.Errorf("append room %s: wal: %w", w.r.id, err)
					s.cutLines(w)
				}
			}
		}
	}

	if cap(s.walBuf) > 4<<20 {
		s.walBuf = nil // a burst's buffer is not kept
	}

	for _, w := range order {
		if w.err != nil {
			s.failRoom(w)
			continue
		}
		s.writeIndex(w)
		r := w.r
		if !r.onDisk {
			s.ckpt.created = true
		}
		s.ckpt.dirty[r] = struct{}{}
		r.cmu.Lock()
		r.seq = w.last
		r.size += int64(len(w.buf))
		if !r.idxBroken {
			r.idxN += int64(len(w.entries) / idxEntryLen)
		}
		if w.line1 != nil {
			r.epoch = w.epoch
		}
		r.onDisk = true
		r.cmu.Unlock()
	}
	for _, p := range batch {
		if w := writes[p.r]; w.err != nil {
			p.done(mesh.Entry{}, w.err)
		} else {
			p.done(mesh.Entry{Seq: p.seq, Line: p.line}, nil)
		}
	}
}

// writeLines writes w's lines at the end of its room's log, without
// fsync: the WAL makes them durable until the next checkpoint.
func (s *Store) writeLines(w *roomWrite) error {
	r := w.r
	h, err := s.files.acquire(r.id)
	if err != nil {
		return fmt.Errorf("append room %s: open: %w", r.id, err)
	}
	defer s.files.release(h)
	if _, err := h.log.WriteAt(w.buf, r.size); err != nil {
		h.log.Truncate(r.size) // best effort; Open repairs the rest
		return fmt.Errorf("append room %s: write: %w", r.id, err)
	}
	if w.line1 != nil {
		w.epoch = makeEpoch(string(r.id), w.line1)
	}
	return nil
}

// cutLines takes w's lines back out of its log after the WAL failed.
func (s *Store) cutLines(w *roomWrite) {
	if h, err := s.files.acquire(w.r.id); err == nil {
		h.log.Truncate(w.r.size) // best effort; Open repairs the rest
		s.files.release(h)
	}
}

// writeIndex writes w's index entries (and the header with line 1) once
// its lines are committed. The index is derived data, checked at Open: a
// failure here only stops this room's index growing until then.
func (s *Store) writeIndex(w *roomWrite) {
	r := w.r
	if r.idxBroken || w.line1 == nil && len(w.entries) == 0 {
		return
	}
	h, err := s.files.acquire(r.id)
	if err == nil {
		if w.line1 != nil {
			err = h.idx.Truncate(0)
			if err == nil {
				_, err = h.idx.WriteAt(append(encodeHeader(s.every, w.epoch), w.entries...), 0)
			}
		} else {
			_, err = h.idx.WriteAt(w.entries, entryPos(r.idxN))
		}
		s.files.release(h)
	}
	if err != nil {
		r.idxBroken = true
		s.logger.Warn("room index write failed; it will be rebuilt at next open", "room", r.id, "err", err)
	}
}

// failRoom handles a failed write: the store refuses further appends and
// the room's next seq goes back to its last durable one.
func (s *Store) failRoom(w *roomWrite) {
	s.logger.Error("room log write failed; refusing appends", "room", w.r.id, "err", w.err)
	s.q.fail(w.err)
	w.r.mu.Lock()
	w.r.head = w.r.seq
	w.r.mu.Unlock()
}
