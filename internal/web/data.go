package web

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/the-mesh/mesh"
)

// Room data: GET, PUT and DELETE /api/v1/rooms/{id}/data/{path}. Bodies
// are the raw file bytes. GET of the room's data root, of a path ending in
// "/" or of a directory lists files as JSON.

func (s *Server) getData(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	id, path := mesh.RoomID(r.PathValue("id")), r.PathValue("path")
	if path == "" || strings.HasSuffix(path, "/") {
		s.listData(w, p, id, path)
		return
	}
	data, info, err := s.node.DataGet(p, id, path)
	if mesh.ErrorCode(err) == mesh.EConflict { // a directory
		s.listData(w, p, id, path)
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", "attachment")
	w.Header().Set("ETag", `"`+info.SHA256+`"`)
	w.Header().Set("Last-Modified", info.Modified.UTC().Format(http.TimeFormat))
	w.Write(data) // a failed write has no one to tell
}

func (s *Server) listData(w http.ResponseWriter, p mesh.Participant, id mesh.RoomID, prefix string) {
	files, err := s.node.DataList(p, id, prefix)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": files})
}

func (s *Server) putData(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	id := mesh.RoomID(r.PathValue("id"))
	if err := s.node.CheckDataWrite(p, id); err != nil { // before reading a body
		s.fail(w, err)
		return
	}
	max := s.node.MaxDataFileBytes()
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.fail(w, mesh.Errorf(mesh.ETooLarge, "A room file is at most %d bytes.", max))
		return
	} else if err != nil {
		s.fail(w, mesh.Errorf(mesh.EInvalid, "Could not read the body: %v.", err))
		return
	}
	info, err := s.node.DataPut(p, id, r.PathValue("path"), data)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"file": info})
}

func (s *Server) deleteData(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	if err := s.node.DataDelete(p, mesh.RoomID(r.PathValue("id")), r.PathValue("path")); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
