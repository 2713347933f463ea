package interchange

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/atomicfile"
)

// bridge keeps a link to another relay, dialing it again with backoff
// and jitter whenever it ends, until Close. The relay dialed must prove
// it is the one expected (Bridge.RelayID, or the id pinned on first
// contact): over plain ws:// nothing else does.
func (s *Server) bridge(b Bridge) {
	defer s.wg.Done()
	wait := bridgeRetryMin
	for s.ctx.Err() == nil {
		want, pinned := b.RelayID, false
		if want == "" {
			id, err := s.pins.get(b.URL)
			if err != nil {
				// Dialing without the pin would trust whoever answers.
				s.log.Error("interchange: bridge not dialed", "url", b.URL, "err", err, "retry", bridgeRetryMax)
				if !s.sleep(bridgeRetryMax) {
					return
				}
				continue
			}
			want, pinned = id, id != ""
		}
		dl, err := Dial(s.ctx, DialConfig{URL: b.URL, Identity: s.cfg.Identity, Kind: KindRelay, Secret: b.Secret,
			MaxFrameBytes: s.cfg.MaxFrameBytes + 1024, Queue: s.cfg.Queue, IdleTimeout: s.cfg.IdleTimeout, TLS: b.TLS,
			ProveRelay: true, RelayID: want})
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			if ie := (*identityError)(nil); errors.As(err, &ie) {
				s.stats.refusedBridge.Inc()
				s.log.Warn("interchange: bridge refused: the relay did not prove it is the one expected", "url", b.URL,
					"want", want, "pinned", pinned, "err", err, "retry", wait)
			} else if mesh.ErrorCode(err) == mesh.EInvalid && strings.Contains(err.Error(), `"nonce"`) {
				s.stats.refusedBridge.Inc()
				s.log.Warn("interchange: bridge refused: the relay is older than identity proofs and cannot prove who it is; upgrade it",
					"url", b.URL, "err", err, "retry", wait)
			} else {
				s.log.Warn("interchange: bridge", "url", b.URL, "err", err, "retry", wait)
			}
			if !s.sleep(jitter(wait)) {
				return
			}
			wait = min(2*wait, bridgeRetryMax)
			continue
		}
		wait = bridgeRetryMin
		if want == "" {
			if err := s.pins.set(b.URL, dl.Welcome.Relay); err != nil {
				s.log.Error("interchange: bridge: could not save the pinned relay id", "url", b.URL, "err", err)
			}
			s.log.Warn("interchange: bridge pinned on first contact: state it with --bridge URL#ID", "url", b.URL, "relay", dl.Welcome.Relay)
		}
		// From this relay's side the bridge is trusted as configured: its
		// operator chose the URL and the relay it must be.
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

// sleep waits d, and reports false if the relay closed meanwhile.
func (s *Server) sleep(d time.Duration) bool {
	select {
	case <-s.ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// jitter returns d scaled by a random factor in [0.5, 1.5).
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

// BridgePinsFile, in a relay's data directory, holds the relay id pinned
// for each bridge URL given without one: a JSON object, URL to id.
const BridgePinsFile = "bridge-pins.json"

// pins are the relay ids of bridges pinned on first contact, kept in a
// file when path is set. Methods are safe for concurrent use.
type pins struct {
	path string

	mu  sync.Mutex        // guards ids
	ids map[string]string // nil until read
}

// get returns the id pinned for url, if any.
func (p *pins) get(url string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.loadLocked(); err != nil {
		return "", err
	}
	return p.ids[url], nil
}

// set pins id for url and saves the file.
func (p *pins) set(url, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.loadLocked(); err != nil {
		return err
	}
	p.ids[url] = id
	if p.path == "" {
		return nil
	}
	b, _ := json.MarshalIndent(p.ids, "", "  ")
	if err := atomicfile.WriteFile(p.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save %s: %w", BridgePinsFile, err)
	}
	return nil
}

// loadLocked reads the file on first use.
func (p *pins) loadLocked() error {
	if p.ids != nil {
		return nil
	}
	ids := map[string]string{}
	if p.path != "" {
		b, err := os.ReadFile(p.path)
		if err == nil {
			err = json.Unmarshal(b, &ids)
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("read %s (fix or remove it): %w", BridgePinsFile, err)
		}
	}
	p.ids = ids
	return nil
}

// identityError is a relay that failed to prove it is the one expected.
type identityError struct{ err error }

func (e *identityError) Error() string { return e.err.Error() }
func (e *identityError) Unwrap() error { return e.err }
