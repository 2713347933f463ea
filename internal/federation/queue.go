package federation

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/atomicfile"
	"github.com/the-mesh/mesh/internal/store/jsonl"
)

// File names in the node's data directory.
const (
	QueueFile      = "federation-queue.jsonl"
	DeadLetterFile = "dead-letter.jsonl"
)

// Entry is one outbound body waiting for its destination's acknowledgement.
// N orders a destination's entries; Body is the exact bytes sent (and
// signed, with the frame that carries it).
type Entry struct {
	ID       string          `json:"id"`
	To       string          `json:"to"`
	N        uint64          `json:"n"`
	Kind     string          `json:"kind"`
	Enqueued time.Time       `json:"ts"`
	Body     json.RawMessage `json:"body"`
	Tries    int32           `json:"attempts,omitempty"` // transmissions before the line was written (a compaction)
	attempts atomic.Int32    // transmissions so far
	sentAt   atomic.Int64    // UnixNano of the last transmission
}

// Attempts returns how many times the entry was sent, restarts included
// (but for the last transmissions before a crash, see Queue.Sent).
func (e *Entry) Attempts() int { return int(e.attempts.Load()) }

// record is one line of federation-queue.jsonl.
type record struct {
	Op    string `json:"op"` // epoch, put, ack, dead, next, sent
	Epoch string `json:"epoch,omitempty"`
	To    string `json:"to,omitempty"`
	N     uint64 `json:"n,omitempty"`     // dead, next, sent (the first)
	Upto  uint64 `json:"upto,omitempty"`  // ack, sent (the last)
	Entry *Entry `json:"entry,omitempty"` // put
}

// Queue is the durable outbound queue, federation-queue.jsonl: a put line
// per body, an ack line when a destination acknowledges a prefix of its
// entries, a dead line when an entry moves to the dead letters, a sent
// line when a run of entries was transmitted (once more each: so the
// attempts bound holds across restarts). Puts are group-committed (one
// write and one fsync for every put queued meanwhile) and reported only
// once durable; a dead line starts a write of its own if none is under
// way; ack and sent lines wait for the next write, or for Flush, and a
// write of them alone is not fsynced (losing them in a crash only resends
// or undercounts). When every entry is acknowledged the file is compacted
// to its epoch and each destination's next position. All methods are safe
// for concurrent use.
type Queue struct {
	path     string
	deadPath string
	log      *slog.Logger
	now      func() time.Time
	durable  func() // called after each write that made puts durable

	mu      sync.Mutex // guards the fields below
	epoch   string
	dests   map[string]*destQueue
	f       *os.File
	size    int64
	buf     []byte   // lines waiting for the writer
	spare   []byte   // an empty buffer for the next batch
	lazy    []byte   // sent lines waiting for a write
	puts    []*Entry // puts in buf, in order
	dones   []func(error)
	writing bool
	closed  bool
	failed  error
	wg      sync.WaitGroup
	deadMu  sync.Mutex // serializes dead-letter.jsonl writes
}

type destQueue struct {
	next    uint64   // last n assigned
	entries []*Entry // durable and unacknowledged, by n
	acked   *Entry   // the last entry ack removed
}

// compactAt is the file size past which a fully acknowledged queue is
// rewritten; rewriteAt the size past which it is rewritten with whatever
// is pending.
const (
	compactAt = 256 << 10
	rewriteAt = 64 << 20
)

// maxSpare bounds a write buffer kept for the next batch.
const maxSpare = 4 << 20

// OpenQueue opens (or creates) the queue in dir. A torn last line is set
// aside as for every journal (package jsonl). durable, if not nil, is
// called after each write that made puts durable.
func OpenQueue(dir string, log *slog.Logger, now func() time.Time, durable func()) (*Queue, error) {
	q := &Queue{path: filepath.Join(dir, QueueFile), deadPath: filepath.Join(dir, DeadLetterFile), log: log, now: now,
		durable: durable, dests: map[string]*destQueue{}}
	j, err := jsonl.OpenJournal(q.path, log, q.replay)
	if err != nil {
		return nil, fmt.Errorf("open federation queue: %w", err)
	}
	if err := j.Close(); err != nil {
		return nil, err
	}
	// The dead letters are only appended to; opening repairs a torn tail.
	dj, err := jsonl.OpenJournal(q.deadPath, log, func([]byte) error { return nil })
	if err != nil {
		return nil, fmt.Errorf("open dead letters: %w", err)
	}
	if err := dj.Close(); err != nil {
		return nil, err
	}
	if q.f, err = os.OpenFile(q.path, os.O_RDWR, 0o600); err != nil {
		return nil, err
	}
	q.f.Chmod(0o600) // it holds message bodies; the journal made it 0644

	st, err := q.f.Stat()
	if err != nil {
		q.f.Close()
		return nil, err
	}
	q.size = st.Size()
	if q.epoch == "" {
		if err := q.rewrite(); err != nil { // a new queue: its first line is the epoch
			q.f.Close()
			return nil, err
		}
	}
	return q, nil
}

func (q *Queue) replay(line []byte) error {
	var r record
	if err := json.Unmarshal(line, &r); err != nil {
		return err
	}
	switch r.Op {
	case "epoch":
		q.epoch = r.Epoch
	case "put":
		if r.Entry == nil || r.Entry.N == 0 {
			return errors.New("put without an entry")
		}
		d := q.dest(r.Entry.To)
		d.next = max(d.next, r.Entry.N)
		r.Entry.attempts.Store(r.Entry.Tries)
		d.entries = append(d.entries, r.Entry)
	case "ack":
		d := q.dest(r.To)
		d.ack(r.Upto)
	case "dead":
		q.dest(r.To).remove(r.N)
	case "next":
		d := q.dest(r.To)
		d.next = max(d.next, r.N)
	case "sent":
		for _, e := range q.dest(r.To).entries {
			if e.N >= r.N && e.N <= r.Upto {
				e.attempts.Add(1)
			}
		}
	default:
		return fmt.Errorf("unknown op %q", r.Op)
	}
	return nil
}

func (q *Queue) dest(to string) *destQueue {
	d := q.dests[to]
	if d == nil {
		d = &destQueue{}
		q.dests[to] = d
	}
	return d
}

func (d *destQueue) ack(upto uint64) int {
	i := 0
	for i < len(d.entries) && d.entries[i].N <= upto {
		i++
	}
	if i > 0 {
		d.acked = d.entries[i-1]
	}
	d.entries = d.entries[i:]
	return i
}

func (d *destQueue) remove(n uint64) bool {
	i, ok := slices.BinarySearchFunc(d.entries, n, func(e *Entry, n uint64) int { return cmpUint(e.N, n) })
	if ok {
		d.entries = slices.Delete(d.entries, i, i+1)
	}
	return ok
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Epoch names this queue's life: receivers reset what they expect from
// this node when it changes (a lost data directory).
func (q *Queue) Epoch() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.epoch
}

// Put queues body for node to and calls done once it is durable (or with
// the error that kept it from being so). done must not block; body must
// not change after the call.
// Errors: EUnavailable (closed, or a write failed earlier).
func (q *Queue) Put(to, kind string, body []byte, done func(*Entry, error)) {
	e := &Entry{ID: newID("q_"), To: to, Kind: kind, Enqueued: q.now().UTC(), Body: body}
	q.mu.Lock()
	if err := q.usableLocked(); err != nil {
		q.mu.Unlock()
		done(nil, err)
		return
	}
	d := q.dest(to)
	d.next++
	e.N = d.next
	q.buf = appendPut(q.buf, e)
	q.startLocked()
	q.puts = append(q.puts, e)
	q.dones = append(q.dones, func(err error) { done(e, err) })
	q.mu.Unlock()
}

func (q *Queue) usableLocked() error {
	if q.closed {
		return mesh.Errorf(mesh.EUnavailable, "The federation queue is closed.")
	}
	if q.failed != nil {
		return mesh.Errorf(mesh.EUnavailable, "The federation queue failed to write; restart the node.")
	}
	return nil
}

// appendLocked adds a line for the writer and starts it. q.mu must be held.
func (q *Queue) appendLocked(r record) {
	b, _ := json.Marshal(r)
	q.buf = append(append(q.buf, b...), '\n')
	q.startLocked()
}

// startLocked starts the writer unless it runs. q.mu must be held.
func (q *Queue) startLocked() {
	if !q.writing {
		q.writing = true
		q.wg.Add(1)
		go q.write()
	}
}

// appendPut appends e's put line: what json.Marshal(record{Op: "put",
// Entry: e}) writes, without checking and compacting the body again (it
// was marshalled by this process).
func appendPut(b []byte, e *Entry) []byte {
	b = append(b, `{"op":"put","entry":{"id":`...)
	b = strconv.AppendQuote(b, e.ID)
	b = append(b, `,"to":`...)
	b = strconv.AppendQuote(b, e.To)
	b = append(b, `,"n":`...)
	b = strconv.AppendUint(b, e.N, 10)
	b = append(b, `,"kind":`...)
	b = strconv.AppendQuote(b, e.Kind)
	b = append(b, `,"ts":"`...)
	b = e.Enqueued.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","body":`...)
	b = append(b, e.Body...)
	if k := e.attempts.Load(); k > 0 {
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, int64(k), 10)
	}
	return append(b, "}}\n"...)
}

// Sent counts a transmission of each of es (entries of one destination,
// in order) at time at, and records it: a sent line for each run of
// consecutive positions. The lines wait for the next write (or Flush): a
// crash may lose the count of the transmissions since, never more.
func (q *Queue) Sent(es []*Entry, at time.Time) {
	for _, e := range es {
		e.attempts.Add(1)
		e.sentAt.Store(at.UnixNano())
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(es) == 0 || q.usableLocked() != nil {
		return
	}
	for i := 0; i < len(es); {
		j := i + 1
		for j < len(es) && es[j].N == es[j-1].N+1 {
			j++
		}
		b, _ := json.Marshal(record{Op: "sent", To: es[i].To, N: es[i].N, Upto: es[j-1].N})
		q.lazy = append(append(q.lazy, b...), '\n')
		i = j
	}
}

// Flush starts a write of the lines that wait for one.
func (q *Queue) Flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.lazy) > 0 && q.usableLocked() == nil {
		q.startLocked()
	}
}

// write writes and fsyncs what is queued, batch after batch.
func (q *Queue) write() {
	defer q.wg.Done()
	q.mu.Lock()
	for (len(q.buf) > 0 || len(q.lazy) > 0) && q.failed == nil {
		buf, puts, dones, off, sync := q.buf, q.puts, q.dones, q.size, len(q.buf) > 0
		buf = append(buf, q.lazy...) // sent and ack lines may go after what followed them
		q.buf, q.lazy, q.puts, q.dones = q.spare, nil, nil, nil
		q.spare = nil
		q.mu.Unlock()
		_, err := q.f.WriteAt(buf, off)
		if err == nil && sync { // lazy lines alone need no fsync: the next one covers them
			err = q.f.Sync()
		}
		q.mu.Lock()
		if cap(buf) <= maxSpare { // the next batch fills it again, without growing it from nothing
			if len(q.buf) == 0 {
				q.buf = buf[:0]
			} else {
				q.spare = buf[:0]
			}
		}
		if err != nil {
			q.failed = err
			q.f.Truncate(off) // best effort: the lines were never acknowledged
			q.log.Error("federation queue write failed", "err", err)
		} else {
			q.size += int64(len(buf))
			for _, e := range puts {
				d := q.dest(e.To)
				d.entries = append(d.entries, e)
			}
		}
		q.mu.Unlock()
		for _, done := range dones {
			done(err)
		}
		if err == nil && len(puts) > 0 && q.durable != nil {
			q.durable()
		}
		q.mu.Lock()
		if err == nil && len(q.buf) == 0 && len(q.lazy) == 0 {
			q.maybeCompactLocked()
		}
	}
	if q.failed != nil { // refuse what was queued meanwhile
		dones := q.dones
		q.buf, q.lazy, q.puts, q.dones = nil, nil, nil, nil
		q.mu.Unlock()
		for _, done := range dones {
			done(mesh.Errorf(mesh.EUnavailable, "The federation queue failed to write; restart the node."))
		}
		q.mu.Lock()
	}
	q.writing = false
	q.mu.Unlock()
}

// maybeCompactLocked rewrites the file when it holds only acknowledged
// entries and is past compactAt, or is past rewriteAt. q.mu must be held.
func (q *Queue) maybeCompactLocked() {
	pending := 0
	for _, d := range q.dests {
		pending += len(d.entries)
	}
	if (pending == 0 && q.size > compactAt) || q.size > rewriteAt {
		if err := q.rewriteLocked(); err != nil {
			q.log.Error("compact federation queue", "err", err)
		}
	}
}

func (q *Queue) rewrite() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.rewriteLocked()
}

// rewriteLocked replaces the file with its epoch, each destination's next
// position and the pending entries (tmp, fsync, rename). q.mu must be held.
func (q *Queue) rewriteLocked() error {
	if q.epoch == "" {
		q.epoch = newID("")
	}
	var b []byte
	add := func(r record) {
		l, _ := json.Marshal(r)
		b = append(append(b, l...), '\n')
	}
	add(record{Op: "epoch", Epoch: q.epoch})
	for _, to := range slices.Sorted(mapsKeys(q.dests)) {
		d := q.dests[to]
		add(record{Op: "next", To: to, N: d.next})
		for _, e := range d.entries {
			b = appendPut(b, e)
		}
	}
	if err := atomicfile.WriteFile(q.path, b, 0o600); err != nil {
		return err
	}
	f, err := os.OpenFile(q.path, os.O_RDWR, 0o600)
	if err != nil {
		q.failed = err
		return err
	}
	q.f.Close()
	q.f, q.size, q.lazy = f, int64(len(b)), nil // the attempts are in the put lines
	return nil
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Ack removes node to's entries up to n and records it; it returns how
// many were removed and the last of them. The line waits for the next
// write (or Flush): an ack lost in a crash only makes the entries go
// again, and receivers drop repeats.
func (q *Queue) Ack(to string, upto uint64) (int, *Entry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.dests[to]
	if d == nil || q.usableLocked() != nil {
		return 0, nil
	}
	var last *Entry
	k := d.ack(upto)
	if k > 0 {
		last = d.acked
		b, _ := json.Marshal(record{Op: "ack", To: to, Upto: upto})
		q.lazy = append(append(q.lazy, b...), '\n')
	}
	return k, last
}

// Next returns node to's first pending entry with N > after, or nil.
func (q *Queue) Next(to string, after uint64) *Entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.dests[to]
	if d == nil {
		return nil
	}
	i, _ := slices.BinarySearchFunc(d.entries, after+1, func(e *Entry, n uint64) int { return cmpUint(e.N, n) })
	if i < len(d.entries) {
		return d.entries[i]
	}
	return nil
}

// After returns up to max of node to's pending entries with N > after, in
// order.
func (q *Queue) After(to string, after uint64, max int) []*Entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.dests[to]
	if d == nil {
		return nil
	}
	i, _ := slices.BinarySearchFunc(d.entries, after+1, func(e *Entry, n uint64) int { return cmpUint(e.N, n) })
	j := min(len(d.entries), i+max)
	return slices.Clone(d.entries[i:j])
}

// Base returns the lowest N pending for node to, or the next N to be
// assigned when none is: everything below it is acknowledged or dead.
func (q *Queue) Base(to string) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.dests[to]
	if d == nil {
		return 1
	}
	if len(d.entries) > 0 {
		return d.entries[0].N
	}
	return d.next + 1
}

// Dests returns the destinations that have pending entries.
func (q *Queue) Dests() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for to, d := range q.dests {
		if len(d.entries) > 0 {
			out = append(out, to)
		}
	}
	slices.Sort(out)
	return out
}

// Expired returns the pending entries that reached maxAttempts
// transmissions (0: no bound) or maxAge (0: no bound).
func (q *Queue) Expired(now time.Time, maxAttempts int, maxAge time.Duration) []*Entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*Entry
	for _, d := range q.dests {
		for _, e := range d.entries {
			if (maxAttempts > 0 && e.Attempts() >= maxAttempts) || (maxAge > 0 && now.Sub(e.Enqueued) >= maxAge) {
				out = append(out, e)
			}
		}
	}
	return out
}

// DestStatus is one destination's share of the queue.
type DestStatus struct {
	Node     string    `json:"node"`
	Pending  int       `json:"pending"`
	Oldest   time.Time `json:"oldest,omitzero"`
	Attempts int       `json:"attempts"` // of the oldest entry
	Next     uint64    `json:"next"`     // the last position assigned
}

// Status lists every destination the queue knows, by node id.
func (q *Queue) Status() []DestStatus {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]DestStatus, 0, len(q.dests))
	for to, d := range q.dests {
		s := DestStatus{Node: to, Pending: len(d.entries), Next: d.next}
		if len(d.entries) > 0 {
			s.Oldest, s.Attempts = d.entries[0].Enqueued, d.entries[0].Attempts()
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b DestStatus) int { return cmpString(a.Node, b.Node) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// DeadLetter is one line of dead-letter.jsonl: an entry federation gave up
// on, with the reason; or (Op "replayed") the note that it was queued again.
type DeadLetter struct {
	Op       string          `json:"op"` // dead, replayed
	ID       string          `json:"id"`
	To       string          `json:"to,omitempty"`
	N        uint64          `json:"n,omitempty"`
	Kind     string          `json:"kind,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	Attempts int             `json:"attempts,omitempty"`
	Enqueued time.Time       `json:"enqueued,omitzero"`
	TS       time.Time       `json:"ts"`
	Body     json.RawMessage `json:"body,omitempty"`
	Sig      string          `json:"sig,omitempty"` // only in lines of nodes that signed each body
}

// Dead moves e to the dead letters with reason: a line in
// dead-letter.jsonl (fsynced), then a dead line in the queue.
func (q *Queue) Dead(e *Entry, reason string) error {
	dl := DeadLetter{Op: "dead", ID: e.ID, To: e.To, N: e.N, Kind: e.Kind, Reason: reason, Attempts: e.Attempts(),
		Enqueued: e.Enqueued, TS: q.now().UTC(), Body: e.Body}
	if err := q.appendDead(dl); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if d := q.dests[e.To]; d != nil && d.remove(e.N) {
		q.appendLocked(record{Op: "dead", To: e.To, N: e.N})
	}
	return nil
}

func (q *Queue) appendDead(dl DeadLetter) error {
	b, _ := json.Marshal(dl)
	q.deadMu.Lock()
	defer q.deadMu.Unlock()
	f, err := os.OpenFile(q.deadPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open dead letters: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write dead letter: %w", err)
	}
	return f.Sync()
}

// DeadLetters returns the dead letters not replayed yet, oldest first.
func (q *Queue) DeadLetters() ([]DeadLetter, error) {
	q.deadMu.Lock()
	defer q.deadMu.Unlock()
	return ReadDeadLetters(filepath.Dir(q.deadPath))
}

// ReadDeadLetters reads dir's dead-letter.jsonl and returns the entries
// not replayed yet, oldest first. A line that does not parse (a torn
// tail) ends the list.
func ReadDeadLetters(dir string) ([]DeadLetter, error) {
	f, err := os.Open(filepath.Join(dir, DeadLetterFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	var out []DeadLetter
	replayed := map[string]bool{}
	for {
		var dl DeadLetter
		if err := dec.Decode(&dl); err == io.EOF {
			break
		} else if err != nil {
			break // a torn tail
		}
		if dl.Op == "replayed" {
			replayed[dl.ID] = true
		} else {
			out = append(out, dl)
		}
	}
	return slices.DeleteFunc(out, func(dl DeadLetter) bool { return replayed[dl.ID] }), nil
}

// Replay queues the dead letters named by ids (all of them when ids is
// empty) again, each behind what is pending for its destination, and
// marks them replayed once durable. It returns how many it queued.
func (q *Queue) Replay(ids []string) (int, error) {
	dls, err := q.DeadLetters()
	if err != nil {
		return 0, err
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	n := 0
	for _, dl := range dls {
		if len(ids) > 0 && !want[dl.ID] {
			continue
		}
		errc := make(chan error, 1)
		q.Put(dl.To, dl.Kind, dl.Body, func(_ *Entry, err error) { errc <- err })
		if err := <-errc; err != nil {
			return n, err
		}
		if err := q.appendDead(DeadLetter{Op: "replayed", ID: dl.ID, TS: q.now().UTC()}); err != nil {
			return n, err
		}
		n++
	}
	if len(ids) > 0 && n < len(want) {
		return n, mesh.Errorf(mesh.ENotFound, "%d of the %d dead letters named are not in %s (or were replayed).", len(want)-n, len(want), DeadLetterFile)
	}
	return n, nil
}

// Close writes the lines that wait (sent lines included), waits for the
// writer and closes the file.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	if len(q.lazy) > 0 && q.failed == nil {
		q.startLocked()
	}
	q.closed = true
	q.mu.Unlock()
	q.wg.Wait()
	return q.f.Close()
}

// newID returns prefix plus 16 random base32 letters.
func newID(prefix string) string {
	var b [10]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return prefix + idEncoding.EncodeToString(b[:])
}
