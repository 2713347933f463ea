package interchange

import (
	"hash/maphash"
	"sync"

	"github.com/the-mesh/mesh/internal/metrics"
)

// stats are the relay's counters, served at /metrics.
type stats struct {
	links         *metrics.Counter
	framesIn      *metrics.Counter
	routed        *metrics.Counter
	forwarded     *metrics.Counter
	refused       *metrics.Counter
	refusedAuth   *metrics.Counter
	refusedBridge *metrics.Counter
	dropRate      *metrics.Counter
	dropQueue     *metrics.Counter
	dropNoRoute   *metrics.Counter
	dropSeen      *metrics.Counter
}

func newStats(r *metrics.Registry, s *Server) *stats {
	st := &stats{
		links:         r.Counter("interchange_links_total", "Links authenticated."),
		framesIn:      r.Counter("interchange_frames_in_total", "Frames read from links after the handshake."),
		routed:        r.Counter("interchange_delivered_total", "Frames delivered to a node connected here."),
		forwarded:     r.Counter("interchange_forwarded_total", "Frames forwarded to a bridged relay."),
		refused:       r.Counter("interchange_refused_total", "Frames refused (invalid, too large, rate limited)."),
		refusedAuth:   r.Counter("interchange_refused_hellos_total", "Handshakes refused."),
		refusedBridge: r.Counter("interchange_refused_bridges_total", "Bridge dials refused: the relay dialed did not prove it is the one expected."),
		dropRate:      r.Counter("interchange_dropped_rate_total", "Frames dropped for an instance's rate limit."),
		dropQueue:     r.Counter("interchange_dropped_queue_total", "Frames dropped because the destination's queue was full."),
		dropNoRoute:   r.Counter("interchange_dropped_no_route_total", "Frames for a node no route leads to, or whose hops ran out."),
		dropSeen:      r.Counter("interchange_dropped_seen_total", "Forwarded frames seen before (a loop in the bridges)."),
	}
	r.Gauge("interchange_nodes", "Nodes connected to this relay.", func() float64 {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return float64(len(s.nodes))
	})
	r.Gauge("interchange_bridges", "Bridged relays linked to this relay.", func() float64 {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return float64(len(s.peers))
	})
	return st
}

// seenCache remembers the (from, id) of recently forwarded frames: two
// generations of hashes, the older dropped when the newer fills, so it
// holds between seenGeneration and twice that many.
type seenCache struct {
	seed maphash.Seed

	mu        sync.Mutex // guards the maps
	cur, prev map[uint64]struct{}
}

const seenGeneration = 1 << 16

func (c *seenCache) init() {
	c.seed = maphash.MakeSeed()
	c.cur, c.prev = map[uint64]struct{}{}, map[uint64]struct{}{}
}

// checkAndAdd reports whether (from, id) was seen, and remembers it.
func (c *seenCache) checkAndAdd(from, id []byte) bool {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.Write(from)
	h.WriteByte(0)
	h.Write(id)
	k := h.Sum64()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cur[k]; ok {
		return true
	}
	if _, ok := c.prev[k]; ok {
		return true
	}
	if len(c.cur) >= seenGeneration {
		c.prev, c.cur = c.cur, make(map[uint64]struct{}, seenGeneration)
	}
	c.cur[k] = struct{}{}
	return false
}
