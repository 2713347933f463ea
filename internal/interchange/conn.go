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

// frameSize is the size of a frame of n payload bytes.
func frameSize(masked bool, n int) int {
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
	return hdr + n
}

// appendFrame appends a frame of op whose payload is parts joined (n
// bytes), masked when masked is set.
func appendFrame(b []byte, op ws.OpCode, masked bool, n int, parts ...[]byte) []byte {
	hdr := frameSize(masked, n) - n
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
// to pooled chunks, so queuing a frame allocates nothing, and a writer
// takes every chunk queued in one writev. send never blocks: a frame that
// does not fit in the queue is dropped (and counted by the caller); the
// end-to-end acknowledgements of federation make the sender retry.
type sender struct {
	nc     net.Conn
	limits QueueLimits

	mu      sync.Mutex // guards the fields below
	chunks  [][]byte   // the frames queued
	frames  int        // how many
	bytes   int        // their size
	spare   [][]byte   // the chunk list the writer used last
	writing bool
	closed  bool
	err     error
	wg      sync.WaitGroup
	room    sync.Cond // signalled when the writer takes a batch or the link closes
}

// A queue's first chunk is small (most links queue a frame or two at a
// time: a push to every link should not take a big chunk for each), the
// next ones chunkSize; a frame bigger than that gets a chunk of its own,
// not pooled.
const (
	firstChunkSize = 4 << 10
	chunkSize      = 32 << 10
)

var (
	firstChunkPool = sync.Pool{New: func() any { return new([firstChunkSize]byte) }}
	chunkPool      = sync.Pool{New: func() any { return new([chunkSize]byte) }}
)

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
	c := s.roomLocked(len(frame))
	if c == nil {
		return false
	}
	*c = append(*c, frame...)
	s.queuedLocked(len(frame))
	return true
}

// sendText queues a text frame whose payload is parts joined, masked when
// masked is set, built in the queue itself. It reports what send does.
func (s *sender) sendText(masked bool, parts ...[]byte) bool {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	size := frameSize(masked, n)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.roomLocked(size)
	if c == nil {
		return false
	}
	*c = appendFrame(*c, ws.OpText, masked, n, parts...)
	s.queuedLocked(size)
	return true
}

// roomLocked returns the chunk to append a frame of n bytes to, or nil
// when the link is closed or the queue full.
func (s *sender) roomLocked(n int) *[]byte {
	if s.closed || s.frames >= s.limits.MaxFrames || s.bytes+n > s.limits.MaxBytes {
		return nil
	}
	if k := len(s.chunks); k > 0 && cap(s.chunks[k-1])-len(s.chunks[k-1]) >= n {
		return &s.chunks[k-1]
	}
	var c []byte
	switch {
	case len(s.chunks) == 0 && n <= firstChunkSize:
		c = firstChunkPool.Get().(*[firstChunkSize]byte)[:0]
	case n <= chunkSize:
		c = chunkPool.Get().(*[chunkSize]byte)[:0]
	default:
		c = make([]byte, 0, n)
	}
	s.chunks = append(s.chunks, c)
	return &s.chunks[len(s.chunks)-1]
}

// queuedLocked counts a frame of n bytes just queued and starts the
// writer.
func (s *sender) queuedLocked(n int) {
	s.frames++
	s.bytes += n
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
	size := frameSize(masked, len(payload))
	s.mu.Lock()
	for !s.closed && (s.frames >= s.limits.MaxFrames || s.bytes+size > s.limits.MaxBytes) {
		s.room.Wait()
	}
	s.mu.Unlock()
	return s.sendText(masked, payload)
}

// write drains the queue, one writev per batch.
func (s *sender) write() {
	defer s.wg.Done()
	var vecs [][]byte
	for {
		s.mu.Lock()
		if len(s.chunks) == 0 || s.closed {
			s.writing = false
			freeChunks(s.chunks)
			s.chunks, s.spare, s.frames, s.bytes = nil, nil, 0, 0
			s.room.Broadcast()
			s.mu.Unlock()
			return
		}
		batch := s.chunks
		s.chunks, s.spare = s.spare[:0], nil
		s.frames, s.bytes = 0, 0
		s.room.Broadcast()
		s.mu.Unlock()

		s.nc.SetWriteDeadline(time.Now().Add(s.limits.WriteTimeout))
		vecs = append(vecs[:0], batch...) // WriteTo consumes the copy, not batch
		iov := net.Buffers(vecs)
		_, err := iov.WriteTo(s.nc)
		freeChunks(batch)
		clear(batch)

		s.mu.Lock()
		s.spare = batch[:0]
		if err != nil && !s.closed {
			s.closed, s.err = true, err
			s.room.Broadcast()
			s.nc.Close()
		}
		s.mu.Unlock()
	}
}

// freeChunks gives pooled chunks back (only they have those sizes).
func freeChunks(chunks [][]byte) {
	for _, c := range chunks {
		switch cap(c) {
		case firstChunkSize:
			firstChunkPool.Put((*[firstChunkSize]byte)(c[:firstChunkSize]))
		case chunkSize:
			chunkPool.Put((*[chunkSize]byte)(c[:chunkSize]))
		}
	}
}

// close queues last (a close frame, or nil), waits for the writer to
// finish, and closes the socket. It is safe to call more than once.
func (s *sender) close(last []byte) {
	s.mu.Lock()
	if !s.closed {
		if last != nil {
			s.chunks = append(s.chunks, slices.Clip(last)) // clipped: never taken for a pooled chunk
			s.frames++
		}
		if len(s.chunks) > 0 && !s.writing {
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
