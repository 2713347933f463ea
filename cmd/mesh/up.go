package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/the-mesh/mesh/internal/hub"
	"github.com/the-mesh/mesh/internal/node"
	"github.com/the-mesh/mesh/internal/tlsconf"
	"github.com/the-mesh/mesh/internal/web"
	"github.com/the-mesh/mesh/internal/world"
)

const upSummary = `Start a node: the REST API, the WebSocket at /api/v1/ws, /healthz and /metrics.
On first start it creates the data directory, the node's identity (node.json,
node.key), the owner (token in owner.token) and the lobby, and prints a login URL.
SIGINT or SIGTERM shuts it down cleanly: no new connections, clients told, storage flushed.
Off loopback it serves https only (--tls auto, --tls-cert/--tls-key or --acme)
unless --insecure; SIGHUP reloads the certificate.`

// upConfig is everything `mesh up` reads from its flags.
type upConfig struct {
	addr      string
	node      node.Config
	web       web.Config
	logLevel  string
	debugAddr string
	tls       tlsFlags
	fed       federationFlags // federation.go
}

func parseUp(args []string, stderr io.Writer) (upConfig, error) {
	cfg := upConfig{node: node.DefaultConfig(), web: web.DefaultConfig()}
	cfg.node.World, cfg.node.Tick = world.DefaultRules, hub.DefaultTick
	fs := newFlagSet("up", upSummary, stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:3000", "`host:port` to listen on (port 0 picks a free one)")
	fs.StringVar(&cfg.node.DataDir, "data", "./mesh-data", "data `directory` (created if missing)")
	fs.StringVar(&cfg.node.Name, "name", cfg.node.Name, "the node's display `name`, set on first start")
	fs.IntVar(&cfg.web.MaxFrameBytes, "max-frame-bytes", cfg.web.MaxFrameBytes, "largest WebSocket frame or REST body, in `bytes`")
	fs.IntVar(&cfg.node.MaxTextBytes, "max-text-bytes", cfg.node.MaxTextBytes, "largest message text, in `bytes`")
	fs.Float64Var(&cfg.web.Rate, "rate", cfg.web.Rate, "frames per second per connection (token bucket; 0 turns it off)")
	fs.IntVar(&cfg.web.Burst, "burst", cfg.web.Burst, "token bucket size for --rate")
	fs.IntVar(&cfg.web.MaxConnsPerIP, "max-conns-per-ip", cfg.web.MaxConnsPerIP, "WebSocket connections per client address (0 turns it off)")
	fs.IntVar(&cfg.web.SendQueue.MaxFrames, "send-queue", cfg.web.SendQueue.MaxFrames, "frames queued per connection before it is dropped as a slow consumer")
	fs.DurationVar(&cfg.web.SendQueue.WriteDelay, "write-delay", cfg.web.SendQueue.WriteDelay, "least time between two writes to one connection; frames queued meanwhile share a system call (0 writes at once)")
	fs.DurationVar(&cfg.node.Tick, "tick", cfg.node.Tick, "how often the world sends state frames (one per room that changed)")
	fs.Float64Var(&cfg.node.World.Size, "world-size", cfg.node.World.Size, "each room's floor edge in `metres`")
	fs.Float64Var(&cfg.node.World.Speed, "world-speed", cfg.node.World.Speed, "the fastest an avatar may move, in `metres` per second")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&cfg.debugAddr, "debug-addr", "", "serve Go's /debug/pprof on this `host:port` (off when empty; keep it on loopback)")
	cfg.tls.register(fs)
	cfg.fed.register(fs)
	checkInbox := addInboxFlags(fs, &cfg.node)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if err := checkInbox(); err != nil {
		return cfg, err
	}
	if err := cfg.fed.apply(&cfg.node); err != nil {
		return cfg, err
	}
	if _, err := cfg.tls.config(cfg.addr, cfg.node.DataDir, nil); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case cfg.web.MaxFrameBytes < 1024:
		return cfg, errors.New("--max-frame-bytes must be at least 1024")
	case cfg.node.MaxTextBytes < 1 || cfg.node.MaxTextBytes > cfg.web.MaxFrameBytes:
		return cfg, errors.New("--max-text-bytes must be between 1 and --max-frame-bytes")
	case cfg.web.Rate < 0 || cfg.web.Burst < 0 || cfg.web.MaxConnsPerIP < 0:
		return cfg, errors.New("--rate, --burst and --max-conns-per-ip cannot be negative")
	case cfg.web.Rate > 0 && cfg.web.Burst < 1:
		return cfg, errors.New("--burst must be at least 1 when --rate is on")
	case cfg.web.SendQueue.MaxFrames < 16:
		return cfg, errors.New("--send-queue must be at least 16")
	case cfg.node.Tick < 10*time.Millisecond || cfg.node.Tick > time.Second:
		return cfg, errors.New("--tick must be between 10ms and 1s")
	case !(cfg.node.World.Size >= 4 && cfg.node.World.Size <= 10000) || !(cfg.node.World.Speed > 0 && cfg.node.World.Speed <= 1000):
		return cfg, errors.New("--world-size must be 4 to 10000 and --world-speed above 0 and at most 1000")
	}
	return cfg, nil
}

func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseUp(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.node.Logger, cfg.web.Logger = logger, logger

	ts, err := startTLS(ctx, &cfg.tls, cfg.addr, cfg.node.DataDir, logger)
	if err != nil {
		return err
	}
	if ts != nil {
		defer ts.Close()
		cfg.web.SelfTLS = ts.SelfClientConfig()
	}
	n, err := node.Open(cfg.node)
	if err != nil {
		return err
	}
	srv := web.New(n, cfg.web)
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		srv.Shutdown(context.Background())
		n.Close()
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	url, handler := "http://"+ln.Addr().String(), http.Handler(srv)
	if ts != nil {
		url = "https://" + tlsURLHost(ts, ln.Addr(), cfg.tls.acme)
		ln, handler = ts.Listener(ln), tlsconf.HSTS(srv)
		printTLS(stdout, ts, url)
		defer reloadOnHUP(ts, logger)()
	}
	if cfg.debugAddr != "" {
		stopDebug, err := serveDebug(cfg.debugAddr, logger)
		if err != nil {
			ln.Close()
			srv.Shutdown(context.Background())
			n.Close()
			return err
		}
		defer stopDebug()
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()

	fmt.Fprintf(stdout, "mesh: node %s listening on %s\n", n.Info().ID, url)
	if tok := n.OwnerToken(); tok != "" {
		fmt.Fprintf(stdout, "mesh: open %s/#token=%s to log in as the owner\n", url, tok)
	}

	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err = <-serveErr:
		logger.Error("http server stopped", "err", err)
	}
	// Stop accepting, tell clients and close them, then flush storage.
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	hs.Shutdown(shutCtx) // returns once listeners are closed and idle REST connections are done
	if e := srv.Shutdown(shutCtx); e != nil {
		logger.Warn("some connections did not close in time", "err", e)
	}
	if e := n.Close(); e != nil {
		return fmt.Errorf("close node: %w", e)
	}
	fmt.Fprintln(stdout, "mesh: stopped")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
