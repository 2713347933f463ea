package bench

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// openNode starts a child node or reaches the one at c.URL.
func (c *Common) openNode(ctx context.Context) (*Node, error) {
	if c.URL != "" {
		c.logf("using the node at %s", c.URL)
		return ExistingNode(ctx, c.URL, c.TLS)
	}
	n, err := StartNode(ctx, NodeOptions{Bin: c.Bin, Extra: c.NodeArgs})
	if err != nil {
		return nil, err
	}
	c.logf("started node pid %d at %s (ready in %v)", n.Cmd.Process.Pid, n.URL, n.ReadyAfter().Round(time.Millisecond))
	return n, nil
}

// trafficRun is one measured run of clients sending and receiving.
type trafficRun struct {
	common  *Common
	node    *Node
	clients []*client
	senders []*client
	rate    float64
	size    int
	expect  func(i int) int64 // deliveries client i should get
	phase   func(i int) time.Duration
	w       *window
	h       *Histogram
}

// run drives the senders through warm-up and the window, drains, closes
// every client and reports.
func (tr *trafficRun) run(ctx context.Context, r *Report, setup time.Duration) error {
	c := tr.common
	begin := time.Now().Add(100 * time.Millisecond)
	start := begin.Add(c.Warmup)
	end := start.Add(c.Duration)
	tr.w.set(start, end)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	samples := make(chan windowSamples, 1)
	go func() { samples <- sampleWindow(ctx, tr.node, start, end) }()
	errs := make(chan error, len(tr.senders))
	for i, s := range tr.senders {
		go func() { errs <- s.send(ctx, tr.w, tr.rate, tr.size, begin.Add(tr.phase(i)), end) }()
	}
	c.logf("warming up for %v, then measuring for %v", c.Warmup, c.Duration)
	var sendErr error
	for range tr.senders {
		if err := <-errs; err != nil && sendErr == nil {
			sendErr = err
		}
	}
	ws := <-samples
	if sendErr == nil {
		c.logf("draining (up to %v)", c.Drain)
		if !drain(ctx, tr.clients, tr.expect, c.Drain) {
			r.Note("drain ended before every delivery arrived")
		}
	}
	t := sum(tr.clients, tr.expect)
	closeAll(tr.clients)
	if err := ctx.Err(); err != nil {
		return err
	}
	if sendErr != nil {
		return sendErr
	}
	if ws.err != nil {
		return fmt.Errorf("sample the node: %w", ws.err)
	}
	tr.report(r, t, ws, setup)
	return nil
}

func (tr *trafficRun) report(r *Report, t tally, ws windowSamples, setup time.Duration) {
	c := tr.common
	win := ws.after.at.Sub(ws.before.at)
	if win <= 0 {
		win = c.Duration
	}
	r.Add("duration_s", "measured window", "s", secs(c.Duration))
	r.Add("warmup_s", "warm-up", "s", secs(c.Warmup))
	r.Add("sent", "messages sent", "", t.sent)
	r.Add("acked", "messages acked", "", t.acked)
	r.Add("refused", "messages refused", "", t.refused)
	r.Add("expected", "deliveries expected", "", t.expected)
	r.Add("delivered", "deliveries received", "", t.got)
	r.Add("lost", "lost", "", t.lost)
	r.Add("gaps", "seq gaps", "", t.gaps)
	r.Add("dups", "seq repeats", "", t.dups)
	r.Add("sent_per_s", "messages/s sent", "", float64(t.sent)/secs(c.Duration))
	r.Add("delivered_per_s", "deliveries/s", "", float64(t.got)/secs(c.Duration))
	r.Add("p50_ms", "latency p50", "ms", ms(tr.h.Quantile(0.50)))
	r.Add("p90_ms", "latency p90", "ms", ms(tr.h.Quantile(0.90)))
	r.Add("p99_ms", "latency p99", "ms", ms(tr.h.Quantile(0.99)))
	r.Add("p999_ms", "latency p99.9", "ms", ms(tr.h.Quantile(0.999)))
	r.Add("max_ms", "latency max", "ms", ms(tr.h.Max()))
	r.Add("node_rss_mib", "node RSS at end", "MiB", mib(ws.after.stats.RSS))
	r.Add("node_rss_peak_mib", "node RSS peak", "MiB", mib(ws.peakRSS))
	cpu := ws.after.stats.CPU - ws.before.stats.CPU
	r.Add("node_cpu_pct", "node CPU", "% of one core", 100*float64(cpu)/float64(win))
	if t.got > 0 {
		r.Add("node_cpu_us_per_delivery", "node CPU per delivery", "µs", float64(cpu)/float64(time.Microsecond)/float64(t.got))
	}
	self := ws.after.self - ws.before.self
	r.Add("loadgen_cpu_pct", "generator CPU", "% of one core", 100*float64(self)/float64(win))
	if d, ok := ws.counterDelta("mesh_slow_consumers_total"); ok {
		r.Add("slow_consumers", "node slow consumers", "", int64(d))
	}
	if d, ok := ws.counterDelta("mesh_messages_out_total"); ok {
		r.Add("node_out_per_s", "node messages out/s", "", d/secs(win))
	}
	r.Add("send_lag_max_ms", "worst send lag behind schedule", "ms", ms(t.lag))
	r.Add("dropped_conns", "connections the node dropped", "", t.dropped)
	r.Add("setup_s", "set-up time", "s", secs(setup))
	if t.lossy > 0 {
		r.Note("%s lost messages", plural(t.lossy, "receivers"))
	}
	if t.bad > 0 {
		r.Note("%s could not be scanned", plural(t.bad, "message frames"))
	}
	if t.overflow > 0 {
		r.Note("%s more than expected", plural(t.overflow, "deliveries"))
	}
	if len(t.codes) > 0 {
		var cs []string
		for code, n := range t.codes {
			cs = append(cs, fmt.Sprintf("%q on %s", code, plural(n, "connections")))
		}
		sort.Strings(cs)
		r.Note("error frames: %s", strings.Join(cs, ", "))
	}
	if n := tr.node; n.Cmd != nil {
		r.Note("node: child pid %d, started with %q", n.Cmd.Process.Pid, n.Cmd.Args[1:])
	} else {
		r.Note("node: %s (CPU and RSS from its /metrics)", n.URL)
	}
}
