package bench

import (
	"bytes"
	"strconv"
)

// Keys the scanner looks for. The node encodes frames with encoding/json, so
// a key is always written as `"key":` with no space, and a quote inside a
// string value is always escaped: `"seq":` can only occur as a key.
var (
	keyType = []byte(`"type":`)
	keyRoom = []byte(`"room":`)
	keySeq  = []byte(`"seq":`)
	keyText = []byte(`"text":`)
	keyRef  = []byte(`"ref":`)
	keyHead = []byte(`"head":`)
	keyCode = []byte(`"code":`)
)

// Frame types as they appear in a raw frame.
var (
	typeMessage  = []byte("message")
	typeAck      = []byte("ack")
	typeError    = []byte("error")
	typePresence = []byte("presence")
	typeWelcome  = []byte("welcome")
	typeJoined   = []byte("joined")
)

// FrameType returns the value of the first "type" key of a raw JSON frame,
// or nil if there is none. The node writes "type" first, so this is the
// frame's own type. The result aliases frame.
func FrameType(frame []byte) []byte {
	v, _ := StringField(frame, keyType)
	return v
}

// StringField returns the raw value of the first string field named by key
// (written with its quotes and colon, as in `"room":`), without its quotes
// and without unescaping, and whether it was found. The result aliases frame.
func StringField(frame, key []byte) ([]byte, bool) {
	i := bytes.Index(frame, key)
	if i < 0 {
		return nil, false
	}
	rest := skipSpace(frame[i+len(key):])
	if len(rest) == 0 || rest[0] != '"' {
		return nil, false
	}
	rest = rest[1:]
	for j := 0; j < len(rest); j++ {
		switch rest[j] {
		case '\\':
			j++ // skip the escaped byte
		case '"':
			return rest[:j], true
		}
	}
	return nil, false
}

// UintField returns the value of the first unsigned integer field named by
// key, and whether it was found and fits in a uint64.
func UintField(frame, key []byte) (uint64, bool) {
	i := bytes.Index(frame, key)
	if i < 0 {
		return 0, false
	}
	return parseUint(skipSpace(frame[i+len(key):]))
}

// parseUint parses the leading decimal digits of b. It fails when there are
// none or when they overflow a uint64.
func parseUint(b []byte) (uint64, bool) {
	var n uint64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, i > 0
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// Delivery is what ScanMessage finds in a message frame.
type Delivery struct {
	Room []byte // aliases the frame
	Seq  uint64
	// Sent is the UnixNano a bench publisher put at the start of the text,
	// or 0 when the text does not start with one.
	Sent int64
}

// ScanMessage reads the room, seq and send time of a raw message frame
// (`{"type":"message","message":{...,"room":..,"seq":..,"body":{"text":..}}}`)
// without decoding it. ok is false when the frame has no room or no seq.
func ScanMessage(frame []byte) (d Delivery, ok bool) {
	room, ok := StringField(frame, keyRoom)
	if !ok {
		return d, false
	}
	seq, ok := UintField(frame, keySeq)
	if !ok {
		return d, false
	}
	d.Room, d.Seq = room, seq
	if text, ok := StringField(frame, keyText); ok {
		d.Sent = parseSent(text)
	}
	return d, true
}

// parseSent returns the UnixNano at the start of a bench text, or 0.
func parseSent(text []byte) int64 {
	n, ok := parseUint(text)
	if !ok || n > 1<<63-1 {
		return 0
	}
	return int64(n)
}

// AppendText appends a bench message text to dst: sent as decimal
// UnixNano, then a space and 'x' padding up to size bytes. The text is
// longer than size when size is too small to hold the timestamp.
func AppendText(dst []byte, sent int64, size int) []byte {
	start := len(dst)
	dst = strconv.AppendInt(dst, sent, 10)
	if len(dst)-start < size {
		dst = append(dst, ' ')
	}
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst
}
