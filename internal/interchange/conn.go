package interchange

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"net"
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
	if b == nil {
		b = make([]byte, 0, hdr+n)
	}
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

// framePool recycles the frames the relay routes: one is built per frame
// and freed once written. Only frames at most poolMax long are kept.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

const poolMax = 16 << 10

// pooledFrame is buildFrame into a buffer from framePool; pass it to
// sendPooled, which returns it once written.
func pooledFrame(masked bool, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n+14 > poolMax {
		return appendFrame(nil, ws.OpText, masked, n, parts...)
	}
	b := framePool.Get().(*[]byte)
	return appendFrame((*b)[:0], ws.OpText, masked, n, parts...)
}

func freeFrame(f []byte) {
	if cap(f) <= poolMax {
		f = f[:0]
		framePool.Put(&f)
	}
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

// sender is the write side of a link. send never blocks: a frame that
// does not fit in the queue is dropped (and counted by the caller); the
// end-to-end acknowledgements of federation make the sender retry.
type sender struct {
	nc     net.Conn
	limits QueueLimits

	mu      sync.Mutex // guards the fields below
	queue   [][]byte
	spare   [][]byte
	pooled  []bool // which queued frames go back to framePool once written
	sparep  []bool
	bytes   int
	writing bool
	closed  bool
	err     error
	wg      sync.WaitGroup
	room    sync.Cond // signalled when the writer takes a batch or the link closes
}

func newSender(nc net.Conn, limits QueueLimits) *sender {
	s := &sender{nc: nc, limits: limits}
	s.room.L = &s.mu
	return s
}

// send queues a complete frame. It reports false when the link is closed
// or the queue is full (the frame is dropped).
func (s *sender) send(frame []byte) bool { return s.enqueue(frame, false) }

// sendPooled is send for a frame from pooledFrame: it goes back to the
// pool once written, or at once when it is dropped.
func (s *sender) sendPooled(frame []byte) bool {
	if !s.enqueue(frame, true) {
		freeFrame(frame)
		return false
	}
	return true
}

func (s *sender) enqueue(frame []byte, pooled bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.queue) >= s.limits.MaxFrames || s.bytes+len(frame) > s.limits.MaxBytes {
		return false
	}
	s.queue = append(s.queue, frame)
	s.pooled = append(s.pooled, pooled)
	s.bytes += len(frame)
	if !s.writing {
		s.writing = true
		s.wg.Add(1)
		go s.write()
	}
	return true
}

// sendWait queues a frame, waiting while the queue is full; it reports
// false once the link is closed. It is for producers that may wait, such
// as a node's queue sender.
func (s *sender) sendWait(frame []byte) bool {
	s.mu.Lock()
	for !s.closed && (len(s.queue) >= s.limits.MaxFrames || s.bytes+len(frame) > s.limits.MaxBytes) {
		s.room.Wait()
	}
	s.mu.Unlock()
	return s.send(frame)
}

// write drains the queue, one writev per batch.
func (s *sender) write() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if len(s.queue) == 0 || s.closed {
			s.writing = false
			s.room.Broadcast()
			s.mu.Unlock()
			return
		}
		batch, pooled := s.queue, s.pooled
		s.queue, s.spare = s.spare[:0], nil
		s.pooled, s.sparep = s.sparep[:0], nil
		s.bytes = 0
		s.room.Broadcast()
		s.mu.Unlock()

		s.nc.SetWriteDeadline(time.Now().Add(s.limits.WriteTimeout))
		bufs := net.Buffers(batch)
		_, err := bufs.WriteTo(s.nc)
		for i, f := range batch {
			if pooled[i] {
				freeFrame(f)
			}
		}
		clear(batch)

		s.mu.Lock()
		s.spare, s.sparep = batch[:0], pooled[:0]
		if err != nil && !s.closed {
			s.closed, s.err = true, err
			s.room.Broadcast()
			s.nc.Close()
		}
		s.mu.Unlock()
	}
}

// close queues last (a close frame, or nil), waits for the writer to
// finish, and closes the socket. It is safe to call more than once.
func (s *sender) close(last []byte) {
	s.mu.Lock()
	if !s.closed {
		if last != nil {
			s.queue = append(s.queue, last)
			s.pooled = append(s.pooled, false)
		}
		if len(s.queue) > 0 && !s.writing {
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
	return len(s.queue)
}
