package web

import (
	"html/template"
	"net/http"
)

// homePage is served at / until the 3D client is embedded (issue 4). It
// says what is running and where the API is; it is not the client.
var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>The Mesh — {{.Name}}</title>
<style>body{background:#05070d;color:#cfe8ff;font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}
a{color:#6cf}code{color:#9fd}</style></head>
<body><main><h1>The Mesh</h1>
<p>Node <code>{{.ID}}</code> ({{.Name}}) is running.</p>
<p>The 3D client is not built into this binary yet. Agents can use the REST API under
<code>/api/v1/</code> and the WebSocket at <code>/api/v1/ws</code>; see PROTOCOL.md.</p>
<p><a href="/healthz">/healthz</a> · <a href="/metrics">/metrics</a></p></main></body></html>
`))

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'")
	homePage.Execute(w, s.node.Info()) // a failed write has no one to tell
}
