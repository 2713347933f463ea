package inbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/atomicfile"
)

// line is one line of an inbox file (see the package doc).
type line struct {
	Op     string                 `json:"op"`
	N      uint64                 `json:"n,omitempty"`
	Room   mesh.RoomID            `json:"room,omitempty"`
	Seq    uint64                 `json:"seq,omitempty"`
	ID     string                 `json:"id,omitempty"`
	Reason string                 `json:"reason,omitempty"`
	Pushed bool                   `json:"pushed,omitempty"`
	UpTo   uint64                 `json:"upTo,omitempty"`
	Last   uint64                 `json:"last,omitempty"`
	Ack    uint64                 `json:"ack,omitempty"`
	Hook   uint64                 `json:"hook,omitempty"`
	Seen   map[mesh.RoomID]uint64 `json:"seen,omitempty"`
}

// Line ops.
const (
	opItem  = "item"
	opAck   = "ack"
	opHook  = "hook"
	opState = "state"
)

// errCorrupt marks bytes that are not a valid line.
var errCorrupt = errors.New("corrupt inbox line")

// maxLineBytes bounds one line; a state line with many rooms is the longest.
const maxLineBytes = 1 << 20

// validReason reports whether r is an inbox reason.
func validReason(r string) bool {
	return r == mesh.InboxTo || r == mesh.InboxMention || r == mesh.InboxCommand
}

// validRoom reports whether r is a room id or a remote room's address.
func validRoom(r mesh.RoomID) bool { return r.Valid() || r.Remote() }

// apply checks one line against the state loaded so far and applies it.
func (b *box) apply(raw []byte) error {
	if len(raw) > maxLineBytes || len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return fmt.Errorf("%w: not a JSON object", errCorrupt)
	}
	var l line
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return fmt.Errorf("%w: %v", errCorrupt, err)
	}
	switch l.Op {
	case opItem:
		if l.N <= b.last || l.Seq == 0 || !validRoom(l.Room) || l.ID == "" || !validReason(l.Reason) {
			return fmt.Errorf("%w: bad item n=%d after %d", errCorrupt, l.N, b.last)
		}
		b.refs = append(b.refs, Ref{N: l.N, Room: l.Room, Seq: l.Seq, ID: l.ID, Reason: l.Reason, Pushed: l.Pushed})
		b.last = l.N
		b.seen[l.Room] = max(b.seen[l.Room], l.Seq)
	case opAck:
		b.ack = max(b.ack, l.UpTo)
	case opHook:
		b.hook = max(b.hook, l.UpTo)
	case opState:
		if l.Last < b.last {
			return fmt.Errorf("%w: state goes back from %d to %d", errCorrupt, b.last, l.Last)
		}
		b.last, b.ack, b.hook = l.Last, max(b.ack, l.Ack), max(b.hook, l.Hook)
		for room, seq := range l.Seen {
			if !validRoom(room) {
				return fmt.Errorf("%w: bad room %q", errCorrupt, room)
			}
			b.seen[room] = max(b.seen[room], seq)
		}
	default:
		return fmt.Errorf("%w: unknown op %q", errCorrupt, l.Op)
	}
	b.lines++
	return nil
}

// load reads b's file, applies every good line and sets aside a torn or
// corrupt tail. It then applies the acknowledgements and the bound.
func (b *box) load(logger *slog.Logger) error {
	f, err := os.OpenFile(b.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open inbox: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("read inbox %s: %w", b.path, err)
	}
	off, bad := b.parse(data)
	if bad != nil {
		if err := setAside(f, b.path+".corrupt", data[off:], int64(off)); err != nil {
			f.Close()
			return fmt.Errorf("set aside torn inbox tail of %s: %w", b.path, err)
		}
		logger.Warn("torn inbox tail set aside", "file", b.path, "offset", off, "bytes", len(data)-off, "reason", bad)
	}
	b.f, b.size = f, int64(off)
	b.settle(b.ack)
	return nil
}

// parse applies data's lines up to the first bad one and returns the end
// of the last good line and, if it stopped early, why.
func (b *box) parse(data []byte) (int, error) {
	off := 0
	for off < len(data) {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return off, fmt.Errorf("%w: no newline at the end", errCorrupt)
		}
		if err := b.apply(data[off : off+i]); err != nil {
			return off, err
		}
		off += i + 1
	}
	return off, nil
}

// setAside appends tail to path, fsyncs it, then cuts f back to off.
func setAside(f *os.File, path string, tail []byte, off int64) error {
	c, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = c.Write(tail)
	if err == nil {
		err = c.Sync()
	}
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = atomicfile.SyncDir(filepath.Dir(path))
	}
	if err == nil {
		err = f.Truncate(off)
	}
	if err == nil {
		err = f.Sync()
	}
	return err
}

// encodeLine returns l as one JSON line ended by '\n'.
func encodeLine(l line) []byte {
	b, _ := json.Marshal(l) // only strings, numbers and a map of them
	return append(b, '\n')
}
