package interchange_test

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/interchange"
)

// TestFloodedRelayServesOthers: one node floods the relay as fast as it
// can write; the relay holds it to its rate, then drops it, and two other
// nodes keep talking with little delay.
func TestFloodedRelayServesOthers(t *testing.T) {
	r := startRelay(t, func(c *interchange.Config) { c.Rate, c.Burst = 1000, 1000 })
	a, b, f := newNode(t), newNode(t), newNode(t)
	la := dial(t, r.url, a, r.allow(t, a.ID))
	lb := dial(t, r.url, b, r.allow(t, b.ID))
	lf := dial(t, r.url, f, r.allow(t, f.ID))

	var flooded, limited atomic.Int64
	stop := make(chan struct{})
	cut := make(chan struct{})
	go func() { // the flooder's reader: counts the relay's refusals
		for {
			p, err := lf.Read()
			if err != nil {
				close(cut)
				return
			}
			var e interchange.ErrorFrame
			if json.Unmarshal(p, &e) == nil && e.Code == mesh.ERateLimited {
				limited.Add(1)
			}
		}
	}()
	go func() {
		frame := sendFrame(f, b.ID, "flood", mesh.FedBody{Kind: mesh.FedAck})
		for {
			select {
			case <-stop:
				return
			default:
			}
			if !lf.SendWait(frame) {
				return
			}
			flooded.Add(1)
		}
	}()
	defer close(stop)

	const total = 300
	got := make(chan time.Duration, total)
	go func() {
		for {
			p, err := lb.Read()
			if err != nil {
				return
			}
			var d interchange.Deliver
			if json.Unmarshal(p, &d) != nil || d.From != a.ID {
				continue
			}
			ns, _ := strconv.ParseInt(d.ID[1:], 10, 64)
			got <- time.Since(time.Unix(0, ns))
		}
	}()
	time.Sleep(100 * time.Millisecond) // the flood is on
	for range total {
		la.Send(sendFrame(a, b.ID, "t"+strconv.FormatInt(time.Now().UnixNano(), 10), mesh.FedBody{Kind: mesh.FedAck}))
		time.Sleep(2 * time.Millisecond)
	}
	var lat []time.Duration
	timeout := time.After(10 * time.Second)
	for len(lat) < total {
		select {
		case d := <-got:
			lat = append(lat, d)
		case <-timeout:
			t.Fatalf("b got %d of %d frames from a while the relay was flooded", len(lat), total)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p99 := lat[len(lat)*99/100]
	t.Logf("flooder wrote %d frames, was refused %d times; a -> b p50 %v p99 %v", flooded.Load(), limited.Load(), lat[len(lat)/2], p99)
	if limited.Load() == 0 {
		t.Error("the flooder was never rate limited")
	}
	select {
	case <-cut:
	case <-time.After(5 * time.Second):
		t.Error("the flooder was not disconnected")
	}
	// The flooder shares this process's CPUs with the relay and both
	// nodes, so only the median is held to a tight bound.
	if p50 := lat[len(lat)/2]; p50 > 50*time.Millisecond || p99 > 3*time.Second {
		t.Errorf("a -> b p50 %v p99 %v while flooded, want under 50ms and 3s", p50, p99)
	}
	_ = context.Background
}
