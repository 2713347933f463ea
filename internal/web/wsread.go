package web

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/gobwas/ws"
	"github.com/the-mesh/mesh"
)

// keepBuf is the largest read buffer a connection keeps between frames;
// a bigger one, grown for a big frame, is dropped so idle connections stay
// small.
const keepBuf = 4 << 10

// closeError ends a session with a WebSocket close code.
type closeError struct {
	code   ws.StatusCode
	reason string
}

func (e *closeError) Error() string { return fmt.Sprintf("websocket close %d: %s", e.code, e.reason) }

var errPeerClosed = errors.New("peer closed the connection")

// frameReader reads client messages: it unmasks, joins fragments, answers
// control frames and enforces the frame size limit.
type frameReader struct {
	br      *bufio.Reader
	max     int
	buf     []byte
	control func(op ws.OpCode, payload []byte) // ping and pong
	before  func()                             // runs before each frame header is read
	ctl     *[125]byte                         // control frame payload, made on first use
}

// next returns the payload of the next text message. The slice is valid
// until the following call. A message over the limit yields a *mesh.Error
// with ETooLarge after its bytes were skipped; the connection stays usable.
func (fr *frameReader) next() ([]byte, error) {
	if cap(fr.buf) > keepBuf {
		fr.buf = nil
	}
	msg := fr.buf[:0]
	var inMessage, binary, over bool
	var skipped int64
	for {
		if fr.before != nil {
			fr.before()
		}
		h, err := ws.ReadHeader(fr.br)
		if err != nil {
			return nil, err
		}
		if !h.Masked {
			return nil, &closeError{ws.StatusProtocolError, "client frames must be masked"}
		}
		if h.OpCode.IsControl() {
			if h.Length > 125 || !h.Fin {
				return nil, &closeError{ws.StatusProtocolError, "invalid control frame"}
			}
			if fr.ctl == nil {
				fr.ctl = new([125]byte) // on the heap: this goroutine's stack stays small
			}
			p := fr.ctl[:h.Length]
			if _, err := io.ReadFull(fr.br, p); err != nil {
				return nil, err
			}
			ws.Cipher(p, h.Mask, 0)
			if h.OpCode == ws.OpClose {
				return nil, errPeerClosed
			}
			fr.control(h.OpCode, p)
			continue
		}
		switch h.OpCode {
		case ws.OpContinuation:
			if !inMessage {
				return nil, &closeError{ws.StatusProtocolError, "continuation frame without a message"}
			}
		case ws.OpText, ws.OpBinary:
			if inMessage {
				return nil, &closeError{ws.StatusProtocolError, "new message before the last one ended"}
			}
			inMessage, binary = true, h.OpCode == ws.OpBinary
		default:
			return nil, &closeError{ws.StatusProtocolError, "unknown opcode"}
		}
		if binary || over || int64(len(msg))+h.Length > int64(fr.max) {
			// Skip the bytes so the stream stays in step, up to a bound.
			over = !binary
			if skipped += h.Length; skipped > 16*int64(fr.max) {
				return nil, &closeError{ws.StatusMessageTooBig, fmt.Sprintf("message far over the %d-byte limit", fr.max)}
			}
			if _, err := io.CopyN(io.Discard, fr.br, h.Length); err != nil {
				return nil, err
			}
			msg = msg[:0]
		} else {
			n := len(msg)
			msg = slices.Grow(msg, int(h.Length))[:n+int(h.Length)]
			if _, err := io.ReadFull(fr.br, msg[n:]); err != nil {
				return nil, err
			}
			ws.Cipher(msg[n:], h.Mask, 0)
		}
		if !h.Fin {
			continue
		}
		switch {
		case binary:
			return nil, mesh.Errorf(mesh.EInvalid, "Binary frames are not accepted: send JSON in text frames.")
		case over:
			return nil, mesh.Errorf(mesh.ETooLarge, "Frame is over the limit of %d bytes.", fr.max)
		}
		fr.buf = msg
		return msg, nil
	}
}
