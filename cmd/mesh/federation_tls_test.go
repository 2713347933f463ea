package main_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A relay with --tls auto: a node that trusts its CA links over wss:// and
// sees the other's room; one that does not trust it never links.
func TestFederationOverTLS(t *testing.T) {
	relayDir := t.TempDir()
	relay := startRelay(t, relayDir, "127.0.0.1:0", "--tls", "auto")
	if !strings.HasPrefix(relay.url, "wss://") {
		t.Fatalf("relay URL %q, want wss://", relay.url)
	}
	ca := filepath.Join(relayDir, "tls", "ca.pem")
	a := newFedNode(t, relayDir, relay.url, "--interchange-ca-file", ca)
	b := newFedNode(t, relayDir, relay.url, "--interchange-ca-file", ca)
	addr := b.room(t, "tls-room")
	a.waitDirectory(t, addr)

	c := newFedNode(t, relayDir, relay.url) // system roots only: the local CA is not among them
	time.Sleep(2 * time.Second)
	if _, body := c.node().Do(t, "GET", "/api/v1/directory", c.owner, nil); body["linked"] != false {
		t.Fatalf("a node that does not trust the relay's CA linked: %v", body)
	}
}

func TestInterchangeRefusesPlainOffLoopback(t *testing.T) {
	code, _, errOut := run(t, "interchange", "--data", t.TempDir(), "--addr", "0.0.0.0:0")
	if code == 0 || !strings.Contains(errOut, "--insecure") {
		t.Fatalf("mesh interchange on 0.0.0.0 without TLS: exit %d, stderr %q; want a refusal naming --insecure", code, errOut)
	}
}
