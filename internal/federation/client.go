package federation

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/interchange"
)

// Config is what a federation client needs. DefaultConfig fills the
// delivery bounds.
type Config struct {
	URL      string // the relay
	Secret   string // the shared secret the relay gave this node ("" on an open relay)
	Identity interchange.Identity
	DataDir  string
	// MaxAttempts and MaxAge bound an entry's retries: past either it goes
	// to the dead letters. 0 turns a bound off.
	MaxAttempts int
	MaxAge      time.Duration
	// RetryMin and RetryMax bound the retry timeout, which doubles (with
	// jitter) while a destination does not acknowledge.
	RetryMin, RetryMax time.Duration
	Window             int // frames in flight per destination
	// Announce returns the node's name and federated rooms, told to the
	// relay on every link and whenever they change (checked each second).
	Announce func() (string, []interchange.RoomInfo)
	Logger   *slog.Logger
	Now      func() time.Time
	TLS      *tls.Config // verifies a wss:// relay; nil: the system's roots
}

// DefaultConfig returns the defaults of `mesh up --interchange`.
func DefaultConfig() Config {
	return Config{MaxAttempts: 100, MaxAge: 24 * time.Hour, RetryMin: 500 * time.Millisecond, RetryMax: 30 * time.Second,
		Window: 512, Logger: slog.New(slog.DiscardHandler), Now: time.Now}
}

// Peer is the node a body came from, as the relay authenticated it.
type Peer struct {
	ID   string
	Auth string // interchange.AuthSecret or AuthOpen
}

// Handler is what the node does with what other nodes send.
type Handler interface {
	// Check checks a verified body before Receive applies it: what needs
	// no state that earlier bodies change (a post's provenance signature).
	// It is called on any goroutine, concurrently with other Checks and
	// with Receive, for every body Receive will get, earlier; Receive gets
	// what it returned as checked.
	Check(from Peer, b *mesh.FedBody) error
	// Receive applies a verified body. Bodies from one node arrive in the
	// order it sent them, one at a time, on the client's apply goroutine.
	// done must be called exactly once, when the body's effect is durable
	// or it was refused for good (nil), or with an error to have it sent
	// again; it may be called from any goroutine.
	Receive(from Peer, b *mesh.FedBody, checked error, done func(error))
	// Reject reports a frame that failed verification (a bad signature, a
	// key that is not the pinned one, a body that does not decode). It is
	// called from the read or the apply goroutine, maybe at once.
	Reject(from Peer, reason string)
	// Reachable reports a node that appeared in the relay's directory
	// (also on every new link), from the read goroutine.
	Reachable(node string)
}

// Client is a node's federation client. All methods are safe for
// concurrent use.
type Client struct {
	cfg   Config
	h     Handler
	log   *slog.Logger
	q     *Queue
	keys  *keyring
	self  string
	key   string // base64 public key
	wakec chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex // guards the fields below
	link      *interchange.Link
	relay     string // the relay's id, while linked
	auth      string // this node's auth on it
	lastError string
	dir       interchange.Directory
	out       map[string]*outbox
	in        map[string]*inbox

	lossy   map[lossyKey]*mesh.FedBody // lossy bodies waiting for the pump (lossy.go)
	applyc  chan *inFrame              // verified frames, read goroutine to apply goroutine
	sigBuf  []byte                     // the read goroutine's scratch for signed bytes
	signBuf []byte                     // the pump's
}

// outbox is the sending state of one destination.
type outbox struct {
	sent     uint64    // highest N sent since the last go-back
	deadline time.Time // when an acknowledgement is overdue (zero: nothing in flight)
	rto      time.Duration
	srtt     time.Duration // smoothed round trip (send to acknowledgement), 0 before a sample
	rttvar   time.Duration
	backAt   time.Time // when the last gap made the sender go back
	backTo   uint64    // ... to the entry after this one
	down     time.Time // the relay said unreachable: wait until then
	backoff  time.Duration
	batches  bool // its last acknowledgement said it takes batches
}

// sample folds a round-trip measurement into the retry timeout, as TCP
// does (RFC 6298): srtt + 4 rttvar, within [RetryMin, RetryMax].
func (o *outbox) sample(r, lo, hi time.Duration) {
	if o.srtt == 0 {
		o.srtt, o.rttvar = r, r/2
	} else {
		d := o.srtt - r
		if d < 0 {
			d = -d
		}
		o.rttvar = (3*o.rttvar + d) / 4
		o.srtt = (7*o.srtt + r) / 8
	}
	o.rto = min(max(o.srtt+4*o.rttvar, lo), hi)
}

// inbox is the receiving state of one origin's stream.
type inbox struct {
	epoch   string
	expect  uint64      // the next N to apply
	fifo    []applyNote // applied, in order, waiting to be durable
	ackUpto uint64      // every N up to here is durable
	sentAck uint64      // the last Upto sent
	ackDue  bool        // send an ack even without progress (a repeat came)
	dropped uint64      // the highest N dropped for coming early: acks say "gap" until it is applied
	lastGap time.Time
}

type applyNote struct {
	n    uint64
	done bool
}

// Open opens the queue and the pinned keys in cfg.DataDir. Start starts
// the link to the relay (and the calls to h); Close stops it.
func Open(cfg Config, h Handler) (*Client, error) {
	def := DefaultConfig()
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if cfg.Now == nil {
		cfg.Now = def.Now
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = def.RetryMin
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(def.RetryMax, cfg.RetryMin)
	}
	if cfg.Window <= 0 {
		cfg.Window = def.Window
	}
	c := &Client{cfg: cfg, h: h, log: cfg.Logger, self: cfg.Identity.ID, key: cfg.Identity.Public(),
		wakec: make(chan struct{}, 1), out: map[string]*outbox{}, in: map[string]*inbox{}, applyc: make(chan *inFrame, applyDepth)}
	var err error
	if c.q, err = OpenQueue(cfg.DataDir, c.log, cfg.Now, c.wake); err != nil {
		return nil, err
	}
	if c.keys, err = openKeyring(cfg.DataDir, c.log); err != nil {
		c.q.Close()
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Start starts the link to the relay, the sender and the receiver, which
// call the handler: a handler that uses c may, once Open has returned it.
// Call it once.
func (c *Client) Start() {
	c.wg.Add(3)
	go c.connect()
	go c.pump()
	go c.apply()
}

// Close stops the link and the sender and closes the queue.
func (c *Client) Close() error {
	c.cancel()
	c.mu.Lock()
	if c.link != nil {
		c.link.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
	return errors.Join(c.q.Close(), c.keys.close())
}

func (c *Client) wake() {
	select {
	case c.wakec <- struct{}{}:
	default:
	}
}

// Send queues b for node to and calls done once it is durable in the
// queue (it leaves when the destination acknowledges it, in a frame the
// client signs). done must not block. Errors: EUnavailable (the queue
// failed or is closed).
func (c *Client) Send(to string, b *mesh.FedBody, done func(error)) {
	raw, err := b.MarshalJSON() // not json.Marshal: it would check and compact what this returns
	if err != nil {
		done(fmt.Errorf("encode %s body: %w", b.Kind, err))
		return
	}
	c.SendRaw(to, b.Kind, raw, done)
}

// SendRaw is Send for a body already encoded (json.Marshal of a
// mesh.FedBody of that kind), which may go to several nodes: raw must not
// change after the call.
func (c *Client) SendRaw(to, kind string, raw []byte, done func(error)) {
	c.q.Put(to, kind, raw, func(_ *Entry, err error) { done(err) })
}

// KnownKey returns the key pinned for node, if any.
func (c *Client) KnownKey(node string) (ed25519.PublicKey, bool) { return c.keys.known(node) }

// Directory returns the relay's last directory (empty while unlinked).
func (c *Client) Directory() interchange.Directory {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dir
}

// MaxFrameBytes is the largest frame the relay takes, as its welcome
// said (interchange.DefaultMaxFrameBytes while unlinked).
func (c *Client) MaxFrameBytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.link != nil && c.link.Welcome.Limits.MaxFrameBytes > 0 {
		return c.link.Welcome.Limits.MaxFrameBytes
	}
	return interchange.DefaultMaxFrameBytes
}

// DeadLetters lists the dead letters not replayed yet.
func (c *Client) DeadLetters() ([]DeadLetter, error) { return c.q.DeadLetters() }

// Replay queues dead letters again (all when ids is empty).
func (c *Client) Replay(ids []string) (int, error) {
	n, err := c.q.Replay(ids)
	c.wake()
	return n, err
}

// connect keeps the link up: it dials with backoff and jitter, reads the
// relay's frames, and dials again when the link ends.
func (c *Client) connect() {
	defer c.wg.Done()
	wait := linkRetryMin
	for c.ctx.Err() == nil {
		l, err := interchange.Dial(c.ctx, interchange.DialConfig{URL: c.cfg.URL, Identity: c.cfg.Identity,
			Kind: interchange.KindNode, Secret: c.cfg.Secret, Name: c.name(), TLS: c.cfg.TLS})
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			c.mu.Lock()
			c.lastError = err.Error()
			c.mu.Unlock()
			c.log.Warn("federation: cannot link to the relay", "url", c.cfg.URL, "err", err, "retry", wait)
			if !c.sleep(jitter(wait)) {
				return
			}
			if mesh.ErrorCode(err) == mesh.EUnauthorized {
				wait = linkRetryMax // a wrong secret will not fix itself soon
			} else {
				wait = min(2*wait, linkRetryMax)
			}
			continue
		}
		wait = linkRetryMin
		c.mu.Lock()
		c.link, c.relay, c.auth, c.lastError = l, l.Welcome.Relay, l.Welcome.Auth, ""
		c.mu.Unlock()
		c.log.Info("federation: linked", "relay", l.Welcome.Relay, "auth", l.Welcome.Auth)
		announced := c.announce(l, nil)
		stop := make(chan struct{})
		c.wg.Add(1)
		go func() { // re-announce when the rooms change
			defer c.wg.Done()
			t := time.NewTicker(announceEvery)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					announced = c.announce(l, announced)
				}
			}
		}()
		c.wake()
		err = c.read(l)
		close(stop)
		l.Abort()
		c.mu.Lock()
		c.link, c.relay, c.dir = nil, "", interchange.Directory{}
		if err != nil {
			c.lastError = err.Error()
		}
		for _, o := range c.out {
			o.sent, o.deadline = 0, time.Time{}
		}
		c.mu.Unlock()
		if c.ctx.Err() == nil {
			c.log.Warn("federation: link lost", "err", err)
			c.sleep(jitter(linkRetryMin))
		}
	}
}

// announceEvery is how often the node's rooms are checked for a change.
const announceEvery = 250 * time.Millisecond

const (
	linkRetryMin = 100 * time.Millisecond
	linkRetryMax = 5 * time.Second
)

func (c *Client) sleep(d time.Duration) bool {
	select {
	case <-c.ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func (c *Client) name() string {
	if c.cfg.Announce == nil {
		return ""
	}
	n, _ := c.cfg.Announce()
	return n
}

// announce tells the relay the node's rooms if they differ from last.
func (c *Client) announce(l *interchange.Link, last []byte) []byte {
	a := interchange.Announce{Type: interchange.TypeAnnounce, Rooms: []interchange.RoomInfo{}}
	if c.cfg.Announce != nil {
		a.Name, a.Rooms = c.cfg.Announce()
	}
	b, _ := json.Marshal(a)
	if !bytes.Equal(b, last) {
		l.Send(b)
	}
	return b
}

// read handles the relay's frames until the link ends.
func (c *Client) read(l *interchange.Link) error {
	for {
		p, err := l.Read()
		if err != nil {
			return err
		}
		switch interchange.TypeOf(p) {
		case interchange.TypeDeliver:
			c.deliver(p)
		case interchange.TypeDirectory:
			c.directory(p)
		case interchange.TypeUnreachable:
			var u interchange.Unreachable
			if json.Unmarshal(p, &u) == nil {
				c.unreachable(u.To)
			}
		case interchange.TypeError:
			var e interchange.ErrorFrame
			json.Unmarshal(p, &e)
			c.log.Warn("federation: the relay refused a frame", "id", e.ID, "code", e.Code, "message", e.Message)
		}
	}
}

// directory records the relay's directory and reports the nodes that
// appeared in it.
func (c *Client) directory(p []byte) {
	var d interchange.Directory
	if err := json.Unmarshal(p, &d); err != nil {
		return
	}
	var appeared []string
	c.mu.Lock()
	before := map[string]bool{}
	for _, n := range c.dir.Nodes {
		before[n.ID] = true
	}
	for _, n := range d.Nodes {
		if !before[n.ID] && n.ID != c.self {
			appeared = append(appeared, n.ID)
			if o := c.out[n.ID]; o != nil {
				o.down, o.backoff = time.Time{}, 0
			}
		}
	}
	c.dir = d
	c.mu.Unlock()
	for _, n := range appeared {
		c.h.Reachable(n)
	}
	if len(appeared) > 0 {
		c.wake()
	}
}

// heard notes that node sent a verified frame: it is up, so a backoff the
// relay's unreachable started ends.
func (c *Client) heard(node string) {
	c.mu.Lock()
	o := c.out[node]
	up := o != nil && c.cfg.Now().Before(o.down)
	if up {
		o.down, o.backoff = time.Time{}, 0
	}
	c.mu.Unlock()
	if up {
		c.wake()
	}
}

// unreachable backs off sending to node until the relay can reach it.
func (c *Client) unreachable(node string) {
	c.mu.Lock()
	o := c.outbox(node)
	o.backoff = min(max(2*o.backoff, c.cfg.RetryMin), c.cfg.RetryMax)
	o.down = c.cfg.Now().Add(jitter(o.backoff))
	o.sent, o.deadline = 0, time.Time{}
	c.mu.Unlock()
}

func (c *Client) outbox(node string) *outbox {
	o := c.out[node]
	if o == nil {
		o = &outbox{rto: c.cfg.RetryMin}
		c.out[node] = o
	}
	return o
}

// applied records that frame n of origin's stream is durable (err nil) or
// must come again.
func (c *Client) applied(origin, epoch string, n uint64, err error) {
	c.mu.Lock()
	in := c.in[origin]
	if in == nil || in.epoch != epoch {
		c.mu.Unlock()
		return
	}
	for i := range in.fifo {
		if in.fifo[i].n != n {
			continue
		}
		if err != nil {
			// Have it (and what followed) sent again; repeats of what
			// followed are dropped by message id.
			in.expect = min(in.expect, n)
			in.fifo = in.fifo[:i]
			c.log.Warn("federation: applying failed; will take it again", "from", origin, "n", n, "err", err)
		} else {
			in.fifo[i].done = true
		}
		break
	}
	for len(in.fifo) > 0 && in.fifo[0].done {
		in.ackUpto = in.fifo[0].n
		in.fifo = in.fifo[1:]
	}
	c.mu.Unlock()
	c.wake()
}

// acked handles a destination's acknowledgement.
func (c *Client) acked(node string, b *mesh.FedBody) {
	if b.Epoch != c.q.Epoch() {
		return
	}
	k, last := c.q.Ack(node, b.Upto)
	c.mu.Lock()
	o := c.outbox(node)
	o.batches = b.Event == mesh.FedBatches
	now := c.cfg.Now()
	if k > 0 {
		if last.Attempts() == 1 { // Karn: the ack of a resent entry times nothing
			o.sample(now.Sub(time.Unix(0, last.sentAt.Load())), c.cfg.RetryMin, c.cfg.RetryMax)
		}
		o.backoff, o.down = 0, time.Time{}
		o.deadline = now.Add(o.rto)
	}
	// A gap: the destination dropped what came after a lost frame. Go back
	// to it, once per retry timeout.
	if b.Code == "gap" && o.sent > b.Upto && (b.Upto != o.backTo || now.Sub(o.backAt) > o.rto) {
		o.sent, o.backTo, o.backAt = b.Upto, b.Upto, now
		o.deadline = now.Add(o.rto)
	}
	c.mu.Unlock()
	c.wake()
}

// pump sends acknowledgements and queued entries, retries on timeouts and
// moves expired entries to the dead letters.
func (c *Client) pump() {
	defer c.wg.Done()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastSweep := time.Time{}
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.wakec:
		case <-tick.C:
		}
		now := c.cfg.Now()
		if now.Sub(lastSweep) >= 250*time.Millisecond {
			lastSweep = now
			c.sweep(now)
		}
		c.mu.Lock()
		l := c.link
		lossy := c.lossyLocked()
		if l == nil {
			c.mu.Unlock()
			continue // lossy bodies are dropped while unlinked
		}
		frames := c.acksLocked(now)
		var sends []tx
		for _, to := range c.q.Dests() {
			o := c.outbox(to)
			if now.Before(o.down) {
				continue
			}
			base := c.q.Base(to)
			if o.sent < base-1 {
				o.sent = base - 1
			}
			if o.sent >= base && !o.deadline.IsZero() && now.After(o.deadline) {
				// No acknowledgement in time: send the oldest entry again and
				// wait twice as long. Its answer tells whether the rest must
				// go again (a gap) or was only slow.
				o.rto = min(2*o.rto, c.cfg.RetryMax)
				o.deadline = now.Add(jitter(o.rto))
				if e := c.q.Next(to, base-1); e != nil && !c.spent(e) {
					sends = append(sends, tx{to: to, base: base, entries: []*Entry{e}})
				}
			}
			if room := int(uint64(c.cfg.Window) - min(o.sent+1-base, uint64(c.cfg.Window))); room > 0 {
				es := c.q.After(to, o.sent, room)
				for i, e := range es {
					if c.spent(e) { // the sweep moves it to the dead letters; nothing after it goes first
						es = es[:i]
						break
					}
				}
				if len(es) > 0 {
					sends = append(sends, batches(to, base, es, c.batchMax(l, o), c.batchLimit(l))...)
					o.sent = es[len(es)-1].N
					if o.deadline.IsZero() {
						o.deadline = now.Add(jitter(o.rto))
					}
				}
			}
		}
		epoch := c.q.Epoch()
		c.mu.Unlock()
		for _, f := range frames {
			l.Send(f)
		}
		for _, f := range c.lossyFrames(lossy) {
			l.Send(f) // dropped when the link's buffer is full
		}
		for _, s := range sends {
			c.q.Sent(s.entries, now)
			if !l.SendWait(c.sendFrame(s, epoch)) {
				break // the link closed: connect resets the outboxes
			}
		}
	}
}

// spent reports whether e was sent MaxAttempts times: it goes no more.
func (c *Client) spent(e *Entry) bool {
	return c.cfg.MaxAttempts > 0 && e.Attempts() >= c.cfg.MaxAttempts
}

// tx is a frame to send: a run of one destination's entries with
// consecutive positions.
type tx struct {
	to      string
	base    uint64
	entries []*Entry
}

// Batches bound the bodies and the bytes of one frame.
const (
	maxBatch      = 256
	maxBatchBytes = 64 << 10
)

// batchMax is the most bodies a frame to o's node carries: 1 unless the
// relay takes batches and so does that node (its acknowledgements say so,
// and it says so only when its own relay takes them). c.mu must be held.
func (c *Client) batchMax(l *interchange.Link, o *outbox) int {
	if !o.batches || l.Welcome.Limits.MaxBatch < 2 {
		return 1
	}
	return min(maxBatch, l.Welcome.Limits.MaxBatch)
}

// batchLimit is the most body bytes a frame carries: maxBatchBytes, or
// less when the relay's frame limit is lower.
func (c *Client) batchLimit(l *interchange.Link) int {
	if m := l.Welcome.Limits.MaxFrameBytes; m > 0 && m/2 < maxBatchBytes {
		return m / 2
	}
	return maxBatchBytes
}

// batches cuts a destination's entries (in order) into frames: runs of
// consecutive positions, each of at most most bodies and (but for a body
// alone) limit bytes.
func batches(to string, base uint64, es []*Entry, most, limit int) []tx {
	var out []tx
	size := 0
	for i, e := range es {
		if k := len(out) - 1; i > 0 && e.N == es[i-1].N+1 && len(out[k].entries) < most && size+len(e.Body)+1 <= limit {
			out[k].entries = append(out[k].entries, e)
			size += len(e.Body) + 1
			continue
		}
		out = append(out, tx{to: to, base: base, entries: es[i : i+1 : i+1]})
		size = len(e.Body)
	}
	return out
}

// acksLocked returns the acknowledgement frames due. c.mu must be held.
func (c *Client) acksLocked(now time.Time) [][]byte {
	var out [][]byte
	for origin, in := range c.in {
		if in.dropped < in.expect {
			in.dropped = 0 // the gap is filled
		}
		gap := in.dropped > 0 && now.Sub(in.lastGap) >= 20*time.Millisecond
		if in.ackUpto == in.sentAck && !in.ackDue && !gap {
			continue
		}
		b := mesh.FedBody{Kind: mesh.FedAck, Upto: in.ackUpto, Epoch: in.epoch}
		if c.link != nil && c.link.Welcome.Limits.MaxBatch > 1 {
			b.Event = mesh.FedBatches // this node, and its relay, take batches
		}
		if in.dropped > 0 {
			b.Code = "gap"
			in.lastGap = now
		}
		in.sentAck, in.ackDue = in.ackUpto, false
		raw, _ := json.Marshal(b)
		out = append(out, c.frame(origin, "a"+newID(""), 0, 0, "", "body", raw, c.sign(origin, raw)))
	}
	return out
}

// sign signs what a frame from this node to node to carrying body covers.
// Only the pump calls it.
func (c *Client) sign(to string, body []byte) string {
	c.signBuf = interchange.AppendSignedBytes(c.signBuf[:0], c.self, to, body)
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(c.cfg.Identity.Key, c.signBuf))
	if cap(c.signBuf) > 1<<20 {
		c.signBuf = nil
	}
	return sig
}

// sendFrame builds and signs the frame of s: its body, or a batch.
func (c *Client) sendFrame(s tx, epoch string) []byte {
	first := s.entries[0]
	id := first.ID + "." + strconv.Itoa(first.Attempts())
	if len(s.entries) == 1 {
		return c.frame(s.to, id, first.N, s.base, epoch, "body", first.Body, c.sign(s.to, first.Body))
	}
	size := 1
	for _, e := range s.entries {
		size += len(e.Body) + 1
	}
	bodies := make([]byte, 0, size)
	bodies = append(bodies, '[')
	for i, e := range s.entries {
		if i > 0 {
			bodies = append(bodies, ',')
		}
		bodies = append(bodies, e.Body...)
	}
	bodies = append(bodies, ']')
	return c.frame(s.to, id+"+"+strconv.Itoa(len(s.entries)), first.N, s.base, epoch, "bodies", bodies, c.sign(s.to, bodies))
}

// frame builds a send frame whose member name (body or bodies) holds body.
func (c *Client) frame(to, id string, n, base uint64, epoch, name string, body []byte, sig string) []byte {
	b := make([]byte, 0, 160+len(c.key)+len(sig)+len(body))
	b = append(b, `{"type":"send","to":"`...)
	b = append(b, to...)
	b = append(b, `","id":"`...)
	b = append(b, id...)
	b = append(b, `"`...)
	if n > 0 {
		b = append(b, `,"n":`...)
		b = strconv.AppendUint(b, n, 10)
		b = append(b, `,"base":`...)
		b = strconv.AppendUint(b, base, 10)
		b = append(b, `,"epoch":"`...)
		b = append(b, epoch...)
		b = append(b, `"`...)
	}
	b = append(b, `,"key":"`...)
	b = append(b, c.key...)
	b = append(b, `","sig":"`...)
	b = append(b, sig...)
	b = append(b, `","`...)
	b = append(b, name...)
	b = append(b, `":`...)
	b = append(b, body...)
	return append(b, '}')
}

// sweep moves the entries past MaxAttempts or MaxAge to the dead letters,
// and has the queue write the transmissions it counted.
func (c *Client) sweep(now time.Time) {
	c.q.Flush()
	for _, e := range c.q.Expired(now, c.cfg.MaxAttempts, c.cfg.MaxAge) {
		reason := fmt.Sprintf("not acknowledged by %s after %d attempts in %v", e.To, e.Attempts(), now.Sub(e.Enqueued).Round(time.Millisecond))
		if c.cfg.MaxAttempts > 0 && e.Attempts() >= c.cfg.MaxAttempts {
			reason += fmt.Sprintf(" (the bound is %d attempts)", c.cfg.MaxAttempts)
		} else {
			reason += fmt.Sprintf(" (the bound is %v)", c.cfg.MaxAge)
		}
		if err := c.q.Dead(e, reason); err != nil {
			c.log.Error("federation: write dead letter", "err", err)
			return
		}
		c.log.Warn("federation: dead letter", "to", e.To, "kind", e.Kind, "reason", reason)
	}
}

// jitter returns d scaled by a random factor in [0.75, 1.25).
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}
