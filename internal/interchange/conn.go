package interchange

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// WebSocket framing for both ends of a link (reading is wsframe.Reader's):
// a writer with a bounded queue that drops what does not fit instead of
// blocking the router.

// buildFrame returns one complete text frame whose payload is the parts
// joined, masked with a random key when masked is set (frames from the
// dialing end), in one allocation.
func buildFrame(masked bool, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	return appendFrame(nil, ws.OpText, masked, n, parts...)
}

func appendFrame(b []byte, op ws.OpCode, masked bool, n int, parts ...[]byte) []byte {
	hdr := 2
	switch {
	case n > 0xffff:
		hdr = 10
	case n >= 126:
		hdr = 4
	}
	if masked {
		hdr += 4
	}
	b = slices.Grow(b, hdr+n)
	start := len(b)
	b = b[:start+hdr]
	h := b[start:]
	h[0] = 0x80 | byte(op)
	switch {
	case n > 0xffff:
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
	case n >= 126:
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
	default:
		h[1] = byte(n)
	}
	for _, p := range parts {
		b = append(b, p...)
	}
	if masked {
		h[1] |= 0x80
		var mask [4]byte
		binary.LittleEndian.PutUint32(mask[:], rand.Uint32())
		copy(h[hdr-4:hdr], mask[:])
		ws.Cipher(b[start+hdr:], mask, 0)
	}
	return b
}

// jsonFrame encodes v as a text frame.
func jsonFrame(masked bool, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("interchange: encode frame: " + err.Error()) // only our own types are encoded
	}
	return buildFrame(masked, b)
}

func controlFrame(masked bool, op ws.OpCode, payload []byte) []byte {
	return appendFrame(nil, op, masked, len(payload), payload)
}

func closeFrame(masked bool, code ws.StatusCode, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	return controlFrame(masked, ws.OpClose, ws.NewCloseFrameBody(code, reason))
}

// QueueLimits bound one link's send queue.
type QueueLimits struct {
	MaxFrames    int
	MaxBytes     int
	WriteTimeout time.Duration
}

// DefaultQueue is a link's send queue: what a relay holds for a node that
// reads slower than others send to it.
var DefaultQueue = QueueLimits{MaxFrames: 8192, MaxBytes: 16 << 20, WriteTimeout: 10 * time.Second}

// sender is the write side of a link. Frames are appended back to back
// to one buffer, so queuing a frame allocates nothing and a writer takes
// everything queued in one write. send never blocks: a frame that does
// not fit in the queue is dropped (and counted by the caller); the
// end-to-end acknowledgements of federation make the sender retry.
type sender struct {
	nc     net.Conn
	limits QueueLimits

	mu      sync.Mutex // guards the fields below
	buf     []byte     // the frames queued
	frames  int        // how many
	spare   []byte     // the buffer the writer wrote last, to queue into next
	writing bool
	closed  bool
	err     error
	wg      sync.WaitGroup
	room    sync.Cond // signalled when the writer takes a batch or the link closes
}

// bufPool holds the queue buffers of links with nothing to write, so an
// idle link holds none.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// keepBuf is the largest queue buffer kept for reuse.
const keepBuf = 1 << 20

func newSender(nc net.Conn, limits QueueLimits) *sender {
	s := &sender{nc: nc, limits: limits}
	s.room.L = &s.mu
	return s
}

// send queues a complete frame. It reports false when the link is closed
// or the queue is full (the frame is dropped).
func (s *sender) send(frame []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fitsLocked(len(frame)) {
		return false
	}
	s.buf = append(s.buf, frame...)
	s.queuedLocked()
	return true
}

// sendText queues a text frame whose payload is parts joined, masked when
// masked is set, built in the queue itself. It reports what send does.
func (s *sender) sendText(masked bool, parts ...[]byte) bool {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fitsLocked(n + 14) {
		return false
	}
	s.buf = appendFrame(s.buf, ws.OpText, masked, n, parts...)
	s.queuedLocked()
	return true
}

// fitsLocked reports whether a frame of n bytes may be queued.
func (s *sender) fitsLocked(n int) bool {
	if s.closed || s.frames >= s.limits.MaxFrames || len(s.buf)+n > s.limits.MaxBytes {
		return false
	}
	if s.buf == nil {
		s.buf = (*bufPool.Get().(*[]byte))[:0]
	}
	return true
}

// queuedLocked counts a frame just queued and starts the writer.
func (s *sender) queuedLocked() {
	s.frames++
	if !s.writing {
		s.writing = true
		s.wg.Add(1)
		go s.write()
	}
}

// sendWait queues a text frame of payload, masked when masked is set,
// waiting while the queue is full; it reports false once the link is
// closed. It is for producers that may wait, such as a node's queue
// sender.
func (s *sender) sendWait(masked bool, payload []byte) bool {
	s.mu.Lock()
	for !s.closed && (s.frames >= s.limits.MaxFrames || len(s.buf)+len(payload)+14 > s.limits.MaxBytes) {
		s.room.Wait()
	}
	s.mu.Unlock()
	return s.sendText(masked, payload)
}

// write drains the queue, one write per batch.
func (s *sender) write() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if len(s.buf) == 0 || s.closed {
			s.writing = false
			s.releaseLocked()
			s.room.Broadcast()
			s.mu.Unlock()
			return
		}
		batch := s.buf
		s.buf, s.spare = s.spare, nil
		s.frames = 0
		s.room.Broadcast()
		s.mu.Unlock()

		s.nc.SetWriteDeadline(time.Now().Add(s.limits.WriteTimeout))
		_, err := s.nc.Write(batch)

		s.mu.Lock()
		if cap(batch) <= keepBuf {
			s.spare = batch[:0]
		}
		if err != nil && !s.closed {
			s.closed, s.err = true, err
			s.room.Broadcast()
			s.nc.Close()
		}
		s.mu.Unlock()
	}
}

// releaseLocked gives the queue's buffers back to bufPool (what is in
// them is dropped).
func (s *sender) releaseLocked() {
	for _, b := range [2][]byte{s.buf, s.spare} {
		if b != nil && cap(b) <= keepBuf {
			b = b[:0]
			bufPool.Put(&b)
		}
	}
	s.buf, s.spare = nil, nil
}

// close queues last (a close frame, or nil), waits for the writer to
// finish, and closes the socket. It is safe to call more than once.
func (s *sender) close(last []byte) {
	s.mu.Lock()
	if !s.closed {
		if last != nil {
			s.buf = append(s.buf, last...)
			s.frames++
		}
		if len(s.buf) > 0 && !s.writing {
			s.writing = true
			s.wg.Add(1)
			go s.write()
		}
		// The writer finishes what is queued: closed is set after it.
		for s.writing && s.err == nil {
			s.room.Wait()
		}
		s.closed = true
		s.room.Broadcast()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.nc.Close()
}

// abort closes the socket at once, dropping what is queued.
func (s *sender) abort() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.room.Broadcast()
	}
	s.mu.Unlock()
	s.nc.Close()
}

// queued returns how many frames wait.
func (s *sender) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames
}
