package web

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

// FuzzFrameReader feeds arbitrary bytes as a client stream: the reader
// must never panic, never return more than the limit, and only ever end
// with a known error.
func FuzzFrameReader(f *testing.F) {
	frame := func(op ws.OpCode, fin bool, p []byte) []byte {
		var buf bytes.Buffer
		fr := ws.NewFrame(op, fin, append([]byte(nil), p...))
		fr = ws.MaskFrameInPlace(fr)
		ws.WriteFrame(&buf, fr)
		return buf.Bytes()
	}
	text := frame(ws.OpText, true, []byte(`{"type":"ping"}`))
	f.Add(text)
	f.Add(text[:5])
	f.Add(append(frame(ws.OpText, false, []byte(`{"type":`)), frame(ws.OpContinuation, true, []byte(`"ping"}`))...))
	f.Add(append(frame(ws.OpText, false, []byte(`{"a":`)), append(frame(ws.OpPing, true, []byte("x")), frame(ws.OpContinuation, true, []byte(`1}`))...)...))
	f.Add(frame(ws.OpBinary, true, []byte{1, 2, 3}))
	f.Add(frame(ws.OpText, true, bytes.Repeat([]byte("x"), 300)))
	f.Add(frame(ws.OpClose, true, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := frameReader{br: bufio.NewReader(bytes.NewReader(data)), max: 256, control: func(ws.OpCode, []byte) {}}
		for range 100 {
			msg, err := fr.next()
			if err != nil {
				return
			}
			if len(msg) > 256 {
				t.Fatalf("message of %d bytes passed a 256-byte limit", len(msg))
			}
		}
	})
}
