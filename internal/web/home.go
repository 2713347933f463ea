package web

import "net/http"

// home serves the browser client's page at /; its chunks are served under
// /assets/ by the same handler (internal/webui).
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	s.ui.ServeHTTP(w, r)
}
