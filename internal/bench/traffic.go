package bench

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// window is the measured interval, in UnixNano of send times. Until set,
// it is empty, so traffic from before the run counts for nothing.
type window struct {
	start, end atomic.Int64
}

func newWindow() *window {
	w := new(window)
	w.start.Store(math.MaxInt64)
	return w
}

func (w *window) set(start, end time.Time) {
	w.end.Store(end.UnixNano())
	w.start.Store(start.UnixNano())
}

func (w *window) in(sent int64) bool {
	return sent >= w.start.Load() && sent < w.end.Load()
}

// client is one benchmark connection joined to one room. Its read loop is
// the only goroutine that touches last; the counters are read by the drain
// poller while it runs.
type client struct {
	c    *Conn
	room []byte
	last uint64 // last seq seen in room

	got     atomic.Int64 // measured deliveries (send time in the window)
	all     atomic.Int64 // message frames of any time
	gaps    atomic.Int64 // seqs skipped
	dups    atomic.Int64 // seqs seen again or out of order
	bad     atomic.Int64 // message frames the scanner could not read
	sent    atomic.Int64 // measured says written
	acked   atomic.Int64 // measured says acked
	refused atomic.Int64 // measured says answered with an error frame
	lag     atomic.Int64 // the latest a say went out after it was due, ns
	code    atomic.Pointer[string]

	done    chan struct{} // closed when the read loop ends
	readErr error         // why it ended; set before done closes
	closing atomic.Bool   // the generator closed the connection
}

func newClient(c *Conn, room string, head uint64) *client {
	return &client{c: c, room: []byte(room), last: head, done: make(chan struct{})}
}

// read runs the read loop until the connection ends.
func (cl *client) read(w *window, h *Histogram) {
	defer close(cl.done)
	for {
		f, err := cl.c.ReadFrame()
		if err != nil {
			cl.readErr = err
			return
		}
		now := time.Now().UnixNano()
		switch t := FrameType(f); {
		case bytes.Equal(t, typeMessage):
			d, ok := ScanMessage(f)
			if !ok || !bytes.Equal(d.Room, cl.room) {
				cl.bad.Add(1)
				continue
			}
			cl.all.Add(1)
			cl.see(d.Seq)
			if d.Sent != 0 && w.in(d.Sent) {
				cl.got.Add(1)
				h.Record(time.Duration(now - d.Sent))
			}
		case bytes.Equal(t, typeAck):
			// The node acks the sender's own says instead of echoing
			// them, in the same seq order, so an ack fills its seq.
			if seq, ok := UintField(f, keySeq); ok {
				cl.see(seq)
			}
			if ref, ok := StringField(f, keyRef); ok && w.in(parseSent(ref)) {
				cl.acked.Add(1)
			}
		case bytes.Equal(t, typeError):
			ref, _ := StringField(f, keyRef)
			if w.in(parseSent(ref)) {
				cl.refused.Add(1)
			}
			if cl.code.Load() == nil {
				code, _ := StringField(f, keyCode)
				msg, _ := StringField(f, []byte(`"message":`))
				s := string(code) + ": " + string(msg)
				cl.code.CompareAndSwap(nil, &s)
			}
		}
	}
}

// see checks seq against the last one seen in the client's room.
func (cl *client) see(seq uint64) {
	switch {
	case seq == cl.last+1:
	case seq > cl.last:
		cl.gaps.Add(int64(seq - cl.last - 1))
	default:
		cl.dups.Add(1)
	}
	cl.last = max(cl.last, seq)
}

// dropped reports whether the node ended the connection before the
// generator did.
func (cl *client) dropped() bool {
	select {
	case <-cl.done:
		return !cl.closing.Load()
	default:
		return false
	}
}

// AppendSay appends a say frame for room whose text is a bench text of
// size bytes sent at sent, with the send time as its ref too (so the ack
// can be placed in or out of the window without a lookup).
func AppendSay(dst []byte, room string, sent int64, size int) []byte {
	dst = append(dst, `{"type":"say","room":"`...)
	dst = append(dst, room...)
	dst = append(dst, `","text":"`...)
	dst = AppendText(dst, sent, size)
	dst = append(dst, `","ref":"`...)
	dst = strconv.AppendInt(dst, sent, 10)
	return append(dst, `"}`...)
}

// send writes says to the client's room at rate per second from begin
// until end, open loop: the i-th is due at begin + i/rate and one that
// falls behind is sent at once.
func (cl *client) send(ctx context.Context, w *window, rate float64, size int, begin, end time.Time) error {
	interval := time.Duration(float64(time.Second) / rate)
	buf := make([]byte, 0, size+128)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	room := string(cl.room)
	for i := 0; ; i++ {
		at := begin.Add(time.Duration(i) * interval)
		if !at.Before(end) {
			return nil
		}
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		}
		now := time.Now().UnixNano()
		if lag := now - at.UnixNano(); lag > cl.lag.Load() {
			cl.lag.Store(lag) // only this goroutine stores
		}
		buf = AppendSay(buf[:0], room, now, size)
		if err := cl.c.WriteText(buf); err != nil {
			if cl.closing.Load() {
				return nil
			}
			return fmt.Errorf("send: %w", err)
		}
		if w.in(now) {
			cl.sent.Add(1)
		}
	}
}

// nodeSample is the node's resource use and counters at one moment.
type nodeSample struct {
	at      time.Time
	stats   Stats
	metrics map[string]float64 // nil when /metrics failed
	self    time.Duration      // the generator's own CPU time
}

func sampleNode(ctx context.Context, n *Node) (nodeSample, error) {
	s := nodeSample{at: time.Now(), self: selfCPU()}
	var err error
	s.stats, err = n.Stats(ctx)
	// Counters are best effort: the figures that need them are left out
	// when the node has no /metrics.
	s.metrics, _ = n.API.Metrics(ctx)
	return s, err
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// windowSamples is what sampleWindow saw.
type windowSamples struct {
	before, after nodeSample
	peakRSS       int64
	err           error
}

// sampleWindow samples the node at start and at end, and its RSS every
// 250ms between, for the peak.
func sampleWindow(ctx context.Context, n *Node, start, end time.Time) windowSamples {
	var ws windowSamples
	if !sleepUntil(ctx, start) {
		ws.err = ctx.Err()
		return ws
	}
	if ws.before, ws.err = sampleNode(ctx, n); ws.err != nil {
		return ws
	}
	ws.peakRSS = ws.before.stats.RSS
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			ws.err = ctx.Err()
			return ws
		case <-tick.C:
		case <-time.After(time.Until(end)):
		}
		if s, err := n.Stats(ctx); err == nil {
			ws.peakRSS = max(ws.peakRSS, s.RSS)
		}
	}
	ws.after, ws.err = sampleNode(ctx, n)
	ws.peakRSS = max(ws.peakRSS, ws.after.stats.RSS)
	return ws
}

// counterDelta returns after-before of a /metrics counter, and whether both
// samples had it.
func (ws *windowSamples) counterDelta(name string) (float64, bool) {
	a, ok1 := ws.after.metrics[name]
	b, ok2 := ws.before.metrics[name]
	return a - b, ok1 && ok2
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// drain waits until every measured say is acked or refused and every
// client has the deliveries expect says it should, until progress stalls
// for two seconds, or until timeout. It reports whether everything arrived.
func drain(ctx context.Context, clients []*client, expect func(i int) int64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	lastProgress, lastSum := time.Now(), int64(-1)
	for {
		complete, sum := true, int64(0)
		for i, cl := range clients {
			a, r, s, g := cl.acked.Load(), cl.refused.Load(), cl.sent.Load(), cl.got.Load()
			sum += a + r + cl.all.Load()
			if a+r < s || g < expect(i) {
				complete = false
			}
		}
		if complete {
			return true
		}
		now := time.Now()
		if sum != lastSum {
			lastSum, lastProgress = sum, now
		}
		if now.After(deadline) || now.Sub(lastProgress) > 2*time.Second {
			return false
		}
		if !sleepUntil(ctx, now.Add(20*time.Millisecond)) {
			return false
		}
	}
}

// connectAll dials n clients with at most conc in flight; client i uses
// token(i) and joins room(i). Each client's read loop starts as soon as it
// has joined, so presence from later joins never backs up.
func connectAll(ctx context.Context, node *Node, n, conc int, token, room func(i int) string, w *window, h *Histogram) ([]*client, error) {
	clients := make([]*client, n)
	// Each worker writes its own clients[i]; forEach returns after all
	// workers are done, so reading clients afterwards needs no lock.
	err := forEach(ctx, n, conc, func(ctx context.Context, i int) error {
		c, err := DialTLS(ctx, node.URL, node.TLS)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		head, err := c.Handshake(token(i), room(i), 30*time.Second)
		if err != nil {
			c.Close()
			return fmt.Errorf("connection %d: %w", i, err)
		}
		cl := newClient(c, room(i), head)
		clients[i] = cl
		go cl.read(w, h)
		return nil
	})
	if err != nil {
		closeAll(clients)
		return nil, err
	}
	return clients, nil
}

// closeAll closes every client that is not nil and waits for their read
// loops.
func closeAll(clients []*client) {
	for _, cl := range clients {
		if cl != nil {
			cl.closing.Store(true)
			cl.c.Close()
		}
	}
	for _, cl := range clients {
		if cl != nil {
			<-cl.done
		}
	}
}

// tally sums the clients' counters.
type tally struct {
	sent, acked, refused     int64
	got, all, gaps, dups     int64
	bad, dropped, lossy      int64
	expected, lost, overflow int64
	lag                      time.Duration
	codes                    map[string]int64
}

func sum(clients []*client, expect func(i int) int64) tally {
	t := tally{codes: make(map[string]int64)}
	for i, cl := range clients {
		t.sent += cl.sent.Load()
		t.acked += cl.acked.Load()
		t.refused += cl.refused.Load()
		t.got += cl.got.Load()
		t.all += cl.all.Load()
		t.gaps += cl.gaps.Load()
		t.dups += cl.dups.Load()
		t.bad += cl.bad.Load()
		t.lag = max(t.lag, time.Duration(cl.lag.Load()))
		if cl.dropped() {
			t.dropped++
		}
		e := expect(i)
		t.expected += e
		if g := cl.got.Load(); g < e {
			t.lost += e - g
			t.lossy++
		} else {
			t.overflow += g - e
		}
		if c := cl.code.Load(); c != nil {
			t.codes[*c]++
		}
	}
	return t
}
