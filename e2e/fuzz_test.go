package e2e

import (
	"encoding/json"
	"testing"

	"github.com/the-mesh/mesh"
)

// FuzzSealed feeds arbitrary JSON through what a node does with an
// encrypted body: strict decode, CheckShape, Verify. Nothing may panic, and
// a body that passes CheckShape has the sizes it promises.
func FuzzSealed(f *testing.F) {
	v := makeVectors(&testing.T{})
	for _, s := range []*mesh.Sealed{v.Keys.Sealed, v.Msgs[0].Sealed, v.Msgs[1].Sealed} {
		b, _ := json.Marshal(s)
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"type":"msg","epoch":1,"device":"daaaaaaaaaaaaaaaa","keys":1,"n":1,"nonce":"","ct":"","sig":""}`))
	f.Add([]byte(`{"v":2}`))
	sign := v.Devices[0].Device.Sign
	f.Fuzz(func(t *testing.T, data []byte) {
		var s mesh.Sealed
		if mesh.DecodeStrict(data, &s) != nil {
			return
		}
		if CheckShape(&s, 8192) != nil {
			return
		}
		if len(s.Sig) != 64 || (s.Type == mesh.SealedMsg && len(s.Nonce) != 24) {
			t.Fatalf("CheckShape passed a body with bad sizes: %+v", s)
		}
		_ = Verify(&s, Envelope{Room: "team@nabcdefghijklmnop"}, sign)
	})
}
