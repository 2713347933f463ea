package interchange

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/the-mesh/mesh"
)

// FuzzParseRouted feeds frames to the relay's parser. Whatever it accepts
// must come out, as the deliver frame the relay builds, as one JSON object
// with only the whitelisted members, and a body with only whitelisted
// members: the relay never passes anything it did not check.
func FuzzParseRouted(f *testing.F) {
	for _, s := range []string{
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f1","n":3,"base":1,"epoch":"e","key":"k","sig":"s","body":{"kind":"say","msg":{"id":"m"}}}`,
		`{"type":"forward","hop":7,"from":"nq4c7ha2lmx5tyvbk","auth":"secret","to":"nx3b5t7kq2wzm4ha6","id":"f1","key":"k","sig":"s","body":{}}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f1","key":"k","sig":"s","body":{"kind":"ack"},"x":1}`,
		`{"type":"send", "to" : "nx3b5t7kq2wzm4ha6" ,"id":"a\"b","body":{"msg":{"body":{"text":"}{"}}}}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","body":{"kind":"x"},"body":{}}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f1+2","n":3,"base":1,"epoch":"e","key":"k","sig":"s","bodies":[{"kind":"say","msg":{"id":"m"}},{"kind":"ack"}]}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","key":"k","sig":"s","bodies":[{"kind":"say","x":1}]}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","key":"k","sig":"s","bodies":[]}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","key":"k","sig":"s","bodies":[1,"x"]}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","key":"k","sig":"s","body":{},"bodies":[{}]}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, p []byte, forward bool) {
		if !validPayload(p) {
			return
		}
		if _, ok := typeOf(p); !ok {
			return
		}
		r, err := parseRouted(p, forward)
		if err != nil {
			if mesh.ErrorCode(err) != mesh.EInvalid {
				t.Fatalf("refusal with code %s: %v", mesh.ErrorCode(err), err)
			}
			return
		}
		out := buildFrame(false, deliverPrefix, []byte("nq4c7ha2lmx5tyvbk"), authMid, []byte("secret"), fieldEnd, r.tail)
		payload := out[len(out)-len(deliverPrefix)-len("nq4c7ha2lmx5tyvbk")-len(authMid)-len("secret")-len(fieldEnd)-len(r.tail):]
		var d Deliver
		if err := mesh.DecodeStrict(payload, &d); err != nil {
			t.Fatalf("accepted %q but built %q, which does not decode: %v", p, payload, err)
		}
		if d.From != "nq4c7ha2lmx5tyvbk" || d.Auth != "secret" || d.To != string(r.to) {
			t.Fatalf("accepted %q; the deliver frame says from %q auth %q to %q", p, d.From, d.Auth, d.To)
		}
		if (d.Body == nil) == (d.Bodies == nil) {
			t.Fatalf("accepted %q with body %q and bodies %q", p, d.Body, d.Bodies)
		}
		bodies := []json.RawMessage{d.Body}
		if d.Bodies != nil {
			if err := json.Unmarshal(d.Bodies, &bodies); err != nil || len(bodies) == 0 || len(bodies) > MaxBatch {
				t.Fatalf("bodies of %q: %d (%v)", p, len(bodies), err)
			}
		}
		for _, b := range bodies {
			var body map[string]json.RawMessage
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatalf("body of %q: %v", p, err)
			}
			for k := range body {
				if indexOf(bodyFields, []byte(k)) < 0 {
					t.Fatalf("accepted %q with body member %q", p, k)
				}
			}
		}
		// What the relay delivers, the node reads back the same.
		pd, err := ParseDeliver(payload)
		if err != nil {
			if mesh.ErrorCode(err) != mesh.EInvalid {
				t.Fatalf("ParseDeliver: code %s", mesh.ErrorCode(err))
			}
			return // stricter than the relay on strings (ids, keys, signatures)
		}
		if pd.From != d.From || pd.To != d.To || pd.ID != d.ID || pd.N != d.N || pd.Base != d.Base || pd.Epoch != d.Epoch ||
			pd.Key != d.Key || pd.Sig != d.Sig || !bytes.Equal(pd.Body, d.Body) || !bytes.Equal(pd.Bodies, d.Bodies) {
			t.Fatalf("ParseDeliver(%q) = %+v, DecodeStrict %+v", payload, pd, d)
		}
		var split []json.RawMessage
		SplitBodies(pd.Bodies, func(b []byte) bool { split = append(split, b); return true })
		if pd.Bodies != nil && len(split) != len(bodies) {
			t.Fatalf("SplitBodies(%q): %d bodies, want %d", pd.Bodies, len(split), len(bodies))
		}
		for i := range split {
			if !bytes.Equal(split[i], bodies[i]) {
				t.Fatalf("SplitBodies(%q)[%d] = %q, want %q", pd.Bodies, i, split[i], bodies[i])
			}
		}
	})
}

// FuzzParseDeliver checks the node's reading of deliver frames against
// mesh.DecodeStrict: what ParseDeliver accepts decodes strictly to the
// same frame.
func FuzzParseDeliver(f *testing.F) {
	for _, s := range []string{
		`{"type":"deliver","from":"nq4c7ha2lmx5tyvbk","auth":"secret","to":"nx3b5t7kq2wzm4ha6","id":"f1","n":3,"base":1,"epoch":"e","key":"k+/=","sig":"s","body":{"kind":"say"}}`,
		`{"type":"deliver","from":"nq4c7ha2lmx5tyvbk","auth":"open","to":"nx3b5t7kq2wzm4ha6","id":"f1","n":3,"key":"k","sig":"s","bodies":[{"kind":"say"},{"kind":"x"}]}`,
		`{"type":"deliver","from":"nq","auth":"secret","to":"n","id":"f1","key":"k","sig":"s","body":{},"body":{}}`,
		`{"type":"deliver", "from" : "nq" ,"id":"a\"b","body":[]}`,
		`{"type":"deliver","from":"","to":"","id":"","key":"","sig":"","body":{}}`,
		`{"type":"deliver","n":-1,"body":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		d, err := ParseDeliver(p)
		if err != nil {
			if mesh.ErrorCode(err) != mesh.EInvalid {
				t.Fatalf("refusal with code %s: %v", mesh.ErrorCode(err), err)
			}
			return
		}
		if !utf8.Valid(p) {
			return // bodies are checked for UTF-8 when decoded (after the signature), not here
		}
		var want Deliver
		if err := mesh.DecodeStrict(p, &want); err != nil {
			t.Fatalf("ParseDeliver accepted %q, DecodeStrict refuses it: %v", p, err)
		}
		if d.Type != want.Type || d.From != want.From || d.Auth != want.Auth || d.To != want.To || d.ID != want.ID || d.N != want.N ||
			d.Base != want.Base || d.Epoch != want.Epoch || d.Key != want.Key || d.Sig != want.Sig ||
			!bytes.Equal(d.Body, want.Body) || !bytes.Equal(d.Bodies, want.Bodies) {
			t.Fatalf("ParseDeliver(%q) = %+v, DecodeStrict %+v", p, d, want)
		}
	})
}

// FuzzValidPayload checks the relay's JSON check against encoding/json.
func FuzzValidPayload(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,-2.5e+3,true,false,null,"x\u00e9\n"]}`, ` {"a":{}} `, `{"a":01}`, `{"a":"\x"}`,
		`{"a":1,}`, `{"a" 1}`, `[1]`, `{"a":"` + "\x01" + `"}`, `{"a":1}x`, `{"a":-}`, `{"a":1.}`, `{"a":1e}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		want := json.Valid(p) && bytes.HasPrefix(bytes.TrimLeft(p, " \t\r\n"), []byte("{"))
		if got := validPayload(p); got != want && !(want && bytes.Count(p, []byte("{"))+bytes.Count(p, []byte("[")) > maxDepth) {
			t.Fatalf("validPayload(%q) = %v, json.Valid says %v", p, got, want)
		}
	})
}

// FuzzFastRouted holds the relay's fast path to the slow one: the same
// frames accepted, read the same.
func FuzzFastRouted(f *testing.F) {
	deep := `{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","key":"k","sig":"s","body":{"msg":{"body":` +
		strings.Repeat(`[`, maxDepth-3) + strings.Repeat(`]`, maxDepth-3) + `}}}`
	batch := func(n int) string {
		return `{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","key":"k","sig":"s","bodies":[` +
			strings.TrimSuffix(strings.Repeat(`{"kind":"ack"},`, n), ",") + `]}`
	}
	for _, s := range []string{
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f1","n":3,"base":1,"epoch":"e","key":"k","sig":"s","body":{"kind":"say","msg":{"id":"m"}}}`,
		`{"type":"forward","hop":7,"from":"nq4c7ha2lmx5tyvbk","auth":"secret","to":"nx3b5t7kq2wzm4ha6","id":"f1","key":"k","sig":"s","body":{}}`,
		`{"type":"forward","hop":9,"from":"nq4c7ha2lmx5tyvbk","auth":"secret","to":"nx3b5t7kq2wzm4ha6","id":"f1","key":"k","sig":"s","body":{}}`,
		`{"type":"forward","from":"nq4c7ha2lmx5tyvbk","auth":"open","hop":0,"to":"nx3b5t7kq2wzm4ha6","id":"f1","key":"k","sig":"s","body":{}}`,
		` { "type" : "send" , "to" : "nx3b5t7kq2wzm4ha6" ,"id":"a","body":{"msg":{"body":{"text":"}{\"\\ \u00e9 \ud83d\ude00"}}}} `,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","body":{"kind":"x"},"body":{}}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","body":{"kind":"x","kind":"y"}}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","body":{"msg":[]}}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","body":{"msg":{"x":1}}}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","body":{"msg":{"id":01}}}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","body":{}}x`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","body":{},}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","body":{"kind":"` + "\x01" + `"}}`,
		`{"type":"send","t\u006f":"nx3b5t7kq2wzm4ha6","id":"f","body":{}}`,
		`{"type":"s\u0065nd","to":"nx3b5t7kq2wzm4ha6","id":"f","body":{}}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","n":-1,"body":{}}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","epoch":"a b","body":{}}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"` + strings.Repeat("i", maxIDBytes+1) + `","body":{}}`,
		`{"type":"announce","to":"nx3b5t7kq2wzm4ha6","id":"f","body":{}}`,
		`{"to":"nx3b5t7kq2wzm4ha6","type":"send","id":"f","body":{}}`,
		deep, strings.Replace(deep, "[", "[[", 1) + "]",
		batch(1), batch(MaxBatch), batch(MaxBatch + 1),
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","key":"k","sig":"s","bodies":[]}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","key":"k","sig":"s","bodies":[{},]}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","key":"k","sig":"s","bodies":[1,"x"]}`,
		`{"type":"send","to":"nx3b5t7kq2wzm4ha6","id":"f","key":"k","sig":"s","body":{},"bodies":[{}]}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, p []byte, forward bool) {
		want := TypeSend
		if forward {
			want = TypeForward
		}
		var slow routed
		slowOK := validPayload(p)
		if slowOK {
			typ, ok := typeOf(p)
			slowOK = ok && string(typ) == want
		}
		if slowOK {
			var err error
			slow, err = parseRouted(p, forward)
			slowOK = err == nil
		}
		var fast routed
		typ, i, fastOK := scanType(p)
		if fastOK = fastOK && string(typ) == want; fastOK {
			fast, fastOK = fastRouted(p, i, forward)
		}
		if fastOK != slowOK {
			t.Fatalf("forward %v, %q: fast path accepts it %v, slow path %v", forward, p, fastOK, slowOK)
		}
		if fastOK && (!bytes.Equal(fast.to, slow.to) || !bytes.Equal(fast.id, slow.id) || !bytes.Equal(fast.from, slow.from) ||
			!bytes.Equal(fast.auth, slow.auth) || fast.hop != slow.hop || !bytes.Equal(fast.tail, slow.tail)) {
			t.Fatalf("forward %v, %q: fast path reads %+v, slow path %+v", forward, p, fast, slow)
		}
	})
}

// FuzzValidString checks the word-at-a-time string check against a byte
// at a time one.
func FuzzValidString(f *testing.F) {
	for _, s := range []string{`"abc"`, `"abcdefghijklmnop"`, `"abcdefg\"hij"`, `"abcdefgh` + "\x1f" + `"`, `"\u00e9xxxxxxxxx"`,
		`"xxxxxxx\\"`, `"xxxxxxx\\\"`, "\"\xff\xfe\x80\x7fxxxxxxxxxxx\"", `"unterminated`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) == 0 || p[0] != '"' {
			return
		}
		want := json.Valid(p) && p[len(p)-1] == '"' // a string, with nothing after it
		end, ok := validString(p, 0)
		if got := ok && end == len(p); got != want {
			t.Fatalf("validString(%q) = %d, %v; json.Valid says %v", p, end, ok, want)
		}
	})
}
