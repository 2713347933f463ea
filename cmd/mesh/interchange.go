package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/the-mesh/mesh/internal/interchange"
	"github.com/the-mesh/mesh/internal/tlsconf"
)

const interchangeSummary = `Run an Interchange relay: nodes link to it (mesh up --interchange URL) and
their agents meet in federated rooms. The relay stores no message. It lets in
the nodes allowed in its registry (mesh interchange allow), each proving its
secret by challenge and response, or, with --open, any node (its traffic is
tagged open and treated as untrusted). It routes frames by destination node,
keeps a directory (GET /directory), limits each node's frame size and rate,
and passes only whitelisted fields. --bridge links it to another relay, which
must allow this relay's id (mesh interchange id) and prove its own: give it
as --bridge URL#ID, or the id proven on first contact is pinned.

  mesh interchange [flags]                          run the relay
  mesh interchange allow --data DIR --node ID       print a new secret for ID
  mesh interchange deny --data DIR --node ID        take ID out of the registry
  mesh interchange id --data DIR                    print this relay's id`

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func runInterchange(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "allow", "deny":
			return interchangeRegistry(args[0], args[1:], stdout, stderr)
		case "id":
			return interchangeID(args[1:], stdout, stderr)
		}
	}
	cfg := interchange.DefaultConfig()
	fs := newFlagSet("interchange", interchangeSummary, stderr)
	addr := fs.String("addr", "127.0.0.1:4000", "`host:port` to listen on (port 0 picks a free one)")
	dir := fs.String("data", "./interchange-data", "data `directory`: the relay's identity and registry")
	fs.BoolVar(&cfg.Open, "open", false, "let in nodes that are not in the registry, tagged open (their traffic is untrusted)")
	var bridges, secretFiles stringList
	var tf tlsFlags
	tf.register(fs)
	bridgeCA := fs.String("bridge-ca-file", "", "PEM `file` of a CA to trust for wss:// bridges, besides the system's")
	fs.Var(&bridges, "bridge", "link to the relay at this `URL` (repeatable); URL#ID: the relay must prove it is ID (mesh interchange id there), else the id it proves on first contact is pinned")
	fs.Var(&secretFiles, "bridge-secret-file", "`file` with the secret the bridged relay gave this relay's id; one per --bridge, in order, or one for all")
	fs.IntVar(&cfg.MaxFrameBytes, "max-frame-bytes", cfg.MaxFrameBytes, "largest frame a node may send, in `bytes`")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "frames per second per node (token bucket; 0 turns it off)")
	fs.IntVar(&cfg.Burst, "burst", cfg.Burst, "token bucket size for --rate")
	fs.IntVar(&cfg.Queue.MaxFrames, "send-queue", cfg.Queue.MaxFrames, "frames queued to one node before frames for it are dropped")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	debugAddr := fs.String("debug-addr", "", "serve Go's /debug/pprof on this `host:port` (off when empty; keep it on loopback)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case cfg.MaxFrameBytes < 1024:
		return errors.New("--max-frame-bytes must be at least 1024")
	case cfg.Rate < 0 || (cfg.Rate > 0 && cfg.Burst < 1):
		return errors.New("--rate cannot be negative, and --burst must be at least 1 when it is on")
	case cfg.Queue.MaxFrames < 16:
		return errors.New("--send-queue must be at least 16")
	case len(secretFiles) > 1 && len(secretFiles) != len(bridges):
		return errors.New("give one --bridge-secret-file per --bridge, or one for all")
	}
	var bridgeTLS *tls.Config
	if *bridgeCA != "" {
		tc, err := tlsconf.ClientConfig(*bridgeCA)
		if err != nil {
			return fmt.Errorf("--bridge-ca-file: %w", err)
		}
		bridgeTLS = tc
	}
	for i, u := range bridges {
		u, relayID, _ := strings.Cut(u, "#")
		if relayID != "" && !interchange.ValidRelayID(relayID) {
			return fmt.Errorf("--bridge %s: after # comes the bridged relay's id (r and 16 letters a-z, 2-7: mesh interchange id on that relay), not %q", bridges[i], relayID)
		}
		b := interchange.Bridge{URL: u, RelayID: relayID, TLS: bridgeTLS}
		if len(secretFiles) > 0 {
			f := secretFiles[0]
			if len(secretFiles) > 1 {
				f = secretFiles[i]
			}
			s, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("--bridge-secret-file: %w", err)
			}
			b.Secret = strings.TrimSpace(string(s))
		}
		cfg.Bridges = append(cfg.Bridges, b)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.Logger = logger
	id, err := interchange.LoadIdentity(*dir)
	if err != nil {
		return err
	}
	cfg.Identity, cfg.Registry = id, interchange.OpenRegistry(*dir)
	cfg.BridgePins = filepath.Join(*dir, interchange.BridgePinsFile)
	ts, err := startTLS(ctx, &tf, *addr, *dir, logger) // refuses plain ws:// off loopback without --insecure
	if err != nil {
		return err
	}
	if ts != nil {
		defer ts.Close()
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	if *debugAddr != "" {
		stopDebug, err := serveDebug(*debugAddr, logger)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopDebug()
	}
	srv := interchange.New(cfg)
	url, handler := "ws://"+ln.Addr().String(), http.Handler(srv)
	if ts != nil {
		url = "wss://" + tlsURLHost(ts, ln.Addr(), tf.acme)
		ln, handler = ts.Listener(ln), tlsconf.HSTS(srv)
		printTLS(stdout, ts, strings.Replace(url, "wss://", "https://", 1))
		defer reloadOnHUP(ts, logger)()
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	mode := "registry only"
	if cfg.Open {
		mode = "open"
	}
	fmt.Fprintf(stdout, "mesh: interchange %s listening on %s (%s)\n", id.ID, url, mode)
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err = <-serveErr:
		logger.Error("http server stopped", "err", err)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hs.Shutdown(shutCtx)
	srv.Close()
	fmt.Fprintln(stdout, "mesh: stopped")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func interchangeRegistry(action string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("interchange "+action, "Allow a node (or a bridged relay) on this relay with a new secret, or take it out of the registry.", stderr)
	dir := fs.String("data", "./interchange-data", "the relay's data `directory`")
	id := fs.String("node", "", "the node's `id` (mesh id on the node), or a relay's (mesh interchange id)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id == "" {
		return exitError{2, errors.New("--node is required")}
	}
	reg := interchange.OpenRegistry(*dir)
	if action == "deny" {
		return reg.Remove(*id)
	}
	secret, err := reg.Allow(*id)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	fmt.Fprintf(stderr, "mesh interchange: %s is allowed; the relay keeps only the secret's hash. Give the secret to the node (--interchange-secret-file).\n", *id)
	return nil
}

func interchangeID(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("interchange id", "Print the relay's id (made on first use).", stderr)
	dir := fs.String("data", "./interchange-data", "the relay's data `directory`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, err := interchange.LoadIdentity(*dir)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, id.ID)
	return nil
}
