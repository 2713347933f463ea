package bench

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RunIdle runs the idle workload: cfg.Conns connections, each hello'd and
// joined to one of cfg.Rooms rooms, held for cfg.Duration. It reports the
// node's RSS growth per connection.
func RunIdle(ctx context.Context, cfg IdleConfig) (r *Report, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Conns < 1 || cfg.Rooms < 1 || cfg.Participants < 0 {
		return nil, errors.New("idle needs conns >= 1, rooms >= 1 and participants >= 0")
	}
	parts := cfg.Participants
	if parts == 0 || parts > cfg.Conns {
		parts = cfg.Conns
	}
	node, err := cfg.openNode(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if e := node.Stop(); e != nil && err == nil {
			err = e
		}
	}()
	setupStart := time.Now()
	cfg.logf("registering %d participants", parts)
	tokens, err := node.API.RegisterMany(ctx, "bench-idle", parts, cfg.Concurrency)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	cfg.logf("creating %d rooms", cfg.Rooms)
	rooms, err := createRooms(ctx, node.API, tokens, cfg.Prefix, cfg.Rooms, cfg.Concurrency)
	if err != nil {
		return nil, err
	}
	registered := time.Since(setupStart)
	before, err := sampleNode(ctx, node)
	if err != nil {
		return nil, fmt.Errorf("sample the node: %w", err)
	}

	cfg.logf("connecting %d connections", cfg.Conns)
	w, h := newWindow(), NewHistogram()
	connStart := time.Now()
	clients, err := connectAll(ctx, node, cfg.Conns, cfg.Concurrency,
		func(i int) string { return tokens[i%parts] },
		func(i int) string { return rooms[i%cfg.Rooms] }, w, h)
	if err != nil {
		return nil, err
	}
	connected := time.Since(connStart)
	defer closeAll(clients)

	// The warm-up lets the presence storm of the joins settle before the
	// memory is read.
	cfg.logf("settling for %v, then holding for %v", cfg.Warmup, cfg.Duration)
	if !sleepUntil(ctx, time.Now().Add(cfg.Warmup)) {
		return nil, ctx.Err()
	}
	settled, err := sampleNode(ctx, node)
	if err != nil {
		return nil, fmt.Errorf("sample the node: %w", err)
	}
	ws := sampleWindow(ctx, node, time.Now(), time.Now().Add(cfg.Duration))
	if ws.err != nil {
		return nil, fmt.Errorf("sample the node: %w", ws.err)
	}
	t := sum(clients, func(int) int64 { return 0 })

	perConn := float64(settled.stats.RSS-before.stats.RSS) / float64(cfg.Conns)
	hold := ws.after.at.Sub(ws.before.at)
	r = NewReport("idle")
	r.Add("conns", "connections", "", cfg.Conns)
	r.Add("rooms", "rooms", "", cfg.Rooms)
	r.Add("participants", "participants", "", parts)
	r.Add("duration_s", "held for", "s", secs(cfg.Duration))
	r.Add("connect_s", "time to connect and join all", "s", secs(connected))
	r.Add("connects_per_s", "connect+hello+join rate", "/s", float64(cfg.Conns)/secs(connected))
	r.Add("register_s", "registration and rooms", "s", secs(registered))
	r.Add("node_rss_before_mib", "node RSS before connecting", "MiB", mib(before.stats.RSS))
	r.Add("node_rss_mib", "node RSS connected", "MiB", mib(settled.stats.RSS))
	r.Add("node_rss_end_mib", "node RSS at end of hold", "MiB", mib(ws.after.stats.RSS))
	r.Add("node_rss_peak_mib", "node RSS peak during hold", "MiB", mib(ws.peakRSS))
	r.Add("node_rss_per_conn_kib", "node RSS per connection", "KiB", perConn/1024)
	r.Add("node_rss_total_mib", "node RSS for all connections", "MiB", float64(settled.stats.RSS-before.stats.RSS)/(1<<20))
	r.Add("node_cpu_pct_idle", "node CPU while held", "% of one core", 100*float64(ws.after.stats.CPU-ws.before.stats.CPU)/float64(hold))
	r.Add("node_cpu_s_connect", "node CPU to connect all", "s", secs(settled.stats.CPU-before.stats.CPU))
	if v, ok := ws.after.metrics["mesh_connections"]; ok {
		r.Add("node_connections", "node mesh_connections", "", int64(v))
	}
	r.Add("dropped_conns", "connections the node dropped", "", t.dropped)
	return r, nil
}
