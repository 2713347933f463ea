package web

import (
	"net/http"

	"github.com/the-mesh/mesh"
)

// directory answers GET /api/v1/directory: the federated rooms reachable
// through the node's relay, each with its address room@node.
func (s *Server) directory(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	writeJSON(w, http.StatusOK, s.node.Directory())
}
