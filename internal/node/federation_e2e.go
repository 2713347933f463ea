package node

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
	"github.com/the-mesh/mesh/internal/audit"
	"github.com/the-mesh/mesh/internal/federation"
)

// End-to-end encrypted rooms across federation (PROTOCOL.md, "End-to-end
// encrypted rooms" and "Federation").
//
// Home side: a member's node sends its participant's devices with the
// join and again (a devices body) whenever they change. The home verifies
// each (e2e.VerifyDevice), records them in federation.jsonl (op devices)
// and keeps them as the remote participant's devices, so rosterLocked
// puts them in the roster, with the participant as the home names it
// (id@node), and a new epoch starts as for a local member's change. An
// encrypted say from a member's node is checked by sealed, as a local post.
//
// Visiting side: the home's e2e.epoch events arrive as stored entries of
// the mirror; onMessage writes their participants as this node names
// them, and the mirror's current roster is the last such event
// (mirrorRoster), served by Roster and the joined frame. Encrypted posts
// go to the home as say bodies; adding or deleting a device tells every
// home of a remote room the participant is a member of.

// verifyRemoteDevices checks the devices a node sends for one of its
// participants: at most mesh.MaxDevices, each with a valid binding
// signature, its id made from its sign key, none twice. It returns them
// as the home keeps them (id, sign, box, sig). Errors: EInvalid.
func verifyRemoteDevices(ds []mesh.Device) ([]mesh.Device, error) {
	if len(ds) > mesh.MaxDevices {
		return nil, mesh.Errorf(mesh.EInvalid, "devices: %d devices; a participant has at most %d.", len(ds), mesh.MaxDevices)
	}
	out := make([]mesh.Device, 0, len(ds))
	for i, d := range ds {
		d = mesh.Device{ID: mesh.DeviceID(d.Sign), Sign: d.Sign, Box: d.Box, Sig: d.Sig, Created: d.Created.UTC()}
		if err := e2e.VerifyDevice(d); err != nil {
			return nil, mesh.Errorf(mesh.EInvalid, "devices[%d]: %s", i, mesh.ErrorMessage(err))
		}
		if slices.ContainsFunc(out, func(x mesh.Device) bool { return x.ID == d.ID }) {
			return nil, mesh.Errorf(mesh.EInvalid, "devices[%d]: device %s is given twice.", i, d.ID)
		}
		out = append(out, d)
	}
	return out, nil
}

// setRemoteDevices replaces the devices of remote participant pid with
// ds (verified), records them in federation.jsonl and starts a new epoch
// in every E2E room pid is a member of whose roster changed. A device id
// registered to another participant is refused (EConflict). n.e2eMu must
// not be held.
func (f *fed) setRemoteDevices(actor mesh.Participant, ds []mesh.Device) error {
	n := f.n
	ds, err := verifyRemoteDevices(ds)
	if err != nil {
		return err
	}
	n.e2eMu.Lock()
	defer n.e2eMu.Unlock()
	n.mu.RLock()
	p := n.participants[actor.ID]
	var have []mesh.Device
	if p != nil {
		have = p.devices
	}
	for _, d := range ds {
		if owner, taken := n.devices[d.ID]; taken && owner != actor.ID {
			n.mu.RUnlock()
			return mesh.Errorf(mesh.EConflict, "Device %s is registered to another participant.", d.ID)
		}
	}
	n.mu.RUnlock()
	if p == nil {
		return mesh.Errorf(mesh.EForbidden, "Participant %s has not joined a room here.", actor.ID)
	}
	if slices.EqualFunc(have, ds, func(a, b mesh.Device) bool { return a.ID == b.ID && string(a.Box) == string(b.Box) }) {
		return nil
	}
	if err := f.state.Append(fedEvent{Op: "devices", ID: actor.ID, Devices: ds, TS: n.now().UTC()}); err != nil {
		return fmt.Errorf("record devices of %s: %w", actor.ID, err)
	}
	n.mu.Lock()
	f.applyDevicesLocked(actor.ID, ds)
	n.mu.Unlock()
	n.Audit.Record(audit.Record{Actor: actor.ID, Action: "federated-devices", Outcome: audit.OK,
		Remote: "node:" + actor.Node, Detail: map[string]any{"devices": len(ds)}})
	for _, id := range n.e2eRoomsOf(actor.ID) {
		n.rekeyLocked(actor, id, false)
	}
	return nil
}

// applyDevicesLocked makes ds the devices of participant pid. n.mu must
// be held (or the node not yet shared, at replay).
func (f *fed) applyDevicesLocked(pid mesh.ParticipantID, ds []mesh.Device) {
	n := f.n
	p := n.participants[pid]
	if p == nil {
		return
	}
	for _, d := range p.devices {
		if n.devices[d.ID] == pid {
			delete(n.devices, d.ID)
		}
	}
	p.devices = slices.Clone(ds)
	for _, d := range ds {
		n.devices[d.ID] = pid
	}
}

// onDevices applies a member's node's devices body: its participant's
// devices now.
func (f *fed) onDevices(from federation.Peer, b *mesh.FedBody) {
	if b.Participant == nil {
		f.reject(from, "devices body without participant")
		return
	}
	actor, err := f.remoteActor(from, b.Participant.ID)
	if err == nil {
		err = f.setRemoteDevices(actor, b.Devices)
	}
	if err != nil {
		f.n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "federated-devices", Remote: "node:" + from.ID}, err))
		f.refuse(from, b, "", err)
	}
}

// tellDevices sends actor's devices now to the home of every remote room
// actor is a member of, once per home, through the durable stream.
func (f *fed) tellDevices(actor mesh.Participant) {
	if f == nil || f.c == nil {
		return
	}
	f.mu.Lock()
	var homes []string
	for address, members := range f.members {
		if _, home, ok := address.Split(); ok && members[actor.ID] && !slices.Contains(homes, home) {
			homes = append(homes, home)
		}
	}
	f.mu.Unlock()
	slices.Sort(homes)
	p := actor.Public()
	ds := f.n.Devices(actor)
	for _, home := range homes {
		f.send(home, &mesh.FedBody{Kind: mesh.FedDevices, Participant: &p, Devices: ds})
	}
}

// viewRoster writes a home's roster as this node names participants.
func viewRoster(r *mesh.Roster, home, self string) *mesh.Roster {
	out := *r
	out.Devices = make([]mesh.Device, len(r.Devices))
	for i, d := range r.Devices {
		d.Participant = mesh.ViewParticipant(d.Participant, home, self)
		out.Devices[i] = d
	}
	return &out
}

// epochOf returns the roster an entry of a room carries, if it is an
// e2e.epoch event.
func epochOf(m *mesh.Message) *mesh.Roster {
	if m.Kind != mesh.MessageEvent || m.Body.Event == nil || m.Body.Event.Type != mesh.EventE2EEpoch {
		return nil
	}
	return m.Body.Event.E2E
}

// mirrorRoster returns the current roster of a remote room's mirror:
// the last e2e.epoch event in it, with its seq, or nil. The first call
// after a start reads the mirror's log backwards until it finds one.
func (f *fed) mirrorRoster(address mesh.RoomID) *mesh.Roster {
	f.mu.Lock()
	mr := f.mirrorLocked(address)
	if mr.rosterKnown {
		r := mr.roster
		f.mu.Unlock()
		return r
	}
	f.mu.Unlock()
	var found *mesh.Roster
	id := mirrorID(address)
	if head, err := f.mirrors.Head(id); err == nil {
		const page = 256
		for end := head.Seq; end > 0 && found == nil; {
			after := uint64(0)
			if end > page {
				after = end - page
			}
			entries, err := f.mirrors.Read(id, after, int(end-after))
			if err != nil {
				break
			}
			for i := len(entries) - 1; i >= 0 && found == nil; i-- {
				if !strings.Contains(string(entries[i].Line), mesh.EventE2EEpoch) {
					continue
				}
				var m mesh.Message
				if json.Unmarshal(entries[i].Line, &m) == nil {
					if r := epochOf(&m); r != nil {
						cur := *r
						cur.Seq = entries[i].Seq
						found = &cur
					}
				}
			}
			end = after
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if mr.rosterKnown { // an epoch arrived meanwhile
		return mr.roster
	}
	mr.roster, mr.rosterKnown = found, true
	return found
}

// knownE2E reports whether this node knows the remote room at address to be
// end-to-end encrypted: from the policy in the home's last roster body, or
// an epoch event in the mirror (which survives a restart).
func (f *fed) knownE2E(address mesh.RoomID) bool {
	f.mu.Lock()
	pol := f.mirrorLocked(address).policy
	f.mu.Unlock()
	return pol != nil && pol.E2E || f.mirrorRoster(address) != nil
}

// setMirrorRoster makes r (as this node names participants, with its
// seq) the mirror's current roster.
func (f *fed) setMirrorRoster(address mesh.RoomID, r *mesh.Roster) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mr := f.mirrorLocked(address)
	mr.roster, mr.rosterKnown = r, true
}

// remoteRoster serves Roster for a remote room's mirror. Errors:
// EUnavailable (no relay), EForbidden (not a member), EInvalid (no epoch
// event in the mirror: not an E2E room, or none arrived yet).
func (n *Node) remoteRoster(actor mesh.Participant, address mesh.RoomID) (mesh.Roster, error) {
	f, err := n.federation()
	if err != nil {
		return mesh.Roster{}, err
	}
	if !f.isMember(address, actor.ID) {
		return mesh.Roster{}, mesh.Errorf(mesh.EForbidden, "You are not a member of room %q: join it first.", address)
	}
	r := f.mirrorRoster(address)
	if r == nil {
		return mesh.Roster{}, mesh.Errorf(mesh.EInvalid, "Room %s has no epoch in this node's mirror: it is not end-to-end encrypted, or its first epoch has not arrived yet.", address)
	}
	return *r, nil
}

// MirrorRoster returns the current roster of a remote room's mirror, or
// nil. It does not check who asks: the joined frame carries it.
func (n *Node) MirrorRoster(address mesh.RoomID) *mesh.Roster {
	if !n.Federated() {
		return nil
	}
	return n.fed.mirrorRoster(address)
}
