package bench_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/the-mesh/mesh/internal/bench"
)

func TestAppendMaskedFrame(t *testing.T) {
	for name, n := range map[string]int{"empty": 0, "short": 125, "16-bit": 126, "16-bit max": 65535, "64-bit": 65536} {
		t.Run(name, func(t *testing.T) {
			payload := bytes.Repeat([]byte("ab"), n/2+1)[:n]
			b := bench.AppendMaskedFrame([]byte("x"), ws.OpText, payload, ws.NewMask())
			if b[0] != 'x' {
				t.Fatalf("prefix lost")
			}
			f, err := ws.ReadFrame(bytes.NewReader(b[1:]))
			if err != nil {
				t.Fatal(err)
			}
			if !f.Header.Masked || !f.Header.Fin || f.Header.OpCode != ws.OpText {
				t.Errorf("got header %+v, want a final masked text frame", f.Header)
			}
			f = ws.UnmaskFrameInPlace(f)
			if !bytes.Equal(f.Payload, payload) {
				t.Errorf("payload differs after unmasking")
			}
		})
	}
}

// serverFrames compiles unmasked frames as a node sends them.
func serverFrames(tb testing.TB, frames ...ws.Frame) []byte {
	tb.Helper()
	var b bytes.Buffer
	for _, f := range frames {
		if err := ws.WriteFrame(&b, f); err != nil {
			tb.Fatal(err)
		}
	}
	return b.Bytes()
}

func TestReadMessage(t *testing.T) {
	text := ws.NewTextFrame([]byte(`{"type":"pong"}`))
	first := ws.NewFrame(ws.OpText, false, []byte(`{"type":`))
	middle := ws.NewFrame(ws.OpContinuation, false, []byte(`"mess`))
	last := ws.NewFrame(ws.OpContinuation, true, []byte(`age"}`))
	ping := ws.NewPingFrame([]byte("p"))
	for name, tt := range map[string]struct {
		stream  []byte
		want    []string
		pings   int
		wantErr error
	}{
		"one":                {serverFrames(t, text), []string{`{"type":"pong"}`}, 0, io.EOF},
		"fragmented":         {serverFrames(t, first, ping, middle, last, text), []string{`{"type":"message"}`, `{"type":"pong"}`}, 1, io.EOF},
		"masked":             {serverFrames(t, ws.MaskFrame(text)), []string{`{"type":"pong"}`}, 0, io.EOF},
		"close":              {serverFrames(t, text, ws.NewCloseFrame(nil), text), []string{`{"type":"pong"}`}, 0, io.EOF},
		"torn":               {serverFrames(t, text)[:5], nil, 0, io.ErrUnexpectedEOF},
		"torn fragment":      {serverFrames(t, first), nil, 0, io.ErrUnexpectedEOF},
		"stray continuation": {serverFrames(t, middle), nil, 0, errors.New("any")},
	} {
		t.Run(name, func(t *testing.T) {
			r := bufio.NewReader(bytes.NewReader(tt.stream))
			pings := 0
			onPing := func([]byte) error { pings++; return nil }
			var got []string
			var err error
			for {
				var b []byte
				if b, err = bench.ReadMessage(r, nil, onPing); err != nil {
					break
				}
				got = append(got, string(b))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if pings != tt.pings {
				t.Errorf("got %d pings, want %d", pings, tt.pings)
			}
			if tt.wantErr.Error() == "any" {
				if err == io.EOF || err == nil {
					t.Errorf("got %v, want a protocol error", err)
				}
			} else if err != tt.wantErr {
				t.Errorf("got error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// halves returns the stream in two reads split at cut, to exercise frames
// that arrive in pieces.
type halves struct {
	parts [][]byte
}

func (h *halves) Read(p []byte) (int, error) {
	for len(h.parts) > 0 && len(h.parts[0]) == 0 {
		h.parts = h.parts[1:]
	}
	if len(h.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, h.parts[0])
	h.parts[0] = h.parts[0][n:]
	return n, nil
}

func readAll(r io.Reader) (msgs []string, err error) {
	var buf []byte
	for {
		buf, err = bench.ReadMessage(r, buf[:0], nil)
		if err != nil {
			return msgs, err
		}
		msgs = append(msgs, string(buf))
	}
}

// FuzzReadMessage reads a fuzzed byte stream whole and in two halves split
// anywhere: the frame reader must not panic and must read the same
// messages either way (nats FuzzParser style).
func FuzzReadMessage(f *testing.F) {
	f.Add(serverFrames(f, ws.NewTextFrame([]byte(`{"type":"ack"}`))), uint16(3))
	f.Add(serverFrames(f, ws.NewFrame(ws.OpText, false, []byte("a")), ws.NewPingFrame(nil), ws.NewFrame(ws.OpContinuation, true, []byte("b"))), uint16(9))
	f.Add(serverFrames(f, ws.NewTextFrame(bytes.Repeat([]byte("x"), 70000))), uint16(4))
	f.Add([]byte{0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint16(2))
	f.Fuzz(func(t *testing.T, stream []byte, cut uint16) {
		whole, errWhole := readAll(bytes.NewReader(stream))
		c := int(cut) % (len(stream) + 1)
		split, errSplit := readAll(&halves{parts: [][]byte{append([]byte(nil), stream[:c]...), append([]byte(nil), stream[c:]...)}})
		if strings.Join(whole, "\x00|") != strings.Join(split, "\x00|") {
			t.Errorf("whole read %q, split read %q", whole, split)
		}
		if (errWhole == nil) != (errSplit == nil) || (errWhole != nil && errWhole.Error() != errSplit.Error()) {
			t.Errorf("whole read ends with %v, split read with %v", errWhole, errSplit)
		}
	})
}
