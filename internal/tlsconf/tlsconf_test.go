package tlsconf_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/tlsconf"
)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testLog struct{ t *testing.T }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// MustAuto starts an Auto server on dir and closes it when the test ends.
func MustAuto(tb testing.TB, dir string, now func() time.Time, hosts ...string) *tlsconf.Server {
	tb.Helper()
	s, err := tlsconf.New(tlsconf.Config{Auto: true, DataDir: dir, Addr: "127.0.0.1:0", Hosts: hosts, Now: now, CheckInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestMode(t *testing.T) {
	for name, tt := range map[string]struct {
		cfg  tlsconf.Config
		want tlsconf.Mode
		err  string // part of the error, "" for none
	}{
		"off":                {cfg: tlsconf.Config{}, want: tlsconf.Off},
		"manual":             {cfg: tlsconf.Config{CertFile: "c", KeyFile: "k"}, want: tlsconf.Manual},
		"auto":               {cfg: tlsconf.Config{Auto: true, DataDir: "d", Hosts: []string{"mesh.lan", "10.0.0.2", "*.mesh.lan"}}, want: tlsconf.Auto},
		"acme":               {cfg: tlsconf.Config{ACMEDomains: []string{"mesh.example.org"}, ACMEEmail: "a@b.c", ACMEHTTPAddr: ":80", DataDir: "d"}, want: tlsconf.ACME},
		"cert without key":   {cfg: tlsconf.Config{CertFile: "c"}, err: "--tls-cert and --tls-key go together"},
		"key without cert":   {cfg: tlsconf.Config{KeyFile: "k"}, err: "--tls-cert and --tls-key go together"},
		"auto and manual":    {cfg: tlsconf.Config{Auto: true, CertFile: "c", KeyFile: "k", DataDir: "d"}, err: "choose one"},
		"auto and acme":      {cfg: tlsconf.Config{Auto: true, ACMEDomains: []string{"a.example"}, DataDir: "d"}, err: "choose one"},
		"acme flags alone":   {cfg: tlsconf.Config{ACMEHTTPAddr: ":80"}, err: "need --acme"},
		"hosts without auto": {cfg: tlsconf.Config{CertFile: "c", KeyFile: "k", Hosts: []string{"x"}}, err: "--tls-host needs --tls auto"},
		"bad host":           {cfg: tlsconf.Config{Auto: true, DataDir: "d", Hosts: []string{"a b"}}, err: "--tls-host"},
		"acme ip":            {cfg: tlsconf.Config{ACMEDomains: []string{"192.0.2.1"}, DataDir: "d"}, err: "not a domain"},
		"auto no data":       {cfg: tlsconf.Config{Auto: true}, err: "data directory"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := tt.cfg.Mode()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, %v; want an error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := tlsconf.New(tlsconf.Config{}); err == nil {
		t.Error("New with TLS off: no error")
	}
}

func TestAutoCreatesAndKeeps(t *testing.T) {
	dir := t.TempDir()
	s := MustAuto(t, dir, nil, "mesh.lan", "10.1.2.3")
	ca := s.CA()
	if ca == nil || !ca.Created {
		t.Fatalf("CA %+v; want a new one", ca)
	}
	for file, mode := range map[string]os.FileMode{"tls": 0o700 | os.ModeDir, "tls/ca.key": 0o600, "tls/cert.key": 0o600, "tls/ca.pem": 0o644, "tls/cert.pem": 0o644} {
		st, err := os.Stat(filepath.Join(dir, file))
		if err != nil || st.Mode() != mode {
			t.Errorf("%s: mode %v, err %v; want %v", file, st.Mode(), err, mode)
		}
	}
	caCert := mustReadCert(t, filepath.Join(dir, "tls", "ca.pem"))
	sum := sha256.Sum256(caCert.Raw)
	if fp := strings.ReplaceAll(ca.Fingerprint, ":", ""); !strings.EqualFold(fp, hex.EncodeToString(sum[:])) {
		t.Errorf("fingerprint %s is not the SHA-256 of ca.pem", ca.Fingerprint)
	}
	if caCert.PublicKeyAlgorithm != x509.ECDSA || !caCert.IsCA || !caCert.MaxPathLenZero {
		t.Errorf("CA: algorithm %v, IsCA %v, MaxPathLenZero %v", caCert.PublicKeyAlgorithm, caCert.IsCA, caCert.MaxPathLenZero)
	}
	leaf := s.Certificate()
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "mesh.lan", "10.1.2.3"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("leaf for %s: %v", name, err)
		}
	}
	if leaf.VerifyHostname("example.com") == nil {
		t.Error("leaf covers example.com")
	}
	s.Close()

	// A restart keeps the CA and the leaf.
	s2 := MustAuto(t, dir, nil, "mesh.lan", "10.1.2.3")
	if ca2 := s2.CA(); ca2.Created || ca2.Fingerprint != ca.Fingerprint {
		t.Errorf("restart: CA created %v, fingerprint %s; want the kept %s", ca2.Created, ca2.Fingerprint, ca.Fingerprint)
	}
	if got := s2.Certificate().SerialNumber; got.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("restart: leaf serial %v, want the kept %v", got, leaf.SerialNumber)
	}
	s2.Close()

	// A new name gets a new leaf from the same CA.
	s3 := MustAuto(t, dir, nil, "mesh.lan", "10.1.2.3", "other.lan")
	if s3.CA().Fingerprint != ca.Fingerprint || s3.Certificate().SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("a new --tls-host did not issue a new leaf from the same CA")
	}
	if s3.Certificate().VerifyHostname("other.lan") != nil {
		t.Error("the new leaf does not cover other.lan")
	}
}

func TestAutoRenewal(t *testing.T) {
	start := time.Now()
	for name, tt := range map[string]struct {
		after time.Duration
		renew bool
	}{
		"fresh":        {after: 24 * time.Hour},
		"31 days left": {after: (397 - 31) * 24 * time.Hour},
		"29 days left": {after: (397 - 29) * 24 * time.Hour, renew: true},
		"expired":      {after: 400 * 24 * time.Hour, renew: true},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			clk := &clock{t: start}
			s := MustAuto(t, dir, clk.Now)
			first, fp := s.Certificate(), s.CA().Fingerprint
			clk.Add(tt.after)

			// In place, as the hourly check does.
			if err := s.Reload(); err != nil {
				t.Fatal(err)
			}
			if renewed := s.Certificate().SerialNumber.Cmp(first.SerialNumber) != 0; renewed != tt.renew {
				t.Fatalf("in place: renewed %v, want %v", renewed, tt.renew)
			}
			s.Close()
			// Across a restart, reading the files.
			s2 := MustAuto(t, dir, clk.Now)
			if renewed := s2.Certificate().SerialNumber.Cmp(first.SerialNumber) != 0; renewed != tt.renew {
				t.Fatalf("restart: renewed %v, want %v", renewed, tt.renew)
			}
			if s2.CA().Fingerprint != fp {
				t.Fatal("renewal replaced the CA")
			}
			if leaf := s2.Certificate(); clk.Now().Add(tlsconf.RenewBefore).After(leaf.NotAfter) {
				t.Fatalf("served leaf expires %v, within 30 days of %v", leaf.NotAfter, clk.Now())
			}
		})
	}
}

func TestAutoRefusesDamagedCA(t *testing.T) {
	for name, damage := range map[string]func(dir string) error{
		"key readable by others": func(dir string) error { return os.Chmod(filepath.Join(dir, "tls", "ca.key"), 0o644) },
		"certificate missing":    func(dir string) error { return os.Remove(filepath.Join(dir, "tls", "ca.pem")) },
		"key missing":            func(dir string) error { return os.Remove(filepath.Join(dir, "tls", "ca.key")) },
		"certificate garbled": func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "tls", "ca.pem"), []byte("junk"), 0o644)
		},
		"key of another CA": func(dir string) error {
			other := t.TempDir()
			MustAuto(t, other, nil).Close()
			b, err := os.ReadFile(filepath.Join(other, "tls", "ca.key"))
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "tls", "ca.key"), b, 0o600)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			MustAuto(t, dir, nil).Close()
			if err := damage(dir); err != nil {
				t.Fatal(err)
			}
			s, err := tlsconf.New(tlsconf.Config{Auto: true, DataDir: dir, CheckInterval: -1})
			if err == nil {
				s.Close()
				t.Fatal("started with a damaged CA")
			}
			t.Log(err)
		})
	}
	// A damaged leaf is only replaced.
	dir := t.TempDir()
	fp := MustAuto(t, dir, nil).CA().Fingerprint
	os.WriteFile(filepath.Join(dir, "tls", "cert.pem"), []byte("junk"), 0o644)
	if s := MustAuto(t, dir, nil); s.CA().Fingerprint != fp || s.Certificate() == nil {
		t.Error("a damaged leaf was not replaced under the same CA")
	}
}

func TestManualReload(t *testing.T) {
	// Two certificates to swap, made by two local CAs.
	a, b := t.TempDir(), t.TempDir()
	certA := MustAuto(t, a, nil).Certificate()
	certB := MustAuto(t, b, nil).Certificate()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	install := func(from string) {
		t.Helper()
		for src, dst := range map[string]string{"cert.pem": certFile, "cert.key": keyFile} {
			data, err := os.ReadFile(filepath.Join(from, "tls", src))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst+".tmp", data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(dst+".tmp", dst); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(a)
	if _, err := tlsconf.New(tlsconf.Config{CertFile: certFile, KeyFile: filepath.Join(dir, "missing")}); err == nil {
		t.Error("New with a missing key file: no error")
	}
	s, err := tlsconf.New(tlsconf.Config{CertFile: certFile, KeyFile: keyFile, CheckInterval: 10 * time.Millisecond, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Certificate().Equal(certA) {
		t.Fatal("does not serve the files' certificate")
	}

	// A bad certificate file is refused and the old one kept.
	os.WriteFile(certFile, []byte("junk"), 0o600)
	if err := s.Reload(); err == nil || !s.Certificate().Equal(certA) {
		t.Fatalf("reload of a bad file: err %v; want an error and the old certificate kept", err)
	}

	// Replaced files are picked up without a signal.
	install(b)
	deadline := time.Now().Add(5 * time.Second)
	for !s.Certificate().Equal(certB) {
		if time.Now().After(deadline) {
			t.Fatal("changed files were not reloaded within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serve serves the HSTS-wrapped hello handler over TLS with s's config
// and returns its address.
func serve(t *testing.T, s *tlsconf.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler: tlsconf.HSTS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })),
		// Refused handshakes are logged after the test may have ended.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go hs.Serve(s.Listener(ln))
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

func TestHandshake(t *testing.T) {
	dir := t.TempDir()
	s := MustAuto(t, dir, nil)
	addr := serve(t, s)
	roots := x509.NewCertPool()
	roots.AddCert(mustReadCert(t, filepath.Join(dir, "tls", "ca.pem")))
	// The leaf is ECDSA, so these CBC suites would suit it: only the
	// server's suite list refuses them.
	cbc := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}
	rsaKex := []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}
	for name, tt := range map[string]struct {
		conf *tls.Config
		ok   bool
	}{
		"TLS 1.3":                       {conf: &tls.Config{RootCAs: roots}, ok: true},
		"TLS 1.2 AEAD":                  {conf: &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12}, ok: true},
		"TLS 1.2 X25519 only":           {conf: &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12, CurvePreferences: []tls.CurveID{tls.X25519}}, ok: true},
		"TLS 1.3 P-256 only":            {conf: &tls.Config{RootCAs: roots, CurvePreferences: []tls.CurveID{tls.CurveP256}}, ok: true},
		"TLS 1.1":                       {conf: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}},
		"TLS 1.0":                       {conf: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}},
		"TLS 1.2 ECDHE CBC only":        {conf: &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12, CipherSuites: cbc}},
		"TLS 1.2 RSA key exchange only": {conf: &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12, CipherSuites: rsaKex}},
		"TLS 1.2 P-384 only":            {conf: &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12, CurvePreferences: []tls.CurveID{tls.CurveP384}}},
		"unknown CA":                    {conf: &tls.Config{}},
		"wrong name":                    {conf: &tls.Config{RootCAs: roots, ServerName: "example.com"}},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := tls.Dial("tcp", addr, tt.conf)
			if !tt.ok {
				if err == nil {
					c.Close()
					t.Fatal("handshake succeeded; want it refused")
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			cs := c.ConnectionState()
			if cs.Version == tls.VersionTLS12 && !contains(tlsconf.Suites(), cs.CipherSuite) {
				t.Errorf("negotiated %s", tls.CipherSuiteName(cs.CipherSuite))
			}
			if cs.NegotiatedProtocol == "h2" {
				t.Error("negotiated HTTP/2; the WebSocket needs HTTP/1.1")
			}
		})
	}
	// A client that trusts the CA: HSTS on https, except for localhost.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	defer hc.CloseIdleConnections()
	for url, want := range map[string]string{
		"https://" + addr + "/":                 "max-age=31536000",
		"https://localhost:" + port(addr) + "/": "",
	} {
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); got != want {
			t.Errorf("%s: Strict-Transport-Security %q, want %q", url, got, want)
		}
	}
	// Plain HTTP to the TLS port.
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "HTTP request to an HTTPS server") {
		t.Errorf("plain HTTP: %d %q; want 400 naming the mistake", resp.StatusCode, body)
	}
}

func TestHSTSOnlyOverTLS(t *testing.T) {
	h := tlsconf.HSTS(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for name, tt := range map[string]struct {
		host string
		tls  bool
		want string
	}{
		"plain":           {host: "mesh.example", want: ""},
		"tls":             {host: "mesh.example:443", tls: true, want: "max-age=31536000"},
		"tls ip":          {host: "127.0.0.1:3000", tls: true, want: "max-age=31536000"},
		"tls localhost":   {host: "localhost:3000", tls: true, want: ""},
		"tls x.localhost": {host: "mesh.localhost", tls: true, want: ""},
	} {
		t.Run(name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			r.Host = tt.host
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			w := &recorder{h: http.Header{}}
			h.ServeHTTP(w, r)
			if got := w.h.Get("Strict-Transport-Security"); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestClientConfig(t *testing.T) {
	dir := t.TempDir()
	addr := serve(t, MustAuto(t, dir, nil))
	conf, err := tlsconf.ClientConfig(filepath.Join(dir, "tls", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		t.Fatalf("with the CA file: %v", err)
	}
	c.Close()
	conf, _ = tlsconf.ClientConfig("")
	if c, err := tls.Dial("tcp", addr, conf); err == nil {
		c.Close()
		t.Fatal("without the CA file: handshake succeeded")
	} else if !errors.As(err, new(*tls.CertificateVerificationError)) {
		t.Fatalf("without the CA file: %v; want a verification error", err)
	}
	if _, err := tlsconf.ClientConfig(filepath.Join(dir, "tls", "ca.key")); err == nil {
		t.Error("a key file taken for a CA file")
	}
}

func TestSelfClientConfig(t *testing.T) {
	s := MustAuto(t, t.TempDir(), nil)
	other := MustAuto(t, t.TempDir(), nil)
	for name, tt := range map[string]struct {
		addr string
		ok   bool
	}{
		"own listener":     {addr: serve(t, s), ok: true},
		"another listener": {addr: serve(t, other)},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := tls.Dial("tcp", tt.addr, s.SelfClientConfig())
			if err == nil {
				c.Close()
			}
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestACMEConfig(t *testing.T) {
	dir := t.TempDir()
	s, err := tlsconf.New(tlsconf.Config{ACMEDomains: []string{"mesh.example.org"}, ACMEEmail: "ops@example.org",
		ACMEDirectory: "https://acme-staging-v02.api.letsencrypt.org/directory", ACMEHTTPAddr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conf := s.TLSConfig()
	if conf.MinVersion != tls.VersionTLS12 || !contains(conf.NextProtos, "acme-tls/1") || conf.GetCertificate == nil {
		t.Errorf("config: min %x, protos %v", conf.MinVersion, conf.NextProtos)
	}
	m := s.ACMEManager()
	if m.Email != "ops@example.org" || m.Client == nil || m.Client.DirectoryURL != "https://acme-staging-v02.api.letsencrypt.org/directory" {
		t.Errorf("manager: email %q, client %+v", m.Email, m.Client)
	}
	if st, err := os.Stat(filepath.Join(dir, "tls", "acme")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("cache directory: %v, %v", st, err)
	}
	// The host policy refuses other names before any network traffic.
	if err := m.HostPolicy(context.Background(), "evil.example"); err == nil {
		t.Error("host policy allows evil.example")
	}
	if err := m.HostPolicy(context.Background(), "mesh.example.org"); err != nil {
		t.Errorf("host policy refuses mesh.example.org: %v", err)
	}
	if _, err := conf.GetCertificate(&tls.ClientHelloInfo{ServerName: "evil.example"}); err == nil {
		t.Error("a certificate for evil.example")
	}
	if sc := s.SelfClientConfig(); sc.ServerName != "mesh.example.org" || sc.InsecureSkipVerify {
		t.Errorf("self client config: %q, skip %v", sc.ServerName, sc.InsecureSkipVerify)
	}
	// --acme-http: challenges it does not know are 404, the rest goes to https.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, want := range map[string]int{"/.well-known/acme-challenge/unknown": 404, "/api/v1/rooms": 302} {
		req, _ := http.NewRequest("GET", "http://"+s.ACMEHTTPAddr()+path, nil)
		req.Host = "mesh.example.org"
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || (want == 302 && resp.Header.Get("Location") != "https://mesh.example.org"+path) {
			t.Errorf("GET %s: %d to %q, want %d", path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:3000": true, "127.3.2.1:0": true, "[::1]:0": true, "localhost:3000": true,
		"0.0.0.0:3000": false, ":3000": false, "[::]:0": false, "192.0.2.1:80": false, "[2001:db8::1]:443": false,
	} {
		got, err := tlsconf.Loopback(context.Background(), addr)
		if err != nil || got != want {
			t.Errorf("%s: got %v, %v; want %v", addr, got, err, want)
		}
	}
	if _, err := tlsconf.Loopback(context.Background(), "no-port"); err == nil {
		t.Error("no-port: no error")
	}
	if _, err := tlsconf.Loopback(context.Background(), "does-not-exist.invalid:80"); err == nil {
		t.Error("an unresolvable name: no error")
	}
}

func TestTrustHelp(t *testing.T) {
	s := MustAuto(t, t.TempDir(), nil)
	lines := strings.Join(s.CA().TrustHelp("https://127.0.0.1:3000", true), "\n")
	for _, want := range []string{s.CA().Fingerprint, "--ca-file", "update-ca-certificates", "add-trusted-cert", "certutil", "NODE_EXTRA_CA_CERTS"} {
		if !strings.Contains(lines, want) {
			t.Errorf("trust help lacks %q:\n%s", want, lines)
		}
	}
}

func mustReadCert(tb testing.TB, path string) *x509.Certificate {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		tb.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// recorder is the least http.ResponseWriter.
type recorder struct{ h http.Header }

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(int)             {}
