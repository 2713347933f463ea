package main_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
)

// tlsProc is a `mesh up` child serving https.
type tlsProc struct {
	*proc
	caFile      string // as printed
	fingerprint string // as printed
	lines       []string
}

// startTLSNode runs mesh up with flags on dir and a free loopback port,
// and waits for the https URL, collecting the lines before it.
func startTLSNode(t *testing.T, dir string, flags ...string) *tlsProc {
	t.Helper()
	args := append([]string{"up", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "warn"}, flags...)
	cmd := exec.Command(meshBin, args...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = &testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &tlsProc{proc: &proc{cmd: cmd, out: make(chan string, 100), done: make(chan error, 1)}}
	lines := bufio.NewScanner(stdout)
	listening := regexp.MustCompile(`listening on (https://\S+)`)
	ca := regexp.MustCompile(`local CA (\S+) \((?:new|kept)\), SHA-256 fingerprint (\S+)`)
	deadline := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
	for lines.Scan() {
		p.lines = append(p.lines, lines.Text())
		if m := ca.FindStringSubmatch(lines.Text()); m != nil {
			p.caFile, p.fingerprint = m[1], m[2]
		}
		if m := listening.FindStringSubmatch(lines.Text()); m != nil {
			p.url = m[1]
			break
		}
	}
	deadline.Stop()
	if p.url == "" {
		cmd.Process.Kill()
		t.Fatalf("mesh up did not print an https URL:\n%s", strings.Join(p.lines, "\n"))
	}
	go func() {
		for lines.Scan() {
			p.out <- lines.Text()
		}
		close(p.out)
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-p.done })
	return p
}

// httpsClient returns a client trusting only caFile ("" : the system's roots).
func httpsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		tc, err := agent.LoadCA(caFile)
		if err != nil {
			t.Fatal(err)
		}
		tr.TLSClientConfig = tc
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestTLSAuto(t *testing.T) {
	dir := t.TempDir()
	p := startTLSNode(t, dir, "--tls", "auto")
	login := <-p.out
	caFile := filepath.Join(dir, "tls", "ca.pem")
	if abs, _ := filepath.Abs(caFile); p.caFile != abs {
		t.Fatalf("printed CA file %q, want %q", p.caFile, abs)
	}
	if !strings.Contains(strings.Join(p.lines, "\n"), "--ca-file "+p.caFile) {
		t.Errorf("the output does not say how to trust the CA:\n%s", strings.Join(p.lines, "\n"))
	}
	if want := fingerprint(t, caFile); p.fingerprint != want {
		t.Fatalf("printed fingerprint %s, want %s (the SHA-256 of ca.pem)", p.fingerprint, want)
	}
	tok := strings.TrimSpace(string(mustRead(t, filepath.Join(dir, "owner.token"))))
	if want := p.url + "/#token=" + tok; !strings.Contains(login, want) || !strings.HasPrefix(p.url, "https://127.0.0.1:") {
		t.Fatalf("login line %q; want %s", login, want)
	}

	// REST with the CA: the owner, and HSTS.
	hc := httpsClient(t, caFile)
	req, _ := http.NewRequest("GET", p.url+"/api/v1/participants/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var me struct{ Participant mesh.Participant }
	json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if resp.StatusCode != 200 || me.Participant.Trust != mesh.TrustOwner || resp.TLS == nil {
		t.Fatalf("GET me over https: HTTP %d, %+v", resp.StatusCode, me)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Errorf("HSTS %q, want max-age=31536000", got)
	}
	if v := resp.TLS.Version; v != tls.VersionTLS13 {
		t.Errorf("TLS version %x, want 1.3", v)
	}

	// The Go SDK: register, then hello and welcome over wss, a say acked.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tc, err := agent.LoadCA(caFile)
	if err != nil {
		t.Fatal(err)
	}
	bob, bobTok, err := agent.Register(ctx, p.url, agent.Registration{Name: "bob", TLS: tc})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := agent.Dial(ctx, agent.Config{URL: p.url, Token: bobTok, TLS: tc})
	if err != nil {
		t.Fatalf("dial wss: %v", err)
	}
	defer cl.Close()
	if cl.Me().ID != bob.ID {
		t.Fatalf("welcome for %s, want %s", cl.Me().ID, bob.ID)
	}
	if _, err := cl.Join(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	if ack, err := cl.Say(ctx, "lobby", "over wss"); err != nil || ack.Seq == 0 {
		t.Fatalf("say over wss: %+v, %v", ack, err)
	}

	// Without the CA, REST and WebSocket fail verification.
	if err := agent.Do(ctx, p.url, tok, "GET", "/healthz", nil, nil); !isUnknownAuthority(err) {
		t.Errorf("REST without the CA: %v; want an unknown-authority error", err)
	}
	if c, err := agent.Dial(ctx, agent.Config{URL: p.url, Token: bobTok}); err == nil {
		c.Close()
		t.Error("wss without the CA: connected")
	} else if !isUnknownAuthority(err) {
		t.Errorf("wss without the CA: %v; want an unknown-authority error", err)
	}

	// Plain HTTP to the TLS port is refused with a reason.
	resp, err = http.Get(strings.Replace(p.url, "https://", "http://", 1) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "HTTP request to an HTTPS server") {
		t.Errorf("plain HTTP: %d %q", resp.StatusCode, body)
	}

	// The node's /mcp calls its own REST API over https.
	mc := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := mc.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: p.url + "/mcp", MaxRetries: -1,
		HTTPClient: &http.Client{Transport: bearer{tok, hc.Transport}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_rooms", Arguments: map[string]any{}})
	cs.Close()
	if err != nil || res.IsError {
		t.Fatalf("MCP list_rooms over https: %v %+v", err, res)
	}

	// The CLI keeps --ca-file next to the node URL.
	config := filepath.Join(t.TempDir(), "config.json")
	if code, _, errOut := run(t, "register", "--config", config, "--node", p.url, "--name", "carol"); code == 0 || !strings.Contains(errOut, "certificate") {
		t.Errorf("register without --ca-file: exit %d, %q; want a certificate error", code, errOut)
	}
	if code, out, errOut := run(t, "register", "--config", config, "--node", p.url, "--ca-file", caFile, "--name", "carol"); code != 0 {
		t.Fatalf("register --ca-file: exit %d, %q %q", code, out, errOut)
	}
	var c struct{ Node, CAFile string }
	json.Unmarshal(mustRead(t, config), &c)
	if abs, _ := filepath.Abs(caFile); c.Node != p.url || c.CAFile != abs {
		t.Errorf("config holds node %q, caFile %q", c.Node, c.CAFile)
	}
	for _, args := range [][]string{{"join", "lobby"}, {"say", "lobby", "from the CLI"}, {"rooms"}} {
		if code, out, errOut := run(t, append(args, "--config", config)...); code != 0 {
			t.Errorf("mesh %s: exit %d, %q %q", args[0], code, out, errOut)
		}
	}
	if code, out, errOut := run(t, "invite", "--data", dir, "--node", p.url); code != 0 || !strings.HasPrefix(out, "inv_") {
		t.Errorf("mesh invite (local CA from --data): exit %d, %q %q", code, out, errOut)
	}

	// A restart keeps the CA.
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p2 := startTLSNode(t, dir, "--tls", "auto")
	if p2.fingerprint != p.fingerprint || !strings.Contains(strings.Join(p2.lines, "\n"), "(kept)") {
		t.Fatalf("restart: fingerprint %s, want the kept %s", p2.fingerprint, p.fingerprint)
	}
	if code, _, errOut := run(t, "say", "lobby", "after the restart", "--config", config, "--node", p2.url); code != 0 {
		t.Errorf("say after the restart with the kept CA: exit %d, %q", code, errOut)
	}
}

// TestTLSFiles serves the operator's files and reloads them on SIGHUP.
func TestTLSFiles(t *testing.T) {
	// Two certificate pairs, each from its own CA.
	a, b := t.TempDir(), t.TempDir()
	makePair(t, a)
	makePair(t, b)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install := func(from string) {
		t.Helper()
		os.WriteFile(keyFile, mustRead(t, filepath.Join(from, "cert.key")), 0o600)
		os.WriteFile(certFile, mustRead(t, filepath.Join(from, "cert.pem")), 0o644)
	}
	install(a)
	p := startTLSNode(t, t.TempDir(), "--tls-cert", certFile, "--tls-key", keyFile)
	get := func(caDir string) error {
		resp, err := httpsClient(t, filepath.Join(caDir, "ca.pem")).Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(a); err != nil {
		t.Fatalf("with the files' CA: %v", err)
	}
	install(b)
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for get(b) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the new certificate is not served 5 s after SIGHUP")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := get(a); !isUnknownAuthority(err) {
		t.Errorf("old CA after the reload: %v; want an unknown-authority error", err)
	}
}

// TestPlainOffLoopback checks that plain HTTP off loopback needs --insecure.
func TestPlainOffLoopback(t *testing.T) {
	_, _, help := run(t, "up", "--help")
	for _, flag := range []string{"-tls auto", "-tls-cert", "-tls-key", "-tls-host", "-acme domain", "-insecure"} {
		if !strings.Contains(help, flag) {
			t.Errorf("mesh up --help does not explain %s", flag)
		}
	}
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":0"} {
		dir := filepath.Join(t.TempDir(), "data")
		code, _, errOut := run(t, "up", "--data", dir, "--addr", addr)
		if code == 0 || !strings.Contains(errOut, "refusing to serve plain HTTP") || !strings.Contains(errOut, "--tls auto") || !strings.Contains(errOut, "--insecure") {
			t.Errorf("mesh up --addr %s: exit %d, %q; want a refusal naming --tls auto and --insecure", addr, code, errOut)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("mesh up --addr %s made the data directory before refusing", addr)
		}
	}
	// Loopback names are fine without TLS; --insecure allows the rest.
	for _, flags := range [][]string{{"--addr", "localhost:0"}, {"--addr", "0.0.0.0:0", "--insecure"}} {
		p := startNode(t, t.TempDir(), flags...)
		url := strings.NewReplacer("0.0.0.0", "127.0.0.1", "localhost", "127.0.0.1").Replace(p.url)
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			t.Fatalf("%v: %v", flags, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%v: HTTP %d, HSTS %q; want 200 without HSTS", flags, resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
		}
	}
	// With TLS a non-loopback address is fine.
	p := startTLSNode(t, t.TempDir(), "--tls", "auto", "--addr", "0.0.0.0:0")
	if !strings.HasPrefix(p.url, "https://localhost:") {
		t.Errorf("--tls auto on 0.0.0.0 printed %s; want https://localhost:PORT, a name the certificate covers", p.url)
	}
}

func fingerprint(t *testing.T, pemFile string) string {
	t.Helper()
	blk, _ := pem.Decode(mustRead(t, pemFile))
	if blk == nil {
		t.Fatalf("%s: no PEM", pemFile)
	}
	sum := sha256.Sum256(blk.Bytes)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// makePair writes, in dir, a CA (ca.pem) and a certificate for 127.0.0.1
// it signed (cert.pem, cert.key).
func makePair(t *testing.T, dir string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, NotBefore: ca.NotBefore, NotAfter: ca.NotAfter}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	for name, blk := range map[string]*pem.Block{"ca.pem": {Type: "CERTIFICATE", Bytes: caDER},
		"cert.pem": {Type: "CERTIFICATE", Bytes: der}, "cert.key": {Type: "PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func isUnknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &cv)
}

// bearer adds a bearer token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}
