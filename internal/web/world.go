package web

import (
	"errors"
	"math"
	"net/http"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/hub"
)

// walk is POST /api/v1/rooms/{id}/move: the node walks the participant's
// avatar to pos at the room's speed, for agents without a WebSocket.
func (s *Server) walk(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	var req struct {
		Pos []float64 `json:"pos"`
	}
	id := mesh.RoomID(r.PathValue("id"))
	err := s.readBody(w, r, &req)
	if err == nil && len(req.Pos) != 3 {
		err = mesh.Errorf(mesh.EInvalid, `A move needs "pos" as [x, y, z]; got %d numbers.`, len(req.Pos))
	}
	if err != nil {
		s.refuse(w, r, p.ID, "move", err)
		return
	}
	if _, err := s.node.Room(id); err != nil {
		s.fail(w, err)
		return
	}
	if !s.node.IsMember(id, p.ID) {
		s.refuse(w, r, p.ID, "move", mesh.Errorf(mesh.EForbidden, "Join room %q before moving in it.", id))
		return
	}
	pub := p.Public()
	join, leave := presenceFrame(id, mesh.PresenceJoin, pub), presenceFrame(id, mesh.PresenceLeave, pub)
	for tries := 0; ; tries++ {
		room, err := s.node.HubRoom(id)
		if err != nil {
			s.fail(w, err)
			return
		}
		a, to, eta, err := room.Walk(pub, mesh.Vec(req.Pos), s.cfg.VisitTTL, join, leave)
		if errors.Is(err, hub.ErrRoomGone) && tries < 3 {
			continue // unloaded meanwhile
		}
		if err != nil {
			s.fail(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]any{
			"avatar": a, "to": to, "eta": math.Round(eta.Seconds()*100) / 100})
		return
	}
}
