package node

import (
	"time"

	"github.com/the-mesh/mesh/internal/hub"
	"github.com/the-mesh/mesh/internal/metrics"
)

// Stats are the node's metrics.
type Stats struct {
	Registry      *metrics.Registry
	Connections   *metrics.Counter // opened, for the total
	MessagesIn    *metrics.Counter
	MessagesOut   *metrics.Counter
	FramesOut     *metrics.Counter
	SlowConsumers *metrics.Counter
	Refused       *metrics.Counter
	fsync         *metrics.Histogram
	Open          func() float64 // connections open now, set by the web layer
	HubCounters   hub.Counters
}

func newStats(r *metrics.Registry) *Stats {
	s := &Stats{
		Registry:      r,
		Connections:   r.Counter("mesh_connections_total", "WebSocket connections accepted."),
		MessagesIn:    r.Counter("mesh_messages_in_total", "Messages accepted and stored."),
		MessagesOut:   r.Counter("mesh_messages_out_total", "Message frames queued to members."),
		FramesOut:     r.Counter("mesh_frames_written_total", "Frames written to sockets."),
		SlowConsumers: r.Counter("mesh_slow_consumers_total", "Connections closed because they could not keep up."),
		Refused:       r.Counter("mesh_refused_total", "Frames and requests refused with an error."),
		fsync: r.DurationHistogram("mesh_fsync_seconds", "Latency of fsync on message, journal and audit files.",
			100*time.Microsecond, 250*time.Microsecond, 500*time.Microsecond, time.Millisecond,
			2500*time.Microsecond, 5*time.Millisecond, 10*time.Millisecond, 25*time.Millisecond,
			50*time.Millisecond, 100*time.Millisecond, 250*time.Millisecond, time.Second),
	}
	s.HubCounters = hub.Counters{
		FramesOut:     func(n int) { s.FramesOut.Add(uint64(n)) },
		SlowConsumers: s.SlowConsumers.Inc,
	}
	r.RegisterProcess()
	return s
}

func (s *Stats) registerGauges(n *Node) {
	s.Registry.Gauge("mesh_rooms", "Rooms on this node.", func() float64 {
		n.mu.RLock()
		defer n.mu.RUnlock()
		return float64(len(n.rooms))
	})
	s.Registry.Gauge("mesh_participants", "Participants registered on this node.", func() float64 {
		n.mu.RLock()
		defer n.mu.RUnlock()
		return float64(len(n.participants))
	})
	s.Registry.Gauge("mesh_connections", "WebSocket connections open now.", func() float64 {
		if s.Open == nil {
			return 0
		}
		return s.Open()
	})
}
