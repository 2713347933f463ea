package interchange

import (
	"bytes"
	"encoding/json"
	"testing"

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
		var body map[string]json.RawMessage
		if err := json.Unmarshal(d.Body, &body); err != nil {
			t.Fatalf("body of %q: %v", p, err)
		}
		for k := range body {
			if indexOf(bodyFields, []byte(k)) < 0 {
				t.Fatalf("accepted %q with body member %q", p, k)
			}
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
