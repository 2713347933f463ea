package hub

import (
	"encoding/json"

	"github.com/gobwas/ws"
)

// Frame encodes v as JSON and returns it as one complete, unmasked
// WebSocket text frame, ready for any number of Conns.
func Frame(v any) ([]byte, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return RawFrame(payload), nil
}

// RawFrame wraps an encoded JSON payload in a WebSocket text frame header.
func RawFrame(payload []byte) []byte {
	return wrap(len(payload), payload)
}

var (
	messagePrefix = []byte(`{"type":"message","message":`)
	messageSuffix = []byte(`}`)
)

// MessageFrame returns the message frame for a stored envelope line, built
// in a single allocation.
func MessageFrame(line []byte) []byte {
	return wrap(len(messagePrefix)+len(line)+len(messageSuffix), messagePrefix, line, messageSuffix)
}

// wrap writes a text frame header for n payload bytes followed by parts.
func wrap(n int, parts ...[]byte) []byte {
	hdr := headerLen(n)
	b := make([]byte, hdr, hdr+n)
	putHeader(b, ws.OpText, n)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func headerLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	}
	return 10
}

// putHeader writes a final, unmasked frame header; b has headerLen(n) bytes.
func putHeader(b []byte, op ws.OpCode, n int) {
	b[0] = 0x80 | byte(op)
	switch {
	case n < 126:
		b[1] = byte(n)
	case n <= 0xffff:
		b[1] = 126
		b[2], b[3] = byte(n>>8), byte(n)
	default:
		b[1] = 127
		for i := 0; i < 8; i++ {
			b[2+i] = byte(uint64(n) >> (56 - 8*i))
		}
	}
}

// CloseFrame returns a close frame with a status code and a reason, cut to
// fit the 125-byte control frame limit.
func CloseFrame(code ws.StatusCode, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	body := ws.NewCloseFrameBody(code, reason)
	b := make([]byte, 2, 2+len(body))
	putHeader(b, ws.OpClose, len(body))
	return append(b, body...)
}
