package agent

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/the-mesh/mesh"
)

// Timeouts of a connection.
const (
	handshakeTimeout = 10 * time.Second // dial, hello and welcome
	writeTimeout     = 10 * time.Second // one frame
	pingAfter        = 30 * time.Second // silence before a JSON ping
	pongWait         = 15 * time.Second // silence after the ping before giving up
)

// conn is one WebSocket to the node. Its reader goroutine (readLoop) is
// the only one that reads; writes from any goroutine go through write,
// which serialises them.
type conn struct {
	nc   net.Conn
	rd   *wsutil.Reader
	ctl  wsutil.ControlHandler
	lim  *limiter
	done chan struct{} // closed when readLoop has returned
	err  error         // why the reader stopped; set before done is closed

	wmu sync.Mutex // serialises writes to nc

	// pending maps a frame's ref to the caller waiting for its answer.
	// It is guarded by Client.mu.
	pending map[string]*waiter

	lastRecv   atomic.Int64 // unix nanoseconds of the last frame read
	pinged     atomic.Bool  // a JSON ping is out since lastRecv
	delivering atomic.Bool  // the reader is blocked on a full message queue
}

// lockedWriter makes each Write of the control handler (a pong or a close
// answer, always one Write) exclusive with the data frames.
type lockedWriter struct{ c *conn }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.c.wmu.Lock()
	defer w.c.wmu.Unlock()
	w.c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	return w.c.nc.Write(p)
}

// dialConn opens the WebSocket, with tc for wss:// (nil: the system's
// roots). The handshake is bounded by ctx and by handshakeTimeout.
func dialConn(ctx context.Context, url string, tc *tls.Config) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	nc, br, _, err := ws.Dialer{TLSConfig: tc}.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	var src io.Reader = nc
	if br != nil {
		src = br
	}
	c := &conn{nc: nc, done: make(chan struct{}), pending: make(map[string]*waiter), lim: &limiter{}}
	c.rd = &wsutil.Reader{Source: src, State: ws.StateClientSide, CheckUTF8: true}
	c.ctl = wsutil.ControlHandler{Src: c.rd, Dst: lockedWriter{c}, State: ws.StateClientSide, DisableSrcCiphering: true}
	c.rd.OnIntermediate = func(h ws.Header, r io.Reader) error {
		return wsutil.ControlHandler{Src: r, Dst: lockedWriter{c}, State: ws.StateClientSide, DisableSrcCiphering: true}.Handle(h)
	}
	c.lastRecv.Store(time.Now().UnixNano())
	return c, nil
}

// readFrame reads the next text frame, answering control frames on the
// way. Binary frames are skipped.
func (c *conn) readFrame() ([]byte, error) {
	for {
		h, err := c.rd.NextFrame()
		if err != nil {
			return nil, err
		}
		if h.OpCode.IsControl() {
			c.lim.take() // a pong takes one of the node's tokens too
			if err := c.ctl.Handle(h); err != nil {
				return nil, err
			}
			c.lastRecv.Store(time.Now().UnixNano())
			continue
		}
		if h.OpCode != ws.OpText {
			if err := c.rd.Discard(); err != nil {
				return nil, err
			}
			continue
		}
		data, err := io.ReadAll(c.rd)
		if err != nil {
			return nil, err
		}
		c.lastRecv.Store(time.Now().UnixNano())
		c.pinged.Store(false)
		return data, nil
	}
}

// write sends v as one text frame, first waiting (bounded by ctx) for the
// client's share of the node's frame rate. A failed write closes the
// connection, so the reader ends and the supervisor reconnects.
func (c *conn) write(ctx context.Context, v any, maxFrame int) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if maxFrame > 0 && len(b) > maxFrame {
		return mesh.Errorf(mesh.ETooLarge, "The frame is %d bytes; the node's limit is %d.", len(b), maxFrame)
	}
	if err := c.lim.wait(ctx); err != nil {
		return err
	}
	f := ws.MaskFrameInPlace(ws.NewTextFrame(b))
	frame, err := ws.CompileFrame(f)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.nc.Write(frame); err != nil {
		c.nc.Close()
		return fmt.Errorf("%w: %v", ErrDisconnected, err)
	}
	return nil
}

// shutdown sends a normal closure and closes the socket.
func (c *conn) shutdown() {
	f := ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
	if frame, err := ws.CompileFrame(f); err == nil {
		c.wmu.Lock()
		c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		c.nc.Write(frame)
		c.wmu.Unlock()
	}
	c.nc.Close()
}

// closeCode returns the WebSocket close code the node sent, or 0.
func closeCode(err error) ws.StatusCode {
	var ce wsutil.ClosedError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// limiter keeps the client under the node's per-connection frame rate
// (welcome.limits), so that a burst of Says is paced instead of refused
// with rate_limited. It is a token bucket that may go into debt: a caller
// reserves a token and sleeps until it is due.
type limiter struct {
	mu     sync.Mutex
	rate   float64 // tokens per second; 0 = no limit
	burst  float64
	tokens float64
	last   time.Time
}

// set configures the bucket from the node's limits, with a margin for
// network jitter and for the pongs that share the bucket.
func (l *limiter) set(w mesh.WireLimits) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.Rate <= 0 {
		l.rate = 0
		return
	}
	l.rate = w.Rate * 0.9
	l.burst = max(1, float64(w.Burst)*0.8)
	l.tokens, l.last = l.burst, time.Now()
}

// reserve takes a token and returns how long to wait before using it.
func (l *limiter) reserve() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rate == 0 {
		return 0
	}
	now := time.Now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens--
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(-l.tokens / l.rate * float64(time.Second))
}

func (l *limiter) take() { l.reserve() }

func (l *limiter) wait(ctx context.Context) error {
	d := l.reserve()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		l.tokens++ // give the token back
		l.mu.Unlock()
		return ctx.Err()
	}
}
