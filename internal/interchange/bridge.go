package interchange

import (
	"math/rand/v2"
	"time"
)

// bridge keeps a link to another relay, dialing it again with backoff
// and jitter whenever it ends, until Close.
func (s *Server) bridge(b Bridge) {
	defer s.wg.Done()
	wait := bridgeRetryMin
	for s.ctx.Err() == nil {
		dl, err := Dial(s.ctx, DialConfig{URL: b.URL, Identity: s.cfg.Identity, Kind: KindRelay, Secret: b.Secret,
			MaxFrameBytes: s.cfg.MaxFrameBytes + 1024, Queue: s.cfg.Queue, IdleTimeout: s.cfg.IdleTimeout})
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			s.log.Warn("interchange: bridge", "url", b.URL, "err", err, "retry", wait)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(jitter(wait)):
			}
			wait = min(2*wait, bridgeRetryMax)
			continue
		}
		wait = bridgeRetryMin
		// From this relay's side the bridge is trusted as configured: its
		// operator chose the URL (use wss:// off loopback).
		l := &link{srv: s, conn: dl.c, id: dl.Welcome.Relay, kind: KindRelay, auth: AuthSecret}
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			dl.Abort()
			return
		}
		s.links[l] = struct{}{}
		s.mu.Unlock()
		s.log.Info("interchange: bridged", "url", b.URL, "relay", l.id, "auth", dl.Welcome.Auth)
		s.accepted(l, nil)
		l.serve()
	}
}

const (
	bridgeRetryMin = 100 * time.Millisecond
	bridgeRetryMax = 5 * time.Second
)

// jitter returns d scaled by a random factor in [0.5, 1.5).
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}
