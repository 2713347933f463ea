package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/the-mesh/mesh"
)

// A mirror's log. A node that joins a remote room does not download its
// history: its first subscribe asks for the recent window (after 0, event
// recent: the home answers with its last mesh.DefaultHistory messages,
// what a joined frame shows; a home older than this sends the history from
// seq 1), and the mirror holds the room from there on, gap-free. A
// read of older seqs gets what the mirror has, from its first seq: older
// messages stay on the home. A mirror whose first message is seq 1 (a
// room that was short when the node joined, or a mirror made before this
// rule) is the home's log as it is.
//
// The store (package jsonl) numbers a log's lines 1, 2, 3... and wants
// that number in each line's "seq", so a mirror that starts later, at
// base+1, holds line k as {"seq":k,"msg":ENVELOPE}, ENVELOPE being the
// home's envelope of seq base+k. Line 1 tells base. Reads unwrap the
// envelope (a subslice, no copy) and give it its own seq.

// mirrorLinePrefix starts a wrapped line.
var mirrorLinePrefix = []byte(`{"seq":`)

// wrapMirrorLine returns the line of store position k for envelope.
func wrapMirrorLine(k uint64, envelope []byte) []byte {
	b := make([]byte, 0, len(envelope)+40)
	b = append(b, mirrorLinePrefix...)
	b = strconv.AppendUint(b, k, 10)
	b = append(b, `,"msg":`...)
	b = append(b, envelope...)
	return append(b, '}')
}

// unwrapMirrorLine returns the envelope of a wrapped line.
func unwrapMirrorLine(line []byte) ([]byte, error) {
	i := bytes.Index(line, []byte(`,"msg":`))
	if !bytes.HasPrefix(line, mirrorLinePrefix) || i < 0 || line[len(line)-1] != '}' {
		return nil, fmt.Errorf("mirror line %.40q is not {\"seq\":k,\"msg\":envelope}", line)
	}
	return line[i+len(`,"msg":`) : len(line)-1], nil
}

// mirrorBase reads where the mirror of address starts: the home's seq
// before its first line (0 when the log is empty or the home's own).
func (f *fed) mirrorBase(address mesh.RoomID) (uint64, error) {
	es, err := f.mirrors.Read(mirrorID(address), 0, 1)
	if err != nil || len(es) == 0 || !bytes.HasPrefix(es[0].Line, mirrorLinePrefix) {
		return 0, err
	}
	env, err := unwrapMirrorLine(es[0].Line)
	if err != nil {
		return 0, err
	}
	var m struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(env, &m); err != nil || m.Seq == 0 {
		return 0, fmt.Errorf("mirror of %s: the first envelope has no seq", address)
	}
	return m.Seq - 1, nil
}

// mirrorEntries turns store entries of a mirror into the home's: its seq,
// its envelope. base is the mirror's (read after the entries: it is set
// before the first line is appended and never changes).
func mirrorEntries(es []mesh.Entry, base uint64) ([]mesh.Entry, error) {
	for i := range es {
		if !bytes.HasPrefix(es[i].Line, mirrorLinePrefix) {
			continue // the home's envelope as it is (base 0)
		}
		env, err := unwrapMirrorLine(es[i].Line)
		if err != nil {
			return nil, err
		}
		es[i] = mesh.Entry{Seq: es[i].Seq + base, Line: env}
	}
	return es, nil
}

// readMirror returns up to limit envelopes of the mirror of address with
// a seq above after, as the home numbers them.
func (f *fed) readMirror(address mesh.RoomID, after uint64, limit int) ([]mesh.Entry, error) {
	base := f.baseOf(address)
	for {
		es, err := f.mirrors.Read(mirrorID(address), after-min(after, base), limit)
		if err != nil || len(es) == 0 {
			return es, err
		}
		// The base is set once, before the first line: if it was set
		// meanwhile, the read started from the wrong line.
		if b := f.baseOf(address); b != base {
			base = b
			continue
		}
		return mirrorEntries(es, base)
	}
}

// baseOf returns the base of the mirror of address.
func (f *fed) baseOf(address mesh.RoomID) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mirrorLocked(address).base
}

// mirrorHead returns the last seq the mirror of address holds, as the
// home numbers it (0 when it holds none).
func (f *fed) mirrorHead(address mesh.RoomID) (uint64, error) {
	h, err := f.mirrors.Head(mirrorID(address))
	if err != nil || h.Seq == 0 {
		return 0, err
	}
	return h.Seq + f.baseOf(address), nil
}
