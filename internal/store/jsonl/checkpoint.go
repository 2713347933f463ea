package jsonl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// tuning holds the checkpoint triggers; tests shrink them.
type tuning struct {
	walBytes     int64         // checkpoint once the WAL holds this many bytes
	walAge       time.Duration // or once its first record is this old
	onCheckpoint func(error)   // if set, called by the committer when a checkpoint ends
}

// ckptState is the committer's checkpoint bookkeeping. It is owned by the
// committer goroutine.
type ckptState struct {
	dirty   map[*room]struct{} // rooms written since the current WAL was started
	created bool               // a log was created since then
	running chan error         // result of the checkpoint in progress; nil if none
	timer   *time.Timer        // kicks the committer when the WAL comes of age
}

// maybeCheckpoint collects a finished checkpoint and starts one if the WAL
// is big or old enough. It runs on the committer between batches. While
// one runs the WAL keeps growing; past twice its size the committer waits.
func (s *Store) maybeCheckpoint() {
	c := &s.ckpt
	if c.running != nil {
		var err error
		if s.wal.size < 2*s.tune.walBytes {
			select {
			case err = <-c.running:
			default:
				return
			}
		} else {
			err = <-c.running
		}
		c.running = nil
		s.checkpointed(err)
	}
	if s.wal.size == walHeaderLen || s.q.err() != nil {
		return
	}
	if age := time.Since(s.wal.born); s.wal.size < s.tune.walBytes && age < s.tune.walAge {
		c.timer.Reset(s.tune.walAge - age)
		return
	}
	rooms, created := s.takeDirty()
	if err := s.rotateWAL(); err != nil {
		s.checkpointed(fmt.Errorf("start new wal: %w", err))
		return
	}
	ch := make(chan error, 1)
	c.running = ch
	go func() {
		err := s.syncRooms(rooms, created)
		if err == nil {
			// A wal.old left behind is harmless: the next rotation
			// replaces it and Open skips what the logs already hold.
			if rerr := os.Remove(filepath.Join(s.dir, walOldName)); rerr != nil {
				s.logger.Warn("could not remove checkpointed wal", "err", rerr)
			}
		}
		ch <- err
		s.q.kick()
	}()
}

// checkpointed reports the end of a checkpoint; a failed one fails the
// store, since the logs it covered may not be durable.
func (s *Store) checkpointed(err error) {
	if err != nil {
		err = fmt.Errorf("checkpoint: %w", err)
		s.logger.Error("checkpoint failed; refusing appends", "err", err)
		s.q.fail(err)
	}
	if s.tune.onCheckpoint != nil {
		s.tune.onCheckpoint(err)
	}
}

// takeDirty returns the rooms written since the last checkpoint began and
// whether a log was created, and starts a new set.
func (s *Store) takeDirty() ([]*room, bool) {
	c := &s.ckpt
	rooms := make([]*room, 0, len(c.dirty))
	for r := range c.dirty {
		rooms = append(rooms, r)
	}
	created := c.created
	clear(c.dirty)
	c.created = false
	return rooms, created
}

// rotateWAL renames the WAL to wal.old and starts a new one. Records
// acknowledged from now on go to the new WAL; wal.old stays until the
// logs it covers are fsynced.
func (s *Store) rotateWAL() error {
	old := s.wal.f
	if err := os.Rename(filepath.Join(s.dir, walName), filepath.Join(s.dir, walOldName)); err != nil {
		return err
	}
	old.Close() // fsynced with every batch; nothing is left to lose
	f, err := s.createWAL()
	if err != nil {
		s.wal.f = nil
		return err
	}
	s.wal = walFile{f: f, size: walHeaderLen}
	return nil
}

// syncRooms fsyncs the logs of rooms, a few at a time, then the directory
// if created.
func (s *Store) syncRooms(rooms []*room, created bool) error {
	errs := make([]error, len(rooms))
	parallel(len(rooms), maxParallelFsync, func(i int) {
		h, err := s.files.acquire(rooms[i].id)
		if err == nil {
			err = s.sync(h.log)
			s.files.release(h)
		}
		if err != nil {
			errs[i] = fmt.Errorf("fsync room %s: %w", rooms[i].id, err)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if created {
		if err := s.syncDir(); err != nil {
			return fmt.Errorf("fsync directory: %w", err)
		}
	}
	return nil
}

// finalCheckpoint runs on the committer once the queue is drained, at
// Close: it waits for a running checkpoint, then, unless the store has
// failed, fsyncs every log written since and empties the WAL. After a
// failure it leaves the WAL for Open to replay.
func (s *Store) finalCheckpoint() error {
	c := &s.ckpt
	c.timer.Stop()
	if c.running != nil {
		s.checkpointed(<-c.running)
		c.running = nil
	}
	if s.wal.f == nil {
		return nil
	}
	defer s.wal.f.Close()
	if s.q.err() != nil || s.wal.size == walHeaderLen {
		return nil
	}
	rooms, created := s.takeDirty()
	err := s.syncRooms(rooms, created)
	if err == nil {
		// The logs hold every record now, so a crash that leaves part of
		// the WAL behind only leaves records Open will skip.
		if err = s.wal.f.Truncate(walHeaderLen); err == nil {
			err = s.sync(s.wal.f)
		}
	}
	if err != nil {
		err = fmt.Errorf("checkpoint: %w", err)
	}
	if s.tune.onCheckpoint != nil {
		s.tune.onCheckpoint(err)
	}
	return err
}
