package tlsconf_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
	"github.com/the-mesh/mesh/internal/bench"
	"github.com/the-mesh/mesh/internal/meshtest"
	"github.com/the-mesh/mesh/internal/node"
	"github.com/the-mesh/mesh/internal/tlsconf"
	"github.com/the-mesh/mesh/internal/web"
)

// BenchmarkTLS measures what TLS and end-to-end encryption cost against
// plain, in the same run, on loopback, with one real node (package node and
// web, storage on disk) serving the same handler on a plain and a TLS
// listener (--tls auto: ECDSA P-256). Each iteration does, alternating the
// order within each pair:
//
//   - a TCP connect to each listener, and a full TLS handshake (no session
//     resumption) on the TLS one;
//   - on an open ws and an open wss connection: one say answered by its ack
//     (which waits for the fsync), and one ping answered by its pong (no
//     storage: the transport alone);
//   - on a third ws connection, in an end-to-end encrypted room: one message
//     sealed by the client (ratchet step, XChaCha20-Poly1305, Ed25519) and
//     answered by its ack (the node checks its signature), paired with one
//     more plain say; and a receiver's verify and open of that message.
//
// It reports the median of each in µs (medians: a shared VM's outliers
// swing means by 2x), handshakes/s one client after the other, and the
// TLS/plain ratios of the medians, all from the same run. Each connection
// has its own room, so neither receives the other's messages. The node
// writes at once (--write-delay 0): its default 40 ms write coalescing
// would hide both transports.
//
//	go test -run '^$' -bench TLS -benchtime 3s ./internal/tlsconf
func BenchmarkTLS(b *testing.B) {
	e := startBench(b)
	plain, secure := e.ws(b, false), e.ws(b, true)
	defer plain.Close()
	defer secure.Close()
	sealer := e.e2eSender(b)
	defer sealer.conn.Close()
	text := strings.Repeat("x", 200)
	var tcp, hs, say, says, ping, pings, sealed, open samples
	for n := 0; b.Loop(); n++ {
		steps := []func(){
			func() { tcp.add(e.connect(b)) },
			func() { hs.add(e.handshake(b)) },
			func() { say.add(roundTrip(b, plain, e.sayFrame(e.rooms[0], n, text), "ack")) },
			func() { says.add(roundTrip(b, secure, e.sayFrame(e.rooms[1], n, text), "ack")) },
			func() { ping.add(roundTrip(b, plain, pingFrame(n), "pong")) },
			func() { pings.add(roundTrip(b, secure, pingFrame(n), "pong")) },
			func() { sealed.add(sealer.say(b, n, text, &open)) },
			func() { say.add(roundTrip(b, plain, e.sayFrame(e.rooms[0], n, text), "ack")) },
		}
		if n%2 == 1 { // swap each plain/TLS pair every other time
			for i := 0; i < len(steps); i += 2 {
				steps[i], steps[i+1] = steps[i+1], steps[i]
			}
		}
		for _, f := range steps {
			f()
		}
	}
	b.ReportMetric(tcp.us(), "tcp-connect-µs")
	b.ReportMetric(1e6/tcp.us(), "tcp-connects/s")
	b.ReportMetric(hs.us(), "tls-handshake-µs")
	b.ReportMetric(1e6/hs.us(), "tls-handshakes/s")
	b.ReportMetric(hs.us()/tcp.us(), "handshake/connect-x")
	b.ReportMetric(say.us(), "ws-say-ack-µs")
	b.ReportMetric(says.us(), "wss-say-ack-µs")
	b.ReportMetric(says.us()/say.us(), "wss/ws-say-x")
	b.ReportMetric(ping.us(), "ws-ping-µs")
	b.ReportMetric(pings.us(), "wss-ping-µs")
	b.ReportMetric(pings.us()/ping.us(), "wss/ws-ping-x")
	b.ReportMetric(sealed.us(), "e2e-seal-say-ack-µs")
	b.ReportMetric(sealed.us()/say.us(), "e2e/plain-say-x")
	b.ReportMetric(open.us(), "e2e-verify-open-µs")
}

// samples are durations measured one by one.
type samples []time.Duration

func (s *samples) add(d time.Duration) { *s = append(*s, d) }

// us returns the median in microseconds.
func (s samples) us() float64 {
	c := slices.Clone(s)
	slices.Sort(c)
	return float64(c[len(c)/2]) / float64(time.Microsecond)
}

// benchEnv is a node served on a plain and a TLS listener.
type benchEnv struct {
	plainURL, tlsURL string
	client           *tls.Config // trusts the node's local CA
	token            string
	rooms            [2]string // the ws connection's and the wss one's
}

// e2eSender is a client of an end-to-end encrypted room: its device, the
// room's roster, its chain and the seq of its keys entry.
type e2eSender struct {
	conn   *bench.Conn
	room   string // the room's id on this node
	id     *e2e.Identity
	roster mesh.Roster
	chain  *e2e.Chain
	keys   uint64
}

// e2eSender registers a device, creates an E2E room, waits for a roster
// with the device and posts its keys entry.
func (e *benchEnv) e2eSender(b *testing.B) *e2eSender {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	api := bench.NewAPI(e.plainURL, 1)
	id, err := e2e.NewIdentity(nil)
	if err != nil {
		b.Fatal(err)
	}
	room, err := api.CreateE2ERoom(ctx, e.token, "bench-e2e")
	if err == nil {
		err = api.RegisterDevice(ctx, e.token, id.Device())
	}
	if err != nil {
		b.Fatal(err)
	}
	s := &e2eSender{id: id, room: room}
	for !slices.ContainsFunc(s.roster.Devices, func(d mesh.Device) bool { return d.ID == id.ID() }) {
		if s.roster, err = api.Roster(ctx, e.token, room); err != nil || ctx.Err() != nil {
			b.Fatalf("roster of %s with device %s: %v %v", room, id.ID(), err, ctx.Err())
		}
	}
	if s.conn, err = bench.DialTLS(ctx, e.plainURL, nil); err != nil {
		b.Fatal(err)
	}
	if _, err := s.conn.Handshake(e.token, room, 10*time.Second); err != nil {
		b.Fatal(err)
	}
	keys, ck0, err := e2e.SealKeys(id, s.roster.Room, s.roster.Epoch, s.roster.Devices, nil)
	if err != nil {
		b.Fatal(err)
	}
	s.keys = s.post(b, map[string]any{"type": "say", "room": room, "kind": "encrypted", "body": map[string]any{"e2e": keys}, "ref": "k"})
	s.chain = e2e.NewChain(ck0)
	return s
}

// post sends a frame and returns the seq of its ack.
func (s *e2eSender) post(b *testing.B, frame any) uint64 {
	raw, _ := json.Marshal(frame)
	if err := s.conn.WriteText(raw); err != nil {
		b.Fatal(err)
	}
	for {
		f, err := s.conn.ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		var got struct {
			Type string
			Seq  uint64
		}
		json.Unmarshal(f, &got)
		switch got.Type {
		case "ack":
			return got.Seq
		case "error":
			b.Fatalf("node refused: %s", f)
		}
	}
}

// say seals text, sends it and times seal + round trip to the ack; it adds
// a receiver's verify and open of the same message to open.
func (s *e2eSender) say(b *testing.B, i int, text string, open *samples) time.Duration {
	ref := fmt.Sprint("e", i)
	env := e2e.Envelope{Room: s.roster.Room, Ref: ref}
	start := time.Now()
	n, mk, err := s.chain.Next()
	if err != nil {
		b.Fatal(err)
	}
	sealed, err := e2e.Seal(s.id, env, s.roster.Epoch, s.keys, n, mk, e2e.Plain{Kind: mesh.MessageChat, Body: mesh.Body{Text: text}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	frame, _ := json.Marshal(map[string]any{"type": "say", "room": s.room, "kind": "encrypted", "body": map[string]any{"e2e": sealed}, "ref": ref})
	roundTrip(b, s.conn, frame, "ack")
	d := time.Since(start) // seal and round trip
	start = time.Now()
	if err := e2e.Verify(sealed, env, s.id.Device().Sign); err != nil {
		b.Fatal(err)
	}
	if _, err := e2e.Open(sealed, env, mk); err != nil {
		b.Fatal(err)
	}
	open.add(time.Since(start))
	return d
}

func startBench(b *testing.B) *benchEnv {
	b.Helper()
	n := meshtest.Start(b, "", func(nc *node.Config, wc *web.Config) {
		wc.Rate, wc.MaxConnsPerIP, wc.SendQueue.WriteDelay = 0, 0, 0
	})
	ts := MustAuto(b, b.TempDir(), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: tlsconf.HSTS(n.Web)}
	go hs.Serve(ts.Listener(ln))
	b.Cleanup(func() { hs.Close() })
	client, err := tlsconf.ClientConfig(ts.CA().File)
	if err != nil {
		b.Fatal(err)
	}
	e := &benchEnv{plainURL: n.URL, tlsURL: "https://" + ln.Addr().String(), client: client}
	_, e.token = n.Register(b, "bench")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, name := range []string{"bench-ws", "bench-wss"} {
		if e.rooms[i], err = bench.NewAPI(n.URL, 1).CreateRoom(ctx, e.token, name); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

// ws opens a WebSocket that has said hello and joined the room.
func (e *benchEnv) ws(b *testing.B, secure bool) *bench.Conn {
	b.Helper()
	url, tc, room := e.plainURL, (*tls.Config)(nil), e.rooms[0]
	if secure {
		url, tc, room = e.tlsURL, e.client, e.rooms[1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := bench.DialTLS(ctx, url, tc)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Handshake(e.token, room, 10*time.Second); err != nil {
		b.Fatal(err)
	}
	return c
}

// connect times a TCP connect to the plain listener.
func (e *benchEnv) connect(b *testing.B) time.Duration {
	start := time.Now()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.plainURL, "http://"))
	d := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	c.Close()
	return d
}

// handshake times a TCP connect and a full TLS handshake to the TLS
// listener.
func (e *benchEnv) handshake(b *testing.B) time.Duration {
	start := time.Now()
	c, err := tls.Dial("tcp", strings.TrimPrefix(e.tlsURL, "https://"), e.client)
	d := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	c.Close()
	return d
}

func (e *benchEnv) sayFrame(room string, i int, text string) []byte {
	f, _ := json.Marshal(map[string]string{"type": "say", "room": room, "text": text, "ref": fmt.Sprint("s", i)})
	return f
}

func pingFrame(i int) []byte {
	f, _ := json.Marshal(map[string]string{"type": "ping", "ref": fmt.Sprint("p", i)})
	return f
}

// roundTrip sends frame and reads until a frame of type want with the
// same ref.
func roundTrip(b *testing.B, c *bench.Conn, frame []byte, want string) time.Duration {
	var sent struct{ Ref string }
	json.Unmarshal(frame, &sent)
	start := time.Now()
	if err := c.WriteText(frame); err != nil {
		b.Fatal(err)
	}
	for {
		f, err := c.ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		var got struct{ Type, Ref string }
		if err := json.Unmarshal(f, &got); err != nil {
			b.Fatal(err)
		}
		switch {
		case got.Type == want && got.Ref == sent.Ref:
			return time.Since(start)
		case got.Type == "error":
			b.Fatalf("node refused: %s", f)
		}
	}
}
