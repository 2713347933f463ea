package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/the-mesh/mesh/internal/atomicfile"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/the-mesh/mesh"
)

// Outcomes of a Record.
const (
	OK      = "ok"
	Refused = "refused"
)

// File names in the data directory.
const (
	FileName    = "audit.jsonl"
	HeadName    = "audit.head"
	CorruptName = "audit.jsonl.corrupt"
)

// MaxLineBytes is the longest line the log writes and Verify accepts.
const MaxLineBytes = 1 << 20

// maxHeader bounds the bytes a line adds before the Record's own fields.
const maxHeader = 200

// maxBuffered is how many bytes may wait for the writer before Record blocks.
const maxBuffered = 8 << 20

// headEvery is the shortest time between two rewrites of audit.head.
const headEvery = 100 * time.Millisecond

// Record is one audited action.
type Record struct {
	Actor   mesh.ParticipantID `json:"actor,omitempty"`
	Action  string             `json:"action"`           // e.g. "register", "say", "join", "auth", "connect"
	Room    mesh.RoomID        `json:"room,omitempty"`   // the room acted on, if any
	Outcome string             `json:"outcome"`          // OK or Refused
	Code    string             `json:"code,omitempty"`   // mesh error code when refused
	Remote  string             `json:"remote,omitempty"` // client address
	Detail  any                `json:"detail,omitempty"` // small JSON-able value (ids, seq, before/after policy)
}

// Options are a Log's dependencies. Zero values are replaced by defaults.
type Options struct {
	Logger *slog.Logger     // default: discard
	Now    func() time.Time // default: time.Now; called from several goroutines
	// OnFsync, if set, is called with the duration of each fsync of the
	// log, on the writer goroutine; it must not block.
	OnFsync func(time.Duration)
}

// Log is an open audit log. Record, Sync and Read are safe for concurrent
// use; Close must be called once, after which Record only logs.
type Log struct {
	dir     string
	f       *os.File
	logger  *slog.Logger
	now     func() time.Time
	onFsync func(time.Duration)
	done    chan struct{} // closed when run returns

	mu      sync.Mutex    // guards the fields below
	wake    *sync.Cond    // signalled when buf gains bytes or closing is set
	space   *sync.Cond    // broadcast when the writer takes buf
	buf     []byte        // lines recorded, not yet taken by the writer
	n       uint64        // n of the last recorded line
	prev    [32]byte      // hash of the last recorded line
	synced  uint64        // n of the last fsynced (or, after err, lost) line
	syncCh  chan struct{} // closed and replaced after each write
	err     error         // first write or fsync failure; sticky
	lost    uint64        // lines not written because of err
	closing bool          // Close was called
	closed  bool          // the writer has drained buf and returned
}

// Open opens or creates the audit log in dataDir, recovers a torn last
// line, and starts the writer goroutine. It reads only the end of the file.
func Open(dataDir string, opts Options) (*Log, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	path := filepath.Join(dataDir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	if err := atomicfile.SyncDir(dataDir); err != nil {
		f.Close()
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	t, err := recoverTail(f, filepath.Join(dataDir, CorruptName))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open audit log %s: %w", path, err)
	}
	l := &Log{
		dir: dataDir, f: f, logger: opts.Logger, now: opts.Now, onFsync: opts.OnFsync,
		done: make(chan struct{}), n: t.n, prev: t.hash, synced: t.n, syncCh: make(chan struct{}),
	}
	l.wake = sync.NewCond(&l.mu)
	l.space = sync.NewCond(&l.mu)
	go l.run()

	if t.cut != nil {
		l.logger.Warn("audit log: torn last line set aside", "path", path, "corrupt", CorruptName,
			"offset", t.cut.Offset, "bytes", t.cut.Bytes, "reason", t.cut.Reason)
		l.Record(Record{Action: "audit-recovered", Outcome: OK, Detail: t.cut})
	}
	if m := checkHead(dataDir, t); m != nil {
		l.logger.Error("audit log: audit.head does not match the file", "path", path, "reason", m.Reason)
		l.Record(Record{Action: "audit-head-mismatch", Outcome: OK, Detail: m})
	}
	return l, nil
}

// Record appends r to the log. It does not wait for the disk, and blocks
// only while more than about 8 MiB wait for the writer. It never drops a
// line while the log is healthy; after Close, or after a write error (see
// Sync), the record is reported to the Logger instead.
func (l *Log) Record(r Record) {
	body, err := json.Marshal(r)
	if err == nil && len(body) > MaxLineBytes-maxHeader {
		r.Detail = map[string]any{"error": "detail too large", "bytes": len(body)}
		body, err = json.Marshal(r)
	}
	if err != nil {
		r.Detail = map[string]string{"error": "detail not JSON: " + err.Error()}
		if body, err = json.Marshal(r); err != nil {
			panic("audit: marshal record: " + err.Error()) // unreachable: every field is now a string
		}
	}

	l.mu.Lock()
	for len(l.buf) >= maxBuffered && !l.closed {
		l.space.Wait()
	}
	if l.closed {
		l.mu.Unlock()
		l.logger.Error("audit record after close", "record", string(body))
		return
	}
	l.n++
	start := len(l.buf)
	b := append(l.buf, `{"n":`...)
	b = strconv.AppendUint(b, l.n, 10)
	b = append(b, `,"ts":"`...)
	b = l.now().UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","prev":"`...)
	b = appendHex(b, l.prev)
	b = append(b, `",`...)
	b = append(b, body[1:]...)
	l.prev = hashLine(b[start:])
	l.buf = append(b, '\n')
	if start == 0 {
		l.wake.Signal()
	}
	l.mu.Unlock()
}

// Sync waits until every line recorded before the call is fsynced. It
// returns the log's write error, if any, or ctx's error.
func (l *Log) Sync(ctx context.Context) error {
	l.mu.Lock()
	target := l.n
	for l.synced < target && l.err == nil {
		ch := l.syncCh
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("audit sync: %w", ctx.Err())
		}
		l.mu.Lock()
	}
	err := l.err
	l.mu.Unlock()
	return err
}

// Close writes and fsyncs what is buffered, updates audit.head, stops the
// writer and closes the file. It returns the first write error, if any.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return fmt.Errorf("close audit log: already closed")
	}
	l.closing = true
	l.wake.Signal()
	l.mu.Unlock()
	<-l.done

	l.mu.Lock()
	err, lost := l.err, l.lost
	l.mu.Unlock()
	if lost > 0 {
		l.logger.Error("audit log: lines lost after a write error", "lines", lost, "err", err)
	}
	if cerr := l.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close audit log: %w", cerr)
	}
	return err
}
