package interchange_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/interchange"
)

// benchBody is a say as nodes send it: an envelope of about 400 bytes.
var benchBody = mesh.FedBody{Kind: mesh.FedSay, Room: "design-review@nx3b5t7kq2wzm4ha6", Msg: &mesh.Message{
	ID: "m_d7tr2mq5vx4ka6zo", Room: "design-review@nx3b5t7kq2wzm4ha6", Kind: mesh.MessageChat,
	From: mesh.Sender{ID: "p_alicea3kq6tzm2wx", Name: "alice", Kind: mesh.KindAgent, Node: "nq4c7ha2lmx5tyvbk"},
	TS:   time.Date(2026, 3, 1, 12, 0, 3, 500000000, time.UTC), Body: mesh.Body{Text: "The build is green; shall I tag the release?"},
	Provenance: []mesh.Provenance{{Node: "nq4c7ha2lmx5tyvbk", TS: time.Date(2026, 3, 1, 12, 0, 3, 500000000, time.UTC),
		Sig: "w0cWa0R5gkM8mNWbdlPtqD3rSOeKvmaotSZobbESzDTu4iDJwK7fLSLcIpBUAmn2ei37eS+puYBjs7XQm6yfAw=="}}}}

// BenchmarkRelay sends b.N frames from one node to another through an
// in-process relay on loopback, as fast as the sender can with at most
// relayWindow frames in flight (more would time a queue, not the relay),
// and reports frames per second and the one-way latency (send to
// receive). The generator is kept cheap: it stamps its one buffer (the
// link copies it into its queue), and the receiver reads the stamp in
// place.
func BenchmarkRelay(b *testing.B) {
	r := startRelay(b, func(c *interchange.Config) {
		c.Rate, c.Queue.MaxFrames, c.Queue.MaxBytes = 0, 1<<20, 1<<30 // measure, do not drop
	})
	a, d := newNode(b), newNode(b)
	la := dial(b, r.url, a, r.allow(b, a.ID))
	ld := dial(b, r.url, d, r.allow(b, d.ID))
	lat := make([]time.Duration, 0, b.N)
	slots := make(chan struct{}, relayWindow)
	done := make(chan struct{})
	idKey := []byte(`"id":"`)
	go func() {
		defer close(done)
		for len(lat) < b.N {
			p, err := ld.Read()
			if err != nil {
				return
			}
			if len(p) < 40 || string(p[:17]) != `{"type":"deliver"` {
				continue
			}
			i := bytes.Index(p, idKey) + len(idKey)
			ns, _ := strconv.ParseInt(string(p[i:i+19]), 10, 64)
			lat = append(lat, time.Since(time.Unix(0, ns)))
			<-slots
		}
	}()
	frame := sendFrame(a, d.ID, "0000000000000000000", benchBody)
	idAt := len(`{"type":"send","to":"`) + len(d.ID) + len(`","id":"`)
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		slots <- struct{}{}
		strconv.AppendInt(frame[:idAt], time.Now().UnixNano(), 10)
		if !la.SendWait(frame) {
			b.Fatal("link closed")
		}
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatalf("received %d of %d (the relay dropped some)", len(lat), b.N)
	}
	el := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(b.N)/el.Seconds(), "frames/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// relayWindow bounds BenchmarkRelay's frames in flight.
const relayWindow = 1024

// BenchmarkParseRouted is the relay's per-frame work before routing.
func BenchmarkParseRouted(b *testing.B) {
	a := newNode(b)
	frame := sendFrame(a, "nx3b5t7kq2wzm4ha6", "f1", benchBody)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for range b.N {
		interchange.Check(frame)
	}
}

// BenchmarkFastRouted is the relay's fast path over the same frame: one
// pass instead of the JSON check and the member walks.
func BenchmarkFastRouted(b *testing.B) {
	a := newNode(b)
	frame := sendFrame(a, "nx3b5t7kq2wzm4ha6", "f1", benchBody)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for range b.N {
		interchange.CheckFast(frame)
	}
}

// TestParseRoutedAllocs pins the relay's frame checks, both paths, at
// zero allocations.
func TestParseRoutedAllocs(t *testing.T) {
	frame := sendFrame(newNode(t), "nx3b5t7kq2wzm4ha6", "f1", benchBody)
	if err := interchange.Check(frame); err != nil {
		t.Fatal(err)
	}
	if !interchange.CheckFast(frame) {
		t.Fatal("the fast path refuses a send frame")
	}
	if n := testing.AllocsPerRun(100, func() { interchange.Check(frame) }); n != 0 {
		t.Fatalf("checking a frame allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { interchange.CheckFast(frame) }); n != 0 {
		t.Fatalf("checking a frame on the fast path allocates %v times, want 0", n)
	}
}

// BenchmarkRelayBatch sends frames of 64 bodies (about 40 KiB) through an
// in-process relay: the relay's cost per body when nodes batch.
func BenchmarkRelayBatch(b *testing.B) {
	r := startRelay(b, func(c *interchange.Config) {
		c.Rate, c.Queue.MaxFrames, c.Queue.MaxBytes = 0, 1<<20, 1<<30
	})
	a, d := newNode(b), newNode(b)
	la := dial(b, r.url, a, r.allow(b, a.ID))
	ld := dial(b, r.url, d, r.allow(b, d.ID))
	body, _ := json.Marshal(benchBody)
	bodies := []byte{'['}
	for i := range 64 {
		if i > 0 {
			bodies = append(bodies, ',')
		}
		bodies = append(bodies, body...)
	}
	bodies = append(bodies, ']')
	sig := ed25519.Sign(a.Key, interchange.SignedBytes(a.ID, d.ID, bodies))
	frame, _ := json.Marshal(interchange.Send{Type: interchange.TypeSend, To: d.ID, ID: "f1+64", N: 1, Key: a.Public(),
		Sig: base64.StdEncoding.EncodeToString(sig), Bodies: bodies})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 0; n < b.N; {
			p, err := ld.Read()
			if err != nil {
				return
			}
			if interchange.TypeOf(p) == interchange.TypeDeliver {
				n++
			}
		}
	}()
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for range b.N {
		if !la.SendWait(frame) {
			b.Fatal("link closed")
		}
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatal("frames lost")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/body")
}
