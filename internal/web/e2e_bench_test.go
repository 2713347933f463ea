package web_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
	"github.com/the-mesh/mesh/internal/meshtest"
	"github.com/the-mesh/mesh/internal/node"
	"github.com/the-mesh/mesh/internal/web"
)

// BenchmarkE2EPostAck measures post→ack over a WebSocket through one
// node: a plain chat line in a plain room, and the same text sealed in an
// E2E room (the node checks its shape, epoch, device and signature). Each
// iteration sends one of each, alternating, so load on the machine falls
// on both alike; the frames are made before the clock starts, so only the
// node's work and the round trip are timed. It reports each one's time and
// their ratio (e2e/plain).
//
//	go test -run '^$' -bench E2EPostAck -benchtime 2000x ./internal/web
func BenchmarkE2EPostAck(b *testing.B) {
	n := meshtest.Start(b, "", func(_ *node.Config, wc *web.Config) { wc.Rate = 0 })
	alice := newMember(b, n, "alice")
	room := alice.createRoom("vault", nil)
	plain := mesh.RoomID(n.UnlimitedRoom(b, "plain"))
	alice.join(plain)
	ro := alice.roster(room)
	alice.rekey(room, ro)
	text := strings.Repeat("a chat line of ordinary length. ", 6) // 192 bytes

	c := n.Hello(b, alice.tok)
	c.Join(string(room))
	c.Join(string(plain))
	plainFrame, _ := json.Marshal(map[string]any{"type": "say", "room": plain, "text": text, "ref": "p"})
	sealed := make([][]byte, b.N)
	for i := range sealed {
		f, _ := json.Marshal(map[string]any{"type": "say", "room": room, "kind": "encrypted",
			"body": map[string]any{"e2e": alice.seal(ro.Room, chat(text), "", "e")}, "ref": "e"}) // the ref is bound
		sealed[i] = f
	}
	roundTrip := func(frame []byte) time.Duration {
		start := time.Now()
		c.SendRaw(frame)
		for {
			f := c.Next(10 * time.Second)
			if f.Type() == "ack" {
				return time.Since(start)
			}
			if f.Type() == "error" {
				b.Fatalf("refused: %v", f)
			}
		}
	}
	var tPlain, tE2E time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tPlain += roundTrip(plainFrame)
		tE2E += roundTrip(sealed[i])
	}
	b.StopTimer()
	b.ReportMetric(float64(tPlain.Nanoseconds())/float64(b.N), "ns/plain")
	b.ReportMetric(float64(tE2E.Nanoseconds())/float64(b.N), "ns/e2e")
	b.ReportMetric(float64(tE2E)/float64(tPlain), "e2e/plain")
}

// BenchmarkE2EVerify is the node's check of one sealed message alone:
// e2e.CheckShape and e2e.Verify (the signature), without the round trip.
func BenchmarkE2EVerify(b *testing.B) {
	id, _ := e2e.NewIdentity(nil)
	roster := []mesh.Device{id.Device()}
	_, ck0, _ := e2e.SealKeys(id, "vault@nabcdefghijklmnop", 1, roster, nil)
	_, mk, _ := e2e.NewChain(ck0).Next()
	s, _ := e2e.Seal(id, e2e.Envelope{Room: "vault@nabcdefghijklmnop"}, 1, 2, 1, mk, chat(strings.Repeat("x", 192)), nil)
	sign := id.Device().Sign
	b.ReportAllocs()
	for b.Loop() {
		if err := e2e.CheckShape(s, 8704); err != nil {
			b.Fatal(err)
		}
		if err := e2e.Verify(s, e2e.Envelope{Room: "vault@nabcdefghijklmnop"}, sign); err != nil {
			b.Fatal(err)
		}
	}
}
