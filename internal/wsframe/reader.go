// Package wsframe reads WebSocket messages for both ends the project
// speaks: the node's sessions (masked client frames) and the relay's links
// (either end). It unmasks, joins fragments, hands control frames to a
// callback and bounds message sizes.
package wsframe

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/gobwas/ws"

	"github.com/the-mesh/mesh"
)

// CloseError ends a connection with a WebSocket close code.
type CloseError struct {
	Code   ws.StatusCode
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("websocket close %d: %s", e.Code, e.Reason) }

// ErrPeerClosed is returned when the peer sent a close frame.
var ErrPeerClosed = errors.New("peer closed the connection")

// Reader reads text messages from one connection.
type Reader struct {
	BR      *bufio.Reader
	Max     int                                // the largest message, in bytes
	Masked  bool                               // the peer is a client: its frames must be masked, and only its
	KeepBuf int                                // the largest message buffer kept between messages (idle connections stay small)
	Control func(op ws.OpCode, payload []byte) // ping and pong; may be nil
	Before  func()                             // runs before each frame header is read; may be nil

	buf []byte
	ctl *[125]byte // control frame payload, made on first use
	hdr [ws.MaxHeaderSize - 2]byte
}

// Next returns the payload of the next text message, valid until the
// following call (it may lie in BR's buffer). A message over the limit yields a *mesh.Error with
// ETooLarge, and a binary one EInvalid, after its bytes were skipped: the
// connection stays usable unless a message runs far over the limit.
func (fr *Reader) Next() ([]byte, error) {
	if cap(fr.buf) > fr.KeepBuf {
		fr.buf = nil
	}
	msg := fr.buf[:0]
	var inMessage, binary, over bool
	var skipped int64
	for {
		if fr.Before != nil {
			fr.Before()
		}
		h, err := fr.readHeader()
		if err != nil {
			return nil, err
		}
		switch {
		case fr.Masked && !h.Masked:
			return nil, &CloseError{ws.StatusProtocolError, "client frames must be masked"}
		case !fr.Masked && h.Masked:
			return nil, &CloseError{ws.StatusProtocolError, "server frames must not be masked"}
		}
		if h.OpCode.IsControl() {
			if h.Length > 125 || !h.Fin {
				return nil, &CloseError{ws.StatusProtocolError, "invalid control frame"}
			}
			if fr.ctl == nil {
				fr.ctl = new([125]byte) // on the heap: the reading goroutine's stack stays small
			}
			p := fr.ctl[:h.Length]
			if _, err := io.ReadFull(fr.BR, p); err != nil {
				return nil, err
			}
			if h.Masked {
				ws.Cipher(p, h.Mask, 0)
			}
			if h.OpCode == ws.OpClose {
				return nil, ErrPeerClosed
			}
			if fr.Control != nil {
				fr.Control(h.OpCode, p)
			}
			continue
		}
		switch h.OpCode {
		case ws.OpContinuation:
			if !inMessage {
				return nil, &CloseError{ws.StatusProtocolError, "continuation frame without a message"}
			}
		case ws.OpText, ws.OpBinary:
			if inMessage {
				return nil, &CloseError{ws.StatusProtocolError, "new message before the last one ended"}
			}
			inMessage, binary = true, h.OpCode == ws.OpBinary
		default:
			return nil, &CloseError{ws.StatusProtocolError, "unknown opcode"}
		}
		if h.Fin && h.OpCode == ws.OpText && h.Length <= int64(fr.Max) && h.Length <= int64(fr.BR.Size()) {
			// A message in one frame that fits the read buffer is returned
			// where it lies: no copy. (On an error the path below reads
			// what there is and fails the same.)
			if p, err := fr.BR.Peek(int(h.Length)); err == nil {
				if h.Masked {
					ws.Cipher(p, h.Mask, 0)
				}
				fr.BR.Discard(len(p))
				return p, nil
			}
		}
		if binary || over || int64(len(msg))+h.Length > int64(fr.Max) {
			// Skip the bytes so the stream stays in step, up to a bound.
			over = !binary
			if skipped += h.Length; skipped > 16*int64(fr.Max) {
				return nil, &CloseError{ws.StatusMessageTooBig, fmt.Sprintf("message far over the %d-byte limit", fr.Max)}
			}
			if _, err := io.CopyN(io.Discard, fr.BR, h.Length); err != nil {
				return nil, err
			}
			msg = msg[:0]
		} else {
			n := len(msg)
			msg = slices.Grow(msg, int(h.Length))[:n+int(h.Length)]
			if _, err := io.ReadFull(fr.BR, msg[n:]); err != nil {
				return nil, err
			}
			if h.Masked {
				ws.Cipher(msg[n:], h.Mask, 0)
			}
		}
		if !h.Fin {
			continue
		}
		switch {
		case binary:
			return nil, mesh.Errorf(mesh.EInvalid, "Binary frames are not accepted: send JSON in text frames.")
		case over:
			return nil, mesh.Errorf(mesh.ETooLarge, "Frame is over the limit of %d bytes.", fr.Max)
		}
		fr.buf = msg
		return msg, nil
	}
}

// readHeader is ws.ReadHeader into the Reader's own buffer: that one
// allocates a buffer for each frame.
func (fr *Reader) readHeader() (h ws.Header, err error) {
	b := fr.hdr[:2]
	if _, err := io.ReadFull(fr.BR, b); err != nil {
		return h, err
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] & 0x70) >> 4
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	extra := 0
	if b[1]&0x80 != 0 {
		h.Masked = true
		extra += 4
	}
	length := b[1] & 0x7f
	switch length {
	case 126:
		extra += 2
	case 127:
		extra += 8
	default:
		h.Length = int64(length)
	}
	if extra == 0 {
		return h, nil
	}
	b = fr.hdr[:extra]
	if _, err := io.ReadFull(fr.BR, b); err != nil {
		return h, err
	}
	switch length {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(b))
		b = b[2:]
	case 127:
		if b[0]&0x80 != 0 {
			return h, ws.ErrHeaderLengthMSB
		}
		h.Length = int64(binary.BigEndian.Uint64(b))
		b = b[8:]
	}
	if h.Masked {
		copy(h.Mask[:], b)
	}
	return h, nil
}
