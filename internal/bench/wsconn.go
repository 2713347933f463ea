package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// maxFrame bounds a frame the generator will read; a node frame larger than
// this ends the connection with an error rather than an unbounded buffer.
const maxFrame = 16 << 20

// Conn is one client WebSocket to a node. A single goroutine reads it with
// ReadFrame; WriteText may be called concurrently with reading and with
// itself.
type Conn struct {
	nc net.Conn
	br *bufio.Reader
	// buf holds the payload of the frame last returned by ReadFrame.
	buf []byte

	wmu  sync.Mutex // guards wbuf and writes to nc
	wbuf []byte
}

// Dial opens a WebSocket to the node at base (http://host:port) on
// /api/v1/ws.
func Dial(ctx context.Context, base string) (*Conn, error) { return DialTLS(ctx, base, nil) }

// DialTLS is Dial verifying an https node's certificate with tc (nil: the
// system's roots).
func DialTLS(ctx context.Context, base string, tc *tls.Config) (*Conn, error) {
	u, err := wsURL(base)
	if err != nil {
		return nil, err
	}
	d := ws.Dialer{Timeout: 30 * time.Second, TLSConfig: tc}
	nc, br, _, err := d.Dial(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	return NewConn(nc, br), nil
}

// NewConn wraps an upgraded connection. br holds bytes the server sent right
// after the handshake, or is nil.
func NewConn(nc net.Conn, br *bufio.Reader) *Conn {
	if br == nil {
		br = bufio.NewReaderSize(nc, 4096)
	}
	return &Conn{nc: nc, br: br}
}

// wsURL turns http://host:port into ws://host:port/api/v1/ws.
func wsURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("node url %q: %w", base, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("node url %q: want http://host:port", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/ws"
	return u.String(), nil
}

// Close closes the connection; a pending ReadFrame returns an error.
func (c *Conn) Close() error { return c.nc.Close() }

// WriteText sends payload as one masked text frame, with a single write.
func (c *Conn) WriteText(payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = AppendMaskedFrame(c.wbuf[:0], ws.OpText, payload, ws.NewMask())
	_, err := c.nc.Write(c.wbuf)
	return err
}

// WriteJSON sends v as one masked text frame.
func (c *Conn) WriteJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.WriteText(b)
}

// AppendMaskedFrame appends a final client frame carrying payload, masked
// with mask as RFC 6455 requires of clients, to dst.
func AppendMaskedFrame(dst []byte, op ws.OpCode, payload []byte, mask [4]byte) []byte {
	h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: mask, Length: int64(len(payload))}
	var hb [ws.MaxHeaderSize]byte
	w := fixedWriter{b: hb[:0]}
	// Writing a header to memory cannot fail.
	_ = ws.WriteHeader(&w, h)
	dst = append(dst, w.b...)
	start := len(dst)
	dst = append(dst, payload...)
	ws.Cipher(dst[start:], mask, 0)
	return dst
}

type fixedWriter struct{ b []byte }

func (w *fixedWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// ReadFrame returns the payload of the next data frame, joining fragments.
// It answers pings, and returns io.EOF when the node closes the connection.
// The payload is valid until the next call.
func (c *Conn) ReadFrame() ([]byte, error) {
	var err error
	c.buf, err = ReadMessage(c.br, c.buf[:0], c.pong)
	return c.buf, err
}

func (c *Conn) pong(payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = AppendMaskedFrame(c.wbuf[:0], ws.OpPong, payload, ws.NewMask())
	_, err := c.nc.Write(c.wbuf)
	return err
}

// ReadMessage reads frames from r until a whole data message has arrived
// and returns it appended to buf. Server frames are unmasked, but a masked
// frame is unmasked anyway. Pings are passed to onPing (which may be nil),
// pongs are skipped, and a close frame ends the stream with io.EOF.
func ReadMessage(r io.Reader, buf []byte, onPing func(payload []byte) error) ([]byte, error) {
	started := false
	for {
		h, err := ws.ReadHeader(r)
		if err != nil {
			if started && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
		if h.Length < 0 || h.Length > maxFrame || len(buf)+int(h.Length) > maxFrame {
			return buf, fmt.Errorf("frame of %d bytes is over the %d-byte limit", h.Length, maxFrame)
		}
		if h.OpCode.IsControl() {
			if !h.Fin || h.Length > 125 {
				return buf, errors.New("malformed control frame")
			}
			var ctl [125]byte
			p := ctl[:h.Length]
			if _, err := io.ReadFull(r, p); err != nil {
				return buf, unexpected(err)
			}
			if h.Masked {
				ws.Cipher(p, h.Mask, 0)
			}
			switch h.OpCode {
			case ws.OpClose:
				return buf, io.EOF
			case ws.OpPing:
				if onPing != nil {
					if err := onPing(p); err != nil {
						return buf, err
					}
				}
			}
			continue
		}
		switch {
		case h.OpCode == ws.OpContinuation && !started:
			return buf, errors.New("continuation frame without a first frame")
		case h.OpCode != ws.OpContinuation && started:
			return buf, errors.New("data frame inside a fragmented message")
		case h.OpCode != ws.OpContinuation && !h.OpCode.IsData():
			return buf, fmt.Errorf("reserved opcode %d", h.OpCode)
		}
		started = true
		start := len(buf)
		n := start + int(h.Length)
		if cap(buf) < n {
			nb := make([]byte, start, max(n, 2*cap(buf)))
			copy(nb, buf)
			buf = nb
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			return buf[:start], unexpected(err)
		}
		if h.Masked {
			ws.Cipher(buf[start:], h.Mask, 0)
		}
		if h.Fin {
			return buf, nil
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Handshake sends hello with token and, when room is not empty, joins it.
// It returns the room's head seq from the joined frame. Frames that arrive
// before the awaited answers (presence) are skipped; an error frame fails.
// The connection's deadline is cleared on success.
func (c *Conn) Handshake(token, room string, timeout time.Duration) (head uint64, err error) {
	c.nc.SetDeadline(time.Now().Add(timeout))
	if err := c.WriteJSON(map[string]string{"type": "hello", "token": token}); err != nil {
		return 0, fmt.Errorf("send hello: %w", err)
	}
	if _, err := c.await(typeWelcome); err != nil {
		return 0, fmt.Errorf("hello: %w", err)
	}
	if room != "" {
		if err := c.WriteJSON(map[string]string{"type": "join", "room": room}); err != nil {
			return 0, fmt.Errorf("send join: %w", err)
		}
		f, err := c.await(typeJoined)
		if err != nil {
			return 0, fmt.Errorf("join %s: %w", room, err)
		}
		// The joined frame's head comes after its history, whose messages
		// have no "head" key, so the last one is the frame's own.
		if i := bytes.LastIndex(f, keyHead); i >= 0 {
			head, _ = parseUint(skipSpace(f[i+len(keyHead):]))
		}
	}
	c.nc.SetDeadline(time.Time{})
	return head, nil
}

// await reads frames until one of type want, failing on an error frame.
func (c *Conn) await(want []byte) ([]byte, error) {
	for {
		f, err := c.ReadFrame()
		if err != nil {
			return nil, err
		}
		switch t := FrameType(f); {
		case string(t) == string(want):
			return f, nil
		case string(t) == string(typeError):
			code, _ := StringField(f, keyCode)
			msg, _ := StringField(f, []byte(`"message":`))
			return nil, fmt.Errorf("node refused: %s: %s", code, msg)
		}
	}
}
