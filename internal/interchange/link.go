package interchange

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/gobwas/ws"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/wsframe"
)

// conn is one end of a link: the socket, its reader and its send queue.
// Frames we write are masked when we dialed (we are the WebSocket client).
type conn struct {
	nc     net.Conn
	in     wsframe.Reader
	out    *sender
	masked bool
}

func newConn(nc net.Conn, br *bufio.Reader, dialed bool, maxFrame int, q QueueLimits) *conn {
	c := &conn{nc: nc, out: newSender(nc, q), masked: dialed}
	c.in = wsframe.Reader{BR: br, Max: maxFrame, Masked: !dialed, KeepBuf: 64 << 10}
	c.in.Control = func(op ws.OpCode, p []byte) {
		if op == ws.OpPing {
			c.out.send(controlFrame(c.masked, ws.OpPong, p))
		}
	}
	return c
}

func (c *conn) sendJSON(v any) bool { return c.out.send(jsonFrame(c.masked, v)) }

// Link is a dialed connection to a relay, authenticated. Read returns the
// relay's frames; Send queues frames to it. Read must be called from one
// goroutine; the other methods are safe for concurrent use.
type Link struct {
	c       *conn
	Welcome Welcome
	idle    time.Duration
	frames  int // read, up to busyLink
}

// DialConfig is what Dial needs.
type DialConfig struct {
	URL      string // ws://host:port or wss://...; Path is added when the URL has none
	Identity Identity
	Kind     string // KindNode or KindRelay
	Secret   string // "" on an open relay
	Name     string // a display name, told to the relay
	// MaxFrameBytes bounds the frames read from the relay (default
	// DefaultMaxFrameBytes plus room for what the relay adds).
	MaxFrameBytes int
	Queue         QueueLimits   // zero: DefaultQueue
	IdleTimeout   time.Duration // a relay silent this long is gone (default 90 s)
	// TLS verifies a wss:// relay; nil: the system's roots. TLS 1.2 is
	// the least accepted either way.
	TLS *tls.Config
	// ProveRelay makes the relay prove who it is: the hello carries a
	// nonce, and a welcome without a valid signature of it by the key of
	// the relay it names is refused (EUnauthorized). RelayID, when set,
	// is the only relay accepted (and implies ProveRelay).
	ProveRelay bool
	RelayID    string
}

// LinkURL returns the WebSocket URL of a relay given as ws://, wss://,
// http:// or https:// with or without Path.
func LinkURL(u string) string {
	switch {
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + strings.TrimPrefix(u, "http://")
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	}
	rest := u[strings.Index(u, "://")+3:]
	if !strings.Contains(rest, "/") {
		u = strings.TrimRight(u, "/") + Path
	}
	return u
}

// Dial connects to a relay and authenticates. A refusal is a *mesh.Error
// (EUnauthorized for a wrong secret or an instance the relay does not
// allow).
func Dial(ctx context.Context, cfg DialConfig) (*Link, error) {
	if !strings.HasPrefix(cfg.URL, "ws://") && !strings.HasPrefix(cfg.URL, "wss://") &&
		!strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, fmt.Errorf("relay URL %q: want ws://, wss://, http:// or https://", cfg.URL)
	}
	if cfg.MaxFrameBytes <= 0 {
		cfg.MaxFrameBytes = DefaultMaxFrameBytes + 1024
	}
	if cfg.Queue == (QueueLimits{}) {
		cfg.Queue = DefaultQueue
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 90 * time.Second
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
		tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
	}
	d := ws.Dialer{Timeout: 10 * time.Second, TLSConfig: tc}
	nc, br, _, err := d.Dial(ctx, LinkURL(cfg.URL))
	if err != nil {
		return nil, fmt.Errorf("dial relay %s: %w", cfg.URL, err)
	}
	if br == nil {
		br = bufio.NewReaderSize(nc, 16<<10)
	}
	c := newConn(nc, br, true, cfg.MaxFrameBytes, cfg.Queue)
	l := &Link{c: c, idle: cfg.IdleTimeout}
	stop := context.AfterFunc(ctx, func() { nc.SetReadDeadline(time.Now()) })
	defer stop()
	if err := l.handshake(cfg); err != nil {
		c.out.abort()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return l, nil
}

func (l *Link) handshake(cfg DialConfig) error {
	l.c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := l.c.in.Next()
	if err != nil {
		return fmt.Errorf("read challenge: %w", err)
	}
	var ch Challenge
	if err := decodeFrame(p, TypeChallenge, &ch); err != nil {
		return err
	}
	h := answer(ch, cfg.Identity, cfg.Kind, cfg.Secret, cfg.Name)
	if cfg.ProveRelay || cfg.RelayID != "" {
		h.Nonce = newNonce()
	}
	l.c.sendJSON(h)
	p, err = l.c.in.Next()
	if err != nil {
		return fmt.Errorf("read welcome: %w", err)
	}
	if err := decodeFrame(p, TypeWelcome, &l.Welcome); err != nil {
		return err
	}
	if h.Nonce != "" {
		if err := verifyWelcome(l.Welcome, cfg.RelayID, h.Nonce, cfg.Identity.ID, ch.Nonce); err != nil {
			return &identityError{err}
		}
	}
	l.c.nc.SetReadDeadline(time.Now().Add(l.idle))
	l.c.in.Before = idleDeadline(l.c.nc, &l.c.in, l.idle)
	return nil
}

// idleDeadline returns a before-frame hook for in that keeps the read
// deadline idle ahead. Moving a deadline costs a timer update, so it moves
// at most every idle/8: the link is closed after between 7/8 idle and idle
// of silence. Reading the clock costs too, so while frames wait in the
// read buffer (no read will block) it is read only every 64th frame.
func idleDeadline(nc net.Conn, in *wsframe.Reader, idle time.Duration) func() {
	var last time.Time
	n := 0
	return func() {
		if n++; n < 64 && in.BR.Buffered() > 0 {
			return
		}
		n = 0
		if now := time.Now(); now.Sub(last) >= idle/8 {
			last = now
			nc.SetReadDeadline(now.Add(idle))
		}
	}
}

// decodeFrame decodes a frame of type want, or returns the relay's error
// frame as a *mesh.Error.
func decodeFrame(p []byte, want string, v any) error {
	var head struct {
		Type    string `json:"type"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(p, &head); err != nil {
		return fmt.Errorf("relay sent a frame that is not JSON: %w", err)
	}
	if head.Type == TypeError {
		return &mesh.Error{Code: head.Code, Message: head.Message}
	}
	if head.Type != want {
		return fmt.Errorf("relay sent %q, want %q", head.Type, want)
	}
	return json.Unmarshal(p, v)
}

// Read returns the next frame from the relay (valid until the next call).
func (l *Link) Read() ([]byte, error) {
	for {
		if l.frames++; l.frames == busyLink {
			l.c.in.BR = bufio.NewReaderSize(l.c.in.BR, 64<<10) // as the relay does
		}
		p, err := l.c.in.Next()
		if err == nil {
			return p, nil
		}
		if me := (*mesh.Error)(nil); errors.As(err, &me) { // an oversized or binary frame, skipped
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("relay silent for %v", l.idle)
		}
		return nil, err
	}
}

// Send queues a frame payload (one JSON object); false if the link is
// closed or its queue is full.
func (l *Link) Send(payload []byte) bool { return l.c.out.sendText(true, payload) }

// SendWait is Send that waits while the queue is full.
func (l *Link) SendWait(payload []byte) bool { return l.c.out.sendWait(true, payload) }

// SendJSON encodes v and queues it.
func (l *Link) SendJSON(v any) bool { return l.c.sendJSON(v) }

// Close sends a close frame, lets queued frames go and closes the socket.
func (l *Link) Close() { l.c.out.close(closeFrame(true, ws.StatusNormalClosure, "")) }

// Abort closes the socket at once.
func (l *Link) Abort() { l.c.out.abort() }
