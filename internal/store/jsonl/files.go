package jsonl

import (
	"container/list"
	"errors"
	"os"
	"path/filepath"
	"sync"

	"github.com/the-mesh/mesh"
)

// maxOpenRooms bounds how many rooms have their log and index open at once
// (two descriptors each), beyond those in use at the moment.
const maxOpenRooms = 256

// handle holds one room's open log and index.
type handle struct {
	room     mesh.RoomID
	log, idx *os.File

	// Guarded by fileCache.mu.
	refs    int
	evicted bool
	elem    *list.Element
}

// fileCache keeps the most recently used rooms' files open. A handle is
// closed when it has been evicted and its last user releases it. It is
// safe for concurrent use.
type fileCache struct {
	dir string
	max int

	mu     sync.Mutex
	rooms  map[mesh.RoomID]*handle
	lru    list.List // of *handle, most recent first
	closed bool
}

func newFileCache(dir string, max int) *fileCache {
	return &fileCache{dir: dir, max: max, rooms: make(map[mesh.RoomID]*handle)}
}

// acquire returns room's open files, creating them if needed. The caller
// must release the handle.
func (c *fileCache) acquire(room mesh.RoomID) (*handle, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, mesh.Errorf(mesh.EUnavailable, "The message store is closed.")
	}
	if h, ok := c.rooms[room]; ok {
		h.refs++
		c.lru.MoveToFront(h.elem)
		return h, nil
	}
	base := filepath.Join(c.dir, string(room))
	log, err := os.OpenFile(base+".jsonl", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	idx, err := os.OpenFile(base+".idx", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		log.Close()
		return nil, err
	}
	h := &handle{room: room, log: log, idx: idx, refs: 1}
	h.elem = c.lru.PushFront(h)
	c.rooms[room] = h
	for c.lru.Len() > c.max {
		old := c.lru.Remove(c.lru.Back()).(*handle)
		delete(c.rooms, old.room)
		old.evicted = true
		if old.refs == 0 {
			old.close()
		}
	}
	return h, nil
}

// release gives back a handle from acquire.
func (c *fileCache) release(h *handle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h.refs--
	if h.refs == 0 && h.evicted {
		h.close()
	}
}

// closeAll closes every cached handle and refuses later acquires. A
// handle in use is closed under its user, whose I/O then fails.
func (c *fileCache) closeAll() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for e := c.lru.Front(); e != nil; e = e.Next() {
		errs = append(errs, e.Value.(*handle).close())
	}
	c.lru.Init()
	clear(c.rooms)
	return errors.Join(errs...)
}

func (h *handle) close() error {
	return errors.Join(h.log.Close(), h.idx.Close())
}
