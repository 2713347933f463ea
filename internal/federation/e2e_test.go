package federation_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/federation"
	"github.com/the-mesh/mesh/internal/interchange"
	"github.com/the-mesh/mesh/internal/meshtest"
	"github.com/the-mesh/mesh/internal/node"
	"github.com/the-mesh/mesh/internal/web"
)

// relay is an in-process relay on a random loopback port.
type relay struct {
	srv *interchange.Server
	url string
	dir string
	hs  *http.Server
}

func startRelay(tb testing.TB, mod func(*interchange.Config)) *relay {
	tb.Helper()
	dir := tb.TempDir()
	id, err := interchange.LoadIdentity(dir)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := interchange.DefaultConfig()
	cfg.Identity, cfg.Registry = id, interchange.OpenRegistry(dir)
	if mod != nil {
		mod(&cfg)
	}
	s := interchange.New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{Handler: s}
	go hs.Serve(ln)
	r := &relay{srv: s, url: "ws://" + ln.Addr().String(), dir: dir, hs: hs}
	tb.Cleanup(func() { hs.Close(); s.Close() })
	return r
}

// fedNode is a node linked to a relay.
type fedNode struct {
	*meshtest.Node
	id    string
	owner string
}

// startNode starts a node in dir (a temp dir when "") linked to r with
// a secret r allows for it; mod may change its federation settings.
func startNode(tb testing.TB, r *relay, dir string, mod func(*federation.Config)) *fedNode {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	id := nodeID(tb, dir)
	secret, err := interchange.OpenRegistry(r.dir).Allow(id)
	if err != nil {
		tb.Fatal(err)
	}
	n := meshtest.Start(tb, dir, func(nc *node.Config, wc *web.Config) {
		fc := federation.DefaultConfig()
		fc.URL, fc.Secret = r.url, secret
		fc.RetryMin = 100 * time.Millisecond
		if mod != nil {
			mod(&fc)
		}
		nc.Federation = &fc
		wc.Rate = 0
	})
	return &fedNode{Node: n, id: id, owner: n.Node.OwnerToken()}
}

// nodeID opens a node in dir once, without federation, to make its identity.
func nodeID(tb testing.TB, dir string) string {
	tb.Helper()
	if id, err := node.ReadNodeID(dir); err == nil {
		return id
	}
	nc := node.DefaultConfig()
	nc.DataDir = dir
	n, err := node.Open(nc)
	if err != nil {
		tb.Fatal(err)
	}
	id := n.Info().ID
	n.Close()
	return id
}

// federatedRoom creates a federated room on n.
func (n *fedNode) federatedRoom(tb testing.TB, name string, policy map[string]any) mesh.RoomID {
	tb.Helper()
	if policy == nil {
		policy = map[string]any{}
	}
	policy["visibility"] = "federated"
	st, body := n.Do(tb, "POST", "/api/v1/rooms", n.owner, map[string]any{"name": name, "policy": policy})
	if st != 201 {
		tb.Fatalf("create room: HTTP %d %v", st, body)
	}
	return mesh.RemoteRoom(mesh.RoomID(body["room"].(map[string]any)["id"].(string)), n.id)
}

// waitDirectory waits until n's directory lists address.
func (n *fedNode) waitDirectory(tb testing.TB, address mesh.RoomID) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, body := n.Do(tb, "GET", "/api/v1/directory", n.owner, nil)
		if strings.Contains(fmt.Sprint(body["rooms"]), string(address)) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("node %s never saw %s in its directory", n.id, address)
}

// agent registers an agent on n and connects it.
func (n *fedNode) agent(tb testing.TB, name string) (*meshtest.Client, mesh.ParticipantID) {
	tb.Helper()
	id, tok := n.Register(tb, name)
	return n.Hello(tb, tok), id
}

// expectMessage reads frames until a message, failing on an error.
func expectMessage(tb testing.TB, c *meshtest.Client) map[string]any {
	tb.Helper()
	for {
		f := c.Next(10 * time.Second)
		switch f.Type() {
		case "message":
			return f["message"].(map[string]any)
		case "error":
			tb.Fatalf("expected a message, got %v", f)
		}
	}
}

func TestFederatedRoom(t *testing.T) {
	r := startRelay(t, nil)
	a, b, c := startNode(t, r, "", nil), startNode(t, r, "", nil), startNode(t, r, "", nil)
	room := b.federatedRoom(t, "design", nil)
	a.waitDirectory(t, room)
	c.waitDirectory(t, room)

	alice, aliceID := a.agent(t, "alice")
	carol, _ := c.agent(t, "carol")
	bob, _ := b.agent(t, "bob")
	bob.Send(map[string]any{"type": "join", "room": "design"})
	bob.Expect("joined")
	alice.Send(map[string]any{"type": "join", "room": room, "ref": "j"})
	j := alice.Expect("joined")
	if j["room"] != string(room) {
		t.Fatalf("joined: %v", j)
	}
	carol.Send(map[string]any{"type": "join", "room": room})
	j = carol.Expect("joined")
	found := false
	for _, m := range j["members"].([]any) {
		mm := m.(map[string]any)
		if mm["id"] == string(aliceID)+"@"+a.id && mm["node"] == a.id && mm["trust"] == "federated" {
			found = true
		}
	}
	if !found {
		t.Fatalf("carol's joined does not list alice as a federated member of node A: %v", j["members"])
	}

	alice.Send(map[string]any{"type": "say", "room": room, "text": "hello from A", "ref": "s1"})
	ack := alice.Expect("ack")
	if ack["ref"] != "s1" || ack["id"] == nil {
		t.Fatalf("ack: %v", ack)
	}
	for name, cl := range map[string]*meshtest.Client{"carol": carol, "bob": bob} {
		m := expectMessage(t, cl)
		from := m["from"].(map[string]any)
		if m["id"] != ack["id"] || m["body"].(map[string]any)["text"] != "hello from A" || from["node"] != a.id || m["trust"] != "federated" {
			t.Fatalf("%s got %v", name, m)
		}
		if len(m["provenance"].([]any)) == 0 {
			t.Fatalf("%s: no provenance in %v", name, m)
		}
	}
	// Alice's own message comes back through the mirror, named as her node names her.
	m := expectMessage(t, alice)
	if m["from"].(map[string]any)["id"] != string(aliceID) || m["room"] != string(room) || m["seq"] != 1.0 {
		t.Fatalf("alice's mirror: %v", m)
	}
	// Bob answers; Alice and Carol hear it once.
	bob.Send(map[string]any{"type": "say", "room": "design", "text": "hi A"})
	bob.Expect("ack")
	for name, cl := range map[string]*meshtest.Client{"alice": alice, "carol": carol} {
		m := expectMessage(t, cl)
		if m["body"].(map[string]any)["text"] != "hi A" || m["from"].(map[string]any)["id"] != "" && m["from"].(map[string]any)["node"] != b.id || m["trust"] != "federated" || m["seq"] != 2.0 {
			t.Fatalf("%s got %v", name, m)
		}
	}
}

var _ = os.Getenv
var _ = filepath.Join
var _ = context.Background
