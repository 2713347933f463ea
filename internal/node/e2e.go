package node

import (
	"bytes"
	"slices"
	"strings"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/governance"
)

// End-to-end encrypted rooms (policy "e2e": true; PROTOCOL.md, "End-to-end
// encrypted rooms"). The node never holds a key: it keeps each room's
// epoch and roster, the devices that may read what is sent in the epoch,
// and checks what it can of the sealed bodies posted there (sealed.go).
//
// A room's roster is the devices (devices.go) of every local, unrevoked
// member that holds listen, sorted by id. Whenever it changes (the room is
// created with e2e or turned to e2e, a member joins, leaves, is kicked or
// banned, gains or loses listen through a policy change, adds or deletes a
// device, or is revoked) the node starts a new epoch: it records the
// epoch's number in rooms.jsonl, then appends an e2e.epoch event carrying
// the roster to the room's log. At every start each E2E room begins a new
// epoch too, so numbers only grow, even across a crash between the two
// writes. The event takes its seq under the room log's lock, and so does
// every encrypted post, which is refused unless its epoch is still the
// current one then: every message accepted for epoch N has a seq below
// the event of epoch N+1.
//
// Members on other nodes are not in the roster: this node does not know
// their devices (v1).

// e2eOnly is the refusal of a plain post in an end-to-end encrypted room.
func e2eOnly(room mesh.RoomID) error {
	return mesh.Errorf(mesh.EInvalid, "Room %q is end-to-end encrypted: post kind \"encrypted\" bodies made by an SDK with E2E (see PROTOCOL.md).", room)
}

// isE2E reports whether room id is a room of this node whose policy has e2e.
func (n *Node) isE2E(id mesh.RoomID) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	r := n.rooms[id]
	return r != nil && r.Policy.E2E
}

// rosterLocked returns the devices of room r's roster under policy pol:
// those of every local, unrevoked member holding listen, and of plus (a
// participant about to join) if it would hold listen, sorted by id.
// n.mu must be held.
func (n *Node) rosterLocked(r *room, pol *mesh.Policy, plus mesh.ParticipantID) []mesh.Device {
	out := []mesh.Device{}
	add := func(pid mesh.ParticipantID) {
		p := n.participants[pid]
		if p == nil || len(p.devices) == 0 || !n.listensLocked(r, pol, pid) {
			return
		}
		for _, d := range p.devices {
			out = append(out, mesh.Device{ID: d.ID, Participant: pid, Sign: d.Sign, Box: d.Box})
		}
	}
	for pid := range r.members {
		add(pid)
	}
	if plus != "" && !r.members[plus] {
		add(plus)
	}
	slices.SortFunc(out, func(a, b mesh.Device) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// listensLocked reports whether participant pid, local and unrevoked,
// holds listen in room r under policy pol: whether its devices belong in
// r's roster (when it is a member). n.mu must be held.
func (n *Node) listensLocked(r *room, pol *mesh.Policy, pid mesh.ParticipantID) bool {
	p := n.participants[pid]
	if p == nil || p.revoked || (p.Node != "" && p.Node != n.info.ID) {
		return false
	}
	gr := governance.Room{Creator: r.Creator, Policy: pol}
	for _, a := range n.subjectLocked(r.Creator).Ancestors {
		gr.CreatorAncestors = append(gr.CreatorAncestors, a.ID)
	}
	return governance.Can(n.subjectLocked(pid), mesh.CapListen, gr)
}

func sameDevices(a, b []mesh.Device) bool {
	return slices.EqualFunc(a, b, func(x, y mesh.Device) bool {
		return x.ID == y.ID && x.Participant == y.Participant && bytes.Equal(x.Sign, y.Sign) && bytes.Equal(x.Box, y.Box)
	})
}

// tooManyDevices is the refusal of a change that would take room id's
// roster over mesh.MaxRosterDevices.
func tooManyDevices(id mesh.RoomID, k int) error {
	return mesh.Errorf(mesh.EConflict, "Room %s's roster would hold %d devices; an end-to-end encrypted room holds at most %d.", id, k, mesh.MaxRosterDevices)
}

// checkE2EPolicy checks a new policy p of room r: an E2E room stays E2E,
// and its roster under p stays within mesh.MaxRosterDevices. r.writeMu and
// n.e2eMu must be held.
func (n *Node) checkE2EPolicy(r *room, p *mesh.Policy) error {
	if r.Policy.E2E && !p.E2E {
		return mesh.Errorf(mesh.EInvalid, "policy.e2e: room %q is end-to-end encrypted, and an end-to-end encrypted room stays so; create a new room.", r.ID)
	}
	if !p.E2E {
		return nil
	}
	n.mu.RLock()
	k := len(n.rosterLocked(r, p, ""))
	n.mu.RUnlock()
	if k > mesh.MaxRosterDevices {
		return tooManyDevices(r.ID, k)
	}
	return nil
}

// join makes actor a member of room id. In an end-to-end encrypted room it
// refuses a join that would take the roster over mesh.MaxRosterDevices
// (EConflict), and a new epoch follows if the roster changed.
func (n *Node) join(actor mesh.Participant, id mesh.RoomID) error {
	if !n.isE2E(id) {
		if err := n.setMember(actor.ID, id, true); err != nil {
			return err
		}
		n.rekey(actor, id) // in case the room turned E2E meanwhile
		return nil
	}
	n.e2eMu.Lock()
	defer n.e2eMu.Unlock()
	if r := n.room(id); r != nil {
		n.mu.RLock()
		k := len(n.rosterLocked(r, &r.Policy, actor.ID))
		n.mu.RUnlock()
		if k > mesh.MaxRosterDevices {
			return tooManyDevices(id, k)
		}
	}
	if err := n.setMember(actor.ID, id, true); err != nil {
		return err
	}
	n.rekeyLocked(actor, id, false)
	return nil
}

// rekey starts a new epoch in room id, for actor, if it is end-to-end
// encrypted and its roster changed.
func (n *Node) rekey(actor mesh.Participant, id mesh.RoomID) {
	if !n.isE2E(id) {
		return
	}
	n.e2eMu.Lock()
	defer n.e2eMu.Unlock()
	n.rekeyLocked(actor, id, false)
}

// rekeyMembers starts a new epoch in every end-to-end encrypted room that
// one of pids is a member of, and whose roster changed.
func (n *Node) rekeyMembers(actor mesh.Participant, pids []mesh.ParticipantID) {
	if len(pids) == 0 {
		return
	}
	n.e2eMu.Lock()
	defer n.e2eMu.Unlock()
	for _, id := range n.e2eRoomsOf(pids...) {
		n.rekeyLocked(actor, id, false)
	}
}

// e2eRoomsOf returns the end-to-end encrypted rooms one of pids is a
// member of, ordered by id.
func (n *Node) e2eRoomsOf(pids ...mesh.ParticipantID) []mesh.RoomID {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []mesh.RoomID
	for id, r := range n.rooms {
		if r.Policy.E2E && slices.ContainsFunc(pids, func(p mesh.ParticipantID) bool { return r.members[p] }) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// rekeyLocked starts a new epoch in room id if it is end-to-end encrypted
// and its roster changed, or always when force: it records the epoch's
// number in rooms.jsonl, then appends the e2e.epoch event, from actor, to
// the room's log; the roster becomes current when the event takes its
// seq. It returns the error of the journal write; a failed append is
// logged. n.e2eMu must be held.
func (n *Node) rekeyLocked(actor mesh.Participant, id mesh.RoomID, force bool) error {
	r := n.room(id)
	if r == nil {
		return nil
	}
	n.mu.RLock()
	e2e := r.Policy.E2E
	var devices []mesh.Device
	if e2e {
		devices = n.rosterLocked(r, &r.Policy, "")
	}
	n.mu.RUnlock()
	if !e2e {
		return nil
	}
	if cur := r.roster.Load(); !force && cur != nil && sameDevices(cur.Devices, devices) {
		return nil
	}
	if len(devices) > mesh.MaxRosterDevices { // only after concurrent changes got past the checks
		n.log.Warn("end-to-end encrypted room's roster is over the limit: keys entries cannot cover it", "room", id,
			"devices", len(devices), "limit", mesh.MaxRosterDevices)
	}
	epoch := r.epoch + 1
	// The number is on disk before the event: a crash between the two
	// leaves a gap, never a number used twice.
	if err := n.places.Append(roomEvent{Op: "epoch", ID: id, Epoch: epoch, TS: n.now().UTC()}); err != nil {
		n.log.Error("record epoch", "room", id, "epoch", epoch, "err", err)
		return err
	}
	r.epoch = epoch
	roster := mesh.Roster{Epoch: epoch, Room: mesh.RemoteRoom(id, n.info.ID), Devices: devices}
	ev := mesh.Event{Type: mesh.EventE2EEpoch, E2E: &roster, By: actor.ID}
	m := &mesh.Message{
		ID: newID("m_"), Room: id, Kind: mesh.MessageEvent, From: actor.Sender(), Trust: actor.Trust,
		TS: n.now().UTC(), Body: mesh.Body{Event: &ev},
	}
	current := func(seq uint64) error {
		cur := roster
		cur.Seq = seq
		r.roster.Store(&cur)
		return nil
	}
	n.appendChecked(actor, "e2e-epoch", m, nil, "", current, func(_ mesh.Message, err error) {
		if err != nil {
			n.log.Error("store epoch event", "room", id, "epoch", epoch, "err", err)
		}
	})
	return nil
}

// startEpochs begins a new epoch in every end-to-end encrypted room, from
// the node's owner: at start the node holds no roster in memory, and
// senders re-key whatever they held.
func (n *Node) startEpochs() error {
	owner, _ := n.Participant(n.owner)
	n.e2eMu.Lock()
	defer n.e2eMu.Unlock()
	for _, r := range n.Rooms() {
		if r.Policy.E2E {
			if err := n.rekeyLocked(owner, r.ID, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// Roster returns the current roster of room id, an end-to-end encrypted
// room of this node, with the seq of its epoch event. Only members may
// read it. Errors: ENotFound, EInvalid (a room that is not E2E, or
// another node's), EForbidden (not a member), EUnavailable (no epoch yet).
func (n *Node) Roster(actor mesh.Participant, id mesh.RoomID) (mesh.Roster, error) {
	if id.Remote() {
		return mesh.Roster{}, mesh.Errorf(mesh.EInvalid, "The roster of %s is kept by its home node; this node serves its own rooms' rosters only (v1).", id)
	}
	r := n.room(id)
	if r == nil {
		return mesh.Roster{}, notFound(id)
	}
	n.mu.RLock()
	e2e, member := r.Policy.E2E, r.members[actor.ID]
	n.mu.RUnlock()
	switch {
	case !e2e:
		return mesh.Roster{}, mesh.Errorf(mesh.EInvalid, "Room %q is not end-to-end encrypted (its policy has \"e2e\": false): it has no roster.", id)
	case !member:
		return mesh.Roster{}, mesh.Errorf(mesh.EForbidden, "You are not a member of room %q: join it first.", id)
	}
	cur := r.roster.Load()
	if cur == nil {
		return mesh.Roster{}, mesh.Errorf(mesh.EUnavailable, "Room %q has no epoch yet; try again.", id)
	}
	return *cur, nil
}

// CurrentRoster returns the current roster of room id if it is an
// end-to-end encrypted room of this node with an epoch, else nil. It does
// not check who asks: the joined frame carries it.
func (n *Node) CurrentRoster(id mesh.RoomID) *mesh.Roster {
	r := n.room(id)
	if r == nil {
		return nil
	}
	return r.roster.Load()
}

// findDevice returns the device with id in a roster (sorted by id).
func findDevice(roster *mesh.Roster, id string) (mesh.Device, bool) {
	i, ok := slices.BinarySearchFunc(roster.Devices, id, func(d mesh.Device, id string) int { return strings.Compare(d.ID, id) })
	if !ok {
		return mesh.Device{}, false
	}
	return roster.Devices[i], true
}
