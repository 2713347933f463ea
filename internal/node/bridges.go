package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/atomicfile"
	"github.com/the-mesh/mesh/internal/audit"
)

// Bridges (PROTOCOL.md, "Bridges"): each bridge copies its source room's
// new chat messages into its target, in a goroutine of its own that the
// node owns (bridge_run.go). The registry is bridges.json in the data
// directory, replaced whole (atomicfile) on every change, cursors included.

const bridgesFile = "bridges.json"

// Limits on bridges.
const (
	MaxBridgesPerRoom = 16   // bridges out of one source room
	MaxBridges        = 1000 // bridges on one node
)

// bridgeRecord is one bridge as bridges.json keeps it: the bridge (with
// its cursor) and when its cursor was saved.
type bridgeRecord struct {
	mesh.Bridge
	SavedAt time.Time `json:"savedAt"`
}

type bridgeFile struct {
	Bridges []bridgeRecord `json:"bridges"`
}

// bridgeSet is the node's bridges and their goroutines.
type bridgeSet struct {
	path string
	ctx  context.Context // ends at Close
	stop context.CancelFunc
	wg   sync.WaitGroup
	// mu guards runs and each run's rec, and is held across writes of
	// bridges.json, so the file's last write is the state in memory. It
	// is taken after Node.mu is released, never while holding it.
	mu   sync.Mutex
	runs map[string]*bridgeRun
}

// bridgeRun is one running bridge.
type bridgeRun struct {
	rec    bridgeRecord       // guarded by bridgeSet.mu
	cancel context.CancelFunc // ends its goroutine; guarded by bridgeSet.mu (nil until it starts)
	done   chan struct{}      // closed when its goroutine has returned
	wake   chan struct{}      // a governance change: check again (buffered, 1)
}

// openBridges reads bridges.json and starts every bridge.
func (n *Node) openBridges() error {
	bs := &bridgeSet{path: filepath.Join(n.cfg.DataDir, bridgesFile), runs: map[string]*bridgeRun{}}
	bs.ctx, bs.stop = context.WithCancel(context.Background())
	n.bridges = bs
	b, err := os.ReadFile(bs.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", bridgesFile, err)
	}
	var f bridgeFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("read %s: %w", bridgesFile, err)
	}
	bs.mu.Lock()
	runs := make([]*bridgeRun, 0, len(f.Bridges))
	for _, rec := range f.Bridges {
		run := newBridgeRun(rec)
		bs.runs[rec.ID] = run
		runs = append(runs, run)
	}
	bs.mu.Unlock()
	for _, run := range runs {
		n.goBridge(run)
	}
	return nil
}

// closeBridges stops every bridge's goroutine and waits for it.
func (n *Node) closeBridges() {
	if n.bridges == nil {
		return
	}
	n.bridges.stop()
	n.bridges.wg.Wait()
}

// newBridgeRun returns rec's run, not started yet.
func newBridgeRun(rec bridgeRecord) *bridgeRun {
	return &bridgeRun{rec: rec, done: make(chan struct{}), wake: make(chan struct{}, 1)}
}

// goBridge starts run's goroutine, which ends at Close or when the bridge
// is deleted.
func (n *Node) goBridge(run *bridgeRun) {
	bs := n.bridges
	ctx, cancel := context.WithCancel(bs.ctx)
	bs.mu.Lock()
	if bs.runs[run.rec.ID] != run { // deleted before it started
		bs.mu.Unlock()
		cancel()
		close(run.done)
		return
	}
	run.cancel = cancel
	bs.mu.Unlock()
	bs.wg.Add(1)
	go func() {
		defer bs.wg.Done()
		defer close(run.done)
		n.runBridge(ctx, run)
	}()
}

// saveBridgesLocked writes bridges.json. bs.mu must be held.
func (bs *bridgeSet) saveLocked() error {
	f := bridgeFile{Bridges: make([]bridgeRecord, 0, len(bs.runs))}
	for _, r := range bs.runs {
		f.Bridges = append(f.Bridges, r.rec)
	}
	slices.SortFunc(f.Bridges, func(a, b bridgeRecord) int { return strings.Compare(a.ID, b.ID) })
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(bs.path, b, 0o600); err != nil {
		return fmt.Errorf("save %s: %w", bridgesFile, err)
	}
	return nil
}

// CreateBridge makes a bridge from room from (a room of this node) to room
// to (a room of this node or a federated address room@node), created by
// actor, who must be a member of both, hold bridge in both and speak in
// to; from's policy must have data.egress "allow", and neither room may be
// end-to-end encrypted. Errors: ENotFound (from), EInvalid (to, e2e, the
// same room), EForbidden naming the rule, EConflict (the same bridge
// exists), ETooLarge (too many bridges), EUnavailable (storage).
func (n *Node) CreateBridge(actor mesh.Participant, from, to mesh.RoomID) (mesh.Bridge, error) {
	b, err := n.createBridge(actor, from, to)
	n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "bridge-create", Room: from,
		Detail: map[string]any{"id": b.ID, "to": to}}, err))
	return b, err
}

func (n *Node) createBridge(actor mesh.Participant, from, to mesh.RoomID) (mesh.Bridge, error) {
	if from.Remote() {
		return mesh.Bridge{}, mesh.Errorf(mesh.EInvalid, "Room %s is on another node: a bridge runs on the node of its source room.", from)
	}
	if n.room(from) == nil {
		return mesh.Bridge{}, notFound(from)
	}
	if !to.Valid() && !to.Remote() {
		return mesh.Bridge{}, mesh.Errorf(mesh.EInvalid, "to must be a room id or a federated address room@node, got %q.", to)
	}
	if rid, home, ok := to.Split(); ok && home == n.info.ID {
		to = rid // this node's own room, by its address
	}
	if to == from {
		return mesh.Bridge{}, mesh.Errorf(mesh.EInvalid, "A bridge needs two rooms: its source and target are both %s.", from)
	}
	if !to.Remote() && n.room(to) == nil {
		return mesh.Bridge{}, notFound(to)
	}
	if err := n.mayBridge(actor.ID, from, to); err != nil {
		return mesh.Bridge{}, err
	}
	head, err := n.store.Head(from)
	if err != nil {
		return mesh.Bridge{}, fmt.Errorf("bridge room %s: %w", from, err)
	}
	now := n.now().UTC()
	rec := bridgeRecord{Bridge: mesh.Bridge{ID: newID("br_"), From: from, To: to, By: actor.ID, Created: now,
		State: mesh.BridgeActive, Cursor: head.Seq}, SavedAt: now}
	bs := n.bridges
	bs.mu.Lock()
	out := 0
	for _, r := range bs.runs {
		if r.rec.From == from && r.rec.To == to {
			bs.mu.Unlock()
			return mesh.Bridge{}, mesh.Errorf(mesh.EConflict, "Bridge %s already carries room %s into %s.", r.rec.ID, from, to)
		}
		if r.rec.From == from {
			out++
		}
	}
	switch {
	case len(bs.runs) >= MaxBridges:
		bs.mu.Unlock()
		return mesh.Bridge{}, mesh.Errorf(mesh.ETooLarge, "This node has %d bridges, its limit.", MaxBridges)
	case out >= MaxBridgesPerRoom:
		bs.mu.Unlock()
		return mesh.Bridge{}, mesh.Errorf(mesh.ETooLarge, "Room %s has %d bridges, the limit for one room.", from, MaxBridgesPerRoom)
	}
	run := newBridgeRun(rec)
	bs.runs[rec.ID] = run
	if err := bs.saveLocked(); err != nil {
		delete(bs.runs, rec.ID)
		bs.mu.Unlock()
		return mesh.Bridge{}, err
	}
	bs.mu.Unlock()
	n.goBridge(run)
	return rec.Bridge, nil
}

// mayBridge checks every rule a bridge's creator must meet, now: when it
// is made and before each message it carries. The error names the rule.
func (n *Node) mayBridge(pid mesh.ParticipantID, from, to mesh.RoomID) error {
	if _, ok := n.Participant(pid); !ok || n.Revoked(pid) {
		return mesh.Errorf(mesh.EForbidden, "Participant %s was revoked.", pid)
	}
	if err := n.mayBridgeFrom(pid, from); err != nil {
		return err
	}
	return n.mayBridgeTo(pid, to)
}

func (n *Node) mayBridgeFrom(pid mesh.ParticipantID, from mesh.RoomID) error {
	if !n.IsMember(from, pid) {
		return mesh.Errorf(mesh.EForbidden, "%s is not a member of room %s, the bridge's source.", pid, from)
	}
	if err := n.Check(pid, from, mesh.CapBridge); err != nil {
		return inRoom(from, err)
	}
	if n.isE2E(from) {
		return mesh.Errorf(mesh.EInvalid, "Room %s is end-to-end encrypted: the node cannot read its messages to bridge them.", from)
	}
	n.mu.RLock()
	r := n.rooms[from]
	egress := r != nil && r.Policy.Data.Egress == "allow"
	n.mu.RUnlock()
	if !egress {
		return mesh.Errorf(mesh.EForbidden, `Room %s keeps its messages in the room: its policy has data.egress "deny".`, from)
	}
	return nil
}

func (n *Node) mayBridgeTo(pid mesh.ParticipantID, to mesh.RoomID) error {
	if to.Remote() {
		f, err := n.federation()
		if err != nil {
			return err
		}
		if !f.isMember(to, pid) {
			return mesh.Errorf(mesh.EForbidden, "%s is not a member of room %s, the bridge's target.", pid, to)
		}
		if err := f.maySpeakRemote(to, pid); err != nil {
			return err
		}
		if f.knownE2E(to) {
			return mesh.Errorf(mesh.EInvalid, "Room %s is end-to-end encrypted: a bridge cannot post readable messages in it.", to)
		}
		return nil // its home checks bridge when each message comes
	}
	if n.room(to) == nil {
		return notFound(to)
	}
	if !n.IsMember(to, pid) {
		return mesh.Errorf(mesh.EForbidden, "%s is not a member of room %s, the bridge's target.", pid, to)
	}
	for _, c := range []mesh.Capability{mesh.CapBridge, mesh.CapSpeak} {
		if err := n.Check(pid, to, c); err != nil {
			return inRoom(to, err)
		}
	}
	if n.isE2E(to) {
		return mesh.Errorf(mesh.EInvalid, "Room %s is end-to-end encrypted: a bridge cannot post readable messages in it.", to)
	}
	return nil
}

// inRoom puts the room's name into a governance refusal ("in this room").
func inRoom(id mesh.RoomID, err error) error {
	return mesh.Errorf(mesh.ErrorCode(err), "%s", strings.Replace(mesh.ErrorMessage(err), "in this room", "in room "+string(id), 1))
}

// Bridges lists the bridges out of room from, for its members.
// Errors: ENotFound, EForbidden.
func (n *Node) Bridges(actor mesh.Participant, from mesh.RoomID) ([]mesh.Bridge, error) {
	if from.Remote() || n.room(from) == nil {
		return nil, notFound(from)
	}
	if !n.IsMember(from, actor.ID) && actor.ID != n.owner {
		return nil, mesh.Errorf(mesh.EForbidden, "You are not a member of room %q: join it first.", from)
	}
	bs := n.bridges
	bs.mu.Lock()
	out := []mesh.Bridge{}
	for _, r := range bs.runs {
		if r.rec.From == from {
			out = append(out, r.rec.Bridge)
		}
	}
	bs.mu.Unlock()
	slices.SortFunc(out, func(a, b mesh.Bridge) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// DeleteBridge removes bridge id out of room from. Its creator, a
// moderator of from and the node's owner may. Errors: ENotFound,
// EForbidden, EUnavailable (storage).
func (n *Node) DeleteBridge(actor mesh.Participant, from mesh.RoomID, id string) error {
	err := n.deleteBridge(actor, from, id)
	n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "bridge-delete", Room: from,
		Detail: map[string]any{"id": id}}, err))
	return err
}

func (n *Node) deleteBridge(actor mesh.Participant, from mesh.RoomID, id string) error {
	bs := n.bridges
	bs.mu.Lock()
	run := bs.runs[id]
	bs.mu.Unlock()
	if run == nil || run.rec.From != from {
		return mesh.Errorf(mesh.ENotFound, "Room %s has no bridge %q.", from, id)
	}
	if actor.ID != run.rec.By {
		if err := n.mayModerate(actor, from); err != nil {
			return mesh.Errorf(mesh.EForbidden, "Only the bridge's creator or a moderator of room %s may remove it.", from)
		}
	}
	bs.mu.Lock()
	cancel := run.cancel
	bs.mu.Unlock()
	if cancel != nil {
		cancel()
		<-run.done // it saves no more
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if bs.runs[id] != run {
		return mesh.Errorf(mesh.ENotFound, "Room %s has no bridge %q.", from, id)
	}
	delete(bs.runs, id)
	if err := bs.saveLocked(); err != nil {
		bs.runs[id] = run
		return err
	}
	return nil
}

// wakeBridges makes every bridge check its rules again now (a policy,
// membership or participant changed), so a suspension is seen at once.
func (n *Node) wakeBridges() {
	if n.bridges == nil {
		return
	}
	n.bridges.mu.Lock()
	defer n.bridges.mu.Unlock()
	for _, r := range n.bridges.runs {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}
