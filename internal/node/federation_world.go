package node

import (
	"encoding/json"
	"strings"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/federation"
	"github.com/the-mesh/mesh/internal/hub"
)

// The world across nodes (PROTOCOL.md, "The world across nodes"). The home
// is the authority on a federated room's world: the moves of a member
// node's participants travel to it (move bodies), it applies them to its
// Space as a local avatar's, and every tick it sends each member node the
// avatars that changed (a world body), which that node shows its
// subscribers of the mirror as a state frame. Both travel on the client's
// lossy path (internal/federation/lossy.go): never queued, never fsynced,
// the latest wins. Presence of the home's own participants goes the
// durable way, as presence bodies.

// worldEvent is what a room's hook hands the world goroutine: a state or a
// presence frame of a local room.
type worldEvent struct {
	room     mesh.RoomID
	state    *mesh.State
	presence []byte
}

// worldDepth bounds the events waiting for the world goroutine; beyond it
// states are dropped (the next tick sends the avatars that move again).
const worldDepth = 4096

// startWorld connects the hub's rooms to the federation client.
func (f *fed) startWorld() {
	f.worldq = make(chan worldEvent, worldDepth)
	f.worldDone = make(chan struct{})
	f.worldWG.Add(1)
	go f.worldLoop()
	f.n.Hub.SetWorldHooks(hub.WorldHooks{Move: f.sendMove, State: f.queueState, Presence: f.queuePresence})
	f.restoreAvatars()
}

// stopWorld stops the world goroutine.
func (f *fed) stopWorld() {
	if f.worldDone == nil {
		return
	}
	f.n.Hub.SetWorldHooks(hub.WorldHooks{})
	close(f.worldDone)
	f.worldWG.Wait()
}

// sendMove sends a local participant's move in a mirror room to the home
// (under the room's lock: it only hands the body to the client).
func (f *fed) sendMove(address mesh.RoomID, p mesh.ParticipantID, m *mesh.Move) {
	_, home, ok := address.Split()
	if !ok || len(m.Pos) != 3 {
		return
	}
	f.c.SendLossy(home, "move "+string(address), &mesh.FedBody{Kind: mesh.FedMove, Room: address,
		Moves: []mesh.AvatarState{{ID: p, Pos: mesh.Vec(m.Pos), Facing: m.Facing, Ack: m.Seq}}})
}

func (f *fed) queueState(room mesh.RoomID, st *mesh.State) {
	select {
	case f.worldq <- worldEvent{room: room, state: st}:
	default: // lossy: the avatars go with their next change
	}
}

func (f *fed) queuePresence(room mesh.RoomID, frame []byte) {
	select {
	case f.worldq <- worldEvent{room: room, presence: frame}:
	default:
		f.n.log.Warn("federation: presence dropped: the world queue is full", "room", room)
	}
}

func (f *fed) worldLoop() {
	defer f.worldWG.Done()
	for {
		select {
		case <-f.worldDone:
			return
		case ev := <-f.worldq:
			nodes := f.listeners(ev.room)
			if len(nodes) == 0 {
				continue
			}
			address := mesh.RemoteRoom(ev.room, f.n.info.ID)
			if ev.state != nil {
				for _, node := range nodes {
					f.c.SendLossy(node, "world "+string(address), &mesh.FedBody{Kind: mesh.FedWorld, Room: address,
						Tick: ev.state.Tick, Moves: ev.state.Moves})
				}
				continue
			}
			var pf mesh.PresenceFrame
			if json.Unmarshal(hub.Payload(ev.presence), &pf) != nil {
				continue
			}
			pub := pf.Participant.Public()
			if pub.Node == "" { // one of this node's own
				pub.Node = f.n.info.ID
			}
			f.sendAll(nodes, &mesh.FedBody{Kind: mesh.FedPresence, Room: address, Event: pf.Event, Participant: &pub})
		}
	}
}

// sendWorld sends node the whole world of local room id (after a join or a
// subscribe, so the mirror starts from every avatar, not only those that
// move next).
func (f *fed) sendWorld(node string, id mesh.RoomID) {
	hr, err := f.n.HubRoom(id)
	if err != nil {
		return
	}
	w := hr.World()
	if len(w.Moves) == 0 {
		return
	}
	address := mesh.RemoteRoom(id, f.n.info.ID)
	f.c.SendLossy(node, "world "+string(address), &mesh.FedBody{Kind: mesh.FedWorld, Room: address, Tick: w.Tick, Moves: w.Moves})
}

// ReceiveLossy is federation.LossyHandler: a move or world body.
func (f *fed) ReceiveLossy(from federation.Peer, b *mesh.FedBody) {
	switch b.Kind {
	case mesh.FedMove:
		f.onMove(from, b)
	case mesh.FedWorld:
		f.onWorld(from, b)
	case mesh.FedRequest:
		f.onLossyRequest(from, b)
	case mesh.FedReply:
		f.onReply(from, b)
	default:
		f.reject(from, "unsequenced body of kind "+b.Kind)
	}
}

// onMove applies the moves of a member node's participants to a room of
// this node. A move of a participant that is not the sender's, or not a
// member, is refused (counted and logged; not audited: moves come at 20 Hz).
func (f *fed) onMove(from federation.Peer, b *mesh.FedBody) {
	_, id, err := f.localRoom(b.Room)
	if err != nil {
		f.n.stats.Refused.Inc()
		return
	}
	hr, err := f.n.HubRoom(id)
	if err != nil {
		return
	}
	self := f.n.info.ID
	for _, m := range b.Moves {
		pid := mesh.ViewParticipant(m.ID, from.ID, self)
		if !strings.HasSuffix(string(pid), "@"+from.ID) || m.Ack == 0 || !f.n.IsMember(id, pid) {
			f.n.stats.Refused.Inc()
			f.n.log.Debug("federation: move refused", "from", from.ID, "room", id, "participant", pid)
			continue
		}
		hr.MoveRemote(pid, m.Pos, m.Facing, m.Ack)
	}
}

// onWorld shows a home's world update to the mirror's subscribers, the
// avatars named as this node names them.
func (f *fed) onWorld(from federation.Peer, b *mesh.FedBody) {
	_, home, ok := b.Room.Split()
	if !ok || home != from.ID {
		f.reject(from, "world for "+string(b.Room)+" from a node that is not its home")
		return
	}
	f.mu.Lock()
	ours := len(f.members[b.Room]) > 0
	for k := range f.joins { // the world after a join may overtake its roster
		ours = ours || k.room == b.Room
	}
	f.mu.Unlock()
	if !ours {
		return
	}
	hr, err := f.n.MirrorRoom(b.Room)
	if err != nil {
		return
	}
	self := f.n.info.ID
	moves := make([]mesh.AvatarState, 0, len(b.Moves))
	for _, m := range b.Moves {
		m.ID = mesh.ViewParticipant(m.ID, from.ID, self)
		moves = append(moves, m)
	}
	hr.Mirror(mesh.State{Tick: b.Tick, Moves: moves})
}

// forgetAvatar removes participant p's avatar from the mirror of address.
func (f *fed) forgetAvatar(address mesh.RoomID, p mesh.ParticipantID) {
	if hr, err := f.n.MirrorRoom(address); err == nil {
		hr.Forget(p)
	}
}

// restoreAvatars gives the remote members of this node's rooms their
// avatars back after a restart, as each got one on its join: every member
// has an avatar in its home's world. Positions are not kept (nor are local
// avatars', which come back at their spawn point when their participant
// reconnects): each starts at its spawn point, and the member nodes get it
// with the next world body (the whole world on their next subscribe).
func (f *fed) restoreAvatars() {
	type member struct {
		room mesh.RoomID
		id   mesh.ParticipantID
	}
	var remote []member
	f.n.mu.RLock()
	for id, r := range f.n.rooms {
		for pid := range r.members {
			if _, _, ok := splitParticipant(pid); ok {
				remote = append(remote, member{id, pid})
			}
		}
	}
	f.n.mu.RUnlock()
	for _, m := range remote {
		f.remoteAvatar(m.room, m.id, true)
	}
}

// remoteAvatar gives a remote member an avatar in local room id, or takes
// it away.
func (f *fed) remoteAvatar(id mesh.RoomID, p mesh.ParticipantID, present bool) {
	hr, err := f.n.HubRoom(id)
	if err != nil {
		return
	}
	if present {
		hr.EnterRemote(p)
	} else {
		hr.LeaveRemote(p)
	}
}
