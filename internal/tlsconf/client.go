package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ClientConfig returns a TLS configuration for a node's own outbound
// connections (webhooks, federation): TLS 1.2 or later with the server's
// cipher suites, verifying against the system's roots plus the CA
// certificates in caFile (PEM; "" adds none). The roots are added to, not
// replaced, because one node calls many hosts.
func ClientConfig(caFile string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: Suites()}
	if caFile == "" {
		return conf, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tls: CA file: %w", err)
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls: no PEM certificate in %s", caFile)
	}
	conf.RootCAs = pool
	return conf, nil
}

// SelfClientConfig returns a client configuration for the calls a node
// makes to its own listener (the /mcp endpoint is a client of the REST
// API). In Manual and Auto mode it accepts exactly the certificate this
// Server serves, whoever issued it and whatever names it has: the node
// dials the address it listens on, so nothing else may answer. In ACME mode
// it verifies the first domain's certificate against the system's roots.
func (s *Server) SelfClientConfig() *tls.Config {
	if s.mode == ACME {
		return &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.cfg.ACMEDomains[0]}
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: "localhost",
		// Chain and name checks are replaced by VerifyConnection, which
		// pins the certificate this Server serves.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			want := s.cert.Load()
			if want == nil || len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, want.Certificate[0]) {
				return errors.New("tls: the node's own address presented a certificate other than the node's")
			}
			return nil
		},
	}
}
