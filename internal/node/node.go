// Package node is a node's engine: participants, rooms, membership and
// messages, with every decision audited. It knows nothing of HTTP or
// WebSocket; package web adapts it to the wire.
package node

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/atomicfile"
	"github.com/the-mesh/mesh/internal/audit"
	"github.com/the-mesh/mesh/internal/federation"
	"github.com/the-mesh/mesh/internal/guard"
	"github.com/the-mesh/mesh/internal/hub"
	"github.com/the-mesh/mesh/internal/inbox"
	"github.com/the-mesh/mesh/internal/metrics"
	"github.com/the-mesh/mesh/internal/roomdata"
	"github.com/the-mesh/mesh/internal/store/jsonl"
	"github.com/the-mesh/mesh/internal/webhook"
	"github.com/the-mesh/mesh/internal/world"
)

// Config is what a node needs to open. DefaultConfig fills every field.
type Config struct {
	DataDir      string
	Name         string // the node's display name, set at first start
	MaxTextBytes int    // largest chat text, in bytes
	Logger       *slog.Logger
	Now          func() time.Time
	Metrics      *metrics.Registry // nil: a private registry
	World        world.Rules       // movement rules; zero: world.DefaultRules
	Tick         time.Duration     // how often state frames go out; zero: hub.DefaultTick
	InboxMax     int               // unacknowledged inbox items kept per participant
	Webhook      webhook.Config    // webhook deliveries; DeadLetter is set by Open
	// Federation links the node to an Interchange relay; nil: no
	// federation. The node fills its Identity, DataDir, Logger, Now and
	// Announce.
	Federation *federation.Config
	// RemoteTimeout is how long an operation on a room of another node
	// (moderation, policy, room data) waits for the room's home; zero:
	// DefaultRemoteTimeout.
	RemoteTimeout time.Duration
}

// DefaultRemoteTimeout is Config.RemoteTimeout's default.
const DefaultRemoteTimeout = 10 * time.Second

// DefaultConfig returns the configuration of `mesh up` without flags.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		DataDir:       "mesh-data",
		Name:          host,
		MaxTextBytes:  mesh.DefaultMaxTextBytes,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:           time.Now,
		InboxMax:      mesh.DefaultInboxMax,
		Webhook:       webhook.DefaultConfig(),
		RemoteTimeout: DefaultRemoteTimeout,
	}
}

// Node is a running node's state. All methods are safe for concurrent use.
type Node struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	info  mesh.NodeInfo
	key   ed25519.PrivateKey
	Hub   *hub.Hub
	bus   Bus // n.Hub: the in-process bus
	Audit *audit.Log
	store *jsonl.Store
	stats *Stats
	// The room rules' state: the injection scanner, compiled schemas and
	// per-room rate limits.
	scanner *guard.Scanner
	schemas schemaCache
	limits  postLimits
	pending pendingCommands
	data    *roomdata.Store
	people  *jsonl.Journal // participants.jsonl
	places  *jsonl.Journal // rooms.jsonl
	invs    *jsonl.Journal // invites.jsonl
	// Inboxes (inbox*.go): the store, the connections that get pushes,
	// and the webhook deliveries.
	inbox *inbox.Store
	live  liveConns
	hooks *webhook.Dispatcher
	fed   *fed // federation state (federation*.go)
	// bridges are the node's bridges and their goroutines (bridge*.go).
	bridges *bridgeSet

	// createMu serializes room creation. treeMu serializes registrations
	// and revocations, so a revocation's cascade sees every child of the
	// participants it revokes. Both are taken before mu and are held
	// across journal writes.
	createMu sync.Mutex
	treeMu   sync.Mutex
	// e2eMu serialises changes to end-to-end encrypted rooms' rosters
	// (e2e.go): the check that a change keeps a roster within
	// mesh.MaxRosterDevices, the change and the new epoch that follows,
	// and each room's epoch number. It is taken before a room's writeMu
	// and before mu, and is held across journal writes.
	e2eMu sync.Mutex

	// mu guards the maps below. It is taken after any hub lock and is never
	// held while calling into the hub, the store or the audit log.
	mu           sync.RWMutex
	participants map[mesh.ParticipantID]*participant
	tokens       map[[32]byte]mesh.ParticipantID
	rooms        map[mesh.RoomID]*room
	invites      map[[32]byte]*invite
	devices      map[string]mesh.ParticipantID // E2E device id -> the participant that registered it
	owner        mesh.ParticipantID
	ownerToken   string // only when created by this process or read from owner.token
}

// Bus carries each room's durable entries to the connections subscribed to
// it, in seq order per room, skipping except (the sending connection, which
// gets an ack instead). It is the live-bus seam of DESIGN.md ("Beyond one
// machine"): in-process now (*hub.Hub), NATS in a cluster later, beside
// mesh.RoomLog for the log.
type Bus interface {
	Publish(room mesh.RoomID, e mesh.Entry, except *hub.Conn) int
}

var _ Bus = (*hub.Hub)(nil)

// Open opens (or creates) the node in cfg.DataDir.
func Open(cfg Config) (*Node, error) {
	def := DefaultConfig()
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if cfg.Now == nil {
		cfg.Now = def.Now
	}
	if cfg.RemoteTimeout <= 0 {
		cfg.RemoteTimeout = def.RemoteTimeout
	}
	if cfg.MaxTextBytes <= 0 {
		cfg.MaxTextBytes = def.MaxTextBytes
	}
	if cfg.Name == "" {
		cfg.Name = def.Name
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewRegistry()
	}
	if cfg.World == (world.Rules{}) {
		cfg.World = world.DefaultRules
	}
	if cfg.Tick <= 0 {
		cfg.Tick = hub.DefaultTick
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	n := &Node{
		cfg: cfg, log: cfg.Logger, now: cfg.Now,
		participants: map[mesh.ParticipantID]*participant{},
		tokens:       map[[32]byte]mesh.ParticipantID{},
		rooms:        map[mesh.RoomID]*room{},
		invites:      map[[32]byte]*invite{},
		devices:      map[string]mesh.ParticipantID{},
	}
	n.stats = newStats(cfg.Metrics)
	n.scanner = guard.New()
	if err := n.open(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) open() error {
	var err error
	dir := n.cfg.DataDir
	if n.info, n.key, err = loadIdentity(dir, n.cfg.Name); err != nil {
		return err
	}
	n.Audit, err = audit.Open(dir, audit.Options{Logger: n.log, Now: n.now, OnFsync: n.stats.fsync.Observe})
	if err != nil {
		return fmt.Errorf("open audit log: %w", err)
	}
	if n.people, err = jsonl.OpenJournal(filepath.Join(dir, "participants.jsonl"), n.log, n.replayParticipant); err != nil {
		return fmt.Errorf("open participants: %w", err)
	}
	if n.places, err = jsonl.OpenJournal(filepath.Join(dir, "rooms.jsonl"), n.log, n.replayRoom); err != nil {
		return fmt.Errorf("open rooms: %w", err)
	}
	if n.invs, err = jsonl.OpenJournal(filepath.Join(dir, "invites.jsonl"), n.log, n.replayInvite); err != nil {
		return fmt.Errorf("open invites: %w", err)
	}
	if n.store, err = jsonl.Open(dir, jsonl.Options{Logger: n.log, OnFsync: n.stats.fsync.Observe}); err != nil {
		return fmt.Errorf("open message store: %w", err)
	}
	if n.data, err = roomdata.Open(dir, roomdata.DefaultLimits()); err != nil {
		return err
	}
	n.Hub = hub.New(256)
	n.Hub.StartWorld(n.cfg.World, n.cfg.Tick)
	n.bus = n.Hub
	if err := n.bootstrap(); err != nil {
		return err
	}
	if err := n.openInbox(); err != nil {
		return err
	}
	if err := n.startEpochs(); err != nil {
		return err
	}
	if err := n.openFederation(); err != nil {
		return err
	}
	if err := n.openBridges(); err != nil {
		return err
	}
	n.startFederation()
	n.stats.registerGauges(n)
	return nil
}

// bootstrap creates the owner and the lobby on first start.
func (n *Node) bootstrap() error {
	if n.owner == "" {
		p, tok, err := n.createParticipant(registration{Name: "owner", Kind: mesh.KindHuman}, mesh.TrustOwner, "")
		if err != nil {
			return fmt.Errorf("create owner: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(n.cfg.DataDir, ownerTokenFile), []byte(tok+"\n"), 0o600); err != nil {
			return fmt.Errorf("save owner token: %w", err)
		}
		n.Audit.Record(audit.Record{Actor: p.ID, Action: "bootstrap-owner", Outcome: audit.OK})
	}
	if tok, err := ReadOwnerToken(n.cfg.DataDir); err == nil {
		n.ownerToken = tok
	}
	if n.room(mesh.Lobby) == nil {
		if _, err := n.createRoom(n.owner, "lobby", "Where everyone arrives.", mesh.DefaultPolicy()); err != nil {
			return fmt.Errorf("create lobby: %w", err)
		}
	}
	return nil
}

// Info returns the node's public identity.
func (n *Node) Info() mesh.NodeInfo { return n.info }

// OwnerToken returns the owner's token if it is on disk (owner.token), else "".
func (n *Node) OwnerToken() string { return n.ownerToken }

// MaxTextBytes is the largest chat text the node accepts.
func (n *Node) MaxTextBytes() int { return n.cfg.MaxTextBytes }

// Stats returns the node's counters.
func (n *Node) Stats() *Stats { return n.stats }

// Close stops webhook deliveries and flushes storage and the audit log.
// The caller must have stopped every connection first.
func (n *Node) Close() error {
	var errs []error
	n.closeBridges() // they post through federation and the store
	errs = append(errs, n.closeFederation())
	if n.Hub != nil {
		n.Hub.Close()
	}
	if n.hooks != nil {
		errs = append(errs, n.hooks.Close())
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	if n.inbox != nil { // after the store: its last appends are routed
		errs = append(errs, n.inbox.Close())
	}
	if n.data != nil {
		errs = append(errs, n.data.Close())
	}
	for _, j := range []*jsonl.Journal{n.people, n.places, n.invs} {
		if j != nil {
			errs = append(errs, j.Close())
		}
	}
	if n.Audit != nil {
		n.Audit.Record(audit.Record{Action: "shutdown", Outcome: audit.OK})
		errs = append(errs, n.Audit.Close())
	}
	return errors.Join(errs...)
}
