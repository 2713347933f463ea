package wsframe

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

// FuzzReader feeds arbitrary bytes as a client stream (masked) or a server
// stream: the reader must never panic, never return more than the limit,
// and only ever end with an error.
func FuzzReader(f *testing.F) {
	frame := func(op ws.OpCode, fin bool, p []byte) []byte {
		var buf bytes.Buffer
		ws.WriteFrame(&buf, ws.MaskFrameInPlace(ws.NewFrame(op, fin, append([]byte(nil), p...))))
		return buf.Bytes()
	}
	text := frame(ws.OpText, true, []byte(`{"type":"ping"}`))
	f.Add(text, true)
	f.Add(text[:5], true)
	f.Add(append(frame(ws.OpText, false, []byte(`{"type":`)), frame(ws.OpContinuation, true, []byte(`"ping"}`))...), true)
	f.Add(append(frame(ws.OpText, false, []byte(`{"a":`)), append(frame(ws.OpPing, true, []byte("x")), frame(ws.OpContinuation, true, []byte(`1}`))...)...), true)
	f.Add(frame(ws.OpBinary, true, []byte{1, 2, 3}), true)
	f.Add(frame(ws.OpText, true, bytes.Repeat([]byte("x"), 300)), true)
	f.Add(frame(ws.OpClose, true, nil), true)
	f.Add(ws.MustCompileFrame(ws.NewTextFrame([]byte(`{"type":"send"}`))), false)
	f.Fuzz(func(t *testing.T, data []byte, masked bool) {
		// A small read buffer makes most messages take the copying path,
		// a big one the path that returns them in place: both read the
		// same.
		small := Reader{BR: bufio.NewReaderSize(bytes.NewReader(data), 16), Max: 256, Masked: masked, KeepBuf: 64}
		big := Reader{BR: bufio.NewReaderSize(bytes.NewReader(data), 4096), Max: 256, Masked: masked, KeepBuf: 64}
		for range 100 {
			msg, err := small.Next()
			msg2, err2 := big.Next()
			if !bytes.Equal(msg, msg2) || (err == nil) != (err2 == nil) {
				t.Fatalf("read through a 16-byte buffer: %q, %v; through 4096 bytes: %q, %v", msg, err, msg2, err2)
			}
			if err != nil {
				return
			}
			if len(msg) > 256 {
				t.Fatalf("message of %d bytes passed a 256-byte limit", len(msg))
			}
		}
	})
}

// FuzzReadHeader holds the reader's header parsing to gobwas's.
func FuzzReadHeader(f *testing.F) {
	for _, h := range []ws.Header{{Fin: true, OpCode: ws.OpText, Length: 5}, {OpCode: ws.OpContinuation, Length: 300, Masked: true, Mask: [4]byte{1, 2, 3, 4}},
		{Fin: true, OpCode: ws.OpBinary, Length: 70000, Rsv: 3}, {Fin: true, OpCode: ws.OpPing, Masked: true}} {
		var buf bytes.Buffer
		ws.WriteHeader(&buf, h)
		f.Add(buf.Bytes())
	}
	f.Add([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0x81})
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := ws.ReadHeader(bytes.NewReader(data))
		fr := Reader{BR: bufio.NewReader(bytes.NewReader(data))}
		got, err := fr.readHeader()
		if (err != nil) != (wantErr != nil) || (err == nil && got != want) {
			t.Fatalf("readHeader(%x) = %+v, %v; ws.ReadHeader %+v, %v", data, got, err, want, wantErr)
		}
	})
}
