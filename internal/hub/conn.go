package hub

import (
	"net"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// Limits bound one connection's send queue.
type Limits struct {
	MaxFrames    int           // queued frames before the consumer counts as slow
	MaxBytes     int           // queued bytes before the consumer counts as slow
	WriteTimeout time.Duration // a write that takes longer closes the connection
	// WriteDelay coalesces writes on a busy connection: when its recent
	// frame rate promises two more frames within WriteDelay, a write waits
	// until WriteDelay after the previous one, and the frames queued
	// meanwhile share one system call. A connection receiving fewer frames
	// writes each at once. Zero never waits.
	WriteDelay time.Duration
}

// DefaultLimits are the send queue limits of a node.
var DefaultLimits = Limits{MaxFrames: 4096, MaxBytes: 4 << 20, WriteTimeout: 10 * time.Second, WriteDelay: 40 * time.Millisecond}

// Counters are the hub's metrics hooks; any field may be nil.
type Counters struct {
	FramesOut     func(n int) // frames written to sockets
	SlowConsumers func()      // connections closed for a full queue
}

// Conn is the outbound side of one WebSocket connection. Send is safe for
// concurrent use and never blocks.
type Conn struct {
	nc       net.Conn
	limits   Limits
	counters *Counters

	mu      sync.Mutex // guards the fields below
	queue   [][]byte
	spare   [][]byte // the writer's last batch, reused as the next queue
	bytes   int
	writing bool   // a writer goroutine is running
	closed  bool   // no more frames are accepted
	drain   bool   // closed by Close: write what is queued before the socket closes
	slow    bool   // closed as a slow consumer
	reason  string // why the connection was closed
	wg      sync.WaitGroup
	drained sync.Cond // signalled when the writer takes a batch or the conn closes
	waiting bool      // the writer is waiting to coalesce; Send may kick it
	kick    chan struct{}
	timer   *time.Timer // the writer's coalescing timer, made on first use

	// Owned by the writer goroutine (one at a time, ordered by mu).
	lastWrite  time.Time
	deadline   time.Time // the write deadline set on nc
	rateStart  time.Time // start of the window rate was measured over
	rateFrames int       // frames written since rateStart
	framesPerS float64   // the rate over the last full window
}

// rateWindow is how often a connection's frame rate is measured.
const rateWindow = time.Second

// coalesce waits before a write when the connection is busy enough for
// two more frames to arrive during the wait. (With one, chance swings of a
// moderate rate would delay its writes for nothing.) It stops waiting as
// soon as an eighth of the queue is full: the batch is big enough, and
// waiting on could overflow the queue of a client that reads fast.
func (c *Conn) coalesce() {
	d := c.limits.WriteDelay
	if d <= 0 || c.framesPerS*d.Seconds() < 2 {
		return
	}
	wait := time.Until(c.lastWrite.Add(d))
	if wait <= 0 {
		return
	}
	c.mu.Lock()
	if c.fullLocked() {
		c.mu.Unlock()
		return
	}
	if c.kick == nil {
		c.kick = make(chan struct{}, 1)
	}
	c.waiting = true
	c.mu.Unlock()
	if c.timer == nil {
		c.timer = time.NewTimer(wait)
	} else {
		c.timer.Reset(wait) // Go 1.23 timers: no stale tick to drain
	}
	select {
	case <-c.timer.C:
	case <-c.kick:
		c.timer.Stop()
	}
	c.mu.Lock()
	c.waiting = false
	c.mu.Unlock()
}

// fullLocked reports whether the queue holds a batch worth writing at once.
// c.mu must be held.
func (c *Conn) fullLocked() bool {
	return len(c.queue) >= c.limits.MaxFrames/8 || c.bytes >= c.limits.MaxBytes/8
}

// countRate records n frames written at now.
func (c *Conn) countRate(now time.Time, n int) {
	c.rateFrames += n
	if el := now.Sub(c.rateStart); el >= rateWindow {
		c.framesPerS = float64(c.rateFrames) / el.Seconds()
		c.rateStart, c.rateFrames = now, 0
	}
}

// NewConn wraps nc, which the caller keeps reading from.
func NewConn(nc net.Conn, limits Limits, counters *Counters) *Conn {
	if counters == nil {
		counters = &Counters{}
	}
	c := &Conn{nc: nc, limits: limits, counters: counters}
	c.drained.L = &c.mu
	return c
}

// WaitRoom blocks until at least n more frames and half the byte limit
// fit in the queue, and reports false if the connection closed first. It
// lets a producer that may wait (a catch-up from storage) follow the
// consumer's pace. n must be at most MaxFrames.
func (c *Conn) WaitRoom(n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.closed && (len(c.queue)+n > c.limits.MaxFrames || c.bytes > c.limits.MaxBytes/2) {
		c.drained.Wait()
	}
	return !c.closed
}

// PageSize is how many frames a catch-up should queue between WaitRoom
// calls: a quarter of the queue, at most 256.
func (c *Conn) PageSize() int { return max(1, min(256, c.limits.MaxFrames/4)) }

// Send queues a complete frame. It returns false if the connection is
// closed, or if the queue is full, in which case it closes the connection
// as a slow consumer. The frame's bytes must not change afterwards.
func (c *Conn) Send(frame []byte) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if len(c.queue) >= c.limits.MaxFrames || c.bytes+len(frame) > c.limits.MaxBytes {
		c.mu.Unlock()
		c.abortSlow("send queue full")
		return false
	}
	c.queue = append(c.queue, frame)
	c.bytes += len(frame)
	if c.waiting && c.fullLocked() {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	if !c.writing {
		c.writing = true
		c.wg.Add(1)
		go c.write()
	}
	c.mu.Unlock()
	return true
}

// write drains the queue, one writev per batch, and exits when it is empty.
func (c *Conn) write() {
	defer c.wg.Done()
	for {
		c.coalesce()
		c.mu.Lock()
		if len(c.queue) == 0 || c.closed && !c.drain {
			c.writing = false
			c.spare = c.spare[:0]
			c.mu.Unlock()
			return
		}
		batch := c.queue
		c.queue, c.spare = c.spare[:0], nil
		c.bytes = 0
		c.drained.Broadcast()
		c.mu.Unlock()

		n := len(batch)
		bufs := net.Buffers(batch)
		// Moving the deadline costs a timer update; keep at least half
		// the timeout ahead instead of moving it on every write.
		now := time.Now()
		if c.deadline.Sub(now) < c.limits.WriteTimeout/2 {
			c.deadline = now.Add(c.limits.WriteTimeout)
			c.nc.SetWriteDeadline(c.deadline)
		}
		_, err := bufs.WriteTo(c.nc)
		c.lastWrite = now
		c.countRate(now, n)
		clear(batch) // drop references to shared frames
		if c.counters.FramesOut != nil {
			c.counters.FramesOut(n)
		}

		c.mu.Lock()
		c.spare = batch[:0]
		if err != nil {
			c.closeLocked("write failed: " + err.Error())
			c.drain = false
		}
		c.mu.Unlock()
	}
}

// Close queues a close frame with code and reason, lets the writer finish
// what is queued (bounded by the write timeout), then closes the socket.
// It waits for the writer goroutine and is safe to call more than once.
func (c *Conn) Close(code ws.StatusCode, reason string) {
	c.mu.Lock()
	if !c.closed {
		c.queue = append(c.queue, CloseFrame(code, reason))
		if !c.writing {
			c.writing = true
			c.wg.Add(1)
			go c.write()
		}
		c.closed, c.drain = true, true
		c.reason = reason
		c.drained.Broadcast()
	}
	c.mu.Unlock()
	c.wg.Wait()
	c.nc.Close()
}

// Abort closes the connection at once, dropping what is queued. It does
// not wait and may be called under a Room's lock.
func (c *Conn) Abort(reason string) {
	c.mu.Lock()
	c.closeLocked(reason)
	c.mu.Unlock()
}

// abortSlow aborts the connection as a slow consumer and counts it.
func (c *Conn) abortSlow(reason string) {
	c.mu.Lock()
	c.slow = !c.closed
	c.mu.Unlock()
	c.Abort(SlowConsumer + ": " + reason)
	if c.counters.SlowConsumers != nil {
		c.counters.SlowConsumers()
	}
}

// SlowConsumer starts the close reason of a connection dropped for not
// reading fast enough.
const SlowConsumer = "slow consumer"

// closeLocked marks the connection closed and unblocks its reader and
// writer by closing the socket. c.mu must be held.
func (c *Conn) closeLocked(reason string) {
	if c.closed {
		return
	}
	c.closed = true
	c.reason = reason
	c.drained.Broadcast()
	c.nc.Close()
}

// Reason returns why the connection was closed, or "" while it is open.
func (c *Conn) Reason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Slow reports whether the connection was closed as a slow consumer.
func (c *Conn) Slow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slow
}

// Wait blocks until no writer goroutine runs.
func (c *Conn) Wait() { c.wg.Wait() }
