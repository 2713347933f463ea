package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
	"github.com/the-mesh/mesh/internal/federation"
	"github.com/the-mesh/mesh/internal/governance"
)

// Governance of remote rooms. The home of a federated room is the only
// authority on it: it evaluates the room's policy for each remote member
// (trust federated or untrusted, with the grants and revokes that name
// it) and tells each member's node, in an access body, which of that
// node's participants hold listen and which hold speak. It tells a node
// when a participant of it joins, when it subscribes, and before it sends
// any entry of the room after the decision changed; a kick or ban of a
// participant of that node goes to it as a leave. Those bodies travel in
// the node's ordered, durable stream, so a revocation takes effect on the
// mirror before any message the home stored after it.
//
// The mirror's node applies the decision to everything it serves: a member
// without listen gets no live frames (its subscriptions stay, deaf, as on
// the home) and a forbidden read; one without speak is refused before its
// post is queued; a kicked or banned one stops being a member, and its
// subscriptions are closed. A mirror whose home never sent access (a home
// older than this) lets every member listen and speak, as before.

// accessCaps are the capabilities a home tells its members' nodes about,
// in the order it sends them.
var accessCaps = []mesh.Capability{mesh.CapListen, mesh.CapSpeak}

// The home's side.

// decideAccess returns, for each other node with a member of room id, the
// members of that node that hold each of accessCaps (none when the room
// is not federated, or the participant was revoked), ordered by id.
func (f *fed) decideAccess(id mesh.RoomID) map[string]map[mesh.Capability][]mesh.Member {
	n := f.n
	n.mu.RLock()
	defer n.mu.RUnlock()
	r := n.rooms[id]
	if r == nil {
		return nil
	}
	out := map[string]map[mesh.Capability][]mesh.Member{}
	var gr *governance.Room
	for pid := range r.members {
		_, node, ok := splitParticipant(pid)
		if !ok {
			continue
		}
		caps := out[node]
		if caps == nil {
			caps = map[mesh.Capability][]mesh.Member{}
			out[node] = caps
		}
		p := n.participants[pid]
		if p == nil || p.revoked || r.Policy.Visibility != "federated" {
			continue
		}
		if gr == nil {
			gr = n.governRoomLocked(r)
		}
		held := governance.Capabilities(n.subjectLocked(pid), *gr)
		for _, c := range accessCaps {
			if held.Has(c) {
				caps[c] = append(caps[c], mesh.Member{Participant: p.Participant.Public()})
			}
		}
	}
	for _, caps := range out {
		for _, ms := range caps {
			slices.SortFunc(ms, func(a, b mesh.Member) int { return strings.Compare(string(a.ID), string(b.ID)) })
		}
	}
	return out
}

// tellAccess sends each node with a member of room id (or that had one)
// the access lists that changed since it was last told, and node force,
// when not "", all of them. Calls are serialized, and each decides anew, so
// the last lists a node gets are the latest decision; a caller that sends
// the room's entries to a node after tellAccess returns sends them behind
// the lists that hold when they were stored.
func (f *fed) tellAccess(id mesh.RoomID, force string) {
	f.accessMu.Lock()
	defer f.accessMu.Unlock()
	now := f.decideAccess(id)
	told := f.told[id]
	if len(now) == 0 && len(told) == 0 && force == "" {
		return
	}
	if told == nil {
		told = map[string]map[mesh.Capability]string{}
	}
	nodes := slices.Collect(maps.Keys(now))
	for node := range told {
		if now[node] == nil {
			nodes = append(nodes, node)
		}
	}
	if force != "" && !slices.Contains(nodes, force) {
		nodes = append(nodes, force)
	}
	slices.Sort(nodes)
	address := mesh.RemoteRoom(id, f.n.info.ID)
	for _, node := range nodes {
		last := told[node]
		if last == nil {
			last = map[mesh.Capability]string{}
			told[node] = last
		}
		for _, c := range accessCaps {
			ms := now[node][c]
			ids := memberIDs(ms)
			key := strings.Join(ids, " ")
			prev, known := last[c]
			changed := !known && len(ms) > 0 || known && prev != key
			if !changed && node != force {
				continue
			}
			f.send(node, &mesh.FedBody{Kind: mesh.FedAccess, Room: address, Event: string(c), Members: ms})
			last[c] = key
			if changed {
				f.n.Audit.Record(audit.Record{Action: "federation-access", Room: id, Outcome: audit.OK, Remote: "node:" + node,
					Detail: map[string]any{"capability": c, "members": ids}})
			}
		}
		if now[node] == nil { // no member left there: it was told so
			delete(told, node)
		}
	}
	if len(told) == 0 {
		delete(f.told, id)
	} else {
		f.told[id] = told
	}
}

func memberIDs(ms []mesh.Member) []string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = string(m.ID)
	}
	return ids
}

// tellRemoval tells the node of a participant kicked or banned from room
// id that its membership ended, and the room's other listeners that it
// left, when the entry is that moderation event.
func (f *fed) tellRemoval(id mesh.RoomID, line []byte) {
	if !bytes.Contains(line, []byte(`"moderation"`)) {
		return
	}
	var m struct {
		Kind mesh.MessageKind `json:"kind"`
		Body mesh.Body        `json:"body"`
	}
	if json.Unmarshal(line, &m) != nil || m.Kind != mesh.MessageEvent || m.Body.Event == nil {
		return
	}
	ev := m.Body.Event
	if ev.Type != mesh.EventModeration || ev.Action != mesh.ModKick && ev.Action != mesh.ModBan {
		return
	}
	_, node, ok := splitParticipant(ev.Target)
	if !ok || node == f.n.info.ID {
		return
	}
	p, ok := f.n.Participant(ev.Target)
	if !ok {
		return
	}
	p = p.Public()
	address := mesh.RemoteRoom(id, f.n.info.ID)
	f.send(node, &mesh.FedBody{Kind: mesh.FedLeave, Room: address, Participant: &p, Event: ev.Action})
	f.remoteAvatar(id, p.ID, false)
	f.presence(id, address, mesh.PresenceLeave, p, node)
}

// The mirror's side.

// onAccess applies a home's access list for one capability: the local
// participants it names hold it in the room, the others do not. A change
// of listen takes effect on the mirror's subscriptions before the next
// body is applied.
func (f *fed) onAccess(from federation.Peer, b *mesh.FedBody) error {
	_, home, ok := b.Room.Split()
	if !ok || home != from.ID {
		f.reject(from, fmt.Sprintf("access for %q from node %s, which is not its home", b.Room, from.ID))
		return nil
	}
	c := mesh.Capability(b.Event)
	if !slices.Contains(accessCaps, c) {
		return nil // a capability this node does not apply (a newer home)
	}
	self := f.n.info.ID
	allowed := map[mesh.ParticipantID]bool{}
	for _, m := range b.Members {
		id := mesh.ViewParticipant(mesh.Qualify(m.ID, m.Node), from.ID, self)
		if m.Node == self && !strings.Contains(string(id), "@") {
			allowed[id] = true
		}
	}
	// A listen change waits for the subscriptions being made, and they for
	// it, so no subscription keeps a flag decided before the change.
	f.gate.Lock()
	defer f.gate.Unlock()
	f.mu.Lock()
	old, known := f.access[b.Room][c]
	affected := maps.Clone(f.members[b.Room])
	f.mu.Unlock()
	if known && maps.Equal(old, allowed) {
		return nil
	}
	ids := slices.Sorted(maps.Keys(allowed))
	if err := f.state.Append(fedEvent{Op: "access", Room: b.Room, Capability: c, IDs: ids, TS: f.n.now().UTC()}); err != nil {
		return err
	}
	f.mu.Lock()
	f.setAccessLocked(b.Room, c, allowed)
	f.mu.Unlock()
	if c == mesh.CapListen {
		if hr, err := f.n.MirrorRoom(b.Room); err == nil {
			hr.Relisten(func(p mesh.ParticipantID) bool { return allowed[p] })
		}
	}
	// Audit each local participant whose right changed.
	if affected == nil {
		affected = map[mesh.ParticipantID]bool{}
	}
	maps.Copy(affected, old)
	maps.Copy(affected, allowed)
	for _, p := range slices.Sorted(maps.Keys(affected)) {
		before := !known || old[p]
		if before != allowed[p] {
			f.n.Audit.Record(audit.Record{Actor: p, Action: "federated-access", Room: b.Room, Outcome: audit.OK,
				Remote: "node:" + from.ID, Detail: map[string]any{"capability": c, "allowed": allowed[p]}})
		}
	}
	return nil
}

// setAccessLocked records the local participants holding c in a remote
// room. f.mu must be held.
func (f *fed) setAccessLocked(address mesh.RoomID, c mesh.Capability, allowed map[mesh.ParticipantID]bool) {
	caps := f.access[address]
	if caps == nil {
		caps = map[mesh.Capability]map[mesh.ParticipantID]bool{}
		f.access[address] = caps
	}
	if allowed == nil {
		allowed = map[mesh.ParticipantID]bool{}
	}
	caps[c] = allowed
}

// may reports whether local participant p holds c in the remote room
// address, as its home last said; with no word from the home (an older
// one), every member does.
func (f *fed) may(address mesh.RoomID, p mesh.ParticipantID, c mesh.Capability) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	allowed, known := f.access[address][c]
	return !known || allowed[p]
}

// onRemoved applies a leave from a room's home: a participant of this
// node was kicked or banned. It stops being a member of the mirror and its
// subscriptions are closed, as a local kick does.
func (f *fed) onRemoved(from federation.Peer, b *mesh.FedBody) error {
	if b.Participant == nil {
		f.reject(from, fmt.Sprintf("leave for %q without its participant", b.Room))
		return nil
	}
	self := f.n.info.ID
	pid := mesh.ViewParticipant(mesh.Qualify(b.Participant.ID, b.Participant.Node), from.ID, self)
	if strings.Contains(string(pid), "@") || !f.isMember(b.Room, pid) {
		return nil // not ours, or not a member (any more)
	}
	if err := f.setMember(b.Room, pid, false); err != nil {
		return err
	}
	f.mu.Lock()
	if mr := f.mirror[b.Room]; mr != nil {
		mr.members = slices.DeleteFunc(slices.Clone(mr.members), func(m mesh.Member) bool { return m.ID == pid })
	}
	f.mu.Unlock()
	f.n.unsubscribe(b.Room, pid)
	f.forgetAvatar(b.Room, pid)
	action := b.Event
	if action == "" {
		action = "leave"
	}
	f.n.Audit.Record(audit.Record{Action: "federated-moderate", Room: b.Room, Outcome: audit.OK, Remote: "node:" + from.ID,
		Detail: map[string]any{"action": action, "target": pid}})
	return nil
}

// MirrorListen calls subscribe with whether local participant p may
// listen in the remote room address, as its home last said. A change of
// that decision waits until subscribe returns, so a subscription made
// with it holds the flag the decision gives (the change relistens it).
func (n *Node) MirrorListen(address mesh.RoomID, p mesh.ParticipantID, subscribe func(listen bool) error) error {
	f, err := n.federation()
	if err != nil {
		return err
	}
	f.gate.RLock()
	defer f.gate.RUnlock()
	return subscribe(f.may(address, p, mesh.CapListen))
}

// mayListenRemote returns the refusal of a read of a remote room by a
// local participant that is not a member or may not listen there.
func (f *fed) mayListenRemote(address mesh.RoomID, p mesh.ParticipantID) error {
	if !f.isMember(address, p) {
		return mesh.Errorf(mesh.EForbidden, "You are not a member of room %q: join it first.", address)
	}
	if !f.may(address, p, mesh.CapListen) {
		_, home, _ := address.Split()
		return mesh.Errorf(mesh.EForbidden, "You may not listen in room %s: its home node %s does not let you (the room's policy revokes listen for you or does not grant it).", address, home)
	}
	return nil
}

// maySpeakRemote refuses a post of a local participant that the room's
// home does not let speak.
func (f *fed) maySpeakRemote(address mesh.RoomID, p mesh.ParticipantID) error {
	if !f.may(address, p, mesh.CapSpeak) {
		_, home, _ := address.Split()
		return mesh.Errorf(mesh.EForbidden, "You may not speak in room %s: its home node %s does not let you (you were muted, or the room's policy revokes speak for you or does not grant it).", address, home)
	}
	return nil
}
