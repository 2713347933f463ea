package interchange

import (
	"github.com/the-mesh/mesh"
)

// The node's side of routed frames: a node reads every frame the relay
// delivers, so it reads them as the relay reads sends, with one pass over
// the bytes and no decoding of the bodies (which the node decodes one by
// one, strictly, after it has checked the frame's signature).

// TypeOf returns the type of a frame: the value of its first member, which
// must be "type" and a plain string. It returns "" for anything else.
func TypeOf(p []byte) string {
	t, ok := typeOf(p)
	if !ok {
		return ""
	}
	return string(t)
}

// deliverFields are the members a deliver frame may have after its type.
var deliverFields = []string{"from", "auth", "to", "id", "n", "base", "epoch", "key", "sig", "body", "bodies"}

// ParseDeliver reads a deliver frame without decoding its bodies: it must
// be one JSON object, "type" first, then only the members of Deliver, none
// twice, the ids, key, signature and epoch plain strings of letters,
// digits and +/=_.-, with exactly one of body (an object) and bodies (an
// array). Body and Bodies alias p. Errors: EInvalid.
func ParseDeliver(p []byte) (Deliver, error) {
	var d Deliver
	if !validPayload(p) {
		return d, mesh.Errorf(mesh.EInvalid, "A deliver frame must be one JSON object.")
	}
	m, _ := objectMembers(p)
	k, v, _, ok := m.next()
	if !ok || string(k) != "type" || string(v) != `"`+TypeDeliver+`"` {
		return d, mesh.Errorf(mesh.EInvalid, `A deliver frame starts with "type":"deliver".`)
	}
	d.Type = TypeDeliver
	var seen uint32
	for {
		k, v, _, ok := m.next()
		if !ok {
			break
		}
		i := indexOf(deliverFields, k)
		if i < 0 {
			return d, mesh.Errorf(mesh.EInvalid, "Unknown field %q in a deliver frame.", k)
		}
		if seen&(1<<i) != 0 {
			return d, mesh.Errorf(mesh.EInvalid, "Field %q is given twice.", k)
		}
		seen |= 1 << i
		switch string(k) {
		case "n", "base":
			n, ok := parseUint(v)
			if !ok {
				return d, mesh.Errorf(mesh.EInvalid, "%s must be a non-negative integer.", k)
			}
			if string(k) == "n" {
				d.N = n
			} else {
				d.Base = n
			}
		case "body":
			if len(v) == 0 || v[0] != '{' {
				return d, mesh.Errorf(mesh.EInvalid, "body must be an object.")
			}
			d.Body = v
		case "bodies":
			if len(v) == 0 || v[0] != '[' {
				return d, mesh.Errorf(mesh.EInvalid, "bodies must be an array.")
			}
			d.Bodies = v
		default:
			s := stringValue(v)
			if s == nil && string(v) != `""` {
				return d, mesh.Errorf(mesh.EInvalid, "%s must be a string of letters, digits and +/=_.-.", k)
			}
			switch string(k) {
			case "from":
				d.From = string(s)
			case "auth":
				d.Auth = string(s)
			case "to":
				d.To = string(s)
			case "id":
				d.ID = string(s)
			case "epoch":
				d.Epoch = string(s)
			case "key":
				d.Key = string(s)
			case "sig":
				d.Sig = string(s)
			}
		}
	}
	if (d.Body == nil) == (d.Bodies == nil) {
		return d, mesh.Errorf(mesh.EInvalid, `A deliver frame needs "body" or "bodies", not both.`)
	}
	return d, nil
}

// SplitBodies calls f with each element of a bodies array that
// ParseDeliver accepted, in order, and stops when f returns false. The
// elements alias bodies.
func SplitBodies(bodies []byte, f func(body []byte) bool) {
	i := skipSpace(bodies, 0)
	if i >= len(bodies) || bodies[i] != '[' {
		return
	}
	for i = skipSpace(bodies, i+1); i < len(bodies) && bodies[i] != ']'; {
		end := skipValue(bodies, i)
		if !f(bodies[i:end]) {
			return
		}
		i = skipSpace(bodies, end)
		if i < len(bodies) && bodies[i] == ',' {
			i = skipSpace(bodies, i+1)
		}
	}
}
