package bench

import (
	"crypto/tls"
	"fmt"
	"io"
	"time"
)

// Common holds the settings every workload that drives a node shares.
type Common struct {
	// URL is an existing node to drive (http://host:port); "" starts a
	// child node on a free port and a temporary data directory.
	URL string
	// Bin is the mesh binary for child nodes; "" means this executable.
	Bin string
	// NodeArgs are more flags for the child's `mesh up`.
	NodeArgs []string
	// Warmup runs traffic before the measured window; Duration is the window.
	Warmup, Duration time.Duration
	// Concurrency bounds registrations and connection set-ups in flight.
	Concurrency int
	// Drain bounds the wait, after the window, for deliveries in flight.
	Drain time.Duration
	// Progress receives one line per phase; nil discards them.
	Progress io.Writer
	// TLS verifies an https URL's node (nil: the system's roots).
	TLS *tls.Config
}

// DefaultCommon returns the defaults of Common.
func DefaultCommon() Common {
	return Common{Warmup: 2 * time.Second, Duration: 10 * time.Second, Concurrency: 64, Drain: 10 * time.Second}
}

func (c *Common) validate() error {
	switch {
	case c.Duration <= 0:
		return fmt.Errorf("duration must be positive, got %v", c.Duration)
	case c.Warmup < 0:
		return fmt.Errorf("warmup must not be negative, got %v", c.Warmup)
	case c.Concurrency < 1:
		return fmt.Errorf("concurrency must be at least 1, got %d", c.Concurrency)
	case c.Drain <= 0:
		return fmt.Errorf("drain must be positive, got %v", c.Drain)
	}
	return nil
}

func (c *Common) logf(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "bench: "+format+"\n", args...)
	}
}

// FanoutConfig is the fanout workload: Members connections joined to one
// room and one more publishing Rate messages of Size bytes a second.
type FanoutConfig struct {
	Common
	Members int
	Rate    float64
	Size    int
	Room    string // room name; created if missing
}

// DefaultFanout returns the fanout defaults: 1000 members, 90 msgs/s,
// 200-byte texts, 10s.
func DefaultFanout() FanoutConfig {
	return FanoutConfig{Common: DefaultCommon(), Members: 1000, Rate: 90, Size: 200, Room: "bench-fanout"}
}

// RoomsConfig is the rooms workload: Clients connections spread round-robin
// over Rooms rooms, each sending Rate messages of Size bytes a second.
type RoomsConfig struct {
	Common
	Clients int
	Rooms   int
	Rate    float64
	Size    int
	Prefix  string // room names are Prefix-0, Prefix-1, ...
}

// DefaultRooms returns the rooms defaults: 2000 clients in 100 rooms, each
// sending 1 msg/s of 200 bytes, for 10s.
func DefaultRooms() RoomsConfig {
	return RoomsConfig{Common: DefaultCommon(), Clients: 2000, Rooms: 100, Rate: 1, Size: 200, Prefix: "bench-rooms"}
}

// IdleConfig is the idle workload: Conns connections, each hello'd and
// joined to one of Rooms rooms, held for Duration. Participants tokens are
// shared round-robin by the connections (0 means one per connection).
type IdleConfig struct {
	Common
	Conns        int
	Rooms        int
	Participants int
	Prefix       string
}

// DefaultIdle returns the idle defaults: 10000 connections in 100 rooms.
func DefaultIdle() IdleConfig {
	c := DefaultCommon()
	c.Warmup = time.Second
	return IdleConfig{Common: c, Conns: 10000, Rooms: 100, Prefix: "bench-idle"}
}

// StartupConfig is the startup workload: a data directory holding Messages
// messages of Size-byte texts over Rooms rooms, then Runs starts of a node
// on it (and as many on an empty directory, for comparison).
type StartupConfig struct {
	Bin      string
	NodeArgs []string
	Messages int
	Rooms    int
	Size     int
	Runs     int
	// Data caches the generated directory; "" uses a temporary one.
	Data string
	// Settle is how long after ready the node's RSS is watched for its peak.
	Settle   time.Duration
	Progress io.Writer
}

// DefaultStartup returns the startup defaults: 1,000,000 messages in 100
// rooms, 3 runs.
func DefaultStartup() StartupConfig {
	return StartupConfig{Messages: 1_000_000, Rooms: 100, Size: 200, Runs: 3, Settle: time.Second}
}

func (c *StartupConfig) logf(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "bench: "+format+"\n", args...)
	}
}
