package node

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"regexp"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
	"github.com/the-mesh/mesh/internal/federation"
	"github.com/the-mesh/mesh/internal/governance"
)

// The home side: other nodes' participants join this node's federated
// rooms and post in them; every stored message goes once to each node
// with a member that may listen.

// catchUpPage is how many stored messages one subscribe is answered with.
const catchUpPage = 256

// localRoom returns the local room an address names: it must be on this
// node, exist and be federated. Errors: ENotFound.
func (f *fed) localRoom(address mesh.RoomID) (*room, mesh.RoomID, error) {
	id, home, ok := address.Split()
	if !ok || home != f.n.info.ID {
		return nil, "", mesh.Errorf(mesh.ENotFound, "No federated room %q on this node.", address)
	}
	r := f.n.room(id)
	f.n.mu.RLock()
	federated := r != nil && r.Policy.Visibility == "federated"
	f.n.mu.RUnlock()
	if !federated {
		return nil, "", mesh.Errorf(mesh.ENotFound, "No federated room %q on this node.", address)
	}
	return r, id, nil
}

// trustOf is the trust a node's participants get here: federated, or
// untrusted when it came through an open relay.
func trustOf(from federation.Peer) mesh.Trust {
	if from.Auth == "secret" {
		return mesh.TrustFederated
	}
	return mesh.TrustUntrusted
}

var localParticipantID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// remoteParticipant records (or updates) a participant of node from, as
// this node names it: id@node.
func (f *fed) remoteParticipant(from federation.Peer, p *mesh.Participant) (mesh.Participant, error) {
	if p == nil || p.Node != from.ID || !localParticipantID.MatchString(string(p.ID)) || !p.Kind.Valid() {
		return mesh.Participant{}, mesh.Errorf(mesh.EInvalid, "A join needs the participant: a bare id, its kind, and node %s.", from.ID)
	}
	if err := validateName("participant.name", p.Name); err != nil {
		return mesh.Participant{}, err
	}
	rp := mesh.Participant{ID: mesh.RemoteParticipant(p.ID, from.ID), Name: p.Name, Kind: p.Kind, Trust: trustOf(from),
		Node: from.ID, Created: p.Created.UTC()}
	n := f.n
	n.mu.RLock()
	old := n.participants[rp.ID]
	n.mu.RUnlock()
	if old != nil && old.Participant == rp {
		return rp, nil
	}
	if old != nil && old.revoked {
		return mesh.Participant{}, mesh.Errorf(mesh.EForbidden, "Participant %s was revoked on this node.", rp.ID)
	}
	if err := f.state.Append(fedEvent{Op: "participant", Participant: &rp, TS: n.now().UTC()}); err != nil {
		return mesh.Participant{}, err
	}
	n.mu.Lock()
	if old := n.participants[rp.ID]; old != nil {
		old.Participant = rp
	} else {
		n.participants[rp.ID] = &participant{Participant: rp}
	}
	n.mu.Unlock()
	return rp, nil
}

// remoteActor returns the participant a post from node from is by: it must
// have joined. Its trust follows the link it came on.
func (f *fed) remoteActor(from federation.Peer, id mesh.ParticipantID) (mesh.Participant, error) {
	n := f.n
	pid, t := mesh.Qualify(id, from.ID), trustOf(from)
	n.mu.RLock()
	p := n.participants[pid]
	lower := p != nil && t.Rank() < p.Trust.Rank()
	var out mesh.Participant
	if p != nil {
		out = p.Participant
	}
	n.mu.RUnlock()
	if p == nil || out.Node != from.ID {
		return mesh.Participant{}, mesh.Errorf(mesh.EForbidden, "Participant %s has not joined a room here.", id)
	}
	if lower {
		n.mu.Lock()
		if t.Rank() < p.Trust.Rank() {
			p.Trust = t // in memory: the next join records it
		}
		out = p.Participant
		n.mu.Unlock()
	}
	return out, nil
}

func (f *fed) onJoin(from federation.Peer, b *mesh.FedBody) {
	n := f.n
	_, id, err := f.localRoom(b.Room)
	var actor mesh.Participant
	if err == nil {
		actor, err = f.remoteParticipant(from, b.Participant)
	}
	if err == nil { // its devices first, so the join's epoch holds them
		err = f.setRemoteDevices(actor, b.Devices)
	}
	if err == nil {
		err = n.AddMember(actor, id, "node:"+from.ID)
	} else {
		n.Audit.Record(outcome(audit.Record{Action: "join", Room: id, Remote: "node:" + from.ID}, err))
	}
	ref := ""
	if b.Participant != nil {
		ref = string(b.Participant.ID)
	}
	if err != nil {
		f.refuse(from, b, ref, err)
		return
	}
	f.presence(id, b.Room, mesh.PresenceJoin, actor, from.ID)
	f.tellAccess(id, from.ID) // before the roster that confirms the join
	f.roster(from.ID, id, b.Room, ref)
	f.remoteAvatar(id, actor.ID, true)
	f.sendWorld(from.ID, id)
}

// presence tells a remote participant's coming or going to the room's
// local subscribers and to the other nodes that listen.
func (f *fed) presence(id, address mesh.RoomID, event string, p mesh.Participant, except string) {
	if hr, err := f.n.HubRoom(id); err == nil {
		hr.Broadcast(presenceFrame(id, event, p.Public()), nil)
	}
	pub := p.Public()
	for _, node := range f.listeners(id) {
		if node != except {
			f.send(node, &mesh.FedBody{Kind: mesh.FedPresence, Room: address, Event: event, Participant: &pub})
		}
	}
}

func (f *fed) onLeave(from federation.Peer, b *mesh.FedBody) {
	n := f.n
	_, id, err := f.localRoom(b.Room)
	if err != nil || b.Participant == nil {
		return
	}
	actor, err := f.remoteActor(from, b.Participant.ID)
	if err != nil {
		return
	}
	if err := n.RemoveMember(actor, id, "node:"+from.ID); err != nil {
		return
	}
	f.remoteAvatar(id, actor.ID, false)
	f.presence(id, b.Room, mesh.PresenceLeave, actor, from.ID)
}

// roster tells node to the room's members and head; ref names the
// participant whose join it answers.
func (f *fed) roster(to string, id, address mesh.RoomID, ref string) {
	n := f.n
	online := func(mesh.ParticipantID) bool { return false }
	hr, err := n.HubRoom(id)
	if err == nil {
		online = hr.Online
	}
	members, err := n.Members(id, online)
	if err != nil {
		return
	}
	var head uint64
	if hr != nil {
		head = hr.Head()
	}
	var pol *mesh.Policy
	n.mu.RLock()
	if r := n.rooms[id]; r != nil && r.Policy.E2E { // the SDKs there scan and check commands
		p := r.Policy
		pol = &p
	}
	n.mu.RUnlock()
	f.send(to, &mesh.FedBody{Kind: mesh.FedRoster, Room: address, Ref: ref, Head: head, Members: members, Policy: pol})
}

// onSubscribe answers a node that wants the room's messages after b.After:
// the roster, then up to catchUpPage stored messages; after 0 with event
// recent (a mirror that holds nothing) gets the last mesh.DefaultHistory.
func (f *fed) onSubscribe(from federation.Peer, b *mesh.FedBody) {
	n := f.n
	_, id, err := f.localRoom(b.Room)
	if err == nil && !f.listens(id, from.ID) {
		err = mesh.Errorf(mesh.EForbidden, "No participant of node %s may listen in room %s.", from.ID, id)
	}
	if err != nil {
		f.refuse(from, b, "", err)
		return
	}
	f.tellAccess(id, from.ID)
	f.roster(from.ID, id, b.Room, "")
	f.sendWorld(from.ID, id)
	after := b.After
	if after == 0 && b.Event == mesh.FedRecent { // an empty mirror: the recent window, not the history (federation_mirror.go)
		if head, err := n.store.Head(id); err == nil && head.Seq > mesh.DefaultHistory {
			after = head.Seq - mesh.DefaultHistory
		}
	}
	entries, err := n.store.Read(id, after, catchUpPage)
	if err != nil {
		n.log.Error("federation: catch-up read", "room", id, "err", err)
		return
	}
	for _, e := range entries {
		if m, err := f.outgoing(id, e.Line); err == nil {
			f.send(from.ID, &mesh.FedBody{Kind: mesh.FedMessage, Room: b.Room, Msg: m})
		}
	}
}

// listeners returns the nodes with a member of room id that may listen,
// when the room is federated.
func (f *fed) listeners(id mesh.RoomID) []string {
	n := f.n
	n.mu.RLock()
	defer n.mu.RUnlock()
	r := n.rooms[id]
	if r == nil || r.Policy.Visibility != "federated" {
		return nil
	}
	var nodes []string
	var gr *governance.Room
	for pid := range r.members {
		_, node, ok := splitParticipant(pid)
		if !ok || contains(nodes, node) {
			continue
		}
		if p := n.participants[pid]; p == nil || p.revoked {
			continue
		}
		if gr == nil {
			gr = n.governRoomLocked(r)
		}
		if governance.Can(n.subjectLocked(pid), mesh.CapListen, *gr) {
			nodes = append(nodes, node)
		}
	}
	return nodes
}

func (f *fed) listens(id mesh.RoomID, node string) bool {
	return contains(f.listeners(id), node)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// splitParticipant splits a remote participant id "id@node".
func splitParticipant(pid mesh.ParticipantID) (mesh.ParticipantID, string, bool) {
	s := string(pid)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '@' {
			return mesh.ParticipantID(s[:i]), s[i+1:], mesh.ValidNodeID(s[i+1:])
		}
	}
	return pid, "", false
}

// governRoomLocked is the governance view of r. n.mu must be held.
func (n *Node) governRoomLocked(r *room) *governance.Room {
	pol := r.Policy
	gr := &governance.Room{Creator: r.Creator, Policy: &pol}
	for _, a := range n.subjectLocked(r.Creator).Ancestors {
		gr.CreatorAncestors = append(gr.CreatorAncestors, a.ID)
	}
	return gr
}

// fanoutEntries sends stored entries, in order. The envelopes of the
// entries of rooms that have listening nodes are made first, spread over
// the CPUs (decoding and signing them is most of the work).
func (f *fed) fanoutEntries(items []fanoutItem) {
	outs := make([]outgoingEnvelope, len(items))
	heard := map[mesh.RoomID]bool{}
	var todo []int
	for i, it := range items {
		h, ok := heard[it.room]
		if !ok {
			h = len(f.listeners(it.room)) > 0
			heard[it.room] = h
		}
		if h {
			todo = append(todo, i)
		}
	}
	federation.Parallel(len(todo), func(k int) {
		i := todo[k]
		outs[i].m, outs[i].err = f.outgoing(items[i].room, items[i].e.Line)
		outs[i].made = true
	})
	for i, it := range items {
		f.fanoutEntry(it, outs[i])
	}
}

// outgoingEnvelope is what outgoing made of an entry, if it was made.
type outgoingEnvelope struct {
	made bool
	m    *mesh.Message
	err  error
}

// fanoutEntry sends a stored entry of a federated room to every node with
// a member that may listen, once per node. Before it, each node with a
// member gets the access lists that changed, and the node of a member
// kicked or banned by the entry its removal, so what the home decided
// before the entry was stored takes effect there before the entry does.
// out is the entry's envelope, if it was made already.
func (f *fed) fanoutEntry(it fanoutItem, out outgoingEnvelope) {
	f.tellAccess(it.room, "")
	f.tellRemoval(it.room, it.e.Line)
	nodes := f.listeners(it.room)
	if len(nodes) == 0 {
		return
	}
	m, err := out.m, out.err
	if !out.made {
		m, err = f.outgoing(it.room, it.e.Line)
	}
	if err != nil {
		f.n.log.Error("federation: fan-out", "room", it.room, "seq", it.e.Seq, "err", err)
		return
	}
	address := mesh.RemoteRoom(it.room, f.n.info.ID)
	f.sendAll(nodes, &mesh.FedBody{Kind: mesh.FedMessage, Room: address, Msg: m})
}

// outgoing returns a stored envelope as it leaves the node: room as an
// address, and this node's provenance entry added.
func (f *fed) outgoing(id mesh.RoomID, line []byte) (*mesh.Message, error) {
	var m mesh.Message
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, err
	}
	self := f.n.info.ID
	m.Room = mesh.RemoteRoom(id, self)
	p := mesh.Provenance{Node: self, TS: m.TS}
	stmt, err := mesh.ProvenanceStatement(&m, m.Room, p, self)
	if err != nil {
		return nil, err
	}
	p.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(f.n.key, stmt))
	m.Provenance = append(m.Provenance, p)
	return &m, nil
}

var messageID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// onPost applies a say, command or result from a participant of node
// from: the room's rules decide, as for a local participant, with the
// sender's trust federated (or untrusted).
func (f *fed) onPost(from federation.Peer, b *mesh.FedBody, checked error, done func(error)) {
	n := f.n
	action := "federated-" + b.Kind
	_, id, m, actor, err := f.checkPost(from, b, checked)
	if err != nil {
		n.refused(actor, action, id, err, nil)
		ref := ""
		if b.Msg != nil {
			ref = b.Msg.ID
		}
		f.refuse(from, b, ref, err)
		done(nil)
		return
	}
	if !f.firstTime(id, m.ID) {
		done(nil) // a repeat of what was applied
		return
	}
	var out *mesh.Message
	var check func(uint64) error
	to := mesh.ViewParticipant(m.To, from.ID, n.info.ID)
	switch {
	case b.Kind == mesh.FedSay && m.Kind == mesh.MessageEncrypted:
		// Checked as a local encrypted post: the signature covers to in
		// this node's naming (PROTOCOL.md, "Naming in signatures").
		out, check, err = n.sealed(actor, Post{Room: id, Kind: mesh.MessageEncrypted, Sealed: m.Body.E2E, To: to, Ref: m.Ref})
	case b.Kind == mesh.FedSay:
		out, err = n.chat(actor, Post{Room: id, Text: m.Body.Text, To: to, Bridged: m.Bridged})
	case b.Kind == mesh.FedCommand:
		c := mesh.Command{Room: id, Target: to, Name: m.Body.Command, Args: m.Body.Args}
		if out, err = n.command(actor, c); err == nil {
			n.pending.add(m.ID, pendingCommand{room: id, sender: actor.ID, target: to, at: out.TS})
		}
	case b.Kind == mesh.FedResult:
		ok := m.Body.OK != nil && *m.Body.OK
		out, err = n.result(actor, mesh.Result{Room: id, Ref: m.Ref, OK: ok, Output: m.Body.Output})
	}
	if err != nil {
		f.forget(id, m.ID)
		n.refused(actor, action, id, err, nil)
		f.refuse(from, b, m.ID, err)
		done(nil)
		return
	}
	out.ID, out.Provenance = m.ID, m.Provenance
	n.appendChecked(actor, action, out, nil, "", check, func(_ mesh.Message, err error) {
		if err != nil {
			f.forget(id, m.ID)
			if mesh.ErrorCode(err) == mesh.EConflict { // the epoch moved on: tell the sender, as a local one
				f.refuse(from, b, m.ID, err)
				err = nil
			}
		}
		done(err)
	})
}

// checkPost checks a post's envelope and its origin's signature, which
// Check verified (checked).
func (f *fed) checkPost(from federation.Peer, b *mesh.FedBody, checked error) (*room, mesh.RoomID, *mesh.Message, mesh.Participant, error) {
	actor := mesh.Participant{ID: mesh.ParticipantID("@" + from.ID)}
	r, id, err := f.localRoom(b.Room)
	if err != nil {
		return nil, id, nil, actor, err
	}
	m := b.Msg
	kind := map[string]mesh.MessageKind{mesh.FedSay: mesh.MessageChat, mesh.FedCommand: mesh.MessageCommand, mesh.FedResult: mesh.MessageResult}[b.Kind]
	switch {
	case m == nil:
		return r, id, nil, actor, mesh.Errorf(mesh.EInvalid, "A %s needs msg.", b.Kind)
	case m.From.Node != from.ID:
		return r, id, m, actor, mesh.Errorf(mesh.EForbidden, "A node may only post for its own participants.")
	case m.Room != b.Room || (m.Kind != kind && !(b.Kind == mesh.FedSay && m.Kind == mesh.MessageEncrypted)) || !messageID.MatchString(m.ID):
		return r, id, m, actor, mesh.Errorf(mesh.EInvalid, "msg must be a %s in %s with an id.", kind, b.Room)
	}
	if actor, err = f.remoteActor(from, m.From.ID); err != nil {
		return r, id, m, actor, err
	}
	if bm := m.Bridged; bm != nil {
		if err := bm.Validate(); err != nil {
			return r, id, m, actor, err
		}
		if _, node, ok := bm.Room.Split(); !ok || node != from.ID || m.Kind != mesh.MessageChat {
			return r, id, m, actor, mesh.Errorf(mesh.EInvalid, "A bridged post must be a chat message whose bridged.room is a room of node %s.", from.ID)
		}
	}
	if checked != nil {
		return r, id, m, actor, checked
	}
	return r, id, m, actor, nil
}

// verifyOrigin checks that m carries exactly one provenance entry, by its
// origin node, whose signature verifies.
func (f *fed) verifyOrigin(origin string, m *mesh.Message) error {
	if len(m.Provenance) != 1 || m.Provenance[0].Node != origin {
		return mesh.Errorf(mesh.EInvalid, "A post needs one provenance entry, by node %s.", origin)
	}
	return f.verify(m, m.Room, m.Provenance[0], origin)
}

// verify checks one provenance entry of m, whose participant ids are as
// node viewer names them.
func (f *fed) verify(m *mesh.Message, address mesh.RoomID, p mesh.Provenance, viewer string) error {
	key, ok := f.c.KnownKey(p.Node)
	if !ok {
		return mesh.Errorf(mesh.EUnauthorized, "No key is known for node %s.", p.Node)
	}
	stmt, err := mesh.ProvenanceStatement(m, address, p, viewer)
	sig, err2 := base64.StdEncoding.DecodeString(p.Sig)
	if err != nil || err2 != nil || !ed25519.Verify(key, stmt, sig) {
		return mesh.Errorf(mesh.EUnauthorized, "The provenance signature of node %s on message %s does not verify.", p.Node, m.ID)
	}
	return nil
}

// firstTime reports whether message id is new in room, and remembers it.
// The memory of a room is primed from the tail of its log, so a repeat
// that comes after a restart is found too.
func (f *fed) firstTime(room mesh.RoomID, id string) bool {
	f.mu.Lock()
	ring := f.seen[room]
	f.mu.Unlock()
	if ring == nil {
		ring = newIDRing()
		if head, err := f.n.store.Head(room); err == nil && head.Seq > 0 {
			after := uint64(0)
			if head.Seq > idRingSize {
				after = head.Seq - idRingSize
			}
			for after < head.Seq {
				entries, err := f.n.store.Read(room, after, 500)
				if err != nil || len(entries) == 0 {
					break
				}
				for _, e := range entries {
					var m struct {
						ID string `json:"id"`
					}
					json.Unmarshal(e.Line, &m)
					ring.add(m.ID)
					after = e.Seq
				}
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.seen[room]; r != nil {
		ring = r
	} else {
		f.seen[room] = ring
	}
	if ring.set[id] {
		return false
	}
	ring.add(id)
	return true
}

func (f *fed) forget(room mesh.RoomID, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.seen[room]; r != nil {
		delete(r.set, id)
	}
}
