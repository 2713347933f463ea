package interchange

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/time/rate"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/metrics"
	"github.com/the-mesh/mesh/internal/wsframe"
)

// Config is what a relay needs. DefaultConfig fills every field but
// Identity and Registry.
type Config struct {
	Identity      Identity
	Registry      *Registry
	Open          bool    // let unregistered instances in, with auth "open"
	MaxFrameBytes int     // largest frame an instance may send
	Rate          float64 // frames per second per node; 0 turns the limit off
	Burst         int
	Queue         QueueLimits // per link
	HelloTimeout  time.Duration
	IdleTimeout   time.Duration // a link that sends nothing for this long is closed
	PingInterval  time.Duration
	Bridges       []Bridge
	// BridgePins is the file of the relay ids pinned for bridges given
	// without one (BridgePinsFile in the data directory); empty: pins
	// last as long as the Server.
	BridgePins string
	Logger     *slog.Logger
	Metrics    *metrics.Registry // nil: a private registry
}

// Bridge is another relay to link with: its URL and the secret it gave
// this relay's id (empty if it is open). The relay must prove it holds
// the key of RelayID; with none, of the id pinned for URL on first
// contact.
type Bridge struct {
	URL     string
	Secret  string
	RelayID string
	TLS     *tls.Config // verifies a wss:// bridge; nil: the system's roots
}

// DefaultConfig returns the defaults of `mesh interchange`.
func DefaultConfig() Config {
	return Config{
		MaxFrameBytes: DefaultMaxFrameBytes,
		Rate:          DefaultRate,
		Burst:         DefaultBurst,
		Queue:         DefaultQueue,
		HelloTimeout:  10 * time.Second,
		IdleTimeout:   90 * time.Second,
		PingInterval:  30 * time.Second,
		Logger:        slog.New(slog.DiscardHandler),
	}
}

// Server is a relay. It serves HTTP (ServeHTTP): the link endpoint at
// Path, GET /directory, /healthz and /metrics. All methods are safe for
// concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	stats *stats
	seen  seenCache
	pins  *pins

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // links, bridges and the directory pusher
	dirty  chan struct{}  // the directory changed

	mu     sync.RWMutex // guards the fields below
	nodes  map[string]*link
	peers  map[*link]struct{}
	routes map[string]route // nodes reached through a bridge
	links  map[*link]struct{}
}

type route struct {
	via  *link
	hops int
	e    NodeEntry
}

// New returns a relay and starts its bridges. Call Close to stop it.
func New(cfg Config) *Server {
	def := DefaultConfig()
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if cfg.MaxFrameBytes <= 0 {
		cfg.MaxFrameBytes = def.MaxFrameBytes
	}
	if cfg.Queue == (QueueLimits{}) {
		cfg.Queue = def.Queue
	}
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = def.HelloTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = def.IdleTimeout
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = def.PingInterval
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewRegistry()
	}
	if cfg.Registry == nil {
		cfg.Registry = &Registry{entries: map[string][32]byte{}}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, dirty: make(chan struct{}, 1),
		nodes: map[string]*link{}, peers: map[*link]struct{}{}, routes: map[string]route{}, links: map[*link]struct{}{}}
	s.pins = &pins{path: cfg.BridgePins}
	s.stats = newStats(cfg.Metrics, s)
	s.seen.init()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(2)
	go s.pushDirectory()
	go s.pinger()
	for _, b := range cfg.Bridges {
		s.wg.Add(1)
		go s.bridge(b)
	}
	return s
}

// ID returns the relay's id.
func (s *Server) ID() string { return s.cfg.Identity.ID }

// Close closes every link and stops the bridges, and waits for them.
func (s *Server) Close() {
	s.mu.Lock()
	s.cancel()
	links := make([]*link, 0, len(s.links))
	for l := range s.links {
		links = append(links, l)
	}
	s.mu.Unlock()
	for _, l := range links {
		l.out.close(closeFrame(l.masked, ws.StatusGoingAway, "relay shutting down"))
	}
	s.wg.Wait()
}

// ServeHTTP serves the link endpoint, the directory, health and metrics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == Path && r.Method == http.MethodGet:
		s.accept(w, r)
	case r.URL.Path == "/directory" && r.Method == http.MethodGet:
		writeJSON(w, s.directory())
	case r.URL.Path == "/healthz" && r.Method == http.MethodGet:
		writeJSON(w, map[string]any{"ok": true, "relay": s.ID()})
	case r.URL.Path == "/metrics" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		s.cfg.Metrics.WriteText(w)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"error": mesh.Errorf(mesh.ENotFound, "No endpoint %s %s.", r.Method, r.URL.Path)})
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (s *Server) accept(w http.ResponseWriter, r *http.Request) {
	nc, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return // gobwas has answered
	}
	br := rw.Reader
	if br.Buffered() == 0 {
		br = bufio.NewReaderSize(nc, 4<<10)
	}
	s.Accept(nc, br, false)
}

// Accept runs the relay's side of a link on an upgraded WebSocket
// connection; dialed says this relay opened it (a bridge), so its frames
// are masked. It returns at once; the link runs until it ends or Close.
func (s *Server) Accept(nc net.Conn, br *bufio.Reader, dialed bool) {
	l := &link{srv: s, conn: newConn(nc, br, dialed, s.cfg.MaxFrameBytes+1024, s.cfg.Queue)}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		l.out.abort()
		return
	}
	s.links[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		l.run()
	}()
}

// accepted registers an authenticated link, then queues welcome (if not
// nil) on it, both under the lock, so that nothing reaches the link first
// and nothing is routed to it before. A node that connects again replaces
// its old link.
func (s *Server) accepted(l *link, welcome []byte) {
	s.mu.Lock()
	var old *link
	if l.kind == KindNode {
		old = s.nodes[l.id]
		s.nodes[l.id] = l
	} else {
		s.peers[l] = struct{}{}
	}
	s.recomputeLocked()
	if welcome != nil {
		l.out.send(welcome)
	}
	s.mu.Unlock()
	if old != nil {
		old.out.send(jsonFrame(old.masked, ErrorFrame{Type: TypeError, Code: mesh.EConflict, Message: "This node connected again on another link."}))
		old.out.close(closeFrame(old.masked, ws.StatusPolicyViolation, "replaced by a new link"))
	}
	s.changed()
}

// gone unregisters a link that ended.
func (s *Server) gone(l *link) {
	s.mu.Lock()
	delete(s.links, l)
	if s.nodes[l.id] == l {
		delete(s.nodes, l.id)
	}
	delete(s.peers, l)
	s.recomputeLocked()
	s.mu.Unlock()
	s.changed()
}

// lookup returns the link a frame for node id goes out on: the node's own
// (local) or a bridge's.
func (s *Server) lookup(id []byte) (local, via *link, hops int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if l := s.nodes[string(id)]; l != nil {
		return l, nil, 0
	}
	if r, ok := s.routes[string(id)]; ok {
		return nil, r.via, r.hops
	}
	return nil, nil, 0
}

// recomputeLocked rebuilds the routes through bridges: for each node not
// connected here, the bridge that announced it with the fewest hops, if
// that is within MaxHops. s.mu must be held.
func (s *Server) recomputeLocked() {
	clear(s.routes)
	for p := range s.peers {
		for _, e := range p.routes {
			h := e.Hops + 1
			if h > MaxHops || s.nodes[e.ID] != nil {
				continue
			}
			if r, ok := s.routes[e.ID]; ok && r.hops <= h {
				continue
			}
			e.Hops = h
			if p.auth == AuthOpen {
				e.Auth = AuthOpen
			}
			s.routes[e.ID] = route{via: p, hops: h, e: e}
		}
	}
}

// changed schedules a directory push.
func (s *Server) changed() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// directory lists every node reachable through this relay, by id.
func (s *Server) directory() Directory {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Directory{Type: TypeDirectory, Relay: s.ID(), Nodes: s.entriesLocked(nil, false)}
}

// entriesLocked lists the reachable nodes, leaving out those learned from
// except (split horizon), and with withRooms those that announce no room.
// s.mu must be held.
func (s *Server) entriesLocked(except *link, withRooms bool) []NodeEntry {
	out := make([]NodeEntry, 0, len(s.nodes)+len(s.routes))
	for id, l := range s.nodes {
		if !withRooms || len(l.rooms) > 0 {
			out = append(out, NodeEntry{ID: id, Name: l.name, Auth: l.auth, Key: l.key, Rooms: l.rooms})
		}
	}
	for _, r := range s.routes {
		if r.via != except && (!withRooms || len(r.e.Rooms) > 0) {
			out = append(out, r.e)
		}
	}
	slices.SortFunc(out, func(a, b NodeEntry) int { return strings.Compare(a.ID, b.ID) })
	for i := range out {
		if out[i].Rooms == nil {
			out[i].Rooms = []RoomInfo{}
		}
	}
	return out
}

// pushDirectory sends the directory to every node and the routes to every
// bridge when something changed, at most every directoryDelay. Nodes get
// the nodes that host federated rooms, and only when that list changed
// (and on a new link): a directory of every node would cost each join a
// frame the size of the whole relay to every node. Bridges get every
// node, which they route to.
func (s *Server) pushDirectory() {
	defer s.wg.Done()
	var last []byte
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.dirty:
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(directoryDelay):
		}
		s.mu.Lock()
		dir := jsonPayload(Directory{Type: TypeDirectory, Relay: s.ID(), Nodes: s.entriesLocked(nil, true)})
		changed := !bytes.Equal(dir, last)
		var frame []byte
		for _, l := range s.nodes {
			if changed || !l.told {
				if frame == nil {
					frame = buildFrame(false, dir)
				}
				l.out.send(frame)
				l.told = true
			}
		}
		for p := range s.peers {
			p.out.send(jsonFrame(p.masked, Routes{Type: TypeRoutes, Nodes: s.entriesLocked(p, false)}))
		}
		s.mu.Unlock()
		last = dir
	}
}

// directoryDelay gathers directory changes into one push.
const directoryDelay = 50 * time.Millisecond

func jsonPayload(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// pinger pings every link each PingInterval.
func (s *Server) pinger() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.mu.RLock()
			for l := range s.links {
				l.out.send(controlFrame(l.masked, ws.OpPing, nil))
			}
			s.mu.RUnlock()
		}
	}
}

// link is one authenticated instance: a node or a bridged relay.
type link struct {
	srv *Server
	*conn
	id, kind, auth, name, key string
	limiter                   *rate.Limiter // nodes only; nil when off
	refusedRun                int           // rate-limited frames in the current second
	refusedSince              time.Time     // when that second began
	lastErr                   time.Time     // when the last error frame was sent
	rooms                     []RoomInfo    // a node's announce; guarded by srv.mu
	told                      bool          // a node was sent the directory; guarded by srv.mu
	routes                    []NodeEntry   // a bridge's routes; guarded by srv.mu
}

// run authenticates the link, then routes its frames until it ends.
func (l *link) run() {
	s := l.srv
	// The handshake (JSON, Ed25519) grows a stack; it runs on a goroutine
	// of its own so that the link's, which spends its life in a read,
	// stays small: most of an idle node's cost.
	ok := make(chan bool)
	go func() { ok <- l.handshake() }()
	if !<-ok {
		l.out.close(nil)
		s.mu.Lock()
		delete(s.links, l)
		s.mu.Unlock()
		return
	}
	l.serve()
}

// serve routes the frames of an authenticated link until it ends.
func (l *link) serve() {
	s := l.srv
	defer l.out.close(nil)
	defer s.gone(l)
	s.stats.links.Inc()
	l.in.Before = idleDeadline(l.nc, &l.in, s.cfg.IdleTimeout)
	for frames := 0; ; frames++ {
		if frames == busyLink {
			// A busy link reads in bigger gulps: fewer system calls. Idle
			// links keep the small buffer they started with.
			l.in.BR = bufio.NewReaderSize(l.in.BR, 64<<10)
		}
		p, err := l.in.Next()
		if err != nil {
			if l.readError(err) {
				continue
			}
			return
		}
		if !l.frame(p) {
			return
		}
	}
}

// readError handles an error reading a frame, and reports whether the
// link goes on. (Apart from serve's loop: the targets of errors.As would
// be allocated for every frame.)
func (l *link) readError(err error) bool {
	var me *mesh.Error
	var ce *wsframe.CloseError
	switch {
	case errors.As(err, &me):
		l.refuse(nil, err)
		return true
	case errors.As(err, &ce):
		l.out.send(closeFrame(l.masked, ce.Code, ce.Reason))
	case errors.Is(err, os.ErrDeadlineExceeded):
		l.out.send(closeFrame(l.masked, ws.StatusGoingAway, "idle timeout"))
	}
	return false
}

// busyLink is how many frames make a link busy enough for a big read buffer.
const busyLink = 256

// handshake sends the challenge and checks the hello.
func (l *link) handshake() bool {
	s := l.srv
	ch := Challenge{Type: TypeChallenge, Relay: s.ID(), Nonce: newNonce(), Version: Version}
	l.sendJSON(ch)
	l.nc.SetReadDeadline(time.Now().Add(s.cfg.HelloTimeout))
	p, err := l.in.Next()
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			l.fail(mesh.Errorf(mesh.EUnauthorized, "No hello within %v.", s.cfg.HelloTimeout))
		} else if me := (*mesh.Error)(nil); errors.As(err, &me) {
			l.fail(err)
		}
		return false
	}
	var h Hello
	if err := mesh.DecodeStrict(p, &h); err != nil {
		l.fail(err)
		return false
	}
	if h.Type != TypeHello {
		l.fail(mesh.Errorf(mesh.EUnauthorized, "The first frame must be hello."))
		return false
	}
	if len(h.Name) > mesh.MaxNameBytes {
		h.Name = h.Name[:mesh.MaxNameBytes]
	}
	auth, err := verifyHello(&h, ch, s.cfg.Registry, s.cfg.Open)
	if err != nil {
		s.log.Warn("interchange: refused", "id", h.ID, "kind", h.Kind, "remote", l.nc.RemoteAddr().String(), "err", err)
		s.stats.refusedAuth.Inc()
		l.fail(err)
		return false
	}
	l.id, l.kind, l.auth, l.name, l.key = h.ID, h.Kind, auth, h.Name, h.Key
	if h.Kind == KindNode && s.cfg.Rate > 0 {
		l.limiter = rate.NewLimiter(rate.Limit(s.cfg.Rate), max(s.cfg.Burst, 1))
	}
	s.log.Info("interchange: connected", "id", h.ID, "kind", h.Kind, "auth", auth, "remote", l.nc.RemoteAddr().String())
	w := Welcome{Type: TypeWelcome, Relay: s.ID(), Auth: auth,
		Limits: Limits{MaxFrameBytes: s.cfg.MaxFrameBytes, Rate: s.cfg.Rate, Burst: s.cfg.Burst, MaxBatch: MaxBatch}}
	if h.Nonce != "" {
		proveRelay(&w, s.cfg.Identity, h.Nonce, h.ID, ch.Nonce)
	}
	s.accepted(l, jsonFrame(l.masked, w))
	return true
}

// fail refuses the handshake with err and closes the link.
func (l *link) fail(err error) {
	code, msg := mesh.ErrorCode(err), mesh.ErrorMessage(err)
	l.sendJSON(ErrorFrame{Type: TypeError, Code: code, Message: msg})
	l.out.send(closeFrame(l.masked, ws.StatusPolicyViolation, code))
}

// frame handles one frame; false ends the link.
func (l *link) frame(p []byte) bool {
	s := l.srv
	s.stats.framesIn.Inc()
	if l.limiter != nil && !l.limiter.Allow() {
		// A node that keeps sending ten times its rate is cut off.
		if now := time.Now(); now.Sub(l.refusedSince) > time.Second {
			l.refusedSince, l.refusedRun = now, 0
		}
		l.refusedRun++
		s.stats.dropRate.Inc()
		if float64(l.refusedRun) > max(10*s.cfg.Rate, 1000) {
			s.log.Warn("interchange: disconnected a flooding node", "id", l.id)
			l.fail(mesh.Errorf(mesh.ERateLimited, "Rate limit exceeded tenfold: %g frames per second, bursts of %d.", s.cfg.Rate, s.cfg.Burst))
			return false
		}
		l.refuse(nil, mesh.Errorf(mesh.ERateLimited, "Rate limit: %g frames per second, bursts of %d. Slow down.", s.cfg.Rate, s.cfg.Burst))
		return true
	}
	// Sends and forwards, nearly every frame, take the fast path; what it
	// refuses, and every other frame, the slow one.
	if typ, i, ok := scanType(p); ok {
		send, forward := string(typ) == TypeSend && l.kind == KindNode, string(typ) == TypeForward && l.kind == KindRelay
		if send || forward {
			if r, ok := fastRouted(p, i, forward); ok {
				l.pass(r, forward)
				return true
			}
		}
	}
	if !validPayload(p) {
		l.refuse(nil, mesh.Errorf(mesh.EInvalid, "A frame must be one JSON object."))
		return true
	}
	typ, ok := typeOf(p)
	if !ok {
		l.refuse(nil, mesh.Errorf(mesh.EInvalid, `A frame's first member must be "type", a string.`))
		return true
	}
	switch {
	case string(typ) == TypeSend && l.kind == KindNode:
		l.route(p, false)
	case string(typ) == TypeForward && l.kind == KindRelay:
		l.route(p, true)
	case string(typ) == TypeAnnounce && l.kind == KindNode:
		l.announce(p)
	case string(typ) == TypeRoutes && l.kind == KindRelay:
		l.learn(p)
	case l.kind == KindRelay && (string(typ) == TypeDirectory || string(typ) == TypeError || string(typ) == TypeUnreachable):
		// A bridge's answers to frames we forwarded: nothing to do.
	default:
		l.refuse(nil, mesh.Errorf(mesh.EInvalid, "Unknown frame type %q.", typ))
	}
	return true
}

// refuse sends an error frame naming id, at most one a second when the
// refusals are for the rate (so a flood does not make the relay flood).
func (l *link) refuse(id []byte, err error) {
	l.srv.stats.refused.Inc()
	if mesh.ErrorCode(err) == mesh.ERateLimited {
		if now := time.Now(); now.Sub(l.lastErr) < time.Second {
			return
		} else {
			l.lastErr = now
		}
	}
	l.sendJSON(ErrorFrame{Type: TypeError, ID: string(id), Code: mesh.ErrorCode(err), Message: mesh.ErrorMessage(err)})
}

// route checks a send (from a node) or a forward (from a bridge) the fast
// path refused, and passes it on if the slow path finds no fault.
func (l *link) route(p []byte, forward bool) {
	r, err := parseRouted(p, forward)
	if err != nil {
		l.refuse(r.id, err)
		return
	}
	l.pass(r, forward)
}

// pass routes a send or forward frame that was checked.
func (l *link) pass(r routed, forward bool) {
	s := l.srv
	from, auth, hop := []byte(l.id), []byte(l.auth), MaxHops
	if forward {
		from, auth, hop = r.from, r.auth, r.hop
		if l.auth == AuthOpen {
			auth = []byte(AuthOpen)
		}
		if s.seen.checkAndAdd(from, r.id) {
			s.stats.dropSeen.Inc()
			return
		}
	}
	local, via, _ := s.lookup(r.to)
	switch {
	case local != nil:
		if !local.out.sendText(local.masked, deliverPrefix, from, authMid, auth, fieldEnd, r.tail) {
			s.stats.dropQueue.Inc()
			return
		}
		s.stats.routed.Inc()
	case via != nil && via != l && hop > 1:
		if !forward {
			s.seen.checkAndAdd(from, r.id)
		}
		var hb [4]byte
		if !via.out.sendText(via.masked, forwardPrefix, strconv.AppendInt(hb[:0], int64(hop-1), 10), fromMid, from, authMid, auth, fieldEnd, r.tail) {
			s.stats.dropQueue.Inc()
			return
		}
		s.stats.forwarded.Inc()
	case forward:
		s.stats.dropNoRoute.Inc()
	default:
		s.stats.dropNoRoute.Inc()
		l.sendJSON(Unreachable{Type: TypeUnreachable, To: string(r.to), ID: string(r.id)})
	}
}

var (
	deliverPrefix = []byte(`{"type":"deliver","from":"`)
	forwardPrefix = []byte(`{"type":"forward","hop":`)
	fromMid       = []byte(`,"from":"`)
	authMid       = []byte(`","auth":"`)
	fieldEnd      = []byte(`",`)
)

// announce records a node's name and federated rooms.
func (l *link) announce(p []byte) {
	var a Announce
	if err := mesh.DecodeStrict(p, &a); err != nil {
		l.refuse(nil, err)
		return
	}
	if len(a.Rooms) > maxRooms {
		l.refuse(nil, mesh.Errorf(mesh.ETooLarge, "A node may announce at most %d rooms.", maxRooms))
		return
	}
	for _, r := range a.Rooms {
		if !r.ID.Valid() || len(r.Name) > mesh.MaxNameBytes || len(r.Topic) > mesh.MaxTopicBytes {
			l.refuse(nil, mesh.Errorf(mesh.EInvalid, "Room %q: a room id, a name of at most %d bytes and a topic of at most %d.", r.ID, mesh.MaxNameBytes, mesh.MaxTopicBytes))
			return
		}
	}
	if len(a.Name) > mesh.MaxNameBytes {
		a.Name = a.Name[:mesh.MaxNameBytes]
	}
	s := l.srv
	s.mu.Lock()
	l.rooms = a.Rooms
	if a.Name != "" {
		l.name = a.Name
	}
	s.mu.Unlock()
	s.changed()
}

// learn records the routes a bridge announced.
func (l *link) learn(p []byte) {
	var r Routes
	if err := mesh.DecodeStrict(p, &r); err != nil {
		l.refuse(nil, err)
		return
	}
	for _, e := range r.Nodes {
		if !mesh.ValidNodeID(e.ID) || e.Hops < 0 || len(e.Rooms) > maxRooms {
			l.refuse(nil, mesh.Errorf(mesh.EInvalid, "Bad route for %q.", e.ID))
			return
		}
	}
	s := l.srv
	s.mu.Lock()
	l.routes = r.Nodes
	s.recomputeLocked()
	s.mu.Unlock()
	s.changed()
}
