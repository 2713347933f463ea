package bench

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RunFanout runs the fanout workload: cfg.Members connections joined to one
// room receive what one publisher sends at cfg.Rate, so each message makes
// Members deliveries.
func RunFanout(ctx context.Context, cfg FanoutConfig) (r *Report, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Members < 1 || cfg.Rate <= 0 || cfg.Size < 1 {
		return nil, errors.New("fanout needs members >= 1, rate > 0 and size >= 1")
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

	cfg.logf("registering %d participants", cfg.Members+1)
	tokens, err := node.API.RegisterMany(ctx, "bench-fanout", cfg.Members+1, cfg.Concurrency)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	room, err := node.API.CreateRoom(ctx, tokens[0], cfg.Room)
	if err != nil {
		return nil, fmt.Errorf("create room: %w", err)
	}
	w, h := newWindow(), NewHistogram()
	cfg.logf("connecting %d members to %s", cfg.Members, room)
	clients, err := connectAll(ctx, node, cfg.Members+1, cfg.Concurrency,
		func(i int) string { return tokens[i] },
		func(int) string { return room }, w, h)
	if err != nil {
		return nil, err
	}
	// clients[0] is the publisher: the node acks its says and sends it no
	// copies, so each member expects every acked say.
	pub := clients[0]
	tr := &trafficRun{
		common:  &cfg.Common,
		node:    node,
		clients: clients,
		senders: []*client{pub},
		rate:    cfg.Rate,
		size:    cfg.Size,
		expect: func(i int) int64 {
			if i == 0 {
				return 0
			}
			return pub.acked.Load()
		},
		phase: func(int) time.Duration { return 0 },
		w:     w,
		h:     h,
	}
	r = NewReport("fanout")
	r.Add("members", "members", "", cfg.Members)
	r.Add("rate", "publish rate", "msgs/s", cfg.Rate)
	r.Add("size_bytes", "text size", "bytes", cfg.Size)
	if err := tr.run(ctx, r, time.Since(setupStart)); err != nil {
		return nil, err
	}
	return r, nil
}
