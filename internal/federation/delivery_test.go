package federation_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/federation"
	"github.com/the-mesh/mesh/internal/interchange"
)

// nopHandler takes every body and applies nothing.
type nopHandler struct{}

func (nopHandler) Check(federation.Peer, *mesh.FedBody) error { return nil }
func (nopHandler) Receive(_ federation.Peer, _ *mesh.FedBody, _ error, done func(error)) {
	done(nil)
}
func (nopHandler) Reject(federation.Peer, string) {}
func (nopHandler) Reachable(string)               {}

// sink is a node that counts the frames it is sent and never acknowledges.
type sink struct {
	id     interchange.Identity
	frames atomic.Int64
}

func newSink(tb testing.TB, r *relay) *sink {
	tb.Helper()
	s := &sink{id: newIdentity()}
	secret, _ := interchange.OpenRegistry(r.dir).Allow(s.id.ID)
	l, err := interchange.Dial(context.Background(), interchange.DialConfig{URL: r.url, Identity: s.id, Kind: interchange.KindNode, Secret: secret})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(l.Abort)
	go func() {
		for {
			p, err := l.Read()
			if err != nil {
				return
			}
			if interchange.TypeOf(p) == interchange.TypeDeliver {
				s.frames.Add(1)
			}
		}
	}()
	return s
}

func newIdentity() interchange.Identity {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	return interchange.Identity{ID: interchange.InstanceID('n', priv.Public().(ed25519.PublicKey)), Key: priv}
}

// waitFor polls cond until it holds or 15 s pass.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAttemptsBoundAcrossRestart: an entry that is never acknowledged is
// sent MaxAttempts times in all, however the node restarts in between,
// and then moves to the dead letters with that count.
func TestAttemptsBoundAcrossRestart(t *testing.T) {
	r := startRelay(t, nil)
	dst := newSink(t, r)
	id := newIdentity()
	secret, _ := interchange.OpenRegistry(r.dir).Allow(id.ID)
	dir := t.TempDir()
	open := func() *federation.Client {
		cfg := federation.DefaultConfig()
		cfg.URL, cfg.Secret, cfg.Identity, cfg.DataDir = r.url, secret, id, dir
		cfg.MaxAttempts, cfg.MaxAge = 3, 0
		cfg.RetryMin, cfg.RetryMax = 20*time.Millisecond, 40*time.Millisecond
		c, err := federation.Open(cfg, nopHandler{})
		if err != nil {
			t.Fatal(err)
		}
		c.Start()
		return c
	}
	c := open()
	queued := make(chan error, 1)
	c.Send(dst.id.ID, &mesh.FedBody{Kind: mesh.FedLeave, Room: mesh.RoomID("design@" + dst.id.ID)}, func(err error) { queued <- err })
	if err := <-queued; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two transmissions", func() bool { return dst.frames.Load() >= 2 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = open() // the same data directory: the count goes on
	defer c.Close()
	var dls []federation.DeadLetter
	waitFor(t, "the dead letter", func() bool {
		dls, _ = c.DeadLetters()
		return len(dls) == 1
	})
	waitFor(t, "the last transmission", func() bool { return dst.frames.Load() >= 3 })
	if got := dst.frames.Load(); got != 3 {
		t.Fatalf("the entry was sent %d times over two lives, want 3 (the bound)", got)
	}
	if dls[0].Attempts != 3 || !strings.Contains(dls[0].Reason, "the bound is 3 attempts") {
		t.Fatalf("dead letter: %+v, want 3 attempts and the bound as the reason", dls[0])
	}
}

// sendBatch sends bodies to node to as one frame, the next positions of
// f's stream, signed once with key (the node's own when nil).
func (f *fakeNode) sendBatch(to string, key ed25519.PrivateKey, bodies ...*mesh.FedBody) {
	raw := []byte{'['}
	for i, b := range bodies {
		if i > 0 {
			raw = append(raw, ',')
		}
		j, _ := json.Marshal(b)
		raw = append(raw, j...)
	}
	raw = append(raw, ']')
	if key == nil {
		key = f.id.Key
	}
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(key, interchange.SignedBytes(f.id.ID, to, raw)))
	frame, _ := json.Marshal(interchange.Send{Type: interchange.TypeSend, To: to, ID: fmt.Sprint("b", f.n+1), N: f.n + 1, Base: 1,
		Epoch: "fake", Key: f.id.Public(), Sig: sig, Bodies: raw})
	f.n += uint64(len(bodies))
	f.link.Send(frame)
}

// TestBatchFrames: bodies a node sends in one frame, under one signature,
// are applied in order; a batch whose signature does not verify is
// refused whole and takes no positions; a forged provenance inside a
// batch refuses that post only.
func TestBatchFrames(t *testing.T) {
	r := startRelay(t, nil)
	b := startNode(t, r, "", nil)
	room := b.federatedRoom(t, "design", nil)
	f := newFakeNode(t, r)
	f.join(b.id, room)
	b.audited(t, `action:join`, "p_mallory@"+f.id.ID, "outcome:ok")

	say := func(id, text string) *mesh.FedBody {
		return &mesh.FedBody{Kind: mesh.FedSay, Room: room, Msg: f.post(room, "p_mallory", id, text)}
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	f.sendBatch(b.id, other, say("m_forgedbatch1", "forged 1"), say("m_forgedbatch2", "forged 2"))
	b.audited(t, "signature does not verify", f.id.ID)
	f.n -= 2 // a refused frame takes no positions

	bad := say("m_badprov00001", "bad provenance")
	bad.Msg.Body.Text = "changed after signing"
	f.sendBatch(b.id, nil, say("m_batch000001", "one"), say("m_batch000002", "two"), bad, say("m_batch000003", "three"))
	b.audited(t, "provenance signature", "m_badprov00001")
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := b.texts(t, "design")
		if len(got) >= 3 {
			if fmt.Sprint(got) != "[one two three]" {
				t.Fatalf("stored %q, want the batch in order without the forged post", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored %q", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// acker is a node that acknowledges what it is sent, saying it takes
// batches or not, and counts the frames that carried batches.
type acker struct {
	id       interchange.Identity
	link     *interchange.Link
	batches  atomic.Bool  // say so in acks
	got      atomic.Int64 // bodies received
	batched  atomic.Int64 // frames with bodies
	expected atomic.Uint64
}

func newAcker(tb testing.TB, r *relay) *acker {
	tb.Helper()
	a := &acker{id: newIdentity()}
	secret, _ := interchange.OpenRegistry(r.dir).Allow(a.id.ID)
	l, err := interchange.Dial(context.Background(), interchange.DialConfig{URL: r.url, Identity: a.id, Kind: interchange.KindNode, Secret: secret})
	if err != nil {
		tb.Fatal(err)
	}
	a.link = l
	tb.Cleanup(l.Abort)
	go func() {
		for {
			p, err := l.Read()
			if err != nil {
				return
			}
			d, err := interchange.ParseDeliver(p)
			if err != nil || d.N == 0 {
				continue
			}
			k := uint64(1)
			if d.Bodies != nil {
				k = 0
				interchange.SplitBodies(d.Bodies, func([]byte) bool { k++; return true })
				a.batched.Add(1)
			}
			if d.N != a.expected.Load()+1 {
				continue // a repeat or a gap: acknowledge what we have
			}
			a.expected.Store(d.N + k - 1)
			a.got.Add(int64(k))
			ack := mesh.FedBody{Kind: mesh.FedAck, Upto: a.expected.Load(), Epoch: d.Epoch}
			if a.batches.Load() {
				ack.Event = mesh.FedBatches
			}
			raw, _ := json.Marshal(ack)
			sig := base64.StdEncoding.EncodeToString(ed25519.Sign(a.id.Key, interchange.SignedBytes(a.id.ID, d.From, raw)))
			f, _ := json.Marshal(interchange.Send{Type: interchange.TypeSend, To: d.From, ID: fmt.Sprint("a", d.N), Key: a.id.Public(), Sig: sig, Body: raw})
			l.Send(f)
		}
	}()
	return a
}

// TestBatchesOnlyWhenTaken: a node sends batches only to a node whose
// acknowledgements say it takes them (a node older than batches gets one
// body a frame), through a relay that takes them.
func TestBatchesOnlyWhenTaken(t *testing.T) {
	r := startRelay(t, nil)
	dst := newAcker(t, r)
	id := newIdentity()
	secret, _ := interchange.OpenRegistry(r.dir).Allow(id.ID)
	cfg := federation.DefaultConfig()
	cfg.URL, cfg.Secret, cfg.Identity, cfg.DataDir = r.url, secret, id, t.TempDir()
	c, err := federation.Open(cfg, nopHandler{})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Close()
	send := func(n int) {
		t.Helper()
		done := make(chan error, n)
		for i := range n {
			c.Send(dst.id.ID, &mesh.FedBody{Kind: mesh.FedPresence, Room: mesh.RoomID("design@" + dst.id.ID), Event: fmt.Sprint(i)}, func(err error) { done <- err })
		}
		for range n {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}
	send(200)
	waitFor(t, "200 bodies", func() bool { return dst.got.Load() == 200 })
	if k := dst.batched.Load(); k != 0 {
		t.Fatalf("%d batches went to a node that does not take them", k)
	}
	dst.batches.Store(true)
	send(1) // its ack says batches
	waitFor(t, "201 bodies", func() bool { return dst.got.Load() == 201 })
	// The sender learns it from an ack it may not have applied yet, and a
	// body sent alone goes alone: send runs of 400 until one is batched.
	deadline := time.Now().Add(20 * time.Second)
	for want := int64(601); dst.batched.Load() == 0; want += 400 {
		if time.Now().After(deadline) {
			t.Fatal("no batch went to a node that takes them")
		}
		send(400)
		waitFor(t, fmt.Sprint(want, " bodies"), func() bool { return dst.got.Load() == want })
	}
}
