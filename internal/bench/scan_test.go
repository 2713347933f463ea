package bench_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	mesh "github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/bench"
)

// messageFrame encodes a message frame the way the node does: a stored
// envelope line inside {"type":"message","message":...}.
func messageFrame(tb testing.TB, m mesh.Message) []byte {
	tb.Helper()
	line, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return append(append([]byte(`{"type":"message","message":`), line...), '}')
}

func envelope(room string, seq uint64, name, text string) mesh.Message {
	return mesh.Message{
		ID: "m_x", Room: mesh.RoomID(room), Seq: seq, Kind: mesh.MessageChat,
		From:  mesh.Sender{ID: "p_1", Name: name, Kind: mesh.KindAgent, Node: "n1"},
		Trust: mesh.TrustLocal, TS: time.Unix(1, 0).UTC(), Body: mesh.Body{Text: text},
	}
}

func TestFrameType(t *testing.T) {
	for name, tt := range map[string]struct {
		frame, want string
	}{
		"message":           {`{"type":"message","message":{"room":"a"}}`, "message"},
		"ack":               {`{"type":"ack","ref":"1","id":"m","seq":3}`, "ack"},
		"spaces":            {`{ "type" : "pong" }`, ""}, // `"type" :` is not how the node writes keys
		"space after colon": {`{"type": "pong"}`, "pong"},
		"none":              {`{"kind":"x"}`, ""},
		"number":            {`{"type":3}`, ""},
		"unclosed":          {`{"type":"mess`, ""},
		"empty":             {``, ""},
		"escaped":           {`{"type":"a\"b"}`, `a\"b`},
	} {
		t.Run(name, func(t *testing.T) {
			if got := string(bench.FrameType([]byte(tt.frame))); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUintField(t *testing.T) {
	for name, tt := range map[string]struct {
		frame  string
		want   uint64
		wantOK bool
	}{
		"plain":     {`{"seq":42}`, 42, true},
		"zero":      {`{"seq":0,"x":1}`, 0, true},
		"max":       {`{"seq":18446744073709551615}`, 1<<64 - 1, true},
		"overflow":  {`{"seq":18446744073709551616}`, 0, false},
		"negative":  {`{"seq":-1}`, 0, false},
		"string":    {`{"seq":"1"}`, 0, false},
		"missing":   {`{"seqs":1}`, 0, false},
		"truncated": {`{"seq":`, 0, false},
		"first":     {`{"seq":7,"b":{"seq":8}}`, 7, true},
	} {
		t.Run(name, func(t *testing.T) {
			got, ok := bench.UintField([]byte(tt.frame), []byte(`"seq":`))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("got %d, %v, want %d, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestScanMessage(t *testing.T) {
	sent := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()
	text := string(bench.AppendText(nil, sent, 200))
	for name, tt := range map[string]struct {
		frame    []byte
		want     bench.Delivery
		wantOK   bool
		wantRoom string
	}{
		"bench text": {
			frame:  messageFrame(t, envelope("bench-1", 17, "bench-3", text)),
			want:   bench.Delivery{Seq: 17, Sent: sent},
			wantOK: true, wantRoom: "bench-1",
		},
		"other text": {
			frame:  messageFrame(t, envelope("lobby", 1, "ann", "hello")),
			want:   bench.Delivery{Seq: 1},
			wantOK: true, wantRoom: "lobby",
		},
		"keys inside strings": {
			// A name or text that spells a key is escaped by the encoder,
			// so it cannot be mistaken for one.
			frame:  messageFrame(t, envelope("r", 5, `x","seq":99,"room":"evil`, `"text":"123`)),
			want:   bench.Delivery{Seq: 5},
			wantOK: true, wantRoom: "r",
		},
		"huge number in text": {
			frame:  messageFrame(t, envelope("r", 2, "a", "99999999999999999999 x")),
			want:   bench.Delivery{Seq: 2},
			wantOK: true, wantRoom: "r",
		},
		"no seq": {
			frame: []byte(`{"type":"message","message":{"room":"r"}}`),
		},
		"no room": {
			frame: []byte(`{"type":"message","message":{"seq":1}}`),
		},
		"empty": {},
	} {
		t.Run(name, func(t *testing.T) {
			got, ok := bench.ScanMessage(tt.frame)
			if ok != tt.wantOK || got.Seq != tt.want.Seq || got.Sent != tt.want.Sent || string(got.Room) != tt.wantRoom {
				t.Errorf("got %+v (room %q), %v, want %+v (room %q), %v", got, got.Room, ok, tt.want, tt.wantRoom, tt.wantOK)
			}
		})
	}
}

func TestAppendText(t *testing.T) {
	const sent = 1767323045000000006
	for name, tt := range map[string]struct {
		size, wantLen int
	}{
		"padded":    {200, 200},
		"exact":     {19, 19},
		"one over":  {20, 20},
		"too small": {5, 19},
		"big":       {8000, 8000},
	} {
		t.Run(name, func(t *testing.T) {
			got := bench.AppendText([]byte("pre"), sent, tt.size)
			text := strings.TrimPrefix(string(got), "pre")
			if len(text) != tt.wantLen {
				t.Errorf("got %d bytes, want %d", len(text), tt.wantLen)
			}
			if !strings.HasPrefix(text, strconv.FormatInt(sent, 10)) {
				t.Errorf("got %q, want it to start with the send time", text)
			}
		})
	}
}

// TestAppendSay checks that a say the generator writes is one the node's
// strict decoder accepts, with the text and ref the receivers rely on.
func TestAppendSay(t *testing.T) {
	const sent = 1767323045000000006
	b := bench.AppendSay(nil, "bench-7", sent, 200)
	f, ref, err := mesh.DecodeClientFrame(b)
	if err != nil {
		t.Fatalf("node refuses %s: %v", b, err)
	}
	say, ok := f.(*mesh.Say)
	if !ok {
		t.Fatalf("got %T, want *mesh.Say", f)
	}
	if say.Room != "bench-7" || len(say.Text) != 200 || ref != strconv.FormatInt(sent, 10) {
		t.Errorf("got room %q, %d-byte text, ref %q; want bench-7, 200, %d", say.Room, len(say.Text), ref, sent)
	}
	got, ok := bench.ScanMessage(messageFrame(t, envelope("bench-7", 1, "b", say.Text)))
	if !ok || got.Sent != sent {
		t.Errorf("scanned send time %d, %v, want %d", got.Sent, ok, int64(sent))
	}
}

// FuzzScanMessage feeds arbitrary bytes to the scanner: it must not panic,
// and what it returns must come from the frame.
func FuzzScanMessage(f *testing.F) {
	f.Add([]byte(`{"type":"message","message":{"id":"m","room":"bench-1","seq":3,"body":{"text":"1767323045000000006 xx"}}}`))
	f.Add([]byte(`{"type":"message","message":{"room":"r\"","seq":18446744073709551615,"body":{"text":"`))
	f.Add([]byte(`"room":"\`))
	f.Add([]byte(`"seq": 12 "room": "a" "text": "9`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		d, ok := bench.ScanMessage(frame)
		if !ok {
			return
		}
		if !strings.Contains(string(frame), `"`+string(d.Room)+`"`) {
			t.Errorf("room %q is not a quoted string of the frame", d.Room)
		}
		if d.Sent < 0 {
			t.Errorf("negative send time %d", d.Sent)
		}
		bench.FrameType(frame)
	})
}

// FuzzScanEnvelope builds real message frames from fuzzed fields and checks
// that the scanner reads back what the encoder wrote.
func FuzzScanEnvelope(f *testing.F) {
	f.Add("bench-1", uint64(1), "bench-0", "1767323045000000006 xxxx")
	f.Add("r", uint64(1<<64-1), `"seq":1,"room":"x"`, `"text":"5`)
	f.Add("lobby", uint64(0), "\u2028", "\x00\"\\")
	f.Fuzz(func(t *testing.T, room string, seq uint64, name, text string) {
		if !mesh.RoomID(room).Valid() {
			return // the node only sends valid room ids
		}
		frame := messageFrame(t, envelope(room, seq, name, text))
		d, ok := bench.ScanMessage(frame)
		if !ok || d.Seq != seq || string(d.Room) != room {
			t.Fatalf("got %+v (room %q), %v, want seq %d room %q", d, d.Room, ok, seq, room)
		}
		// The encoder may have replaced invalid UTF-8; scan what it wrote.
		var back mesh.Message
		if err := json.Unmarshal(frame[len(`{"type":"message","message":`):len(frame)-1], &back); err != nil {
			t.Fatal(err)
		}
		want := int64(0)
		digits := back.Body.Text
		for i, c := range digits {
			if c < '0' || c > '9' {
				digits = digits[:i]
				break
			}
		}
		if n, err := strconv.ParseInt(digits, 10, 64); err == nil {
			want = n
		}
		if d.Sent != want {
			t.Errorf("send time %d, want %d (text %q)", d.Sent, want, back.Body.Text)
		}
	})
}
