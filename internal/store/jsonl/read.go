package jsonl

import (
	"fmt"
	"io"

	"github.com/the-mesh/mesh"
)

// Read returns up to limit durable entries of the room with seq > after,
// in order; none for a room never written or limit <= 0. It reads one
// index entry and at most IndexEvery-1 lines before the first returned.
// It fails with mesh.EInvalid for a malformed room id and
// mesh.EUnavailable after Close.
func (s *Store) Read(id mesh.RoomID, after uint64, limit int) ([]mesh.Entry, error) {
	if !id.Valid() {
		return nil, fmt.Errorf("read room %s: %w", id, invalidRoom(id))
	}
	r := s.room(id, false)
	if r == nil {
		return nil, nil
	}
	head, size, idxN, _ := r.committed()
	if limit <= 0 || after >= head {
		return nil, nil
	}
	n := int(min(uint64(limit), head-after))
	h, err := s.files.acquire(id)
	if err != nil {
		return nil, fmt.Errorf("read room %s: %w", id, err)
	}
	defer s.files.release(h)

	start := idxEntry{seq: 1}
	if k := min(int64(after/uint64(s.every)), idxN-1); k > 0 {
		if start, err = readEntry(h.idx, k); err != nil {
			return nil, fmt.Errorf("read room %s: index: %w", id, err)
		}
		if start.seq != uint64(k)*uint64(s.every)+1 || start.off < 0 || start.off >= size {
			return nil, fmt.Errorf("read room %s: index entry %d is bad", id, k)
		}
	}
	lr := newLineReader(io.NewSectionReader(h.log, start.off, size-start.off), start.off, scanBuf)
	out := make([]mesh.Entry, 0, n)
	var chunk []byte // backs the returned lines, to allocate less
	for seq := start.seq; len(out) < n; seq++ {
		line, _, err := lr.next()
		if err != nil {
			return nil, fmt.Errorf("read room %s seq %d: %w", id, seq, err)
		}
		if seq <= after {
			continue
		}
		// Lines were checked when written and at Open; check the ends
		// of the page to catch a wrong offset.
		if len(out) == 0 || len(out) == n-1 {
			if got, err := lineSeq(line); err != nil || got != seq {
				return nil, fmt.Errorf("read room %s: line at seq %d is bad (seq %d, %v)", id, seq, got, err)
			}
		}
		if cap(chunk)-len(chunk) < len(line) {
			chunk = make([]byte, 0, max(64<<10, len(line)))
		}
		chunk = append(chunk, line...)
		out = append(out, mesh.Entry{Seq: seq, Line: chunk[len(chunk)-len(line) : len(chunk) : len(chunk)]})
	}
	return out, nil
}
