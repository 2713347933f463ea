package interchange

import (
	"bytes"

	"github.com/the-mesh/mesh"
)

// The relay reads only what it routes by. parseRouted checks a send or
// forward frame without decoding it: json.Valid first, then a walk over
// the members of the frame, its body and the body's msg, matching names
// against the whitelists. It allocates nothing.

// members walks the members of one JSON object that json.Valid accepted.
type members struct {
	data []byte
	i    int
}

// objectMembers starts a walk over the object at the start of data.
func objectMembers(data []byte) (members, bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return members{}, false
	}
	return members{data: data, i: i + 1}, true
}

// next returns the next member: its name as written (escapes kept), its
// value's bytes, and the offset of the name's opening quote.
func (m *members) next() (key, val []byte, start int, ok bool) {
	d := m.data
	i := skipSpace(d, m.i)
	if i < len(d) && d[i] == ',' {
		i = skipSpace(d, i+1)
	}
	if i >= len(d) || d[i] != '"' {
		m.i = i
		return nil, nil, 0, false
	}
	start = i
	end := skipString(d, i)
	key = d[i+1 : end-1]
	i = skipSpace(d, end)
	i = skipSpace(d, i+1) // the colon
	vs := i
	i = skipValue(d, i)
	m.i = i
	return key, d[vs:i], start, true
}

func skipSpace(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the offset just after the string that starts at i:
// the next quote not escaped by an odd run of backslashes.
func skipString(d []byte, i int) int {
	for i++; ; {
		j := bytes.IndexByte(d[i:], '"')
		if j < 0 {
			return len(d)
		}
		k, n := i+j, 0
		for m := k - 1; m >= i && d[m] == '\\'; m-- {
			n++
		}
		if n%2 == 0 {
			return k + 1
		}
		i = k + 1
	}
}

// skipValue returns the offset just after the value that starts at i.
func skipValue(d []byte, i int) int {
	if i >= len(d) {
		return i
	}
	switch d[i] {
	case '"':
		return skipString(d, i)
	case '{', '[':
		depth := 0
		for ; i < len(d); i++ {
			switch d[i] {
			case '"':
				i = skipString(d, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i < len(d) && d[i] != ',' && d[i] != '}' && d[i] != ']' && d[i] != ' ' && d[i] != '\t' && d[i] != '\n' && d[i] != '\r' {
		i++
	}
	return i
}

// routed is what the relay reads of a send or forward frame. The byte
// slices point into the frame.
type routed struct {
	to, id     []byte
	from, auth []byte // forward only
	hop        int    // forward only
	tail       []byte // the members from "to" (or the first routed member) to the end
}

// typeOf returns the value of the frame's first member, which must be
// "type", as the raw string contents.
func typeOf(payload []byte) ([]byte, bool) {
	m, ok := objectMembers(payload)
	if !ok {
		return nil, false
	}
	k, v, _, ok := m.next()
	if !ok || string(k) != "type" || len(v) < 2 || v[0] != '"' {
		return nil, false
	}
	return v[1 : len(v)-1], true
}

// parseRouted checks a send frame (forward false) or a forward frame
// (forward true) that json.Valid accepted.
func parseRouted(payload []byte, forward bool) (routed, error) {
	var r routed
	m, _ := objectMembers(payload)
	m.next() // type, checked by the caller
	var seen uint32
	head := forward // hop, from, auth come first in a forward
	for {
		k, v, start, ok := m.next()
		if !ok {
			break
		}
		if head {
			switch string(k) {
			case "hop":
				n, ok := parseUint(v)
				if !ok || n > MaxHops {
					return r, mesh.Errorf(mesh.EInvalid, "hop must be 0 to %d.", MaxHops)
				}
				r.hop = int(n)
				continue
			case "from":
				r.from = stringValue(v)
				continue
			case "auth":
				r.auth = stringValue(v)
				continue
			}
			head = false
		}
		if r.tail == nil {
			r.tail = payload[start:]
		}
		i := indexOf(sendFields, k)
		if i < 0 {
			return r, mesh.Errorf(mesh.EInvalid, "Unknown field %q: the relay passes only %v.", k, sendFields)
		}
		if seen&(1<<i) != 0 {
			return r, mesh.Errorf(mesh.EInvalid, "Field %q is given twice.", k)
		}
		seen |= 1 << i
		switch string(k) {
		case "to":
			r.to = stringValue(v)
		case "id":
			r.id = stringValue(v)
		case "n", "base":
			if _, ok := parseUint(v); !ok {
				return r, mesh.Errorf(mesh.EInvalid, "%s must be a non-negative integer.", k)
			}
		case "epoch", "key", "sig":
			if stringValue(v) == nil {
				return r, mesh.Errorf(mesh.EInvalid, "%s must be a string of letters, digits and +/=_.-.", k)
			}
		case "body":
			if err := checkBody(v); err != nil {
				return r, err
			}
		case "bodies":
			if err := checkBodies(v); err != nil {
				return r, err
			}
		}
	}
	body, bodies := seen&(1<<indexOf(sendFields, []byte("body"))) != 0, seen&(1<<indexOf(sendFields, []byte("bodies"))) != 0
	switch {
	case forward && (!validInstance(r.from) || (string(r.auth) != AuthSecret && string(r.auth) != AuthOpen)):
		return r, mesh.Errorf(mesh.EInvalid, "A forward needs hop, from and auth first.")
	case !validInstance(r.to):
		return r, mesh.Errorf(mesh.EInvalid, `A send needs "to": a node id.`)
	case len(r.id) == 0 || len(r.id) > maxIDBytes:
		return r, mesh.Errorf(mesh.EInvalid, `A send needs "id": 1 to %d letters, digits and +/=_.-.`, maxIDBytes)
	case body == bodies:
		return r, mesh.Errorf(mesh.EInvalid, `A send needs "body" or "bodies", not both.`)
	}
	return r, nil
}

// checkBodies checks a batch: an array of 1 to MaxBatch bodies.
func checkBodies(v []byte) error {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '[' {
		return mesh.Errorf(mesh.EInvalid, "bodies must be an array of bodies.")
	}
	n := 0
	for i = skipSpace(v, i+1); i < len(v) && v[i] != ']'; {
		end := skipValue(v, i)
		if err := checkBody(v[i:end]); err != nil {
			return err
		}
		if n++; n > MaxBatch {
			return mesh.Errorf(mesh.EInvalid, "bodies holds more than %d bodies.", MaxBatch)
		}
		i = skipSpace(v, end)
		if i < len(v) && v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	if n == 0 {
		return mesh.Errorf(mesh.EInvalid, "bodies must hold at least one body.")
	}
	return nil
}

// checkBody checks the members of a body and of its msg.
func checkBody(v []byte) error {
	m, ok := objectMembers(v)
	if !ok {
		return mesh.Errorf(mesh.EInvalid, "body must be an object.")
	}
	for {
		k, val, _, ok := m.next()
		if !ok {
			return nil
		}
		if indexOf(bodyFields, k) < 0 {
			return mesh.Errorf(mesh.EInvalid, "Unknown field \"body.%s\": the relay passes only %v.", k, bodyFields)
		}
		if string(k) != "msg" {
			continue
		}
		mm, ok := objectMembers(val)
		if !ok {
			return mesh.Errorf(mesh.EInvalid, "body.msg must be an object.")
		}
		for {
			mk, _, _, ok := mm.next()
			if !ok {
				break
			}
			if indexOf(msgFields, mk) < 0 {
				return mesh.Errorf(mesh.EInvalid, "Unknown field \"body.msg.%s\": the relay passes only %v.", mk, msgFields)
			}
		}
	}
}

func indexOf(list []string, k []byte) int {
	for i, s := range list {
		if s == string(k) { // no allocation: the conversion is only compared
			return i
		}
	}
	return -1
}

// stringValue returns the contents of a JSON string made only of letters,
// digits and +/=_.- (ids, base64, hex), or nil for anything else.
func stringValue(v []byte) []byte {
	if len(v) < 3 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil
	}
	s := v[1 : len(v)-1]
	for _, c := range s {
		if !plainID[c] {
			return nil
		}
	}
	return s
}

// plainID tells the bytes stringValue takes.
var plainID = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/' ||
			c == '=' || c == '_' || c == '.' || c == '-'
	}
	return t
}()

func parseUint(v []byte) (uint64, bool) {
	if len(v) == 0 || len(v) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// validInstance reports whether b is a node or relay id.
func validInstance(b []byte) bool {
	if len(b) != 17 || (b[0] != 'n' && b[0] != 'r') {
		return false
	}
	for _, c := range b[1:] {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// validPayload reports whether payload is one JSON object, nested at most
// maxDepth deep.
func validPayload(payload []byte) bool {
	i := skipSpace(payload, 0)
	if i >= len(payload) || payload[i] != '{' {
		return false
	}
	i, ok := validValue(payload, i, 0)
	return ok && skipSpace(payload, i) == len(payload)
}

// maxDepth bounds the nesting of a frame.
const maxDepth = 64

// validValue checks the JSON value at i (RFC 8259, as json.Valid does)
// and returns the offset after it. It is a plain recursive descent, a few
// times faster than json.Valid: the relay checks every frame it passes.
func validValue(d []byte, i, depth int) (int, bool) {
	if i >= len(d) {
		return i, false
	}
	switch c := d[i]; {
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return i, false
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		i = skipSpace(d, i+1)
		if i < len(d) && d[i] == end {
			return i + 1, true
		}
		for {
			var ok bool
			if end == '}' {
				if i >= len(d) || d[i] != '"' {
					return i, false
				}
				if i, ok = validString(d, i); !ok {
					return i, false
				}
				i = skipSpace(d, i)
				if i >= len(d) || d[i] != ':' {
					return i, false
				}
				i = skipSpace(d, i+1)
			}
			if i, ok = validValue(d, i, depth+1); !ok {
				return i, false
			}
			i = skipSpace(d, i)
			if i >= len(d) {
				return i, false
			}
			if d[i] == end {
				return i + 1, true
			}
			if d[i] != ',' {
				return i, false
			}
			i = skipSpace(d, i+1)
		}
	case c == '"':
		return validString(d, i)
	case c == 't':
		return i + 4, bytes.HasPrefix(d[i:], []byte("true"))
	case c == 'f':
		return i + 5, bytes.HasPrefix(d[i:], []byte("false"))
	case c == 'n':
		return i + 4, bytes.HasPrefix(d[i:], []byte("null"))
	case c == '-' || c >= '0' && c <= '9':
		return validNumber(d, i)
	}
	return i, false
}

// validString checks the string at i (which holds '"').
func validString(d []byte, i int) (int, bool) {
	for i++; i < len(d); i++ {
		for i+8 <= len(d) && plain8(d, i) {
			i += 8
		}
		for i < len(d) && plainByte[d[i]] {
			i++
		}
		if i >= len(d) {
			break
		}
		switch c := d[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			i++
			if i >= len(d) {
				return i, false
			}
			switch d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(d) {
					return i, false
				}
				for _, h := range d[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return i, false
					}
				}
				i += 4
			default:
				return i, false
			}
		}
	}
	return i, false
}

// validNumber checks the number at i: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(d []byte, i int) (int, bool) {
	digits := func(i int) (int, bool) {
		j := i
		for j < len(d) && d[j] >= '0' && d[j] <= '9' {
			j++
		}
		return j, j > i
	}
	if d[i] == '-' {
		i++
	}
	if i < len(d) && d[i] == '0' {
		i++
	} else {
		var ok bool
		if i, ok = digits(i); !ok {
			return i, false
		}
	}
	if i < len(d) && d[i] == '.' {
		var ok bool
		if i, ok = digits(i + 1); !ok {
			return i, false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		var ok bool
		if i, ok = digits(i); !ok {
			return i, false
		}
	}
	return i, true
}
