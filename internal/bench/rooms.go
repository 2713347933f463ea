package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// RunRooms runs the rooms workload: cfg.Clients connections spread
// round-robin over cfg.Rooms rooms, every one sending cfg.Rate messages a
// second, so each message makes (room size - 1) deliveries.
func RunRooms(ctx context.Context, cfg RoomsConfig) (r *Report, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Clients < 1 || cfg.Rooms < 1 || cfg.Rooms > cfg.Clients || cfg.Rate <= 0 || cfg.Size < 1 {
		return nil, errors.New("rooms needs clients >= rooms >= 1, rate > 0 and size >= 1")
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

	cfg.logf("registering %d participants", cfg.Clients)
	tokens, err := node.API.RegisterMany(ctx, "bench-rooms", cfg.Clients, cfg.Concurrency)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	cfg.logf("creating %d rooms", cfg.Rooms)
	rooms, err := createRooms(ctx, node.API, tokens, cfg.Prefix, cfg.Rooms, cfg.Concurrency)
	if err != nil {
		return nil, err
	}
	w, h := newWindow(), NewHistogram()
	cfg.logf("connecting %d clients", cfg.Clients)
	clients, err := connectAll(ctx, node, cfg.Clients, cfg.Concurrency,
		func(i int) string { return tokens[i] },
		func(i int) string { return rooms[i%cfg.Rooms] }, w, h)
	if err != nil {
		return nil, err
	}
	// Each client expects every acked say of its room but its own.
	expect := func(i int) int64 {
		var n int64
		for j := i % cfg.Rooms; j < len(clients); j += cfg.Rooms {
			if j != i {
				n += clients[j].acked.Load()
			}
		}
		return n
	}
	// Senders start at random phases within one interval, so the node sees
	// a steady stream rather than bursts on the second.
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	phases := make([]time.Duration, cfg.Clients)
	for i := range phases {
		phases[i] = rand.N(interval)
	}
	tr := &trafficRun{
		common:  &cfg.Common,
		node:    node,
		clients: clients,
		senders: clients,
		rate:    cfg.Rate,
		size:    cfg.Size,
		expect:  expect,
		phase:   func(i int) time.Duration { return phases[i] },
		w:       w,
		h:       h,
	}
	r = NewReport("rooms")
	r.Add("clients", "clients", "", cfg.Clients)
	r.Add("rooms", "rooms", "", cfg.Rooms)
	r.Add("rate", "rate per client", "msgs/s", cfg.Rate)
	r.Add("size_bytes", "text size", "bytes", cfg.Size)
	if err := tr.run(ctx, r, time.Since(setupStart)); err != nil {
		return nil, err
	}
	return r, nil
}

// createRooms creates rooms prefix-0 ... prefix-(n-1), each by its own
// participant (tokens[i]), and returns their ids.
func createRooms(ctx context.Context, api *API, tokens []string, prefix string, n, conc int) ([]string, error) {
	ids := make([]string, n)
	err := forEach(ctx, n, conc, func(ctx context.Context, i int) error {
		id, err := api.CreateRoom(ctx, tokens[i%len(tokens)], prefix+"-"+strconv.Itoa(i))
		if err != nil {
			return fmt.Errorf("create room %d: %w", i, err)
		}
		ids[i] = id
		return nil
	})
	return ids, err
}
