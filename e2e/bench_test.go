package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
)

// The per-message cost of E2E on a client: Seal (ratchet step, AEAD,
// Ed25519 sign) and the receiver's Verify + Open, next to a keys entry for
// rosters of 10 and 100 devices (paid once per sender and epoch).
//
//	go test -run XXX -bench . ./e2e

func benchIdentities(b *testing.B, n int) ([]*Identity, []mesh.Device) {
	ids := make([]*Identity, n)
	devs := make([]mesh.Device, n)
	for i := range ids {
		id, err := NewIdentity(nil)
		if err != nil {
			b.Fatal(err)
		}
		ids[i], devs[i] = id, id.Device()
	}
	return ids, devs
}

func BenchmarkSeal(b *testing.B) {
	ids, devs := benchIdentities(b, 2)
	env := Envelope{Room: "team@nabcdefghijklmnop"}
	_, ck0, err := SealKeys(ids[0], env.Room, 1, devs, nil)
	if err != nil {
		b.Fatal(err)
	}
	chain := NewChain(ck0)
	p := Plain{Kind: mesh.MessageChat, Body: mesh.Body{Text: strings.Repeat("x", 200)}}
	b.ReportAllocs()
	for b.Loop() {
		n, mk, err := chain.Next()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Seal(ids[0], env, 1, 1, n, mk, p, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyOpen(b *testing.B) {
	ids, devs := benchIdentities(b, 2)
	env := Envelope{Room: "team@nabcdefghijklmnop"}
	_, ck0, err := SealKeys(ids[0], env.Room, 1, devs, nil)
	if err != nil {
		b.Fatal(err)
	}
	mk, _ := MessageKey(ck0, 1)
	s, err := Seal(ids[0], env, 1, 1, 1, mk, Plain{Kind: mesh.MessageChat, Body: mesh.Body{Text: strings.Repeat("x", 200)}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(s, env, devs[0].Sign); err != nil {
			b.Fatal(err)
		}
		if _, err := Open(s, env, mk); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealKeys(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("roster=%d", n), func(b *testing.B) {
			ids, devs := benchIdentities(b, n)
			for b.Loop() {
				if _, _, err := SealKeys(ids[0], "team@nabcdefghijklmnop", 1, devs, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
