package node

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
	"github.com/the-mesh/mesh/internal/federation"
	"github.com/the-mesh/mesh/internal/hub"
	"github.com/the-mesh/mesh/internal/interchange"
	"github.com/the-mesh/mesh/internal/store/jsonl"
)

// Federation, the node's side. A federated room lives on its home node,
// which alone assigns its seqs. A participant of another node joins it as
// "<id>@<node>" (a remote participant, trust federated, or untrusted when
// its node came in through an open relay), and its node forwards what it
// says. The home stores each message once and sends it once to every node
// with a member that may listen (federation_home.go). Those nodes keep a
// mirror of the room, addressed room@home, in its seq order, and their
// local participants join and read the mirror (federation_remote.go). The
// home alone governs the room: it tells each of those nodes what its
// participants may do there, and they apply it (federation_access.go);
// their moderation, policy changes and room data go to it as requests it
// runs and answers (federation_ops.go, federation_ops_home.go).
//
// Files: federation.jsonl (remote participants of local rooms; local
// members of remote rooms), federation/messages/ (the mirrors, a message
// store like messages/), and the client's federation-queue.jsonl,
// dead-letter.jsonl and federation-keys.jsonl.

// fed is the node's federation state. It always holds the remote
// participants; c and mirrors are nil when the node has no relay.
type fed struct {
	n       *Node
	c       *federation.Client
	state   *jsonl.Journal // federation.jsonl
	mirrors *jsonl.Store   // federation/messages

	fanout fanoutQueue

	// accessMu serializes the home's access decisions (federation_access.go)
	// and guards told: per local room and node, the access lists (ids
	// joined by spaces) that node was last told, by capability.
	accessMu sync.Mutex
	told     map[mesh.RoomID]map[string]map[mesh.Capability]string

	// gate orders a mirror's listen changes (held for writing) against the
	// subscriptions being made (held for reading). Taken before mu and
	// before any hub room's lock.
	gate sync.RWMutex

	mu      sync.Mutex // guards the fields below; taken after Node.mu, never before
	members map[mesh.RoomID]map[mesh.ParticipantID]bool
	mirror  map[mesh.RoomID]*mirror
	joins   map[joinKey][]func(error)
	posts   map[string]postWaiter // remote posts awaiting a possible refusal, by message id
	postLog []postRef             // the ids of posts, oldest first (some gone from posts already)
	seen    map[mesh.RoomID]*idRing
	// access is, per remote room and capability, the local participants
	// its home lets hold it; a capability the home never spoke of is
	// missing (every member holds it).
	access map[mesh.RoomID]map[mesh.Capability]map[mesh.ParticipantID]bool

	// ops are this node's requests to other nodes' rooms waiting for
	// their replies, by ref (federation_ops.go); guarded by mu.
	ops map[string]*opWaiter
	// opq runs other nodes' requests on this node's rooms
	// (federation_ops_home.go).
	opq opState

	// The world across nodes (federation_world.go).
	worldq    chan worldEvent
	worldDone chan struct{}
	worldWG   sync.WaitGroup
}

type joinKey struct {
	room mesh.RoomID
	p    mesh.ParticipantID
}

type postWaiter struct {
	refused func(error)
	at      time.Time
}

// fedEvent is one line of federation.jsonl.
type fedEvent struct {
	Op          string               `json:"op"` // participant, member, access, devices
	Participant *mesh.Participant    `json:"participant,omitempty"`
	Room        mesh.RoomID          `json:"room,omitempty"`
	ID          mesh.ParticipantID   `json:"id,omitempty"`
	Member      bool                 `json:"member,omitempty"`
	Capability  mesh.Capability      `json:"capability,omitempty"` // access: the local participants holding it in Room
	IDs         []mesh.ParticipantID `json:"ids,omitempty"`
	Devices     []mesh.Device        `json:"devices,omitempty"` // devices: participant ID's E2E devices now
	TS          time.Time            `json:"ts"`
}

// federationFile holds the node's federation state.
const federationFile = "federation.jsonl"

// openFederation loads federation.jsonl and, with cfg.Federation set,
// opens the mirrors and the client (startFederation starts it).
func (n *Node) openFederation() error {
	f := &fed{n: n, members: map[mesh.RoomID]map[mesh.ParticipantID]bool{}, mirror: map[mesh.RoomID]*mirror{},
		joins: map[joinKey][]func(error){}, ops: map[string]*opWaiter{}, posts: map[string]postWaiter{}, seen: map[mesh.RoomID]*idRing{},
		told: map[mesh.RoomID]map[string]map[mesh.Capability]string{}, access: map[mesh.RoomID]map[mesh.Capability]map[mesh.ParticipantID]bool{}}
	var err error
	if f.state, err = jsonl.OpenJournal(filepath.Join(n.cfg.DataDir, federationFile), n.log, f.replay); err != nil {
		return fmt.Errorf("open %s: %w", federationFile, err)
	}
	n.fed = f
	if n.cfg.Federation == nil {
		return nil
	}
	if f.mirrors, err = jsonl.Open(filepath.Join(n.cfg.DataDir, "federation"), jsonl.Options{Logger: n.log, OnFsync: n.stats.fsync.Observe}); err != nil {
		return fmt.Errorf("open federated room mirrors: %w", err)
	}
	f.mu.Lock()
	addresses := slices.Collect(maps.Keys(f.members))
	f.mu.Unlock()
	if err := n.rerouteMirrors(addresses); err != nil { // before the relay delivers
		return err
	}
	cfg := *n.cfg.Federation
	cfg.Identity = interchange.Identity{ID: n.info.ID, Key: n.key}
	cfg.DataDir, cfg.Logger, cfg.Now = n.cfg.DataDir, n.log, n.now
	cfg.Announce = n.federatedRooms
	f.fanout.init()
	f.opq.init()
	n.bus = fanoutBus{Bus: n.bus, f: f}
	if f.c, err = federation.Open(cfg, f); err != nil {
		return err
	}
	f.fanout.start(f.fanoutEntries)
	f.startWorld()
	f.startOps()
	return nil
}

// startFederation starts the link to the relay, once the node is whole:
// the client calls f, which uses f.c and every part of the node.
func (n *Node) startFederation() {
	if n.fed != nil && n.fed.c != nil {
		n.fed.c.Start()
	}
}

// closeFederation stops the client and the fan-out and closes the files.
func (n *Node) closeFederation() error {
	f := n.fed
	if f == nil {
		return nil
	}
	var errs []error
	if f.c != nil {
		f.stopWorld()
		f.stopOps()
		f.fanout.stop()
		errs = append(errs, f.c.Close())
	}
	if f.mirrors != nil {
		errs = append(errs, f.mirrors.Close())
	}
	errs = append(errs, f.state.Close())
	return errors.Join(errs...)
}

func (f *fed) replay(line []byte) error {
	var ev fedEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		return err
	}
	switch ev.Op {
	case "participant":
		if ev.Participant == nil {
			return fmt.Errorf("participant without participant")
		}
		p := *ev.Participant
		if old := f.n.participants[p.ID]; old != nil {
			old.Participant = p
		} else {
			f.n.participants[p.ID] = &participant{Participant: p}
		}
	case "member":
		f.setMemberLocked(ev.Room, ev.ID, ev.Member)
	case "access":
		allowed := map[mesh.ParticipantID]bool{}
		for _, id := range ev.IDs {
			allowed[id] = true
		}
		f.setAccessLocked(ev.Room, ev.Capability, allowed)
	case "devices":
		f.applyDevicesLocked(ev.ID, ev.Devices)
	default:
		return fmt.Errorf("unknown op %q", ev.Op)
	}
	return nil
}

func (f *fed) setMemberLocked(room mesh.RoomID, p mesh.ParticipantID, member bool) {
	m := f.members[room]
	if member {
		if m == nil {
			m = map[mesh.ParticipantID]bool{}
			f.members[room] = m
		}
		m[p] = true
	} else if m != nil {
		delete(m, p)
		if len(m) == 0 {
			delete(f.members, room)
		}
	}
}

// Federated reports whether the node has a relay.
func (n *Node) Federated() bool { return n.fed != nil && n.fed.c != nil }

func (n *Node) federation() (*fed, error) {
	if !n.Federated() {
		return nil, mesh.Errorf(mesh.EUnavailable, "This node is not federated: start it with mesh up --interchange URL.")
	}
	return n.fed, nil
}

// federatedRooms is the node's name and federated rooms, for the relay.
func (n *Node) federatedRooms() (string, []interchange.RoomInfo) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	rooms := []interchange.RoomInfo{}
	for _, r := range n.rooms {
		if r.Policy.Visibility == "federated" {
			rooms = append(rooms, interchange.RoomInfo{ID: r.ID, Name: r.Name, Topic: r.Topic})
		}
	}
	slices.SortFunc(rooms, func(a, b interchange.RoomInfo) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return n.info.Name, rooms
}

// Check is federation.Handler: what can be checked of a body before the
// bodies before it are applied, on any goroutine: a post's provenance.
func (f *fed) Check(from federation.Peer, b *mesh.FedBody) error {
	switch b.Kind {
	case mesh.FedSay, mesh.FedCommand, mesh.FedResult:
		if b.Msg != nil {
			return f.verifyOrigin(from.ID, b.Msg)
		}
	}
	return nil
}

// Receive is federation.Handler: a verified body from another node, with
// what Check found.
func (f *fed) Receive(from federation.Peer, b *mesh.FedBody, checked error, done func(error)) {
	switch b.Kind {
	case mesh.FedJoin:
		f.onJoin(from, b)
	case mesh.FedLeave:
		if _, home, ok := b.Room.Split(); ok && home == from.ID { // the home ended a membership
			done(f.onRemoved(from, b))
			return
		}
		f.onLeave(from, b)
	case mesh.FedSay, mesh.FedCommand, mesh.FedResult:
		f.onPost(from, b, checked, done)
		return
	case mesh.FedSubscribe:
		f.onSubscribe(from, b)
	case mesh.FedRoster:
		f.onRoster(from, b)
	case mesh.FedMessage:
		f.onMessage(from, b, done)
		return
	case mesh.FedPresence:
		f.onPresence(from, b)
	case mesh.FedRefused:
		f.onRefused(from, b)
	case mesh.FedAccess:
		done(f.onAccess(from, b))
		return
	case mesh.FedDevices:
		f.onDevices(from, b)
	case mesh.FedRequest:
		f.onRequest(from, b, done)
		return
	case mesh.FedReply:
		f.onReply(from, b)
	default:
		f.reject(from, fmt.Sprintf("unknown body kind %q", b.Kind))
	}
	done(nil)
}

// Reject is federation.Handler: a frame that failed verification.
func (f *fed) Reject(from federation.Peer, reason string) {
	f.reject(from, reason)
}

func (f *fed) reject(from federation.Peer, reason string) {
	f.n.stats.Refused.Inc()
	f.n.log.Warn("federation: refused a frame", "from", from.ID, "reason", reason)
	f.n.Audit.Record(audit.Record{Action: "federation", Outcome: audit.Refused, Code: mesh.EUnauthorized,
		Remote: "node:" + from.ID, Detail: map[string]any{"from": from.ID, "auth": from.Auth, "reason": reason}})
}

// Reachable is federation.Handler: node appeared in the relay's
// directory. The node asks it for what its mirrors of node's rooms miss.
func (f *fed) Reachable(node string) {
	f.mu.Lock()
	var rooms []mesh.RoomID
	for room := range f.members {
		if _, home, ok := room.Split(); ok && home == node {
			rooms = append(rooms, room)
		}
	}
	f.mu.Unlock()
	for _, room := range rooms {
		f.resync(room, askAlways)
	}
}

// send queues b for node to; failures are logged (the queue keeps what it
// accepted, so a failure here means storage failed).
func (f *fed) send(to string, b *mesh.FedBody) {
	f.c.Send(to, b, func(err error) {
		if err != nil {
			f.n.log.Error("federation: queue", "to", to, "kind", b.Kind, "err", err)
		}
	})
}

// sendAll queues b for each of nodes, encoded once.
func (f *fed) sendAll(nodes []string, b *mesh.FedBody) {
	raw, err := b.MarshalJSON() // not json.Marshal: it would check and compact what this returns
	if err != nil {
		f.n.log.Error("federation: encode", "kind", b.Kind, "err", err)
		return
	}
	for _, to := range nodes {
		f.c.SendRaw(to, b.Kind, raw, func(err error) {
			if err != nil {
				f.n.log.Error("federation: queue", "to", to, "kind", b.Kind, "err", err)
			}
		})
	}
}

// refuse tells the sender of b that it was refused, and why.
func (f *fed) refuse(from federation.Peer, b *mesh.FedBody, ref string, err error) {
	f.send(from.ID, &mesh.FedBody{Kind: mesh.FedRefused, Room: b.Room, Ref: ref, Code: mesh.ErrorCode(err), Message: mesh.ErrorMessage(err)})
}

// mirrorID is the store id of a remote room's mirror: a valid room id made
// from a hash of its address.
func mirrorID(address mesh.RoomID) mesh.RoomID {
	sum := sha256.Sum256([]byte(address))
	return mesh.RoomID("f-" + idEncoding.EncodeToString(sum[:15]))
}

// fanoutBus publishes to the hub, then hands entries of local rooms to
// the federation fan-out.
type fanoutBus struct {
	Bus
	f *fed
}

func (b fanoutBus) Publish(room mesh.RoomID, e mesh.Entry, except *hub.Conn) int {
	k := b.Bus.Publish(room, e, except)
	if !room.Remote() {
		b.f.fanout.push(room, e)
	}
	return k
}

// fanoutQueue hands stored entries from the store's committer to the
// fan-out goroutine without blocking it.
type fanoutQueue struct {
	mu    sync.Mutex
	items []fanoutItem
	wake  chan struct{}
	quit  chan struct{}
	wg    sync.WaitGroup
}

type fanoutItem struct {
	room mesh.RoomID
	e    mesh.Entry
}

func (q *fanoutQueue) init() {
	q.wake, q.quit = make(chan struct{}, 1), make(chan struct{})
}

func (q *fanoutQueue) push(room mesh.RoomID, e mesh.Entry) {
	q.mu.Lock()
	q.items = append(q.items, fanoutItem{room, e})
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// start runs f on what is pushed, in order, a batch at a time.
func (q *fanoutQueue) start(f func([]fanoutItem)) {
	q.wg.Go(func() {
		for {
			select {
			case <-q.quit:
				return
			case <-q.wake:
			}
			q.mu.Lock()
			items := q.items
			q.items = nil
			q.mu.Unlock()
			for len(items) > 0 { // in bounded batches: the first goes out before all are signed
				k := min(len(items), fanoutBatch)
				f(items[:k])
				items = items[k:]
			}
		}
	})
}

// fanoutBatch bounds the entries whose envelopes are made at once.
const fanoutBatch = 64

func (q *fanoutQueue) stop() {
	close(q.quit)
	q.wg.Wait()
}

// idRing remembers the last ids applied in a room, for dropping repeats.
type idRing struct {
	ids  []string
	set  map[string]bool
	next int
}

const idRingSize = 4096

func newIDRing() *idRing { return &idRing{ids: make([]string, 0, idRingSize), set: map[string]bool{}} }

func (r *idRing) add(id string) {
	if len(r.ids) < idRingSize {
		r.ids = append(r.ids, id)
	} else {
		delete(r.set, r.ids[r.next])
		r.ids[r.next] = id
		r.next = (r.next + 1) % idRingSize
	}
	r.set[id] = true
}

func presenceFrame(room mesh.RoomID, event string, p mesh.Participant) []byte {
	f, _ := hub.Frame(mesh.PresenceFrame{Type: mesh.FramePresence, Room: room, Event: event, Participant: p})
	return f
}
