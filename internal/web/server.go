// Package web adapts a node to HTTP: the REST API, the WebSocket endpoint,
// health and metrics. It enforces the wire limits: body and frame size,
// per-connection rate, connections per address.
package web

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/hub"
	"github.com/the-mesh/mesh/internal/node"
	"github.com/the-mesh/mesh/internal/webui"
)

// Config holds the wire limits. DefaultConfig gives the defaults of `mesh up`.
type Config struct {
	MaxFrameBytes int        // largest WebSocket frame or REST body
	Rate          float64    // frames per second per connection; 0 turns the limit off
	Burst         int        // token bucket size for Rate
	MaxConnsPerIP int        // WebSocket connections per client address; 0 turns the limit off
	SendQueue     hub.Limits // per-connection send queue
	HelloTimeout  time.Duration
	IdleTimeout   time.Duration // a connection that sends nothing for this long is closed
	PingInterval  time.Duration // the node pings every connection this often
	VisitTTL      time.Duration // how long a REST move keeps an avatar without a connection
	// RemoteJoinTimeout is how long a join of another node's room waits
	// for that node's answer.
	RemoteJoinTimeout time.Duration
	Logger            *slog.Logger

	// SelfTLS verifies the node's own certificate when the /mcp endpoint
	// calls the REST API over https (tlsconf.Server.SelfClientConfig);
	// nil when the node serves plain HTTP.
	SelfTLS *tls.Config
}

// DefaultConfig returns the default wire limits.
func DefaultConfig() Config {
	return Config{
		MaxFrameBytes:     mesh.DefaultMaxFrameBytes,
		Rate:              30,
		Burst:             60,
		MaxConnsPerIP:     256,
		SendQueue:         hub.DefaultLimits,
		HelloTimeout:      10 * time.Second,
		IdleTimeout:       90 * time.Second,
		PingInterval:      30 * time.Second,
		VisitTTL:          2 * time.Minute,
		RemoteJoinTimeout: 10 * time.Second,
		Logger:            slog.New(slog.DiscardHandler),
	}
}

// Server is the node's HTTP handler.
type Server struct {
	node *node.Node
	cfg  Config
	log  *slog.Logger
	mux  *http.ServeMux
	ui   http.Handler // the browser client (internal/webui)
	self *http.Client // the /mcp endpoint's client of this node

	ctx    context.Context // canceled by Shutdown; sessions watch it
	cancel context.CancelFunc
	wg     sync.WaitGroup // sessions and the pinger

	mu       sync.Mutex // guards sessions and perIP
	sessions map[*session]struct{}
	perIP    map[string]int
}

// New returns a server for n. Call Shutdown to stop it.
func New(n *node.Node, cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RemoteJoinTimeout <= 0 {
		cfg.RemoteJoinTimeout = DefaultConfig().RemoteJoinTimeout
	}
	s := &Server{node: n, cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), ui: webui.Handler(),
		sessions: map[*session]struct{}{}, perIP: map[string]int{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.self = selfClient(cfg.SelfTLS)
	s.routes()
	n.Stats().Open = func() float64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return float64(len(s.sessions))
	}
	s.wg.Add(1)
	go s.pinger()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

// Shutdown tells every WebSocket client the node is going away, closes the
// connections and waits for their sessions to end (or ctx to expire).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.cancel() // under mu: track refuses new sessions from here on
	victims := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		victims = append(victims, sess)
	}
	s.mu.Unlock()
	bye := errorFrame("", mesh.Errorf(mesh.EUnavailable, "The node is shutting down."))
	var closing sync.WaitGroup
	for _, sess := range victims {
		closing.Go(func() {
			sess.out.Send(bye)
			sess.out.Close(ws.StatusGoingAway, "node shutting down")
		})
	}
	closing.Wait()
	s.self.CloseIdleConnections()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pinger sends a WebSocket ping to every connection each PingInterval, so
// that idle clients keep their connection alive and dead ones are found.
func (s *Server) pinger() {
	defer s.wg.Done()
	if s.cfg.PingInterval <= 0 {
		return
	}
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	ping := pingFrame()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			for sess := range s.sessions {
				sess.out.Send(ping)
			}
			s.mu.Unlock()
		}
	}
}

// acquireIP counts a connection from ip, refusing one over the limit.
func (s *Server) acquireIP(ip string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.MaxConnsPerIP > 0 && s.perIP[ip] >= s.cfg.MaxConnsPerIP {
		return false
	}
	s.perIP[ip]++
	return true
}

func (s *Server) releaseIP(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

// remoteIP returns the client's address without its port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// isLoopback reports whether the request came from this machine. Proxies'
// headers are ignored on purpose: only the socket's address counts.
func isLoopback(r *http.Request) bool {
	ip := net.ParseIP(remoteIP(r))
	return ip != nil && ip.IsLoopback()
}
