package node

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
	"github.com/the-mesh/mesh/internal/audit"
)

// A participant's devices are its clients' public keys for end-to-end
// encrypted rooms: at most mesh.MaxDevices each, every device id
// registered to one participant only. They are events of
// participants.jsonl ("device", "device-delete"), replayed at start. A
// device added or deleted by a member of an E2E room changes that room's
// roster (e2e.go).

// replayDevice applies a device event of participants.jsonl.
func (n *Node) replayDevice(ev participantEvent) error {
	p := n.participants[ev.ID]
	if p == nil {
		return fmt.Errorf("participants.jsonl: %s for unknown participant %q", ev.Op, ev.ID)
	}
	if ev.Op == "device" {
		if ev.Device == nil {
			return fmt.Errorf("participants.jsonl: device without device")
		}
		p.devices = append(p.devices, *ev.Device)
		n.devices[ev.Device.ID] = ev.ID
		return nil
	}
	p.devices = slices.DeleteFunc(p.devices, func(d mesh.Device) bool { return d.ID == ev.DeviceID })
	if n.devices[ev.DeviceID] == ev.ID {
		delete(n.devices, ev.DeviceID)
	}
	return nil
}

// Devices lists actor's devices, in the order they were registered.
func (n *Node) Devices(actor mesh.Participant) []mesh.Device {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := []mesh.Device{}
	if p := n.participants[actor.ID]; p != nil {
		out = append(out, p.devices...)
	}
	return out
}

// AddDevice registers a device of actor: its Sign and Box keys and the
// signature binding them (e2e.VerifyDevice); its id is made from Sign. It
// returns the device and whether it is new: registering a device again
// with the same keys changes nothing. Every E2E room actor is a member of
// starts a new epoch. Errors: EInvalid (a key or the signature, naming the
// field), EConflict (the id is registered to another participant, or
// with another box key; actor has mesh.MaxDevices devices; a roster would
// go over mesh.MaxRosterDevices), EUnavailable (storage).
func (n *Node) AddDevice(actor mesh.Participant, d mesh.Device) (mesh.Device, bool, error) {
	out, created, err := n.addDevice(actor, d)
	rec := audit.Record{Actor: actor.ID, Action: "device-add", Detail: map[string]any{"id": out.ID, "new": created}}
	if err != nil {
		rec.Detail = nil
	}
	n.Audit.Record(outcome(rec, err))
	return out, created, err
}

func (n *Node) addDevice(actor mesh.Participant, d mesh.Device) (mesh.Device, bool, error) {
	d = mesh.Device{ID: mesh.DeviceID(d.Sign), Sign: d.Sign, Box: d.Box, Sig: d.Sig}
	if err := e2e.VerifyDevice(d); err != nil {
		return mesh.Device{}, false, err
	}
	n.e2eMu.Lock()
	defer n.e2eMu.Unlock()
	n.mu.RLock()
	owner, taken := n.devices[d.ID]
	var have []mesh.Device
	if p := n.participants[actor.ID]; p != nil {
		have = p.devices
	}
	n.mu.RUnlock()
	if taken && owner != actor.ID {
		return mesh.Device{}, false, mesh.Errorf(mesh.EConflict, "Device %s is registered to another participant.", d.ID)
	}
	if i := slices.IndexFunc(have, func(x mesh.Device) bool { return x.ID == d.ID }); i >= 0 {
		if !bytes.Equal(have[i].Box, d.Box) {
			return mesh.Device{}, false, mesh.Errorf(mesh.EConflict, "Device %s is registered with another box key; delete it first to register new keys.", d.ID)
		}
		return have[i], false, nil
	}
	if len(have) >= mesh.MaxDevices {
		return mesh.Device{}, false, mesh.Errorf(mesh.EConflict, "You have %d devices, the most a participant may have; delete one first.", len(have))
	}
	rooms := n.e2eRoomsOf(actor.ID)
	n.mu.RLock()
	for _, id := range rooms {
		r := n.rooms[id]
		if k := len(n.rosterLocked(r, &r.Policy, "")) + 1; n.listensLocked(r, &r.Policy, actor.ID) && k > mesh.MaxRosterDevices {
			n.mu.RUnlock()
			return mesh.Device{}, false, tooManyDevices(id, k)
		}
	}
	n.mu.RUnlock()
	d.Created = n.now().UTC()
	if err := n.people.Append(participantEvent{Op: "device", ID: actor.ID, Device: &d, TS: d.Created}); err != nil {
		return mesh.Device{}, false, fmt.Errorf("register device %s: %w", d.ID, err)
	}
	n.mu.Lock()
	if p := n.participants[actor.ID]; p != nil {
		p.devices = append(slices.Clip(p.devices), d)
	}
	n.devices[d.ID] = actor.ID
	n.mu.Unlock()
	for _, id := range rooms {
		n.rekeyLocked(actor, id, false)
	}
	return d, true, nil
}

// DeleteDevice deletes a device of actor; every E2E room actor is a
// member of starts a new epoch without it. Errors: ENotFound (actor has
// no such device), EUnavailable (storage).
func (n *Node) DeleteDevice(actor mesh.Participant, id string) error {
	err := n.deleteDevice(actor, id)
	n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "device-delete", Detail: map[string]any{"id": id}}, err))
	return err
}

func (n *Node) deleteDevice(actor mesh.Participant, id string) error {
	n.e2eMu.Lock()
	defer n.e2eMu.Unlock()
	n.mu.RLock()
	owner, ok := n.devices[id]
	n.mu.RUnlock()
	if !ok || owner != actor.ID {
		return mesh.Errorf(mesh.ENotFound, "You have no device %q.", id)
	}
	if err := n.people.Append(participantEvent{Op: "device-delete", ID: actor.ID, DeviceID: id, TS: n.now().UTC()}); err != nil {
		return fmt.Errorf("delete device %s: %w", id, err)
	}
	n.mu.Lock()
	if p := n.participants[actor.ID]; p != nil {
		p.devices = slices.DeleteFunc(slices.Clone(p.devices), func(d mesh.Device) bool { return d.ID == id })
	}
	delete(n.devices, id)
	n.mu.Unlock()
	for _, rid := range n.e2eRoomsOf(actor.ID) {
		n.rekeyLocked(actor, rid, false)
	}
	return nil
}
