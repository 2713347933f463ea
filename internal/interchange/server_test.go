package interchange_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/interchange"
)

// relay is a relay serving on a random loopback port.
type relay struct {
	*interchange.Server
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
	r := &relay{Server: s, url: "ws://" + ln.Addr().String(), dir: dir, hs: hs}
	tb.Cleanup(r.stop)
	return r
}

func (r *relay) stop() {
	r.hs.Close()
	r.Server.Close()
}

// newNode makes a node identity.
func newNode(tb testing.TB) interchange.Identity {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return interchange.Identity{ID: interchange.InstanceID('n', priv.Public().(ed25519.PublicKey)), Key: priv}
}

// allow registers id on r and returns its secret.
func (r *relay) allow(tb testing.TB, id string) string {
	tb.Helper()
	secret, err := interchange.OpenRegistry(r.dir).Allow(id)
	if err != nil {
		tb.Fatal(err)
	}
	return secret
}

func dial(tb testing.TB, url string, id interchange.Identity, secret string) *interchange.Link {
	tb.Helper()
	l, err := interchange.Dial(context.Background(), interchange.DialConfig{URL: url, Identity: id, Kind: interchange.KindNode, Secret: secret})
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(l.Abort)
	return l
}

// sendFrame builds a signed send frame from id to node to.
func sendFrame(id interchange.Identity, to, fid string, body any) []byte {
	b, _ := json.Marshal(body)
	sig := ed25519.Sign(id.Key, interchange.SignedBytes(id.ID, to, b))
	f, _ := json.Marshal(interchange.Send{Type: interchange.TypeSend, To: to, ID: fid, N: 1, Key: id.Public(),
		Sig: base64.StdEncoding.EncodeToString(sig), Body: b})
	return f
}

// next reads frames until one of type typ (skipping directories unless asked).
func next(tb testing.TB, l *interchange.Link, typ string) map[string]any {
	tb.Helper()
	var f map[string]any
	json.Unmarshal(nextRaw(tb, l, typ), &f)
	return f
}

func nextRaw(tb testing.TB, l *interchange.Link, typ string) []byte {
	tb.Helper()
	done := make(chan []byte, 1)
	errc := make(chan error, 1)
	go func() {
		for {
			p, err := l.Read()
			if err != nil {
				errc <- err
				return
			}
			var f map[string]any
			json.Unmarshal(p, &f)
			if f["type"] == typ {
				done <- append([]byte(nil), p...)
				return
			}
		}
	}()
	select {
	case f := <-done:
		return f
	case err := <-errc:
		tb.Fatalf("waiting for %s: %v", typ, err)
	case <-time.After(5 * time.Second):
		tb.Fatalf("no %s frame within 5 s", typ)
	}
	return nil
}

func TestRouteAndAuth(t *testing.T) {
	r := startRelay(t, nil)
	a, b := newNode(t), newNode(t)
	la := dial(t, r.url, a, r.allow(t, a.ID))
	lb := dial(t, r.url, b, r.allow(t, b.ID))
	if la.Welcome.Auth != interchange.AuthSecret {
		t.Fatalf("auth: got %q, want secret", la.Welcome.Auth)
	}
	la.Send(sendFrame(a, b.ID, "f1", mesh.FedBody{Kind: mesh.FedSay, Room: "x@" + mesh.RoomID(b.ID), Msg: &mesh.Message{ID: "m_1"}}))
	p := nextRaw(t, lb, interchange.TypeDeliver)
	var f map[string]any
	json.Unmarshal(p, &f)
	if f["from"] != a.ID || f["auth"] != "secret" || f["to"] != b.ID || f["id"] != "f1" {
		t.Fatalf("deliver: %v", f)
	}
	var d interchange.Deliver
	if err := mesh.DecodeStrict(p, &d); err != nil {
		t.Fatalf("deliver does not decode strictly: %v", err)
	}
	sig, _ := base64.StdEncoding.DecodeString(d.Sig)
	if !ed25519.Verify(a.Key.Public().(ed25519.PublicKey), interchange.SignedBytes(d.From, d.To, d.Body), sig) {
		t.Fatal("signature does not verify after the relay")
	}

	t.Run("ErrWrongSecret", func(t *testing.T) {
		c := newNode(t)
		r.allow(t, c.ID)
		_, err := interchange.Dial(context.Background(), interchange.DialConfig{URL: r.url, Identity: c, Kind: interchange.KindNode, Secret: "mis_wrong"})
		if mesh.ErrorCode(err) != mesh.EUnauthorized || !strings.Contains(err.Error(), "Wrong secret") {
			t.Fatalf("got %v, want unauthorized: wrong secret", err)
		}
	})
	t.Run("ErrNotRegistered", func(t *testing.T) {
		_, err := interchange.Dial(context.Background(), interchange.DialConfig{URL: r.url, Identity: newNode(t), Kind: interchange.KindNode})
		if mesh.ErrorCode(err) != mesh.EUnauthorized {
			t.Fatalf("got %v, want unauthorized", err)
		}
	})
	t.Run("ErrStolenID", func(t *testing.T) {
		c := newNode(t)
		c.ID = a.ID // claims a's id with another key
		_, err := interchange.Dial(context.Background(), interchange.DialConfig{URL: r.url, Identity: c, Kind: interchange.KindNode})
		if mesh.ErrorCode(err) != mesh.EUnauthorized {
			t.Fatalf("got %v, want unauthorized", err)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		la.Send(sendFrame(a, newNode(t).ID, "f2", mesh.FedBody{Kind: mesh.FedAck}))
		if f := next(t, la, interchange.TypeUnreachable); f["id"] != "f2" {
			t.Fatalf("unreachable: %v", f)
		}
	})
	t.Run("ErrUnknownField", func(t *testing.T) {
		for name, raw := range map[string]string{
			"frame":     `{"type":"send","to":"%s","id":"u1","key":"k","sig":"s","body":{"kind":"ack"},"colour":"red"}`,
			"body":      `{"type":"send","to":"%s","id":"u1","key":"k","sig":"s","body":{"kind":"ack","secret":1}}`,
			"msg":       `{"type":"send","to":"%s","id":"u1","key":"k","sig":"s","body":{"kind":"say","msg":{"id":"m","admin":true}}}`,
			"from":      `{"type":"send","to":"%s","id":"u1","from":"nxxxxxxxxxxxxxxxx","key":"k","sig":"s","body":{}}`,
			"twice":     `{"type":"send","to":"%s","id":"u1","id":"u2","key":"k","sig":"s","body":{}}`,
			"malformed": `{"type":"send","to":"%s","id":"u1","key":"k","sig":"s","body":{"kind":"ack"}},"x":{`,
			"batch":     `{"type":"send","to":"%s","id":"u1","n":1,"key":"k","sig":"s","bodies":[{"kind":"ack"},{"kind":"say","msg":{"id":"m","admin":true}}]}`,
			"notbodies": `{"type":"send","to":"%s","id":"u1","n":1,"key":"k","sig":"s","bodies":[{"kind":"ack"},"x"]}`,
			"empty":     `{"type":"send","to":"%s","id":"u1","n":1,"key":"k","sig":"s","bodies":[]}`,
			"both":      `{"type":"send","to":"%s","id":"u1","n":1,"key":"k","sig":"s","body":{},"bodies":[{}]}`,
			"neither":   `{"type":"send","to":"%s","id":"u1","n":1,"key":"k","sig":"s"}`,
		} {
			la.Send(fmt.Appendf(nil, raw, b.ID))
			f := next(t, la, interchange.TypeError)
			if f["code"] != mesh.EInvalid {
				t.Errorf("%s: got %v, want invalid", name, f)
			}
		}
		la.Send(sendFrame(a, b.ID, "ok2", mesh.FedBody{Kind: mesh.FedAck}))
		if f := next(t, lb, interchange.TypeDeliver); f["id"] != "ok2" {
			t.Fatalf("after refusals: %v (a refused frame was delivered)", f)
		}
	})
	t.Run("Batch", func(t *testing.T) {
		// A batch is passed on byte for byte, and its one signature holds.
		var bodies []byte
		for i, text := range []string{"one", "two", "three"} {
			b, _ := json.Marshal(mesh.FedBody{Kind: mesh.FedSay, Room: "x@" + mesh.RoomID(b.ID), Msg: &mesh.Message{ID: fmt.Sprint("m_", i), Body: mesh.Body{Text: text}}})
			if i > 0 {
				bodies = append(bodies, ',')
			}
			bodies = append(bodies, b...)
		}
		bodies = append(append([]byte{'['}, bodies...), ']')
		sig := ed25519.Sign(a.Key, interchange.SignedBytes(a.ID, b.ID, bodies))
		f, _ := json.Marshal(interchange.Send{Type: interchange.TypeSend, To: b.ID, ID: "batch1", N: 7, Base: 7, Epoch: "e", Key: a.Public(),
			Sig: base64.StdEncoding.EncodeToString(sig), Bodies: bodies})
		la.Send(f)
		p := nextRaw(t, lb, interchange.TypeDeliver)
		d, err := interchange.ParseDeliver(p)
		if err != nil {
			t.Fatal(err)
		}
		if d.ID != "batch1" || d.N != 7 || d.Body != nil || string(d.Bodies) != string(bodies) {
			t.Fatalf("deliver: %+v", d)
		}
		sigGot, _ := base64.StdEncoding.DecodeString(d.Sig)
		if !ed25519.Verify(a.Key.Public().(ed25519.PublicKey), interchange.SignedBytes(d.From, d.To, d.Bodies), sigGot) {
			t.Fatal("the batch's signature does not verify after the relay")
		}
		var n int
		interchange.SplitBodies(d.Bodies, func([]byte) bool { n++; return true })
		if n != 3 {
			t.Fatalf("split %d bodies, want 3", n)
		}
	})
	t.Run("Directory", func(t *testing.T) {
		la.SendJSON(interchange.Announce{Type: interchange.TypeAnnounce, Name: "alpha", Rooms: []interchange.RoomInfo{{ID: "design", Name: "Design"}}})
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err := http.Get("http" + strings.TrimPrefix(r.url, "ws") + "/directory")
			if err != nil {
				t.Fatal(err)
			}
			var d interchange.Directory
			json.NewDecoder(resp.Body).Decode(&d)
			resp.Body.Close()
			for _, n := range d.Nodes {
				if n.ID == a.ID && len(n.Rooms) == 1 && n.Name == "alpha" && n.Key == a.Public() {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("directory never listed alpha's room: %+v", d)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func TestOpenMode(t *testing.T) {
	r := startRelay(t, func(c *interchange.Config) { c.Open = true })
	a, b := newNode(t), newNode(t)
	la := dial(t, r.url, a, "") // unregistered: let in, tagged open
	lb := dial(t, r.url, b, r.allow(t, b.ID))
	if la.Welcome.Auth != interchange.AuthOpen || lb.Welcome.Auth != interchange.AuthSecret {
		t.Fatalf("auth: a %q b %q, want open and secret", la.Welcome.Auth, lb.Welcome.Auth)
	}
	la.Send(sendFrame(a, b.ID, "o1", mesh.FedBody{Kind: mesh.FedAck}))
	if f := next(t, lb, interchange.TypeDeliver); f["auth"] != "open" {
		t.Fatalf("open traffic: %v, want auth open", f)
	}
	// A registered id with a wrong secret is still refused in open mode.
	_, err := interchange.Dial(context.Background(), interchange.DialConfig{URL: r.url, Identity: b, Kind: interchange.KindNode, Secret: "mis_wrong"})
	if mesh.ErrorCode(err) != mesh.EUnauthorized {
		t.Fatalf("wrong secret on an open relay: %v", err)
	}
}

// TestBridge links two relays and routes both ways; a loop of three
// bridges does not make frames circle.
func TestBridge(t *testing.T) {
	r1 := startRelay(t, nil)
	r2id := t.TempDir()
	id2, _ := interchange.LoadIdentity(r2id)
	secret := r1.allow(t, id2.ID)
	r2 := startRelay(t, func(c *interchange.Config) {
		c.Identity = id2
		c.Bridges = []interchange.Bridge{{URL: r1.url, Secret: secret}}
	})
	a, c := newNode(t), newNode(t)
	la := dial(t, r1.url, a, r1.allow(t, a.ID))
	lc := dial(t, r2.url, c, r2.allow(t, c.ID))
	waitRoute(t, r1, c.ID)
	waitRoute(t, r2, a.ID)
	la.Send(sendFrame(a, c.ID, "b1", mesh.FedBody{Kind: mesh.FedAck}))
	if f := next(t, lc, interchange.TypeDeliver); f["from"] != a.ID || f["auth"] != "secret" {
		t.Fatalf("across the bridge: %v", f)
	}
	lc.Send(sendFrame(c, a.ID, "b2", mesh.FedBody{Kind: mesh.FedAck}))
	if f := next(t, la, interchange.TypeDeliver); f["from"] != c.ID {
		t.Fatalf("back across the bridge: %v", f)
	}
}

func waitRoute(t *testing.T, r *relay, node string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http" + strings.TrimPrefix(r.url, "ws") + "/directory")
		if err == nil {
			var d interchange.Directory
			json.NewDecoder(resp.Body).Decode(&d)
			resp.Body.Close()
			for _, n := range d.Nodes {
				if n.ID == node {
					return
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("relay %s never learned a route to %s", r.ID(), node)
}

// TestWhitelistsMatchTypes keeps the relay's whitelists in step with the
// JSON names of the types they guard.
func TestWhitelistsMatchTypes(t *testing.T) {
	for name, tc := range map[string]struct {
		typ  reflect.Type
		skip []string
		list []string
	}{
		"send": {reflect.TypeFor[interchange.Send](), []string{"type"}, interchange.SendFields},
		"body": {reflect.TypeFor[mesh.FedBody](), nil, interchange.BodyFields},
		"msg":  {reflect.TypeFor[mesh.Message](), nil, interchange.MsgFields},
	} {
		var names []string
		for f := range tc.typ.Fields() {
			n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !contains(tc.skip, n) {
				names = append(names, n)
			}
		}
		if !reflect.DeepEqual(names, tc.list) {
			t.Errorf("%s: got %v, want %v", name, tc.list, names)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
