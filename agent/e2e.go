package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
)

// This file holds the client's end-to-end state: its device (keyring) and,
// per joined E2E room, the rosters, keys entries and policy (e2eRoom).
// Sending is in seal.go, opening in open.go.

// ErrNoKeyStore is returned by Join for an end-to-end encrypted room, and
// by sends to one, when Config.Keys is nil.
var ErrNoKeyStore = errors.New("agent: the room is end-to-end encrypted and Config.Keys is not set: give the client a KeyStore (agent.FileKeys) to take part")

// Limits of the end-to-end machinery.
const (
	rosterWait   = 10 * time.Second // for this device to enter a roster before sending
	restTimeout  = 10 * time.Second // a REST call made while reading the stream
	maxRekeys    = 3                // re-keys and resends after conflict, per message
	chainReserve = 64               // counters reserved in the key store per write
	keptRosters  = 64               // rosters kept per room (the newest epochs)
	keptKeys     = 4096             // keys entries kept per room (the newest seqs)
)

// E2EStats counts what the client did in end-to-end encrypted rooms.
type E2EStats struct {
	KeysEntries   uint64 // keys entries read (they are not delivered)
	Opened        uint64 // sealed messages opened
	Undecryptable uint64 // sealed messages delivered with an Undecryptable reason
	Blocked       uint64 // opened messages dropped by the room's scan policy
	Rekeys        uint64 // sends retried under a new epoch after a conflict
}

type e2eCounters struct{ keys, opened, undecryptable, blocked, rekeys atomic.Uint64 }

// E2EStats returns the client's counts since Dial.
func (c *Client) E2EStats() E2EStats {
	return E2EStats{KeysEntries: c.e2eStats.keys.Load(), Opened: c.e2eStats.opened.Load(),
		Undecryptable: c.e2eStats.undecryptable.Load(), Blocked: c.e2eStats.blocked.Load(), Rekeys: c.e2eStats.rekeys.Load()}
}

// keyring is the client's device: its identity from the KeyStore, its
// own chains, and whether the node has the device registered.
type keyring struct {
	store KeyStore

	mu         sync.Mutex // guards the fields below; the store is written under it
	rec        KeyRecord
	id         *e2e.Identity // nil until loaded
	registered bool
}

// identity loads the device from the store, making and saving a new one
// when the store is empty.
func (k *keyring) identity() (*e2e.Identity, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.id != nil {
		return k.id, nil
	}
	rec, err := k.store.Load()
	if err != nil {
		return nil, err
	}
	if len(rec.Sign) == 0 && len(rec.Box) == 0 {
		seed := make([]byte, 64)
		rand.Read(seed)
		rec = KeyRecord{V: keyRecordVersion, Sign: seed[:32], Box: seed[32:]}
		if err := k.store.Save(rec.clone()); err != nil {
			return nil, err
		}
	}
	if len(rec.Sign) != 32 || len(rec.Box) != 32 {
		return nil, errors.New("agent: the key store's device keys are not 32-byte keys")
	}
	// NewIdentity reads the signing seed, then the box key.
	id, err := e2e.NewIdentity(bytes.NewReader(slices.Concat(rec.Sign, rec.Box)))
	if err != nil {
		return nil, fmt.Errorf("agent: the key store's device keys: %w", err)
	}
	k.rec, k.id = rec, id
	return id, nil
}

// chain returns the stored chain of room's epoch, if any.
func (k *keyring) chain(room mesh.RoomID, epoch uint64) (ChainRecord, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, cr := range k.rec.Chains {
		if cr.Room == room && cr.Epoch == epoch {
			cr.CK0 = slices.Clone(cr.CK0)
			return cr, true
		}
	}
	return ChainRecord{}, false
}

// saveChain stores cr as its room's chain, replacing the room's older one.
func (k *keyring) saveChain(cr ChainRecord) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	i := slices.IndexFunc(k.rec.Chains, func(c ChainRecord) bool { return c.Room == cr.Room })
	if i < 0 {
		k.rec.Chains = append(k.rec.Chains, cr)
	} else {
		k.rec.Chains[i] = cr
	}
	return k.store.Save(k.rec.clone())
}

// registerDevice makes sure the node has this client's device (PUT
// /api/v1/participants/me/devices, idempotent), once per client.
func (c *Client) registerDevice(ctx context.Context) error {
	id, err := c.keys.identity()
	if err != nil {
		return err
	}
	c.keys.mu.Lock()
	done := c.keys.registered
	c.keys.mu.Unlock()
	if done {
		return nil
	}
	if _, err := putDevice(ctx, c.hc, c.base, c.cfg.Token, id); err != nil {
		return err
	}
	c.keys.mu.Lock()
	c.keys.registered = true
	c.keys.mu.Unlock()
	return nil
}

// putDevice registers id's device with the node at base.
func putDevice(ctx context.Context, hc *http.Client, base, token string, id *e2e.Identity) (mesh.Device, error) {
	d := id.Device()
	in := struct {
		Sign []byte `json:"sign"`
		Box  []byte `json:"box"`
		Sig  []byte `json:"sig"`
	}{d.Sign, d.Box, d.Sig}
	var out struct {
		Device mesh.Device `json:"device"`
	}
	err := doREST(ctx, hc, base, "PUT", "/api/v1/participants/me/devices", token, in, &out)
	if mesh.ErrorCode(err) == mesh.EConflict {
		return mesh.Device{}, fmt.Errorf("device %s (from the key store): %w", d.ID, err)
	}
	if err != nil {
		return mesh.Device{}, err
	}
	return out.Device, nil
}

// RegisterDevice registers the device of cfg.Keys (made and saved there
// if the store is empty) with the node, as a Client does when it first
// joins an end-to-end encrypted room, and returns it. Registering it
// before a room's messages are sent makes them readable later: a room's
// roster holds the devices of its members as the node knows them. It is
// idempotent. Errors: ErrNoKeyStore, the store's, and *mesh.Error
// (conflict: the device is another participant's, or the participant has
// 8 devices already).
func (cfg Config) RegisterDevice(ctx context.Context) (mesh.Device, error) {
	if cfg.Keys == nil {
		return mesh.Device{}, ErrNoKeyStore
	}
	id, err := (&keyring{store: cfg.Keys}).identity()
	if err != nil {
		return mesh.Device{}, err
	}
	hc := cfg.httpClient()
	if hc != cfg.HTTPClient && hc != http.DefaultClient {
		defer hc.CloseIdleConnections()
	}
	return putDevice(ctx, hc, cfg.URL, cfg.Token, id)
}

// e2eRoom is what the client knows of one joined E2E room.
type e2eRoom struct {
	ready   chan struct{} // closed once set up: device registered, policy read
	err     error         // why the setup failed; set before ready is closed
	history []Message     // the joined frame's history, opened; set before ready is closed

	mu      sync.Mutex // guards the fields below
	home    mesh.RoomID
	rosters map[uint64]mesh.Roster // by epoch, the newest keptRosters
	cur     uint64                 // the newest epoch known
	changed chan struct{}          // closed and replaced when cur moves on
	devices map[string]mesh.Device // every device of every roster seen, by id
	policy  mesh.Policy
	keys    map[uint64]*keysEntry // keys entries by seq, the newest keptKeys
	undec   bool                  // an undecryptable message was logged

	// keying is a one-token lock held while the sender chain is chosen
	// or made; chain is guarded by it.
	keying chan struct{}
	chain  *ownChain
}

func newE2ERoom(r mesh.Roster) *e2eRoom {
	er := &e2eRoom{
		ready:   make(chan struct{}),
		rosters: map[uint64]mesh.Roster{},
		changed: make(chan struct{}),
		devices: map[string]mesh.Device{},
		keys:    map[uint64]*keysEntry{},
		keying:  make(chan struct{}, 1),
		policy:  mesh.DefaultPolicy(),
	}
	er.addRoster(r)
	return er
}

// finish ends the setup with err (nil: ready).
func (er *e2eRoom) finish(err error) {
	er.err = err
	close(er.ready)
}

// wait waits for the setup and returns its error.
func (er *e2eRoom) wait(ctx context.Context) error {
	select {
	case <-er.ready:
		return er.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// addRoster learns an epoch's roster.
func (er *e2eRoom) addRoster(r mesh.Roster) {
	er.mu.Lock()
	defer er.mu.Unlock()
	if r.Room != "" {
		er.home = r.Room
	}
	for _, d := range r.Devices {
		er.devices[d.ID] = d
	}
	if old, ok := er.rosters[r.Epoch]; ok && old.Seq != 0 {
		r.Seq = old.Seq
	}
	er.rosters[r.Epoch] = r
	for len(er.rosters) > keptRosters {
		delete(er.rosters, minKey(er.rosters))
	}
	if r.Epoch > er.cur {
		er.cur = r.Epoch
		close(er.changed)
		er.changed = make(chan struct{})
	}
}

func minKey[V any](m map[uint64]V) uint64 {
	first := true
	var k uint64
	for x := range m {
		if first || x < k {
			k, first = x, false
		}
	}
	return k
}

// current returns the newest roster and a channel closed when a newer one
// is learnt.
func (er *e2eRoom) current() (mesh.Roster, <-chan struct{}) {
	er.mu.Lock()
	defer er.mu.Unlock()
	return er.rosters[er.cur], er.changed
}

// sender returns the device that sent in epoch, checking that it is in
// that epoch's roster and is from's. When the epoch's roster is not known
// (older than what the client has seen), a device of from seen in any
// roster is taken: a device id is the hash of its signing key and the node
// binds a device to one participant for good.
func (er *e2eRoom) sender(epoch uint64, device string, from mesh.ParticipantID) (mesh.Device, error) {
	er.mu.Lock()
	defer er.mu.Unlock()
	d, ok := er.devices[device]
	if r, known := er.rosters[epoch]; known {
		i := slices.IndexFunc(r.Devices, func(d mesh.Device) bool { return d.ID == device })
		ok = i >= 0
		if ok {
			d = r.Devices[i]
		}
	}
	if !ok || d.Participant != from {
		return mesh.Device{}, fmt.Errorf("%w: device %s in epoch %d as %s", e2e.ErrNotMember, device, epoch, from)
	}
	return d, nil
}

func (er *e2eRoom) setPolicy(p mesh.Policy) {
	er.mu.Lock()
	er.policy = p
	er.mu.Unlock()
}

// scanMode returns the room's scan policy for trust: off, flag or block.
func (er *e2eRoom) scanMode(t mesh.Trust) string {
	er.mu.Lock()
	defer er.mu.Unlock()
	return er.policy.Scan[t]
}

// executeFrom returns the trust levels whose commands may run (never
// nil: an empty list lets none run).
func (er *e2eRoom) executeFrom() []mesh.Trust {
	er.mu.Lock()
	defer er.mu.Unlock()
	return append([]mesh.Trust{}, er.policy.Execute.From...)
}

func (er *e2eRoom) homeAddress() mesh.RoomID {
	er.mu.Lock()
	defer er.mu.Unlock()
	return er.home
}

// Roster returns the newest roster the client knows of a joined end-to-end
// encrypted room, and false for a plain room or one not joined.
func (c *Client) Roster(room mesh.RoomID) (mesh.Roster, bool) {
	er := c.e2eRoomOf(room)
	if er == nil {
		return mesh.Roster{}, false
	}
	r, _ := er.current()
	r.Devices = slices.Clone(r.Devices)
	return r, true
}

// e2eRoomOf returns the E2E state of a joined room, or nil for a room that
// is plain or not joined.
func (c *Client) e2eRoomOf(room mesh.RoomID) *e2eRoom {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rs := c.rooms[room]; rs != nil {
		return rs.e2e
	}
	return nil
}

// setupE2E readies a joined E2E room: it registers the device with the
// node and reads the room's policy (whose scan and execute.from the client
// applies). The caller finishes er.
func (c *Client) setupE2E(ctx context.Context, room mesh.RoomID, er *e2eRoom) error {
	if c.keys == nil {
		return fmt.Errorf("join %s: %w", room, ErrNoKeyStore)
	}
	if err := c.registerDevice(ctx); err != nil {
		return fmt.Errorf("agent: room %s: register this device: %w", room, err)
	}
	return c.refreshPolicy(ctx, room, er)
}

// refreshPolicy reads room's policy (GET /api/v1/rooms/{id}).
func (c *Client) refreshPolicy(ctx context.Context, room mesh.RoomID, er *e2eRoom) error {
	var out struct {
		Room mesh.Room `json:"room"`
	}
	if err := doREST(ctx, c.hc, c.base, "GET", roomPath(room, ""), c.cfg.Token, nil, &out); err != nil {
		return fmt.Errorf("agent: room %s: read its policy: %w", room, err)
	}
	er.setPolicy(out.Room.Policy)
	return nil
}

// refreshRoster reads room's current roster (GET /api/v1/rooms/{id}/e2e).
func (c *Client) refreshRoster(ctx context.Context, room mesh.RoomID, er *e2eRoom) error {
	var r mesh.Roster
	if err := doREST(ctx, c.hc, c.base, "GET", roomPath(room, "/e2e"), c.cfg.Token, nil, &r); err != nil {
		return fmt.Errorf("agent: room %s: read its roster: %w", room, err)
	}
	er.addRoster(r)
	return nil
}

// roomPath returns the REST path of a room, escaping the id.
func roomPath(room mesh.RoomID, rest string) string {
	return "/api/v1/rooms/" + url.PathEscape(string(room)) + rest
}
