package interchange

import "encoding/binary"

// The relay's fast path for send and forward frames: one pass over the
// frame that checks it is JSON (as validPayload, nesting included) and
// checks its members (as parseRouted) at once, where the slow path reads
// the body three times. It only says yes or no: a frame it refuses goes
// through the slow path, which finds the error to report (so both always
// agree; FuzzFastRouted holds them to it).

// scanType checks the start of a frame, `{"type":"...",` and returns the
// type's contents and the offset after its value.
func scanType(d []byte) (typ []byte, i int, ok bool) {
	i = skipSpace(d, 0)
	if i >= len(d) || d[i] != '{' {
		return nil, 0, false
	}
	i = skipSpace(d, i+1)
	if i+6 > len(d) || string(d[i:i+6]) != `"type"` {
		return nil, 0, false
	}
	i = skipSpace(d, i+6)
	if i >= len(d) || d[i] != ':' {
		return nil, 0, false
	}
	i = skipSpace(d, i+1)
	if i >= len(d) || d[i] != '"' {
		return nil, 0, false
	}
	end, ok := validString(d, i)
	if !ok {
		return nil, 0, false
	}
	return d[i+1 : end-1], end, true
}

// fastRouted is parseRouted on a frame not yet checked as JSON, from i,
// the offset scanType returned. ok false: the slow path decides.
func fastRouted(d []byte, i int, forward bool) (r routed, ok bool) {
	var seen uint32
	head := forward
	for {
		i = skipSpace(d, i)
		if i >= len(d) {
			return r, false
		}
		if d[i] == '}' {
			i++
			break
		}
		if d[i] != ',' {
			return r, false
		}
		i = skipSpace(d, i+1)
		if i >= len(d) || d[i] != '"' {
			return r, false
		}
		start := i
		end, ok := validString(d, i)
		if !ok {
			return r, false
		}
		k := d[i+1 : end-1]
		i = skipSpace(d, end)
		if i >= len(d) || d[i] != ':' {
			return r, false
		}
		i = skipSpace(d, i+1)
		vs := i
		if head {
			switch string(k) {
			case "hop", "from", "auth":
				if i, ok = validValue(d, i, 1); !ok {
					return r, false
				}
				v := d[vs:i]
				switch string(k) {
				case "hop":
					n, ok := parseUint(v)
					if !ok || n > MaxHops {
						return r, false
					}
					r.hop = int(n)
				case "from":
					r.from = stringValue(v)
				case "auth":
					r.auth = stringValue(v)
				}
				continue
			}
			head = false
		}
		if r.tail == nil {
			r.tail = d[start:]
		}
		f := indexOf(sendFields, k)
		if f < 0 || seen&(1<<f) != 0 {
			return r, false
		}
		seen |= 1 << f
		switch string(k) {
		case "body":
			i, ok = fastBody(d, i, 1)
		case "bodies":
			i, ok = fastBodies(d, i, 1)
		default:
			i, ok = validValue(d, i, 1)
		}
		if !ok {
			return r, false
		}
		v := d[vs:i]
		switch string(k) {
		case "to":
			r.to = stringValue(v)
		case "id":
			r.id = stringValue(v)
		case "n", "base":
			if _, ok := parseUint(v); !ok {
				return r, false
			}
		case "epoch", "key", "sig":
			if stringValue(v) == nil {
				return r, false
			}
		}
	}
	if skipSpace(d, i) != len(d) {
		return r, false
	}
	body, bodies := seen&(1<<7) != 0, seen&(1<<8) != 0 // sendFields[7] and [8]
	switch {
	case forward && (!validInstance(r.from) || (string(r.auth) != AuthSecret && string(r.auth) != AuthOpen)),
		!validInstance(r.to), len(r.id) == 0, len(r.id) > maxIDBytes, body == bodies:
		return r, false
	}
	return r, true
}

// fastBodies checks a batch at i (depth as validValue counts it): an
// array of 1 to MaxBatch bodies.
func fastBodies(d []byte, i, depth int) (int, bool) {
	if i >= len(d) || d[i] != '[' || depth >= maxDepth {
		return i, false
	}
	i = skipSpace(d, i+1)
	for n := 1; n <= MaxBatch; n++ {
		var ok bool
		if i, ok = fastBody(d, i, depth+1); !ok {
			return i, false
		}
		i = skipSpace(d, i)
		if i >= len(d) {
			return i, false
		}
		if d[i] == ']' {
			return i + 1, true
		}
		if d[i] != ',' {
			return i, false
		}
		i = skipSpace(d, i+1)
	}
	return i, false
}

// fastBody checks a body at i: an object of whitelisted members whose msg
// members are whitelisted too.
func fastBody(d []byte, i, depth int) (int, bool) {
	return fastObject(d, i, depth, bodyFields, func(k []byte, i, depth int) (int, bool) {
		if string(k) == "msg" {
			return fastObject(d, i, depth, msgFields, nil)
		}
		return validValue(d, i, depth)
	})
}

// fastObject checks the object at i: its member names must be in names,
// and each value is checked by value (validValue when nil).
func fastObject(d []byte, i, depth int, names []string, value func(k []byte, i, depth int) (int, bool)) (int, bool) {
	if i >= len(d) || d[i] != '{' || depth >= maxDepth {
		return i, false
	}
	i = skipSpace(d, i+1)
	if i < len(d) && d[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(d) || d[i] != '"' {
			return i, false
		}
		end, ok := validString(d, i)
		if !ok {
			return i, false
		}
		k := d[i+1 : end-1]
		if indexOf(names, k) < 0 {
			return i, false
		}
		i = skipSpace(d, end)
		if i >= len(d) || d[i] != ':' {
			return i, false
		}
		i = skipSpace(d, i+1)
		if value != nil {
			i, ok = value(k, i, depth+1)
		} else {
			i, ok = validValue(d, i, depth+1)
		}
		if !ok {
			return i, false
		}
		i = skipSpace(d, i)
		if i >= len(d) {
			return i, false
		}
		if d[i] == '}' {
			return i + 1, true
		}
		if d[i] != ',' {
			return i, false
		}
		i = skipSpace(d, i+1)
	}
}

// plain8 reports whether none of the 8 bytes at d[i:] ends or escapes a
// JSON string or is a control character: no '"', '\\' or byte below
// 0x20 (the bit tricks of "Bit Twiddling Hacks": haszero, hasless).
func plain8(d []byte, i int) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	x := binary.LittleEndian.Uint64(d[i:])
	q := x ^ (ones * '"')
	b := x ^ (ones * '\\')
	return ((q-ones)&^q|(b-ones)&^b|(x-ones*0x20)&^x)&highs == 0
}

// plainByte is plain8 for one byte.
var plainByte = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()
