package jsonl

import (
	"fmt"
	"time"

	"github.com/the-mesh/mesh"
)

// maxParallelFsync bounds how many files one commit writes and fsyncs at once.
const maxParallelFsync = 8

// roomWrite is one room's share of a batch.
type roomWrite struct {
	r       *room
	buf     []byte // the lines, each ended by '\n'
	entries []byte // index entries for lines in buf
	first   uint64 // seq of the first line
	last    uint64 // seq of the last line
	line1   []byte // the line with seq 1, if in buf
	epoch   string // set when line1 is
	err     error
}

// commitLoop is the committer goroutine: it commits batches until the
// queue is closed and drained.
func (s *Store) commitLoop() {
	defer s.committer.Done()
	var spare []pending
	for {
		batch, failed, ok := s.q.take(spare)
		if !ok {
			return
		}
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
}

// commit writes and fsyncs batch, updates the rooms' committed state and
// runs the done callbacks in queue order.
func (s *Store) commit(batch []pending) {
	writes := make(map[*room]*roomWrite)
	var order []*roomWrite
	for _, p := range batch {
		w := writes[p.r]
		if w == nil {
			w = &roomWrite{r: p.r, first: p.seq}
			writes[p.r] = w
			order = append(order, w)
		}
		if (p.seq-1)%uint64(s.every) == 0 {
			w.entries = appendEntry(w.entries, idxEntry{p.seq, p.r.size + int64(len(w.buf))})
		}
		if p.seq == 1 {
			w.line1 = p.line
		}
		w.buf = append(w.buf, p.line...)
		w.buf = append(w.buf, '\n')
		w.last = p.seq
	}
	parallel(len(order), maxParallelFsync, func(i int) { order[i].err = s.writeRoom(order[i]) })

	// A new log's directory entry must be durable before it is acked.
	var created []*roomWrite
	for _, w := range order {
		if w.err == nil && !w.r.onDisk {
			created = append(created, w)
		}
	}
	if len(created) > 0 {
		if err := syncDir(s.dir); err != nil {
			for _, w := range created {
				w.err = fmt.Errorf("append room %s: fsync directory: %w", w.r.id, err)
			}
		}
	}

	for _, w := range order {
		if w.err != nil {
			s.failRoom(w)
			continue
		}
		r := w.r
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

// writeRoom writes and fsyncs w's lines, then its index entries.
func (s *Store) writeRoom(w *roomWrite) error {
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
	t := time.Now()
	if err := h.log.Sync(); err != nil {
		h.log.Truncate(r.size) // best effort; Open repairs the rest
		return fmt.Errorf("append room %s: fsync: %w", r.id, err)
	}
	if s.onFsync != nil {
		s.onFsync(time.Since(t))
	}
	if w.line1 != nil {
		w.epoch = makeEpoch(string(r.id), w.line1)
	}
	if r.idxBroken {
		return nil
	}
	// The index is derived data, checked at Open: a failure here only
	// stops this room's index growing until then.
	err = nil
	if w.line1 != nil {
		err = h.idx.Truncate(0)
		if err == nil {
			_, err = h.idx.WriteAt(append(encodeHeader(s.every, w.epoch), w.entries...), 0)
		}
	} else if len(w.entries) > 0 {
		_, err = h.idx.WriteAt(w.entries, entryPos(r.idxN))
	}
	if err != nil {
		r.idxBroken = true
		s.logger.Warn("room index write failed; it will be rebuilt at next open", "room", r.id, "err", err)
	}
	return nil
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
