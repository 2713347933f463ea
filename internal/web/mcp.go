package web

import (
	"crypto/tls"
	"net"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/the-mesh/mesh/internal/mcpserver"
)

// mcpHandler serves MCP over the streamable HTTP transport at /mcp
// (package mcpserver has the tools). Every request must carry the bearer
// token of a participant: without a valid one the answer is the usual 401
// JSON error. The MCP server is a REST client of this node acting with that
// token, so a tool can do exactly what the token could over REST.
//
// The handler is stateless: each request gets a fresh server built with its
// own token, so there is no session a request with another token could
// borrow. The REST calls go to the address the request arrived on (the
// connection's local address, never the Host header, which the client
// chooses), over https when the request came over TLS (verified with
// Config.SelfTLS), else plain http. Those calls come from the node's own
// address, so the audit log shows it as their source.
func (s *Server) mcpHandler() http.Handler {
	h := mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if !ok {
			return nil // 400: only a real listener has a local address
		}
		scheme := "http://"
		if r.TLS != nil {
			scheme = "https://"
		}
		return mcpserver.NewWithClient(scheme+addr.String(), bearer(r), s.self)
	}, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true, MaxRequestBodyBytes: int64(s.cfg.MaxFrameBytes)})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.node.Authenticate(bearer(r)); err != nil {
			s.refuse(w, r, "", "auth", err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// selfClient returns the HTTP client of the /mcp endpoint: keep-alive
// connections to this node, over TLS verified by tc when not nil.
func selfClient(tc *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the node's own address: never through a proxy
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr}
}
