package jsonl

import (
	"fmt"
	"sync"

	"github.com/the-mesh/mesh"
)

// Bounds on appends queued or being committed; past them Append blocks.
const (
	maxPendingBytes = 64 << 20
	maxPendingLines = 100_000
)

// pending is one queued append.
type pending struct {
	r    *room
	seq  uint64
	line []byte
	done func(mesh.Entry, error)
}

// queue hands appends to the committer.
type queue struct {
	mu       sync.Mutex
	nonEmpty sync.Cond // signalled when items grows, on kick, or when the queue closes
	space    sync.Cond // broadcast when lines or bytes fall, or on close/failure

	// Guarded by mu.
	items  []pending
	lines  int   // queued or being committed
	bytes  int   // of those lines
	closed bool  // set by Close
	kicked bool  // set by kick, cleared by take
	failed error // set by the committer after a write failed
}

func (q *queue) init() {
	q.nonEmpty.L = &q.mu
	q.space.L = &q.mu
}

// unavailableLocked returns why appends are refused, or nil. q.mu must be held.
func (q *queue) unavailableLocked() error {
	if q.closed {
		return mesh.Errorf(mesh.EUnavailable, "The message store is closed.")
	} else if q.failed != nil {
		return mesh.Errorf(mesh.EUnavailable, "The message store failed; restart the node.")
	}
	return nil
}

// wait blocks until the queue has room, or returns why it never will.
func (q *queue) wait() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.unavailableLocked() == nil && (q.lines >= maxPendingLines || q.bytes >= maxPendingBytes) {
		q.space.Wait()
	}
	return q.unavailableLocked()
}

func (q *queue) push(p pending) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.unavailableLocked(); err != nil {
		return err
	}
	q.items = append(q.items, p)
	q.lines++
	q.bytes += len(p.line)
	q.nonEmpty.Signal()
	return nil
}

// take waits for appends or a kick and returns all queued appends (maybe
// none, after a kick), swapping in spare. It returns closed true once the
// queue is closed and empty.
func (q *queue) take(spare []pending) (batch []pending, failed error, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed && !q.kicked {
		q.nonEmpty.Wait()
	}
	q.kicked = false
	if len(q.items) == 0 {
		return nil, q.failed, q.closed // keep items and spare apart
	}
	batch, q.items = q.items, spare
	return batch, q.failed, false
}

// kick wakes the committer even if nothing is queued, so that it can
// start a checkpoint that has come due. It is safe to call at any time.
func (q *queue) kick() {
	q.mu.Lock()
	q.kicked = true
	q.mu.Unlock()
	q.nonEmpty.Signal()
}

// err returns why the store failed, or nil.
func (q *queue) err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.failed
}

// finished releases the room held by a committed batch.
func (q *queue) finished(lines, bytes int) {
	q.mu.Lock()
	q.lines -= lines
	q.bytes -= bytes
	q.mu.Unlock()
	q.space.Broadcast()
}

func (q *queue) fail(err error) {
	q.mu.Lock()
	if q.failed == nil {
		q.failed = err
	}
	q.mu.Unlock()
	q.space.Broadcast()
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.nonEmpty.Broadcast()
	q.space.Broadcast()
}

// Append assigns the room's next seq, calls encode with it while holding
// the room's lock, checks the line (one JSON object, no newline, "seq"
// equal to the seq given, at most 4 MiB) and queues it for the next group
// commit. done runs once, on the committer goroutine after the line is
// fsynced, or at once on error: mesh.EInvalid for a malformed room id,
// mesh.EUnavailable after Close or a failed write, the encode error or a
// line error. A seq is used only if the line was queued. Append blocks
// while too much is queued (see maxPendingBytes). done must not block, and
// must not call Append, which could then wait on the committer running it.
func (s *Store) Append(id mesh.RoomID, encode func(seq uint64) ([]byte, error), done func(mesh.Entry, error)) {
	if err := s.appendLine(id, encode, done); err != nil {
		done(mesh.Entry{}, fmt.Errorf("append room %s: %w", id, err))
	}
}

func (s *Store) appendLine(id mesh.RoomID, encode func(seq uint64) ([]byte, error), done func(mesh.Entry, error)) error {
	if !id.Valid() {
		return invalidRoom(id)
	}
	if err := s.q.wait(); err != nil {
		return err
	}
	r := s.room(id, true)
	r.mu.Lock()
	defer r.mu.Unlock()
	seq := r.head + 1
	line, err := encode(seq)
	if err != nil {
		return err
	}
	if err := checkLine(line, seq); err != nil {
		return err
	}
	if err := s.q.push(pending{r: r, seq: seq, line: line, done: done}); err != nil {
		return err
	}
	r.head = seq
	return nil
}

// checkLine checks an encoded line before it is queued as seq.
func checkLine(line []byte, seq uint64) error {
	if len(line) > maxLineBytes {
		return mesh.Errorf(mesh.ETooLarge, "The message is over %d bytes.", maxLineBytes)
	}
	got, err := lineSeq(line)
	if err != nil {
		return fmt.Errorf("encoded line: %w", err)
	} else if got != seq {
		return fmt.Errorf("encoded line has seq %d, want %d", got, seq)
	}
	return nil
}
