package federation_test

import (
	"reflect"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/federation"
)

// FuzzDecodeBody checks the receiving path's body decoder against
// mesh.DecodeStrict: both accept the same bodies and decode them alike.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"kind":"say","room":"r@nx3b5t7kq2wzm4ha6","msg":{"id":"m_1","room":"r","kind":"chat","from":{"id":"p","name":"a","kind":"agent","node":"n"},"ts":"2026-03-01T12:00:00Z","body":{"text":"hi","args":{"a":1,"a":2}},"provenance":[{"node":"n","ts":"2026-03-01T12:00:00Z","sig":"s"}]}}`,
		`{"kind":"ack","upto":3,"epoch":"e"}`,
		`{"kind":"ack","Kind":"x"}`,
		`{"kind":"ack","kind":"ack"}`,
		`{"kind":"access","members":[{"id":"p","name":"a","kind":"agent","trust":"federated","node":"n","created":"2026-03-01T12:00:00Z","online":true}],"event":"listen"}`,
		`{"kind":"access","members":[{"id":"p","online":true,"online":false}]}`,
		`{"\u006bind":"ack"}`,
		`{"kind":"ack"} x`,
		`{"kind":"say","msg":{"body":{"args":{"b":[{"c":1,"c":2}]}}}}`,
		` {"kind" : "ack" , "upto" : 1 } `,
		`null`,
		`{"kind":"say","msg":{"ts":{"x":1}}}`,
		"{\"kind\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var fast, slow mesh.FedBody
		errFast := federation.DecodeBody(raw, &fast)
		errSlow := mesh.DecodeStrict(raw, &slow)
		if (errFast == nil) != (errSlow == nil) {
			t.Fatalf("%q: decodeBody says %v, DecodeStrict says %v", raw, errFast, errSlow)
		}
		if errSlow == nil && !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: decodeBody got %+v, DecodeStrict %+v", raw, fast, slow)
		}
		if errFast != nil && mesh.ErrorCode(errFast) != mesh.EInvalid {
			t.Fatalf("%q: code %s", raw, mesh.ErrorCode(errFast))
		}
	})
}
