package tlsconf

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// setupACME wires autocert: certificates for the ACME domains only,
// cached in DATA/tls/acme, obtained by TLS-ALPN-01 on the TLS port (which
// the CA reaches on 443) or HTTP-01 on ACMEHTTPAddr (which it reaches on
// 80). Passing --acme accepts the CA's terms of service.
func (s *Server) setupACME() error {
	dir := filepath.Join(s.tlsDir(), "acme")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tls: create %s: %w", dir, err)
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(dir),
		HostPolicy: autocert.HostWhitelist(s.cfg.ACMEDomains...),
		Email:      s.cfg.ACMEEmail,
	}
	if s.cfg.ACMEDirectory != "" {
		m.Client = &acme.Client{DirectoryURL: s.cfg.ACMEDirectory}
	}
	s.acme = m
	s.conf.GetCertificate = m.GetCertificate
	s.conf.NextProtos = append(s.conf.NextProtos, acme.ALPNProto)
	if s.cfg.ACMEHTTPAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.ACMEHTTPAddr)
	if err != nil {
		return fmt.Errorf("--acme-http: listen on %s: %w", s.cfg.ACMEHTTPAddr, err)
	}
	// The handler answers the CA's challenges and redirects every other
	// GET or HEAD to https.
	s.acmeAddr = ln.Addr()
	s.acmeHTTP = &http.Server{Handler: m.HTTPHandler(nil), ReadHeaderTimeout: 10 * time.Second}
	s.wg.Go(func() {
		if err := s.acmeHTTP.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("tls: the ACME HTTP-01 server stopped", "addr", s.cfg.ACMEHTTPAddr, "err", err)
		}
	})
	return nil
}
