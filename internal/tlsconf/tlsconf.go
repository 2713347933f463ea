// Package tlsconf turns the TLS flags of `mesh up` into a server
// *tls.Config, and gives clients one that verifies.
//
// A server gets its certificate in one of three ways (Mode):
//
//   - Manual: a PEM certificate chain and key (--tls-cert, --tls-key),
//     read again on Reload (SIGHUP) and when either file changes.
//   - Auto: a local certificate authority kept in DATA/tls (ca.pem, and
//     ca.key of mode 0600) and a leaf certificate it signs (cert.pem,
//     cert.key) for localhost, 127.0.0.1, ::1, the listen address's host
//     and any extra names. The CA is made once and kept across restarts,
//     so clients trust it once; the leaf is issued again when it is within
//     30 days of expiry, no longer covers a name, or was not signed by the
//     CA.
//   - ACME: certificates from Let's Encrypt (or another ACME CA) through
//     golang.org/x/crypto/acme/autocert, cached in DATA/tls/acme.
//
// Every mode has the same settings: TLS 1.2 or later; for TLS 1.2 only
// ECDHE key exchange with AEAD ciphers (AES-GCM, ChaCha20-Poly1305); the
// X25519MLKEM768 hybrid, X25519 and P-256 for key exchange; HTTP/1.1 only,
// because the WebSocket endpoint takes over the connection, which HTTP/2
// does not allow.
package tlsconf

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme/autocert"
)

// Mode is how a server gets its certificate.
type Mode string

// Modes, chosen by Config.Mode.
const (
	Off    Mode = "off"    // plain HTTP
	Manual Mode = "manual" // the operator's certificate and key files
	Auto   Mode = "auto"   // a local CA in DATA/tls
	ACME   Mode = "acme"   // an ACME CA such as Let's Encrypt
)

// RenewBefore is how long before its expiry a certificate this package
// issues (Auto) is issued again; a Manual certificate this close to expiry
// is logged as a warning.
const RenewBefore = 30 * 24 * time.Hour

// Config is what the TLS flags say. The zero value is Off.
type Config struct {
	CertFile, KeyFile string // Manual: PEM certificate chain and private key

	Auto  bool     // Auto: --tls auto
	Hosts []string // Auto: more DNS names or IP addresses for the leaf (--tls-host)

	ACMEDomains   []string // ACME: the domains to get certificates for (--acme)
	ACMEEmail     string   // ACME: contact address given to the CA (optional)
	ACMEDirectory string   // ACME: the CA's directory URL; "" is Let's Encrypt
	ACMEHTTPAddr  string   // ACME: serve HTTP-01 challenges here, e.g. ":80" ("" off)

	Addr    string // the listen address; Auto puts its host in the leaf
	DataDir string // the node's data directory (Auto, ACME)

	// CheckInterval is how often Manual looks for changed files and Auto
	// for a leaf to renew. 0 means 10 s for Manual and 1 h for Auto;
	// negative turns the check off (Reload still works).
	CheckInterval time.Duration

	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
}

// Mode returns the mode the flags choose, or an error naming the flags
// that do not go together.
func (c Config) Mode() (Mode, error) {
	var modes []Mode
	if c.CertFile != "" || c.KeyFile != "" {
		if c.CertFile == "" || c.KeyFile == "" {
			return Off, errors.New("--tls-cert and --tls-key go together: give both")
		}
		modes = append(modes, Manual)
	}
	if c.Auto {
		modes = append(modes, Auto)
	}
	if len(c.ACMEDomains) > 0 {
		modes = append(modes, ACME)
	}
	if len(modes) > 1 {
		return Off, fmt.Errorf("choose one of --tls-cert/--tls-key, --tls auto and --acme (got %s and %s)", modes[0], modes[1])
	}
	m := Off
	if len(modes) == 1 {
		m = modes[0]
	}
	switch {
	case m != ACME && (c.ACMEEmail != "" || c.ACMEDirectory != "" || c.ACMEHTTPAddr != ""):
		return Off, errors.New("--acme-email, --acme-directory and --acme-http need --acme DOMAIN")
	case m != Auto && len(c.Hosts) > 0:
		return Off, errors.New("--tls-host needs --tls auto (it names the hosts of the local certificate)")
	case (m == Auto || m == ACME) && c.DataDir == "":
		return Off, fmt.Errorf("TLS mode %s needs a data directory", m)
	}
	for _, h := range c.Hosts {
		if err := checkHostName(h); err != nil {
			return Off, fmt.Errorf("--tls-host: %w", err)
		}
	}
	for _, d := range c.ACMEDomains {
		if net.ParseIP(d) != nil || checkHostName(d) != nil {
			return Off, fmt.Errorf("--acme: %q is not a domain name", d)
		}
	}
	return m, nil
}

// A Server holds a server's TLS configuration and keeps its certificate
// current: it reloads Manual files when they change, renews the Auto leaf
// before it expires, and serves ACME's HTTP-01 challenges when asked to.
// Its methods may be called from any goroutine. Close stops it.
type Server struct {
	mode Mode
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	conf *tls.Config

	cert atomic.Pointer[tls.Certificate] // Manual, Auto: the certificate served

	mu    sync.Mutex // serialises Reload; guards stamp
	stamp [2]fileStamp

	ca        *localCA // Auto
	caCreated bool     // Auto: the CA was made by New
	acme      *autocert.Manager
	acmeHTTP  *http.Server
	acmeAddr  net.Addr // where acmeHTTP listens

	stop context.CancelFunc
	wg   sync.WaitGroup // the check loop and the HTTP-01 server
}

// New sets up the mode cfg chooses (Off is an error: there is nothing to
// serve) and starts the Server's background checks. For Auto it creates
// the CA and the leaf on first use.
func New(cfg Config) (*Server, error) {
	mode, err := cfg.Mode()
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{mode: mode, cfg: cfg, log: cfg.Logger, now: cfg.Now, conf: ServerConfig()}
	interval := cfg.CheckInterval
	switch mode {
	case Off:
		return nil, errors.New("tlsconf: TLS is off")
	case Manual:
		if err := s.reloadManual(); err != nil {
			return nil, err
		}
		s.conf.GetCertificate = s.getCertificate
		if interval == 0 {
			interval = 10 * time.Second
		}
	case Auto:
		if err := s.setupAuto(); err != nil {
			return nil, err
		}
		s.conf.GetCertificate = s.getCertificate
		if interval == 0 {
			interval = time.Hour
		}
	case ACME:
		if err := s.setupACME(); err != nil {
			return nil, err
		}
		interval = -1
	}
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	if interval > 0 {
		s.wg.Go(func() { s.checkLoop(ctx, interval) })
	}
	return s, nil
}

// ServerConfig returns the settings every mode shares, without a
// certificate: TLS 1.2 or later, ECDHE with AEAD ciphers for TLS 1.2,
// X25519MLKEM768, X25519 and P-256, HTTP/1.1.
func ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CipherSuites:     Suites(),
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256},
		NextProtos:       []string{"http/1.1"},
	}
}

// Suites returns the TLS 1.2 cipher suites allowed: ECDHE (forward
// secrecy) with an AEAD cipher. TLS 1.3's suites are all AEAD and are not
// configurable.
func Suites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// Mode returns the server's mode.
func (s *Server) Mode() Mode { return s.mode }

// TLSConfig returns the server configuration. Do not modify it.
func (s *Server) TLSConfig() *tls.Config { return s.conf }

// Listener returns ln wrapped so that every connection speaks TLS. An
// http.Server serving it answers a plain-HTTP request with 400 "Client
// sent an HTTP request to an HTTPS server".
func (s *Server) Listener(ln net.Listener) net.Listener { return tls.NewListener(ln, s.conf) }

// Reload reads the Manual files again, or renews the Auto leaf if it is
// due (ACME renews by itself). On error the certificate served so far is
// kept.
func (s *Server) Reload() error {
	switch s.mode {
	case Manual:
		return s.reloadManual()
	case Auto:
		return s.renewAuto()
	}
	return nil
}

// Close stops the background checks and the HTTP-01 server and waits for
// them.
func (s *Server) Close() error {
	s.stop()
	var err error
	if s.acmeHTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.acmeHTTP.Shutdown(ctx)
		cancel()
	}
	s.wg.Wait()
	return err
}

func (s *Server) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cert.Load(), nil
}

// checkLoop reloads changed Manual files, or renews a due Auto leaf, every
// interval until ctx is done.
func (s *Server) checkLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var err error
		switch s.mode {
		case Manual:
			err = s.reloadIfChanged()
		case Auto:
			err = s.renewAuto()
		}
		if err != nil {
			s.log.Error("tls: keeping the current certificate", "err", err)
		}
	}
}

// HSTS wraps h so that responses to requests that came over TLS carry
// Strict-Transport-Security: max-age=31536000 (one year). Plain-HTTP
// responses never do (RFC 6797 forbids it). Requests for localhost and
// *.localhost do not get it either: HSTS binds a host name on every port,
// so it would make browsers refuse every plain-HTTP development server on
// localhost for a year. (Browsers ignore it for IP addresses, RFC 6797
// section 8.1, so those get it harmlessly.)
func HSTS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && !isLocalhost(r.Host) {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

func isLocalhost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	return hostIsLocalhost(host)
}

// fileStamp is what tells a changed file: its modification time and size.
type fileStamp struct {
	mod  time.Time
	size int64
}

func (a fileStamp) same(b fileStamp) bool { return a.mod.Equal(b.mod) && a.size == b.size }

func stampOf(path string) fileStamp {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mod: st.ModTime(), size: st.Size()}
}
