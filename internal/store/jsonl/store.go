package jsonl

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/the-mesh/mesh"
)

// Options tunes a Store. The zero value is usable.
type Options struct {
	Logger     *slog.Logger // nil = discard
	IndexEvery int          // seqs per sparse-index entry; 0 = 256

	// OnFsync, if set, is called with the latency of every fsync the
	// store makes (of the WAL, of room logs at checkpoints, of the
	// directory). It may run concurrently and must not block.
	OnFsync func(d time.Duration)
}

// Store is a set of room logs under one data directory. It implements
// mesh.RoomLog; all methods are safe for concurrent use. Only one Store
// may use a directory at a time.
type Store struct {
	dir     string // dataDir/messages
	every   int
	logger  *slog.Logger
	onFsync func(time.Duration)
	tune    tuning
	files   *fileCache

	mu    sync.RWMutex
	rooms map[mesh.RoomID]*room // guarded by mu

	q         queue
	committer sync.WaitGroup

	// Owned by the committer goroutine, and by Open before it starts.
	wal      walFile
	walBuf   []byte // the batch's records
	ckpt     ckptState
	closeErr error // of the final checkpoint; read by Close after the committer exits

	closeOnce sync.Once
}

var _ mesh.RoomLog = (*Store)(nil)

// Open opens the room logs in dataDir/messages, creating the directory if
// needed. It repairs torn tails and stale indexes, replays the WAL into
// the logs (see the package doc) and starts the committer goroutine, which
// Close stops. It fails if the WAL holds a record that does not follow
// its room's log.
func Open(dataDir string, opts Options) (*Store, error) {
	return open(dataDir, opts, tuning{walBytes: defaultWALBytes, walAge: defaultWALAge})
}

func open(dataDir string, opts Options, tune tuning) (*Store, error) {
	s := &Store{
		dir:     filepath.Join(dataDir, "messages"),
		every:   opts.IndexEvery,
		logger:  opts.Logger,
		onFsync: opts.OnFsync,
		tune:    tune,
		rooms:   make(map[mesh.RoomID]*room),
	}
	if s.every == 0 {
		s.every = 256
	} else if s.every < 0 || s.every > 1<<20 {
		return nil, fmt.Errorf("open store: IndexEvery %d is out of range", s.every)
	}
	if s.logger == nil {
		s.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := s.recoverAll(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.files = newFileCache(s.dir, maxOpenRooms)
	if err := s.replayWAL(); err != nil {
		s.files.closeAll()
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.q.init()
	s.ckpt.dirty = make(map[*room]struct{})
	s.ckpt.timer = time.AfterFunc(time.Hour, s.q.kick)
	s.ckpt.timer.Stop()
	s.committer.Add(1)
	go s.commitLoop()
	return s, nil
}

// recoverAll runs recoverRoom over every log, a few at a time.
func (s *Store) recoverAll() error {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	var ids []mesh.RoomID
	for _, de := range des {
		id := mesh.RoomID(strings.TrimSuffix(de.Name(), ".jsonl"))
		if !de.Type().IsRegular() || !strings.HasSuffix(de.Name(), ".jsonl") {
			continue
		} else if !id.Valid() {
			s.logger.Warn("ignoring log file: not a room id", "file", filepath.Join(s.dir, de.Name()))
			continue
		}
		ids = append(ids, id)
	}
	errs := make([]error, len(ids))
	rooms := make([]*room, len(ids))
	parallel(len(ids), 8, func(i int) {
		rooms[i], errs[i] = recoverRoom(s.dir, ids[i], s.every, s.logger)
	})
	for i, r := range rooms {
		if errs[i] != nil {
			return fmt.Errorf("recover room %s: %w", ids[i], errs[i])
		}
		s.rooms[r.id] = r
	}
	return nil
}

// parallel calls f(0) ... f(n-1) on up to max goroutines and waits.
func parallel(n, max int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(n, max) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// room returns the state of room id, making it if create is set.
func (s *Store) room(id mesh.RoomID, create bool) *room {
	s.mu.RLock()
	r := s.rooms[id]
	s.mu.RUnlock()
	if r != nil || !create {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r = s.rooms[id]; r == nil {
		r = &room{id: id}
		s.rooms[id] = r
	}
	return r
}

func invalidRoom(id mesh.RoomID) error {
	return mesh.Errorf(mesh.EInvalid, "Room id %q is not valid.", id)
}

// Head returns the room's last durable seq and its epoch. A room never
// written has seq 0 and epoch "". It fails with mesh.EInvalid for a
// malformed room id.
func (s *Store) Head(id mesh.RoomID) (mesh.LogHead, error) {
	if !id.Valid() {
		return mesh.LogHead{}, fmt.Errorf("head room %s: %w", id, invalidRoom(id))
	}
	r := s.room(id, false)
	if r == nil {
		return mesh.LogHead{}, nil
	}
	seq, _, _, epoch := r.committed()
	return mesh.LogHead{Seq: seq, Epoch: epoch}, nil
}

// Rooms returns, sorted, the rooms that have a log file.
func (s *Store) Rooms() []mesh.RoomID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []mesh.RoomID
	for id, r := range s.rooms {
		r.cmu.Lock()
		if r.onDisk {
			ids = append(ids, id)
		}
		r.cmu.Unlock()
	}
	slices.Sort(ids)
	return ids
}

// Close stops accepting appends, commits every queued one and runs its
// done callback, makes a last checkpoint (unless a write failed), stops
// the committer and closes the files. Appends and Reads after Close fail
// with mesh.EUnavailable. Close may be called more than once; later calls
// return the first one's error.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.q.close()
		s.committer.Wait()
		s.closeErr = errors.Join(s.closeErr, s.files.closeAll())
	})
	return s.closeErr
}
