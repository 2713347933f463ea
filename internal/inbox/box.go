package inbox

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/atomicfile"
)

// Ref is one inbox item as stored: a reference to a message in a room log.
type Ref struct {
	N      uint64
	Room   mesh.RoomID
	Seq    uint64
	ID     string
	Reason string
	Pushed bool // it reached a live connection when it arrived
}

// box is one participant's inbox.
type box struct {
	path string
	max  int

	mu      sync.Mutex // guards everything below; never held while taking Store.mu
	loaded  bool
	closed  bool // by Store.Close
	f       *os.File
	size    int64 // bytes of good lines in f
	failed  error // a write that could not be undone: refuse the rest
	refs    []Ref // unacknowledged items kept, n ascending
	last    uint64
	ack     uint64
	hook    uint64
	seen    map[mesh.RoomID]uint64 // the highest seq that entered, per room
	lines   int                    // lines in f
	dirty   bool                   // item lines written since the last fsync
	changed chan struct{}          // closed by the next add; made on demand
}

// compactSlack is how many dead lines a file may hold beyond its live items.
const compactSlack = 1024

// settle drops the items at or below ack, then the oldest over the bound.
func (b *box) settle(ack uint64) {
	i := sort.Search(len(b.refs), func(i int) bool { return b.refs[i].N > ack })
	if over := len(b.refs) - i - b.max; over > 0 {
		i += over
	}
	if i > 0 {
		b.refs = b.refs[i:]
		if cap(b.refs) > 1024 && len(b.refs) < cap(b.refs)/4 {
			b.refs = slices.Clone(b.refs)
		}
	}
}

// write appends l to the file, fsynced if sync. A failed write is cut
// back; if that fails too, the box refuses every later write.
func (b *box) write(l line, sync bool) error {
	if b.failed != nil {
		return b.failed
	}
	buf := encodeLine(l)
	_, err := b.f.WriteAt(buf, b.size)
	if err == nil && sync {
		err = b.f.Sync()
	}
	if err != nil {
		if terr := b.f.Truncate(b.size); terr != nil {
			b.failed = mesh.Errorf(mesh.EUnavailable, "The inbox of this participant failed; restart the node.")
		}
		return fmt.Errorf("write inbox %s: %w", b.path, err)
	}
	b.size += int64(len(buf))
	b.lines++
	b.dirty = b.dirty || !sync
	if sync {
		b.dirty = false
	}
	return nil
}

// add stores r with the next n, unless its participant has already seen
// r.Seq (or a later seq) in r.Room. It reports whether r was added.
func (b *box) add(r Ref) (Ref, bool, error) {
	if r.Seq <= b.seen[r.Room] {
		return Ref{}, false, nil
	}
	r.N = b.last + 1
	l := line{Op: opItem, N: r.N, Room: r.Room, Seq: r.Seq, ID: r.ID, Reason: r.Reason, Pushed: r.Pushed}
	if err := b.write(l, false); err != nil {
		return Ref{}, false, err
	}
	b.last, b.seen[r.Room] = r.N, r.Seq
	b.refs = append(b.refs, r)
	b.settle(b.ack)
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return r, true, b.maybeCompact()
}

// page returns up to limit items with n > after.
func (b *box) page(after uint64, limit int) Page {
	i := sort.Search(len(b.refs), func(i int) bool { return b.refs[i].N > after })
	j := min(len(b.refs), i+limit)
	p := Page{Refs: slices.Clone(b.refs[i:j]), Unacked: len(b.refs), Ack: b.ack, Last: b.last}
	floor := b.last + 1
	if len(b.refs) > 0 {
		floor = b.refs[0].N
	}
	if from := max(after, b.ack); floor > from+1 {
		p.Dropped = floor - 1 - from
	}
	return p
}

// ackTo moves the acknowledgement cursor to upTo, durably.
func (b *box) ackTo(upTo uint64) error {
	if upTo > b.last {
		return mesh.Errorf(mesh.EInvalid, "upTo %d is past the newest inbox item, %d.", upTo, b.last)
	}
	if upTo <= b.ack {
		return nil
	}
	if err := b.write(line{Op: opAck, UpTo: upTo}, true); err != nil {
		return err
	}
	b.ack = upTo
	b.settle(upTo)
	return b.maybeCompact()
}

// setHook moves the webhook cursor to n, fsynced if sync.
func (b *box) setHook(n uint64, sync bool) error {
	if n <= b.hook {
		return nil
	}
	if err := b.write(line{Op: opHook, UpTo: n}, sync); err != nil {
		return err
	}
	b.hook = n
	return nil
}

// maybeCompact rewrites the file when most of its lines are dead.
func (b *box) maybeCompact() error {
	if b.lines <= 2*len(b.refs)+compactSlack {
		return nil
	}
	var buf []byte
	for _, r := range b.refs {
		buf = append(buf, encodeLine(line{Op: opItem, N: r.N, Room: r.Room, Seq: r.Seq, ID: r.ID, Reason: r.Reason, Pushed: r.Pushed})...)
	}
	buf = append(buf, encodeLine(line{Op: opState, Last: b.last, Ack: b.ack, Hook: b.hook, Seen: b.seen})...)
	tmp := b.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("compact inbox %s: %w", b.path, err)
	}
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, b.path)
	}
	if err == nil {
		err = atomicfile.SyncDir(filepath.Dir(b.path))
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact inbox %s: %w", b.path, err)
	}
	b.f.Close() // its inode is gone; the new file replaces it
	b.f, b.size, b.lines, b.dirty = f, int64(len(buf)), len(b.refs)+1, false
	return nil
}
