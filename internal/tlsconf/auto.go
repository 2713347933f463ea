package tlsconf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/the-mesh/mesh/internal/atomicfile"
)

// The files of Auto, in DATA/tls.
const (
	CACertFile   = "ca.pem"   // the local CA's certificate: what clients trust
	CAKeyFile    = "ca.key"   // its private key, mode 0600
	LeafCertFile = "cert.pem" // the server's certificate, signed by the CA
	LeafKeyFile  = "cert.key" // its private key, mode 0600
)

// Lifetimes of what Auto issues. The leaf stays under the 398 days browsers
// accept; it is renewed RenewBefore its expiry.
const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	leafLifetime = 397 * 24 * time.Hour
)

// localCA is Auto's certificate authority.
type localCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	file string // its PEM certificate
}

// CA describes the local CA of an Auto server.
type CA struct {
	File        string // the PEM certificate to trust (DATA/tls/ca.pem)
	Fingerprint string // SHA-256 of its DER, as colon-separated upper-case hex (as openssl prints it)
	Subject     string
	NotAfter    time.Time
	Created     bool // made by this start (not found on disk)
}

// CA returns the local CA of an Auto server, or nil in another mode.
func (s *Server) CA() *CA {
	if s.ca == nil {
		return nil
	}
	return &CA{File: s.ca.file, Fingerprint: Fingerprint(s.ca.cert), Subject: s.ca.cert.Subject.CommonName,
		NotAfter: s.ca.cert.NotAfter, Created: s.caCreated}
}

// Fingerprint returns the SHA-256 of cert's DER encoding as colon-separated
// upper-case hex, the form `openssl x509 -noout -fingerprint -sha256`
// prints.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// Certificate returns the certificate being served (Manual, Auto), or nil
// (ACME, where it depends on the name asked for).
func (s *Server) Certificate() *x509.Certificate {
	if c := s.cert.Load(); c != nil {
		return c.Leaf
	}
	return nil
}

func (s *Server) tlsDir() string { return filepath.Join(s.cfg.DataDir, "tls") }

// setupAuto loads or makes the CA and the leaf.
func (s *Server) setupAuto() error {
	dir := s.tlsDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tls: create %s: %w", dir, err)
	}
	ca, created, err := loadOrCreateCA(dir, s.now())
	if err != nil {
		return err
	}
	if !created && s.now().Add(RenewBefore).After(ca.cert.NotAfter) {
		// Ten years have passed: a new CA means every client must trust
		// it again, so say so loudly.
		if ca, err = createCA(dir, s.now()); err != nil {
			return err
		}
		created = true
		s.log.Warn("tls: the local CA was about to expire and has been replaced: clients must trust the new one", "file", ca.file)
	}
	s.ca, s.caCreated = ca, created
	return s.renewAuto()
}

// renewAuto issues a new leaf when the one on disk (or served) is
// missing, unreadable, not signed by the CA, within RenewBefore of its
// expiry, or does not cover every name; else it serves the one on disk.
func (s *Server) renewAuto() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	names := leafNames(s.cfg.Addr, s.cfg.Hosts)
	if cur := s.cert.Load(); cur != nil && leafOK(cur.Leaf, s.ca, names, now) == nil {
		return nil
	}
	dir := s.tlsDir()
	certFile, keyFile := filepath.Join(dir, LeafCertFile), filepath.Join(dir, LeafKeyFile)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err == nil {
		err = leafOK(cert.Leaf, s.ca, names, now)
	}
	if err == nil {
		s.cert.Store(&cert)
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		s.log.Info("tls: issuing a new certificate", "why", err)
	}
	cert, err = issueLeaf(s.ca, names, now, certFile, keyFile)
	if err != nil {
		return err
	}
	s.cert.Store(&cert)
	s.log.Info("tls: issued a certificate", "names", strings.Join(names, ","), "expires", cert.Leaf.NotAfter.Format(time.DateOnly))
	return nil
}

// leafOK says why leaf cannot be served any more, or nil.
func leafOK(leaf *x509.Certificate, ca *localCA, names []string, now time.Time) error {
	switch {
	case leaf == nil:
		return errors.New("no certificate")
	case leaf.CheckSignatureFrom(ca.cert) != nil:
		return errors.New("the certificate was not signed by the local CA")
	case now.Before(leaf.NotBefore):
		return errors.New("the certificate is not valid yet")
	case now.Add(RenewBefore).After(leaf.NotAfter):
		return fmt.Errorf("the certificate expires on %s", leaf.NotAfter.Format(time.DateOnly))
	}
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			return fmt.Errorf("the certificate does not cover %s", n)
		}
	}
	return nil
}

// loadOrCreateCA reads the CA from dir, or makes one if neither file
// exists. A CA that is half there, unreadable, or whose key is readable by
// others is an error: replacing it silently would break every client that
// trusts it.
func loadOrCreateCA(dir string, now time.Time) (*localCA, bool, error) {
	certFile, keyFile := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certPEM, cerr := os.ReadFile(certFile)
	keyPEM, kerr := os.ReadFile(keyFile)
	if errors.Is(cerr, fs.ErrNotExist) && errors.Is(kerr, fs.ErrNotExist) {
		ca, err := createCA(dir, now)
		return ca, err == nil, err
	}
	fix := fmt.Sprintf("restore it, or remove %s to make a new CA (clients must then trust the new one)", dir)
	if cerr != nil {
		return nil, false, fmt.Errorf("tls: local CA: %w: %s", cerr, fix)
	}
	if kerr != nil {
		return nil, false, fmt.Errorf("tls: local CA: %w: %s", kerr, fix)
	}
	if st, err := os.Stat(keyFile); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("tls: %s is readable by others (mode %v): run chmod 600 %s", keyFile, st.Mode().Perm(), keyFile)
	}
	cert, key, err := parsePair(certPEM, keyPEM)
	if err != nil {
		return nil, false, fmt.Errorf("tls: local CA in %s: %w: %s", dir, err, fix)
	}
	if !cert.IsCA {
		return nil, false, fmt.Errorf("tls: %s is not a CA certificate: %s", certFile, fix)
	}
	return &localCA{cert: cert, key: key, file: certFile}, false, nil
}

// createCA makes a new ECDSA P-256 CA in dir: ca.key (0600), then ca.pem.
func createCA(dir string, now time.Time) (*localCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "unknown host"
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject: pkix.Name{
			Organization: []string{"The Mesh local CA"},
			CommonName:   fmt.Sprintf("The Mesh local CA (%s, %s)", host, now.UTC().Format(time.DateOnly)),
		},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("tls: create the local CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	certFile := filepath.Join(dir, CACertFile)
	if err := writePair(certFile, filepath.Join(dir, CAKeyFile), der, key); err != nil {
		return nil, err
	}
	return &localCA{cert: cert, key: key, file: certFile}, nil
}

// issueLeaf makes a new ECDSA P-256 server certificate for names, signed
// by ca, writes it and returns it ready to serve.
func issueLeaf(ca *localCA, names []string, now time.Time, certFile, keyFile string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"The Mesh"}, CommonName: names[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: issue a certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := writePair(certFile, keyFile, der, key); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// writePair writes the key (0600) first and then the certificate (0644),
// each atomically: a crash between the two leaves a pair that does not
// match, which the next start notices.
func writePair(certFile, keyFile string, der []byte, key crypto.Signer) error {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if err := atomicfile.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	return nil
}

// parsePair decodes a PEM certificate and its PEM private key and checks
// that they belong together.
func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, err
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, errors.New("the key cannot sign")
	}
	return pair.Leaf, signer, nil
}

// serial returns a random 128-bit certificate serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}
