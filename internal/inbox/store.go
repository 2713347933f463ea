package inbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/atomicfile"
)

// Options configure a Store.
type Options struct {
	Max             int           // unacknowledged items kept per participant; <= 0: mesh.DefaultInboxMax
	Logger          *slog.Logger  // nil: discard
	CheckpointEvery time.Duration // <= 0: 2 s
}

// Store holds every participant's inbox under one directory. All methods
// are safe for concurrent use. A participant's file is loaded on first use
// and kept open.
type Store struct {
	dir  string
	opts Options
	log  *slog.Logger

	mu      sync.Mutex // guards the fields below; taken before no box.mu
	boxes   map[mesh.ParticipantID]*box
	marks   map[mesh.RoomID]uint64
	fresh   bool       // marks.json did not exist at Open
	remote  bool       // marks.json said remote rooms were routed, at Open
	routes  bool       // checkpoints say remote rooms are routed (RouteRemote)
	moved   bool       // marks moved since the last checkpoint
	closing bool       // Close was called
	closed  bool       // Close has made its last checkpoint: refuse everything
	ckMu    sync.Mutex // serialises checkpoints
	stop    chan struct{}
	stopped sync.WaitGroup
}

// Page is a page of one inbox: up to the limit of items with n > after,
// the number of unacknowledged items kept, the cursors, and how many
// unread items the bound dropped between after and the first one kept.
type Page struct {
	Refs    []Ref
	Unacked int
	Ack     uint64
	Last    uint64
	Dropped uint64
}

const marksFile = "marks.json"

type marksJSON struct {
	Rooms  map[mesh.RoomID]uint64 `json:"rooms"`
	Remote bool                   `json:"remote,omitempty"` // remote rooms (room@node) are routed
}

// Open opens (or creates) the store in dir and starts its checkpointer.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Max <= 0 {
		opts.Max = mesh.DefaultInboxMax
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 2 * time.Second
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create inbox directory: %w", err)
	}
	s := &Store{dir: dir, opts: opts, log: opts.Logger, boxes: map[mesh.ParticipantID]*box{},
		marks: map[mesh.RoomID]uint64{}, stop: make(chan struct{})}
	b, err := os.ReadFile(filepath.Join(dir, marksFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.fresh = true
	case err != nil:
		return nil, fmt.Errorf("read inbox marks: %w", err)
	default:
		var m marksJSON
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("inbox %s is not valid: %w", marksFile, err)
		}
		for room, seq := range m.Rooms {
			s.marks[room] = seq
		}
		s.remote, s.routes = m.Remote, m.Remote
	}
	s.stopped.Go(s.checkpointer)
	return s, nil
}

// Marks returns how far each room was routed at the last checkpoint, and
// whether the store is new (no checkpoint was ever written).
func (s *Store) Marks() (map[mesh.RoomID]uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[mesh.RoomID]uint64, len(s.marks))
	for k, v := range s.marks {
		out[k] = v
	}
	return out, s.fresh
}

// RemoteMarked reports whether the checkpoint Open read was written by a
// node that routes remote rooms: then a remote room without a mark was
// routed from its start. A new store, or one written before remote rooms
// were routed, reports false: its remote rooms start with what comes next.
func (s *Store) RemoteMarked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remote
}

// RouteRemote records that this node routes remote rooms: the next
// checkpoint says so.
func (s *Store) RouteRemote() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.routes {
		s.routes, s.moved = true, true
	}
}

// Mark records that every message of room up to seq has been routed
// (its item, if any, added). Marks only move forward.
func (s *Store) Mark(room mesh.RoomID, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq > s.marks[room] {
		s.marks[room], s.moved = seq, true
	}
}

// ResetMark sets room's mark to seq even if lower: for a room whose log
// restarted.
func (s *Store) ResetMark(room mesh.RoomID, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marks[room], s.moved = seq, true
}

// validParticipant keeps a participant id safe as a file name.
var validParticipant = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// box returns p's inbox, loaded and locked; the caller unlocks b.mu.
func (s *Store) box(p mesh.ParticipantID) (*box, error) {
	if !validParticipant.MatchString(string(p)) {
		return nil, mesh.Errorf(mesh.EInvalid, "%q is not a participant id.", p)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, mesh.Errorf(mesh.EUnavailable, "The inbox store is closed.")
	}
	b := s.boxes[p]
	if b == nil {
		b = &box{path: filepath.Join(s.dir, string(p)+".jsonl"), max: s.opts.Max, seen: map[mesh.RoomID]uint64{}}
		s.boxes[p] = b
	}
	s.mu.Unlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, mesh.Errorf(mesh.EUnavailable, "The inbox store is closed.")
	}
	if !b.loaded {
		if err := b.load(s.log); err != nil {
			b.mu.Unlock()
			return nil, err
		}
		b.loaded = true
	}
	return b, nil
}

// Add stores r in p's inbox with the next n and returns it, unless p has
// already seen r.Seq or a later seq in r.Room (then it reports false).
func (s *Store) Add(p mesh.ParticipantID, r Ref) (Ref, bool, error) {
	b, err := s.box(p)
	if err != nil {
		return Ref{}, false, err
	}
	defer b.mu.Unlock()
	return b.add(r)
}

// Page returns up to limit of p's unacknowledged items with n > after.
func (s *Store) Page(p mesh.ParticipantID, after uint64, limit int) (Page, error) {
	b, err := s.box(p)
	if err != nil {
		return Page{}, err
	}
	defer b.mu.Unlock()
	return b.page(after, limit), nil
}

// Changed returns a channel closed when the next item enters p's inbox.
func (s *Store) Changed(p mesh.ParticipantID) (<-chan struct{}, error) {
	b, err := s.box(p)
	if err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return b.changed, nil
}

// Ack acknowledges p's items up to upTo, durably, and returns the ack
// cursor and the number of items left. Errors: EInvalid for an upTo past
// the newest item.
func (s *Store) Ack(p mesh.ParticipantID, upTo uint64) (uint64, int, error) {
	b, err := s.box(p)
	if err != nil {
		return 0, 0, err
	}
	defer b.mu.Unlock()
	err = b.ackTo(upTo)
	return b.ack, len(b.refs), err
}

// Hook returns p's webhook cursor.
func (s *Store) Hook(p mesh.ParticipantID) (uint64, error) {
	b, err := s.box(p)
	if err != nil {
		return 0, err
	}
	defer b.mu.Unlock()
	return b.hook, nil
}

// SetHook moves p's webhook cursor forward to n, fsynced if sync.
func (s *Store) SetHook(p mesh.ParticipantID, n uint64, sync bool) error {
	b, err := s.box(p)
	if err != nil {
		return err
	}
	defer b.mu.Unlock()
	return b.setHook(n, sync)
}

// checkpointer runs Checkpoint every CheckpointEvery until Close.
func (s *Store) checkpointer() {
	t := time.NewTicker(s.opts.CheckpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.Checkpoint(); err != nil {
				s.log.Error("inbox checkpoint", "err", err)
			}
		}
	}
}

// Checkpoint makes every item routed so far durable and records the
// marks (see the package doc). It does nothing when nothing moved.
func (s *Store) Checkpoint() error {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	s.mu.Lock()
	if !s.moved && !s.fresh {
		s.mu.Unlock()
		return nil
	}
	m := marksJSON{Rooms: make(map[mesh.RoomID]uint64, len(s.marks)), Remote: s.routes}
	for k, v := range s.marks {
		m.Rooms[k] = v
	}
	boxes := make([]*box, 0, len(s.boxes))
	for _, b := range s.boxes {
		boxes = append(boxes, b)
	}
	s.moved, s.fresh = false, false
	s.mu.Unlock()
	for _, b := range boxes {
		if err := b.sync(); err != nil {
			s.mu.Lock()
			s.moved = true
			s.mu.Unlock()
			return err
		}
	}
	data, _ := json.Marshal(m)
	if err := atomicfile.WriteFile(filepath.Join(s.dir, marksFile), data, 0o600); err != nil {
		s.mu.Lock()
		s.moved = true
		s.mu.Unlock()
		return fmt.Errorf("inbox checkpoint: %w", err)
	}
	return nil
}

// sync fsyncs b's file if items were written since the last fsync.
func (b *box) sync() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.loaded || b.closed || !b.dirty || b.failed != nil {
		return nil
	}
	if err := b.f.Sync(); err != nil {
		return fmt.Errorf("sync inbox %s: %w", b.path, err)
	}
	b.dirty = false
	return nil
}

// Close stops the checkpointer, makes a last checkpoint and closes every
// file. Later calls fail with EUnavailable.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	s.mu.Unlock()
	close(s.stop)
	s.stopped.Wait()
	err := s.Checkpoint()
	s.mu.Lock()
	s.closed = true
	boxes := s.boxes
	s.mu.Unlock()
	for _, b := range boxes {
		b.mu.Lock()
		if b.f != nil {
			if cerr := b.f.Close(); err == nil {
				err = cerr
			}
			b.f = nil
		}
		b.closed = true
		b.mu.Unlock()
	}
	return err
}
