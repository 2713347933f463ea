package main

// This file holds the server side of TLS for mesh up: the flags, the
// refusal to serve plain HTTP off loopback, the printed CA, and SIGHUP.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/the-mesh/mesh/internal/tlsconf"
)

// tlsFlags are the TLS flags of mesh up.
type tlsFlags struct {
	mode              string // --tls: "" or "auto"
	certFile, keyFile string
	hosts             listFlag
	acme              listFlag
	acmeEmail         string
	acmeDirectory     string
	acmeHTTP          string
	insecure          bool
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.mode, "tls", "", "`auto`: serve https with a certificate from a local CA kept in DATA/tls (printed with its fingerprint and how to trust it)")
	fs.StringVar(&f.certFile, "tls-cert", "", "serve https with this PEM certificate chain `file` (with --tls-key; read again on SIGHUP or when it changes)")
	fs.StringVar(&f.keyFile, "tls-key", "", "the PEM private key `file` of --tls-cert")
	fs.Var(&f.hosts, "tls-host", "more DNS `names` or IPs for the --tls auto certificate, comma-separated or repeated (localhost, 127.0.0.1, ::1 and the --addr host are always in it)")
	fs.Var(&f.acme, "acme", "serve https with certificates from Let's Encrypt for `domain` (comma-separated or repeated; accepts the CA's terms; needs the domain to reach this node on 443, or on 80 with --acme-http)")
	fs.StringVar(&f.acmeEmail, "acme-email", "", "contact `address` for the ACME CA's expiry notices")
	fs.StringVar(&f.acmeHTTP, "acme-http", "", "answer ACME HTTP-01 challenges and redirect to https on this `host:port`, e.g. :80")
	fs.StringVar(&f.acmeDirectory, "acme-directory", "", "the ACME CA's directory `URL` (default Let's Encrypt; e.g. its staging URL for trials)")
	fs.BoolVar(&f.insecure, "insecure", false, "allow plain HTTP on a non-loopback --addr (tokens cross the network in the clear; for a TLS proxy in front)")
}

// config returns the tlsconf configuration of the flags.
func (f *tlsFlags) config(addr, dataDir string, logger *slog.Logger) (tlsconf.Config, error) {
	if f.mode != "" && f.mode != "auto" {
		return tlsconf.Config{}, fmt.Errorf("--tls takes auto, not %q (for your own certificate use --tls-cert and --tls-key)", f.mode)
	}
	c := tlsconf.Config{
		CertFile: f.certFile, KeyFile: f.keyFile,
		Auto: f.mode == "auto", Hosts: f.hosts,
		ACMEDomains: f.acme, ACMEEmail: f.acmeEmail, ACMEDirectory: f.acmeDirectory, ACMEHTTPAddr: f.acmeHTTP,
		Addr: addr, DataDir: dataDir, Logger: logger,
	}
	_, err := c.Mode()
	return c, err
}

// startTLS refuses plain HTTP on an address reachable from other machines
// unless --insecure, and sets up TLS when a TLS flag is given. It returns
// nil for plain HTTP.
func startTLS(ctx context.Context, f *tlsFlags, addr, dataDir string, logger *slog.Logger) (*tlsconf.Server, error) {
	c, err := f.config(addr, dataDir, logger)
	if err != nil {
		return nil, err
	}
	if mode, _ := c.Mode(); mode != tlsconf.Off {
		return tlsconf.New(c)
	}
	loopback, err := tlsconf.Loopback(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("--addr: %w", err)
	}
	switch {
	case loopback:
		return nil, nil
	case f.insecure:
		logger.Warn("serving plain HTTP on a non-loopback address (--insecure): tokens and messages cross the network unencrypted unless a TLS proxy is in front", "addr", addr)
		return nil, nil
	}
	return nil, fmt.Errorf("refusing to serve plain HTTP on %s, which other machines can reach: "+
		"bearer tokens and messages would cross the network unencrypted. "+
		"Serve https with --tls auto (a local CA), --tls-cert FILE --tls-key FILE, or --acme DOMAIN; "+
		"or pass --insecure if a TLS proxy in front of the node encrypts the traffic", addr)
}

// tlsURLHost returns the host:port for the node's printed URL: the first
// ACME domain, localhost for --tls auto on every interface (the
// certificate covers it, not 0.0.0.0), else the listener's address.
func tlsURLHost(ts *tlsconf.Server, ln net.Addr, acme []string) string {
	host, port, _ := net.SplitHostPort(ln.String())
	switch {
	case ts.Mode() == tlsconf.ACME && port == "443":
		return acme[0]
	case ts.Mode() == tlsconf.ACME:
		return net.JoinHostPort(acme[0], port)
	case ts.Mode() == tlsconf.Auto && net.ParseIP(host).IsUnspecified():
		return net.JoinHostPort("localhost", port)
	}
	return ln.String()
}

// printTLS prints the local CA: in full when it is new, else a reminder.
func printTLS(w io.Writer, ts *tlsconf.Server, url string) {
	ca := ts.CA()
	if ca == nil {
		return
	}
	for _, line := range ca.TrustHelp(url, ca.Created) {
		fmt.Fprintln(w, "mesh: "+line)
	}
}

// reloadOnHUP reloads the certificate on SIGHUP until the returned stop
// function is called; stop waits for the watcher to end.
func reloadOnHUP(ts *tlsconf.Server, logger *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				return
			case <-hup:
				if err := ts.Reload(); err != nil {
					logger.Error("SIGHUP: keeping the current certificate", "err", err)
				} else {
					logger.Info("SIGHUP: certificate checked", "mode", ts.Mode())
				}
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-exited
	}
}

// listFlag is a flag that may be repeated or given comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			return errors.New("empty name")
		}
		*l = append(*l, s)
	}
	return nil
}
