package interchange_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/interchange"
)

// logBuffer collects a relay's log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitLog waits until the log holds every one of parts on one line.
func (b *logBuffer) waitLog(t *testing.T, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for line := range strings.Lines(b.String()) {
			if containsAll(line, parts) {
				return line
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no log line with %q; the log:\n%s", parts, b.String())
	return ""
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// bridgeTo starts a relay bridged to url with b's secret and relay id, and
// returns it with its log.
func bridgeTo(t *testing.T, b interchange.Bridge, mod func(*interchange.Config)) (*relay, *logBuffer, interchange.Identity) {
	t.Helper()
	id, err := interchange.LoadIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var log logBuffer
	r := startRelay(t, func(c *interchange.Config) {
		c.Identity = id
		c.Bridges = []interchange.Bridge{b}
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
		if mod != nil {
			mod(c)
		}
	})
	return r, &log, id
}

// TestBridgeProvesIdentity: the relay a bridge dials proves who it is by
// signing the dialer's nonce. The right one is linked; an impostor (a
// real relay with another key, which even lets the dialer in) is refused
// and the refusal logged, and no route leads through it.
func TestBridgeProvesIdentity(t *testing.T) {
	right := startRelay(t, func(c *interchange.Config) { c.Open = true })
	impostor := startRelay(t, func(c *interchange.Config) { c.Open = true })
	victim := newNode(t)
	dial(t, impostor.url, victim, "") // reachable through the impostor, if it were let in

	t.Run("right", func(t *testing.T) {
		r, log, _ := bridgeTo(t, interchange.Bridge{URL: right.url, RelayID: right.ID()}, nil)
		n := newNode(t)
		dial(t, right.url, n, "")
		waitRoute(t, r, n.ID)
		log.waitLog(t, "interchange: bridged", right.ID())
	})
	t.Run("impostor", func(t *testing.T) {
		r, log, _ := bridgeTo(t, interchange.Bridge{URL: impostor.url, RelayID: right.ID()}, nil)
		line := log.waitLog(t, "bridge refused", impostor.url, "want="+right.ID())
		if !strings.Contains(line, impostor.ID()+", not "+right.ID()) {
			t.Errorf("the refusal does not name the relay that answered: %s", line)
		}
		log.waitLog(t, "bridge refused", "retry=") // tried again, refused again
		if hasNode(t, r, victim.ID) || strings.Contains(log.String(), "interchange: bridged") {
			t.Fatalf("the impostor was linked; log:\n%s", log.String())
		}
		if m := metrics(t, r); m["interchange_refused_bridges_total"] < 1 || m["interchange_bridges"] != 0 {
			t.Errorf("metrics: refused bridges %v, bridges %v", m["interchange_refused_bridges_total"], m["interchange_bridges"])
		}
	})
}

// TestBridgePinsOnFirstContact: a bridge given without a relay id pins
// the id the relay proves on first contact (in the pins file), and an
// impostor later answering at the same address is refused.
func TestBridgePinsOnFirstContact(t *testing.T) {
	right := startRelay(t, func(c *interchange.Config) { c.Open = true })
	impostor := startRelay(t, func(c *interchange.Config) { c.Open = true })
	// One address, in front of one relay and then the other.
	var front atomic.Pointer[relay]
	front.Store(right)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { front.Load().ServeHTTP(w, r) })}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	url := "ws://" + ln.Addr().String()

	pinsFile := filepath.Join(t.TempDir(), interchange.BridgePinsFile)
	r, log, _ := bridgeTo(t, interchange.Bridge{URL: url}, func(c *interchange.Config) { c.BridgePins = pinsFile })
	n := newNode(t)
	dial(t, right.url, n, "")
	waitRoute(t, r, n.ID)
	log.waitLog(t, "pinned on first contact", right.ID())
	var pins map[string]string
	if b, err := os.ReadFile(pinsFile); err != nil || json.Unmarshal(b, &pins) != nil || pins[url] != right.ID() {
		t.Fatalf("pins file: %s (%v), want %s pinned for %s", b, err, right.ID(), url)
	}

	front.Store(impostor)
	right.Close() // the bridge's link ends; it dials again, and the impostor answers
	log.waitLog(t, "bridge refused", url, "want="+right.ID(), "pinned=true")
	if b, _ := os.ReadFile(pinsFile); !strings.Contains(string(b), right.ID()) {
		t.Fatalf("the pin changed: %s", b)
	}
}

// TestDialRelayProof: any instance may ask the relay for its proof; a
// dialer expecting another relay refuses the one that answers.
func TestDialRelayProof(t *testing.T) {
	r := startRelay(t, func(c *interchange.Config) { c.Open = true })
	_, err := interchange.Dial(context.Background(), interchange.DialConfig{URL: r.url, Identity: newNode(t), Kind: interchange.KindNode,
		RelayID: "raaaaaaaaaaaaaaaa"})
	if mesh.ErrorCode(err) != mesh.EUnauthorized || !strings.Contains(err.Error(), "not raaaaaaaaaaaaaaaa") {
		t.Fatalf("dial expecting another relay: %v", err)
	}
	l, err := interchange.Dial(context.Background(), interchange.DialConfig{URL: r.url, Identity: newNode(t), Kind: interchange.KindNode, ProveRelay: true})
	if err != nil {
		t.Fatalf("dial asking for the proof: %v", err)
	}
	defer l.Abort()
	if l.Welcome.Relay != r.ID() || l.Welcome.Key == "" {
		t.Fatalf("welcome %+v, want relay %s with its key", l.Welcome, r.ID())
	}
}

func hasNode(t *testing.T, r *relay, node string) bool {
	t.Helper()
	resp, err := http.Get("http" + strings.TrimPrefix(r.url, "ws") + "/directory")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d interchange.Directory
	json.NewDecoder(resp.Body).Decode(&d)
	for _, n := range d.Nodes {
		if n.ID == node {
			return true
		}
	}
	return false
}

// metrics reads r's /metrics.
func metrics(t *testing.T, r *relay) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http" + strings.TrimPrefix(r.url, "ws") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	m := map[string]float64{}
	for line := range strings.Lines(b.String()) {
		var name string
		var v float64
		if !strings.HasPrefix(line, "#") {
			if _, err := fmt.Sscan(line, &name, &v); err == nil {
				m[name] = v
			}
		}
	}
	return m
}
