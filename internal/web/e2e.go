package web

import (
	"net/http"

	"github.com/the-mesh/mesh"
)

// The REST routes of end-to-end encrypted rooms: a participant's devices
// and a room's roster (PROTOCOL.md, "End-to-end encrypted rooms").

// addDevice registers a device: 201 {device}, or 200 {device} when it was
// registered already with the same keys.
func (s *Server) addDevice(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	var req struct {
		Sign []byte `json:"sign"`
		Box  []byte `json:"box"`
		Sig  []byte `json:"sig"`
	}
	if err := s.readBody(w, r, &req); err != nil {
		s.refuse(w, r, p.ID, "device-add", err)
		return
	}
	d, created, err := s.node.AddDevice(p, mesh.Device{Sign: req.Sign, Box: req.Box, Sig: req.Sig})
	if err != nil {
		s.fail(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"device": d})
}

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	writeJSON(w, http.StatusOK, map[string]any{"devices": s.node.Devices(p)})
}

func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	if err := s.node.DeleteDevice(p, r.PathValue("id")); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// roster answers the current roster of an E2E room: {epoch, room,
// devices, seq}.
func (s *Server) roster(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	ro, err := s.node.Roster(p, mesh.RoomID(r.PathValue("id")))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ro)
}
