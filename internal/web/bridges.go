package web

import (
	"net/http"

	"github.com/the-mesh/mesh"
)

// newBridge is the body of POST /api/v1/rooms/{id}/bridges.
type newBridge struct {
	To mesh.RoomID `json:"to"`
}

func (s *Server) createBridge(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	var req newBridge
	if err := s.readBody(w, r, &req); err != nil {
		s.refuse(w, r, p.ID, "bridge-create", err)
		return
	}
	if req.To == "" {
		s.refuse(w, r, p.ID, "bridge-create", mesh.Errorf(mesh.EInvalid, `A bridge needs "to": the target room's id or address room@node.`))
		return
	}
	b, err := s.node.CreateBridge(p, mesh.RoomID(r.PathValue("id")), req.To)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"bridge": b})
}

func (s *Server) listBridges(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	bs, err := s.node.Bridges(p, mesh.RoomID(r.PathValue("id")))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"bridges": bs})
}

func (s *Server) deleteBridge(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	if err := s.node.DeleteBridge(p, mesh.RoomID(r.PathValue("id")), r.PathValue("bid")); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
