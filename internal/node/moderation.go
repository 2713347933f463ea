package node

import (
	"maps"
	"slices"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
	"github.com/the-mesh/mesh/internal/governance"
	"github.com/the-mesh/mesh/internal/hub"
)

// Moderate mutes, unmutes, kicks, bans or unbans target in room id. Mute
// and ban are policy revokes (speak; every capability), so they are
// audited and evented like any policy change; kick and ban also end the
// target's membership and close its subscriptions (in an end-to-end
// encrypted room the target's devices leave the roster: a new epoch
// follows the moderation event). The room's creator,
// its ancestors and the node's owner cannot be moderated.
// In a room of another node, the room's home decides and acts
// (federation_ops.go); target is named as this node names it.
// Errors: ENotFound, EForbidden, EInvalid (EUnavailable for another node's room).
func (n *Node) Moderate(actor mesh.Participant, id mesh.RoomID, action string, target mesh.ParticipantID) error {
	if id.Remote() {
		return n.moderateRemote(actor, id, action, target)
	}
	if err := n.checkModeration(actor, id, action, target); err != nil {
		n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "moderate", Room: id,
			Detail: map[string]any{"action": action, "target": target}}, err))
		return err
	}
	ev := mesh.Event{Type: mesh.EventModeration, Action: action, Target: target}
	if action != mesh.ModKick {
		if _, err := n.changePolicy(actor, id, "moderate", ev, func(p mesh.Policy) (mesh.Policy, error) {
			p.Revokes = moderated(p.Revokes, action, target)
			return p, nil
		}); err != nil {
			return err
		}
	}
	if action == mesh.ModKick || action == mesh.ModBan {
		if err := n.setMember(target, id, false); err != nil {
			return err
		}
		n.unsubscribe(id, target)
		defer n.rekey(actor, id) // after the moderation event: the target's devices leave the roster
		if action == mesh.ModKick {
			n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "moderate", Room: id,
				Detail: map[string]any{"action": action, "target": target}}, nil))
			ev.By = actor.ID
			n.event(actor, id, ev)
		}
	}
	return nil
}

func (n *Node) checkModeration(actor mesh.Participant, id mesh.RoomID, action string, target mesh.ParticipantID) error {
	if err := mesh.ValidModeration(action); err != nil {
		return err
	}
	if err := n.mayModerate(actor, id); err != nil {
		return err
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.participants[target] == nil {
		return mesh.Errorf(mesh.ENotFound, "Participant %q does not exist.", target)
	}
	r := n.rooms[id]
	if target == n.owner || target == r.Creator || slices.ContainsFunc(n.subjectLocked(r.Creator).Ancestors,
		func(a governance.Ancestor) bool { return a.ID == target }) {
		return mesh.Errorf(mesh.EForbidden, "%s owns room %s or this node and cannot be moderated.", target, id)
	}
	return nil
}

// moderated returns a copy of revokes with the action applied; policies
// are never changed in place.
func moderated(revokes map[mesh.ParticipantID][]mesh.Capability, action string, target mesh.ParticipantID) map[mesh.ParticipantID][]mesh.Capability {
	out := maps.Clone(revokes)
	if out == nil {
		out = map[mesh.ParticipantID][]mesh.Capability{}
	}
	caps := slices.Clone(out[target])
	switch action {
	case mesh.ModMute:
		if !slices.Contains(caps, mesh.CapSpeak) {
			caps = append(caps, mesh.CapSpeak)
		}
	case mesh.ModUnmute:
		caps = slices.DeleteFunc(caps, func(c mesh.Capability) bool { return c == mesh.CapSpeak })
	case mesh.ModBan:
		caps = slices.Clone(mesh.Capabilities)
	case mesh.ModUnban:
		caps = nil
	}
	if len(caps) == 0 {
		delete(out, target)
	} else {
		out[target] = caps
	}
	return out
}

// unsubscribe takes every connection of target out of room id, telling
// each with a left frame and the others with presence.
func (n *Node) unsubscribe(id mesh.RoomID, target mesh.ParticipantID) {
	hr, err := n.HubRoom(id)
	if err != nil {
		return
	}
	p, _ := n.Participant(target)
	left, _ := hub.Frame(mesh.Left{Type: mesh.FrameLeft, Room: id})
	presence, _ := hub.Frame(mesh.PresenceFrame{Type: mesh.FramePresence, Room: id, Event: mesh.PresenceLeave, Participant: p.Public()})
	hr.UnsubscribeParticipant(target, nil, left, presence)
}
