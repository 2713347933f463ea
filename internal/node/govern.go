package node

import (
	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/governance"
)

// maxAncestors bounds the chain of parents a decision walks.
const maxAncestors = 64

// subjectLocked returns what governance needs to know of participant id:
// its trust and its ancestors, nearest first. n.mu must be held.
func (n *Node) subjectLocked(id mesh.ParticipantID) governance.Subject {
	p := n.participants[id]
	if p == nil {
		return governance.Subject{ID: id, Trust: mesh.TrustUntrusted}
	}
	s := governance.Subject{ID: id, Trust: p.Trust}
	// Parents are made before their children, so chains end; the bound
	// only guards against a corrupt registry.
	for pid := p.Parent; pid != "" && len(s.Ancestors) < maxAncestors; {
		a := n.participants[pid]
		if a == nil {
			break
		}
		s.Ancestors = append(s.Ancestors, governance.Ancestor{ID: a.ID, Trust: a.Trust})
		pid = a.Parent
	}
	return s
}

// govern returns the subject for participant pid, the governance view of
// room id and the revision of its policy. Errors: ENotFound.
func (n *Node) govern(pid mesh.ParticipantID, id mesh.RoomID) (governance.Subject, governance.Room, uint64, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	r := n.rooms[id]
	if r == nil {
		return governance.Subject{}, governance.Room{}, 0, notFound(id)
	}
	pol := r.Policy // policies are replaced whole, never changed in place
	room := governance.Room{Creator: r.Creator, Policy: &pol}
	for _, a := range n.subjectLocked(r.Creator).Ancestors {
		room.CreatorAncestors = append(room.CreatorAncestors, a.ID)
	}
	return n.subjectLocked(pid), room, r.Revision, nil
}

// Check reports whether participant pid may use capability c in room id.
// Errors: ENotFound, EForbidden naming what is missing.
func (n *Node) Check(pid mesh.ParticipantID, id mesh.RoomID, c mesh.Capability) error {
	s, r, _, err := n.govern(pid, id)
	if err != nil {
		return err
	}
	return governance.Check(s, c, r)
}

// Can reports whether participant pid holds capability c in room id.
func (n *Node) Can(pid mesh.ParticipantID, id mesh.RoomID, c mesh.Capability) bool {
	return n.Check(pid, id, c) == nil
}

// mayModerate is the moderate capability, with one safety valve: the
// node's owner can always moderate, so no policy can lock it out.
func (n *Node) mayModerate(actor mesh.Participant, id mesh.RoomID) error {
	if actor.ID == n.owner {
		if n.room(id) == nil {
			return notFound(id)
		}
		return nil
	}
	return n.Check(actor.ID, id, mesh.CapModerate)
}
