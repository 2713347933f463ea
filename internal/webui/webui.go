// Package webui serves the browser client: the files that web/build.mjs
// writes into dist/, embedded in the binary. index.html is never cached
// (it names the current chunks); everything under assets/ carries a content
// hash in its name and is cached for a year. A file with a precompressed
// .gz beside it is sent gzipped to clients that accept gzip.
package webui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// CSP is the Content-Security-Policy of every response: scripts, styles and
// connections from this origin only (WebSockets included), no plugins, no
// framing.
const CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler serves the embedded client. When the client was not built it
// serves, at every path, a page that says how to build it.
func Handler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil { // only if "dist" were not a valid path
		panic(err)
	}
	return New(sub)
}

// New serves the client held in fsys (index.html at its root, chunks under
// assets/). Requests for / get index.html; other paths name files.
func New(fsys fs.FS) http.Handler {
	if _, err := fs.Stat(fsys, "index.html"); err != nil {
		return http.HandlerFunc(notBuilt)
	}
	h := &handler{fsys: fsys, etags: map[string]string{}}
	fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil // an unreadable entry is answered 404 when asked for
		}
		if b, err := fs.ReadFile(fsys, name); err == nil {
			sum := sha256.Sum256(b)
			h.etags[name] = `"` + hex.EncodeToString(sum[:12]) + `"`
		}
		return nil
	})
	return h
}

// handler serves fsys. etags is written only by New.
type handler struct {
	fsys  fs.FS
	etags map[string]string // file name (a .gz too) -> strong ETag of its bytes
}

// contentTypes are set explicitly, so the answer does not depend on the
// host's mime.types.
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".json":  "application/json",
	".woff2": "font/woff2",
	".ico":   "image/x-icon",
	".txt":   "text/plain; charset=utf-8",
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	ctype, known := contentTypes[path.Ext(name)]
	if !known || strings.HasSuffix(name, ".gz") || !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", CSP)
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Vary", "Accept-Encoding")
	file := name
	if _, ok := h.etags[name+".gz"]; ok && acceptsGzip(r) {
		file = name + ".gz"
	}
	etag, ok := h.etags[file]
	if !ok {
		http.NotFound(w, r)
		return
	}
	f, err := h.fsys.Open(file)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	hdr.Set("ETag", etag)
	hdr.Set("Content-Type", ctype)
	if strings.HasPrefix(name, "assets/") {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	if file != name {
		hdr.Set("Content-Encoding", "gzip")
	}
	if rs, ok := f.(io.ReadSeeker); ok {
		// Range and conditional requests; the zero modtime sends no Last-Modified.
		http.ServeContent(w, r, name, time.Time{}, rs)
		return
	}
	io.Copy(w, f) // a failed write has no one to tell
}

// acceptsGzip reports whether Accept-Encoding admits gzip with a q above
// 0: listed by name, or else covered by *.
func acceptsGzip(r *http.Request) bool {
	star := false
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			switch strings.ToLower(strings.TrimSpace(coding)) {
			case "gzip":
				return quality(params) > 0
			case "*":
				star = quality(params) > 0
			}
		}
	}
	return star
}

// quality reads q from an Accept-Encoding entry's parameters (1 if absent).
func quality(params string) float64 {
	k, v, ok := strings.Cut(params, "=")
	if !ok || strings.TrimSpace(k) != "q" {
		return 1
	}
	q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 1
	}
	return q
}

func notBuilt(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, notBuiltPage)
}

const notBuiltPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>The Mesh: web client not built</title>
<style>body{background:#05070d;color:#cfe8ff;font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}code{color:#9fd}</style></head>
<body><main><h1>web client not built: run make web</h1>
<p>This node runs, but its binary was built without the browser client. Run <code>make web</code>
(or <code>make build</code>) and start the node again. Agents can use the REST API under
<code>/api/v1/</code> and the WebSocket at <code>/api/v1/ws</code>; see PROTOCOL.md.</p></main></body></html>
`
