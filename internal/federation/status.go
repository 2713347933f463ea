package federation

import (
	"slices"
	"time"
)

// Status is what `mesh federation status` shows.
type Status struct {
	Relay       string      `json:"relay"`             // the URL
	RelayID     string      `json:"relayId,omitempty"` // while linked
	Linked      bool        `json:"linked"`
	Auth        string      `json:"auth,omitempty"`
	LastError   string      `json:"lastError,omitempty"`
	Epoch       string      `json:"epoch"`
	Outbound    []OutStatus `json:"outbound"`
	Inbound     []InStatus  `json:"inbound"`
	DeadLetters int         `json:"deadLetters"`
	Reachable   []string    `json:"reachable"` // nodes in the relay's directory
	MaxAttempts int         `json:"maxAttempts"`
	MaxAge      string      `json:"maxAge"`
}

// OutStatus is one destination's outbound stream.
type OutStatus struct {
	DestStatus
	Sent         uint64    `json:"sent"`               // the last position sent
	RetryTimeout string    `json:"retryTimeout"`       // the current timeout before a resend
	DownUntil    time.Time `json:"downUntil,omitzero"` // the relay said unreachable; waiting
}

// InStatus is one origin's inbound stream.
type InStatus struct {
	Node   string `json:"node"`
	Epoch  string `json:"epoch"`
	Expect uint64 `json:"expect"` // the next position to apply
	Acked  uint64 `json:"acked"`  // the last position acknowledged
}

// Status reports the link, the queue and the streams.
func (c *Client) Status() Status {
	dl, _ := c.q.DeadLetters()
	s := Status{Relay: c.cfg.URL, Epoch: c.q.Epoch(), DeadLetters: len(dl), MaxAttempts: c.cfg.MaxAttempts,
		MaxAge: c.cfg.MaxAge.String(), Outbound: []OutStatus{}, Inbound: []InStatus{}, Reachable: []string{}}
	dests := c.q.Status()
	c.mu.Lock()
	defer c.mu.Unlock()
	s.Linked, s.RelayID, s.Auth, s.LastError = c.link != nil, c.relay, c.auth, c.lastError
	if !s.Linked {
		s.Auth = ""
	}
	for _, d := range dests {
		o := OutStatus{DestStatus: d, RetryTimeout: c.cfg.RetryMin.String()}
		if ob := c.out[d.Node]; ob != nil {
			o.Sent, o.RetryTimeout = ob.sent, ob.rto.String()
			if c.cfg.Now().Before(ob.down) {
				o.DownUntil = ob.down
			}
		}
		s.Outbound = append(s.Outbound, o)
	}
	for node, in := range c.in {
		s.Inbound = append(s.Inbound, InStatus{Node: node, Epoch: in.epoch, Expect: in.expect, Acked: in.sentAck})
	}
	slices.SortFunc(s.Inbound, func(a, b InStatus) int { return cmpString(a.Node, b.Node) })
	for _, n := range c.dir.Nodes {
		if n.ID != c.self {
			s.Reachable = append(s.Reachable, n.ID)
		}
	}
	return s
}
