package agent

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
)

// Errors of a Client. A refusal by the node is a *mesh.Error instead.
var (
	// ErrClosed is returned by calls on a client after Close.
	ErrClosed = errors.New("agent: client closed")

	// ErrDisconnected is returned to a call whose answer was pending when
	// the connection dropped. The frame may or may not have reached the
	// node; the client reconnects by itself and the caller may retry (a
	// retried Say may then be stored twice).
	ErrDisconnected = errors.New("agent: disconnected before the node answered")
)

// Config configures a Client. URL and Token are required; every other
// field has a default.
type Config struct {
	URL    string       // http(s)://host:port of the node
	Token  string       // the participant's token (from Register)
	Logger *slog.Logger // nil: discard

	// TLS configures https:// and wss:// connections: nil verifies the
	// node's certificate against the system's roots. LoadCA returns one
	// that trusts a node's local CA (mesh up --tls auto).
	TLS *tls.Config

	// HTTPClient makes the REST calls (Do, Leave); nil: one made with TLS
	// (http.DefaultClient when TLS is nil too). The WebSocket uses TLS.
	HTTPClient *http.Client

	// Reconnect backoff: attempt n waits a random time in [0, min(MaxBackoff,
	// MinBackoff*2^n)) (exponential backoff with full jitter). Defaults
	// 250ms and 15s.
	MinBackoff, MaxBackoff time.Duration

	// Keys keeps the client's device keys for end-to-end encrypted rooms
	// (FileKeys, or MemoryKeys in tests). nil: joining such a room fails
	// with ErrNoKeyStore. It is read on the first join of one.
	Keys KeyStore
}

// Queue sizes (see the package doc, "Delivery").
const (
	queueSoft     = 1024 // messages buffered for Messages() before the reader waits
	queueHard     = 4096 // the same while a call waits for its answer
	presenceQueue = 256  // presence events buffered before they are dropped
	maxHandlers   = 8    // command handlers running at once
)

// A Client is one participant's connection to a node. Its methods may be
// called from any goroutine. It owns two goroutines besides the command
// handlers: the reader of the current connection, and a supervisor that
// reconnects (and feeds Messages()).
type Client struct {
	cfg   Config
	log   *slog.Logger
	url   string // WebSocket endpoint
	base  string // http(s) base for REST
	hc    *http.Client
	ctx   context.Context
	stop  context.CancelFunc // cancels ctx: Close, or a fatal refusal
	wg    sync.WaitGroup     // supervisor, pump, readers
	hwg   sync.WaitGroup     // command handlers and their answers
	sem   chan struct{}      // bounds running handlers
	asem  chan struct{}      // bounds refusal answers in flight
	msgs  chan Message
	pres  chan mesh.PresenceFrame
	queue *queue

	mu       sync.Mutex // guards the fields below and every conn.pending
	me       mesh.Participant
	limits   mesh.WireLimits
	conn     *conn         // the live connection; nil while reconnecting
	ready    chan struct{} // closed when conn is set; replaced when it drops
	rooms    map[mesh.RoomID]*roomState
	handlers map[string]handler
	closed   bool
	err      error // why the client stopped, when not Close
	refs     uint64

	inbox       chan InboxItem // InboxItems(); sent to and closed under mu
	inboxOn     bool           // Inbox was called: ask again after a reconnect
	inboxLast   uint64         // the highest inbox n seen
	inboxClosed bool

	stored map[string]*storedWait // sealed posts to remote rooms awaiting their stored copy, by ref (federated.go)

	keys     *keyring // the device for E2E rooms; nil without Config.Keys
	e2eStats e2eCounters

	// beforePost, when set (by tests), runs between sealing a message
	// and posting it, with the attempt number.
	beforePost func(attempt int)
	// now, when set (by tests), is MoveTo's clock instead of time.Now.
	now func() time.Time
}

// roomState is what the client knows of a joined room.
type roomState struct {
	last  uint64   // the highest seq received (delivered, acked or in history)
	world world    // the floor and its avatars
	e2e   *e2eRoom // an end-to-end encrypted room's keys; nil for a plain room
}

// waiter is a call waiting for the node's answer to one frame.
type waiter struct {
	room mesh.RoomID
	ch   chan reply // buffered: the reader never blocks on it
}

type reply struct {
	f   *inFrame
	err error
}

// Dial connects to the node, sends hello and waits for welcome, then
// starts the reader and the supervisor that reconnects when the
// connection drops. A refused token is a *mesh.Error with code
// unauthorized. Call Close when done.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	u, err := wsURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	base, _ := httpBase(cfg.URL)
	if cfg.Token == "" {
		return nil, errors.New("agent: Config.Token is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 15 * time.Second
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	c := &Client{
		cfg: cfg, log: cfg.Logger, url: u, base: base, hc: cfg.httpClient(),
		sem:      make(chan struct{}, maxHandlers),
		asem:     make(chan struct{}, maxHandlers),
		msgs:     make(chan Message),
		pres:     make(chan mesh.PresenceFrame, presenceQueue),
		inbox:    make(chan InboxItem, inboxQueue),
		queue:    newQueue(),
		ready:    make(chan struct{}),
		rooms:    make(map[mesh.RoomID]*roomState),
		handlers: make(map[string]handler),
	}
	if cfg.Keys != nil {
		c.keys = &keyring{store: cfg.Keys}
	}
	c.ctx, c.stop = context.WithCancel(context.Background())
	cn, err := c.connect(ctx)
	if err != nil {
		c.stop()
		return nil, err
	}
	c.wg.Add(2)
	go c.pump()
	go c.supervise(cn)
	return c, nil
}

// Me returns the participant the token authenticates, as the node told it
// in the latest welcome.
func (c *Client) Me() mesh.Participant {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.me
}

// Messages returns the channel of delivered messages (see the package doc,
// "Delivery"). It is closed when the client stops; messages still queued
// then are dropped.
func (c *Client) Messages() <-chan Message { return c.msgs }

// Presence returns presence events of joined rooms. It is best effort:
// when 256 events wait unread, newer ones are dropped. It is closed when
// the client stops.
func (c *Client) Presence() <-chan mesh.PresenceFrame { return c.pres }

// Err returns why the client stopped on its own (the node refused its
// token, or closed with a policy violation), or nil.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close stops the client: it closes the connection with a normal closure,
// stops the reconnect loop, cancels the handlers' context, and waits for
// the reader, the supervisor and the running handlers to return. Pending
// calls fail with ErrClosed. Close is safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.stop()
	c.wg.Wait()
	c.hwg.Wait()
	if c.hc != c.cfg.HTTPClient && c.hc != http.DefaultClient {
		c.hc.CloseIdleConnections() // its own transport (httpClient)
	}
	return nil
}

// Join subscribes the client to a room (and makes it a member) and waits
// for the node's answer. Messages() then carries the room's messages after
// Joined.Head. The room is resumed after every reconnect until Leave.
// Refusals are *mesh.Error (forbidden, not_found, conflict if joined).
//
// In an end-to-end encrypted room Join also registers the client's device
// with the node (PUT /api/v1/participants/me/devices) and reads the room's
// policy, and opens the history (see Message). Without Config.Keys it
// fails with ErrNoKeyStore and the client does not follow the room (the
// participant stays a member: Leave ends that).
func (c *Client) Join(ctx context.Context, room mesh.RoomID) (Joined, error) {
	r, err := c.call(ctx, room, func(ref string) any {
		return mesh.Join{Type: mesh.FrameJoin, Room: room, Ref: ref}
	})
	if err != nil {
		return Joined{}, err
	}
	j := Joined{Room: r.Room, Members: r.Members, History: messages(r.History), Head: r.Head, E2E: r.E2E}
	if r.E2E == nil {
		return j, nil
	}
	c.mu.Lock()
	rs := c.rooms[room]
	c.mu.Unlock()
	if rs == nil || rs.e2e == nil { // left meanwhile
		return j, nil
	}
	er := rs.e2e // set up by setupRoom, which opens the history
	if err := er.wait(ctx); err != nil {
		if ctx.Err() == nil { // the setup failed: do not follow the room
			c.mu.Lock()
			if c.rooms[room] == rs {
				delete(c.rooms, room)
			}
			c.mu.Unlock()
		}
		return Joined{}, err
	}
	j.History = er.history
	return j, nil
}

// Leave ends the participant's membership of a room, unsubscribes every
// connection of it, and stops resuming the room.
func (c *Client) Leave(ctx context.Context, room mesh.RoomID) error {
	c.mu.Lock()
	_, joined := c.rooms[room]
	c.mu.Unlock()
	if !joined {
		// Not joined on this client (perhaps on another, or in an
		// earlier run): leave over REST, which needs no subscription.
		return doREST(ctx, c.hc, c.base, "POST", "/api/v1/rooms/"+string(room)+"/leave", c.cfg.Token, nil, nil)
	}
	_, err := c.call(ctx, room, func(ref string) any {
		return mesh.Leave{Type: mesh.FrameLeave, Room: room, Ref: ref}
	})
	c.mu.Lock()
	delete(c.rooms, room)
	c.mu.Unlock()
	return err
}

// Say posts a chat message to a joined room and waits until the node has
// it on disk. A refusal is a *mesh.Error with the node's code (forbidden,
// rate_limited, too_large, blocked, ...). If the connection drops first,
// the error is ErrDisconnected; a Say that was acknowledged is never sent
// again. In an end-to-end encrypted room the text is sealed (see the
// package doc); its refusals add the key store's errors and a clear error
// when the epoch keeps changing or this device never enters the roster.
func (c *Client) Say(ctx context.Context, room mesh.RoomID, text string, opts ...SayOption) (Ack, error) {
	if er := c.e2eRoomOf(room); er != nil {
		s := mesh.Say{}
		for _, o := range opts {
			o(&s)
		}
		if text == "" {
			return Ack{}, mesh.Errorf(mesh.EInvalid, "text is required.")
		}
		text, err := sealText(text)
		if err != nil {
			return Ack{}, err
		}
		return c.sendSealed(ctx, room, er, e2e.Plain{Kind: mesh.MessageChat, Body: mesh.Body{Text: text}}, s.To, "")
	}
	r, err := c.call(ctx, room, func(ref string) any {
		s := mesh.Say{Type: mesh.FrameSay, Room: room, Text: text, Ref: ref}
		for _, o := range opts {
			o(&s)
		}
		return s
	})
	if err != nil {
		return Ack{}, err
	}
	return Ack{Room: room, ID: r.ID, Seq: r.Seq}, nil
}

// SendCommand asks target, a member of the room holding execute, to run
// the command name with args (any value that encodes to JSON; nil for
// none), and waits for the node's ack. Ack.ID is the command message's id,
// which the target's result refers to (it arrives in Messages() as a
// message of kind result with Ref == Ack.ID).
func (c *Client) SendCommand(ctx context.Context, room mesh.RoomID, target mesh.ParticipantID, name string, args any) (Ack, error) {
	var raw json.RawMessage
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return Ack{}, fmt.Errorf("agent: command args: %w", err)
		}
		raw = b
	}
	if er := c.e2eRoomOf(room); er != nil {
		if !commandName.MatchString(name) {
			return Ack{}, mesh.Errorf(mesh.EInvalid, "A command name is 1 to %d letters, digits, '.', '_' or '-'; got %q.", mesh.MaxCommandNameBytes, name)
		}
		if target == "" {
			return Ack{}, mesh.Errorf(mesh.EInvalid, "A command needs a target.")
		}
		p := e2e.Plain{Kind: mesh.MessageCommand, Body: mesh.Body{Command: name, Args: raw}}
		return c.sendSealed(ctx, room, er, p, target, "")
	}
	r, err := c.call(ctx, room, func(ref string) any {
		return mesh.Command{Type: mesh.FrameCommand, Room: room, Target: target, Name: name, Args: raw, Ref: ref}
	})
	if err != nil {
		return Ack{}, err
	}
	return Ack{Room: room, ID: r.ID, Seq: r.Seq}, nil
}

// call sends the frame made by build (with a fresh ref) on the live
// connection, waiting for one if the client is reconnecting, and waits
// for the node's answer to it.
func (c *Client) call(ctx context.Context, room mesh.RoomID, build func(ref string) any) (*inFrame, error) {
	return c.callRef(ctx, room, "", build)
}

// newRef returns a fresh correlation ref.
func (c *Client) newRef() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refs++
	return "a" + strconv.FormatUint(c.refs, 36)
}

// callRef is call with the frame's ref chosen by the caller ("": a fresh
// one). A sealed message binds its ref (see sendSealed), so it is chosen
// before the frame is built.
func (c *Client) callRef(ctx context.Context, room mesh.RoomID, ref string, build func(ref string) any) (*inFrame, error) {
	cn, limits, err := c.live(ctx)
	if err != nil {
		return nil, err
	}
	if ref == "" {
		ref = c.newRef()
	}
	w := &waiter{room: room, ch: make(chan reply, 1)}
	c.mu.Lock()
	if _, busy := cn.pending[ref]; busy {
		c.mu.Unlock()
		return nil, fmt.Errorf("agent: a frame with ref %q is waiting for its answer already", ref)
	}
	if c.conn != cn { // dropped meanwhile
		c.mu.Unlock()
		return nil, ErrDisconnected
	}
	cn.pending[ref] = w
	c.mu.Unlock()
	c.queue.poke() // the reader may now buffer more to reach the answer
	forget := func() {
		c.mu.Lock()
		delete(cn.pending, ref)
		c.mu.Unlock()
	}
	if err := cn.write(ctx, build(ref), limits.MaxFrameBytes); err != nil {
		forget()
		return nil, err
	}
	select {
	case r := <-w.ch:
		return r.f, r.err
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	}
}

// live returns the live connection, waiting (bounded by ctx) while the
// client reconnects.
func (c *Client) live(ctx context.Context) (*conn, mesh.WireLimits, error) {
	for {
		c.mu.Lock()
		cn, ready, limits, closed, err := c.conn, c.ready, c.limits, c.closed, c.err
		c.mu.Unlock()
		switch {
		case err != nil:
			return nil, limits, err
		case closed:
			return nil, limits, ErrClosed
		case cn != nil:
			return cn, limits, nil
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, limits, ctx.Err()
		case <-c.ctx.Done():
		}
	}
}

// connect dials, says hello (resuming every joined room from the last seq
// the client has) and waits for welcome; then it installs the connection
// and starts its reader.
func (c *Client) connect(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()
	cn, err := dialConn(ctx, c.url, c.cfg.TLS)
	if err != nil {
		return nil, err
	}
	unwatch := context.AfterFunc(ctx, func() { cn.nc.Close() }) // bound the handshake
	c.mu.Lock()
	hello := mesh.Hello{Type: mesh.FrameHello, Token: c.cfg.Token}
	if len(c.rooms) > 0 {
		hello.Resume = make(map[mesh.RoomID]uint64, len(c.rooms))
		for id, rs := range c.rooms {
			hello.Resume[id] = rs.last
		}
	}
	c.mu.Unlock()
	cn.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	f, err := c.handshake(cn, hello)
	if !unwatch() || err != nil {
		cn.nc.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}
	cn.nc.SetDeadline(time.Time{})
	cn.lim.set(f.Limits)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cn.shutdown()
		return nil, ErrClosed
	}
	c.me, c.limits, c.conn = *f.You, f.Limits, cn
	close(c.ready)
	c.mu.Unlock()
	c.log.Info("mesh: connected", "url", c.cfg.URL, "me", f.You.ID, "resume", len(hello.Resume))
	c.wg.Add(1)
	go c.readLoop(cn)
	c.wg.Go(c.resumeInbox) // pushes are per connection: turn them on again
	return cn, nil
}

func (c *Client) handshake(cn *conn, hello mesh.Hello) (*inFrame, error) {
	if err := cn.write(context.Background(), hello, 0); err != nil {
		return nil, err
	}
	data, err := cn.readFrame()
	if err != nil {
		return nil, fmt.Errorf("agent: hello: %w", err)
	}
	f, err := decodeFrame(data)
	if err != nil {
		return nil, err
	}
	switch {
	case f.Type == mesh.FrameError:
		return nil, &mesh.Error{Code: f.Code, Message: f.Text}
	case f.Type != mesh.FrameWelcome || f.You == nil:
		return nil, fmt.Errorf("agent: expected welcome, got %q", f.Type)
	}
	return f, nil
}

// supervise watches the connection (keepalive), reconnects with backoff
// when it drops, and shuts it down when the client stops.
func (c *Client) supervise(cn *conn) {
	defer c.wg.Done()
	defer close(c.pres) // the readers are done: nothing sends on it any more
	defer c.closeInbox()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		// Watch the live connection.
	watch:
		for {
			select {
			case <-cn.done:
				break watch
			case <-c.ctx.Done():
				cn.shutdown()
				<-cn.done
				return
			case <-tick.C:
				c.keepalive(cn)
			}
		}
		if fatal(cn.err) {
			c.fail(cn.err)
			return
		}
		c.log.Warn("mesh: connection lost; reconnecting", "err", cn.err)
		// Reconnect.
		for attempt := 0; ; attempt++ {
			ceiling := min(c.cfg.MaxBackoff, c.cfg.MinBackoff<<min(attempt, 30))
			if ceiling <= 0 { // overflow
				ceiling = c.cfg.MaxBackoff
			}
			t := time.NewTimer(rand.N(ceiling) + time.Millisecond)
			select {
			case <-c.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			next, err := c.connect(c.ctx)
			if err == nil {
				cn = next
				break
			}
			if c.ctx.Err() != nil {
				return
			}
			if fatal(err) {
				c.fail(err)
				return
			}
			c.log.Warn("mesh: reconnect failed", "attempt", attempt+1, "err", err)
		}
	}
}

// keepalive sends a JSON ping after pingAfter of silence and closes the
// connection when pongWait more pass without a frame. Silence while the
// reader waits for the consumer does not count.
func (c *Client) keepalive(cn *conn) {
	if cn.delivering.Load() {
		cn.lastRecv.Store(time.Now().UnixNano())
		return
	}
	idle := time.Since(time.Unix(0, cn.lastRecv.Load()))
	switch {
	case idle > pingAfter+pongWait:
		c.log.Warn("mesh: no answer from the node; closing the connection", "idle", idle)
		cn.nc.Close()
	case idle > pingAfter && !cn.pinged.Swap(true):
		go cn.write(c.ctx, mesh.Ping{Type: mesh.FramePing}, 0) // the reader counts the pong
	}
}

// fatal reports whether err means the node will not take this token again:
// reconnecting would not help.
func fatal(err error) bool {
	return mesh.ErrorCode(err) == mesh.EUnauthorized || closeCode(err) == ws.StatusPolicyViolation
}

// fail stops the client on its own after a fatal error.
func (c *Client) fail(err error) {
	c.log.Error("mesh: giving up on the connection", "err", err)
	c.mu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("agent: the node refused the connection: %w", err)
	}
	c.mu.Unlock()
	c.stop()
}

// readLoop reads the connection's frames until it fails, then fails every
// pending call and marks the client as reconnecting.
func (c *Client) readLoop(cn *conn) {
	defer c.wg.Done()
	var err error
	for err == nil {
		var data []byte
		if data, err = cn.readFrame(); err == nil {
			err = c.handle(cn, data)
		}
	}
	cn.nc.Close()
	c.mu.Lock()
	cn.err = err
	fail := ErrDisconnected
	if c.closed || c.ctx.Err() != nil {
		fail = ErrClosed
	}
	for ref, w := range cn.pending {
		w.ch <- reply{err: fail}
		delete(cn.pending, ref)
	}
	if c.conn == cn {
		c.conn = nil
		c.ready = make(chan struct{})
	}
	c.mu.Unlock()
	close(cn.done)
}
