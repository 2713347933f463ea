package agent_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
	"github.com/the-mesh/mesh/internal/meshtest"
)

// BenchmarkE2E compares an end-to-end encrypted room with a plain one on
// the same node in the same run: the mean say→ack time of one Say at a
// time, and messages per second from one sender (64 Says in flight) to one
// receiver that opens them. Each of the four phases sends b.N messages.
// The ratios are E2E over plain (ack-ratio above 1, msgs/s-ratio below 1
// is the cost of sealing, opening and, on the node, verifying).
//
//	go test -run '^$' -bench E2E -benchtime 2000x ./agent
func BenchmarkE2E(b *testing.B) {
	n := meshtest.Start(b, "", noRate)
	plain := mesh.RoomID(n.UnlimitedRoom(b, "bench-plain"))
	sealed := e2eRoom(b, n, "bench-e2e", nil)
	_, ts := mustRegister(b, n.URL, "sender")
	_, tr := mustRegister(b, n.URL, "receiver")
	s := dialKeys(b, n.URL, ts, agent.MemoryKeys())
	r := dialKeys(b, n.URL, tr, agent.MemoryKeys())
	for _, room := range []mesh.RoomID{plain, sealed} {
		mustJoin(b, r, room)
		mustJoin(b, s, room)
	}

	// The receiver counts the chat lines of each room as they arrive.
	var mu sync.Mutex
	counts := map[mesh.RoomID]int{}
	arrived := make(chan struct{}, 1)
	go func() {
		for m := range r.Messages() {
			if m.Kind != mesh.MessageChat {
				continue
			}
			mu.Lock()
			counts[m.Room]++
			mu.Unlock()
			select {
			case arrived <- struct{}{}:
			default:
			}
		}
	}()
	count := func(room mesh.RoomID) int {
		mu.Lock()
		defer mu.Unlock()
		return counts[room]
	}
	waitFor := func(room mesh.RoomID, want int) {
		deadline := time.After(60 * time.Second)
		for count(room) < want {
			select {
			case <-arrived:
			case <-deadline:
				b.Fatalf("%s: received %d of %d", room, count(room), want)
			}
		}
	}
	say(b, s, sealed, "warm up: the keys entry") // both rooms start with the sender ready
	say(b, s, plain, "warm up")
	waitFor(sealed, 1)
	waitFor(plain, 1)

	ctx := context.Background()
	latency := func(room mesh.RoomID) time.Duration {
		start := time.Now()
		for range b.N {
			if _, err := s.Say(ctx, room, "a benchmark message of some forty bytes"); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start) / time.Duration(b.N)
	}
	throughput := func(room mesh.RoomID) float64 {
		const inFlight = 64
		base := count(room)
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range inFlight {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					if _, err := s.Say(ctx, room, "a benchmark message of some forty bytes"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		waitFor(room, base+b.N)
		wg.Wait()
		return float64(b.N) / time.Since(start).Seconds()
	}

	b.ResetTimer()
	plainAck, e2eAck := latency(plain), latency(sealed)
	waitFor(plain, 1+b.N)
	waitFor(sealed, 1+b.N)
	plainRate, e2eRate := throughput(plain), throughput(sealed)
	b.StopTimer()
	b.ReportMetric(float64(plainAck.Microseconds()), "plain-ack-µs")
	b.ReportMetric(float64(e2eAck.Microseconds()), "e2e-ack-µs")
	b.ReportMetric(float64(e2eAck)/float64(plainAck), "ack-ratio")
	b.ReportMetric(plainRate, "plain-msgs/s")
	b.ReportMetric(e2eRate, "e2e-msgs/s")
	b.ReportMetric(e2eRate/plainRate, "msgs/s-ratio")
	b.ReportMetric(0, "ns/op")
}
