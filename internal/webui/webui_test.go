package webui_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/the-mesh/mesh/internal/webui"
)

func gz(tb testing.TB, s string) []byte {
	tb.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// built is a client as web/build.mjs writes it.
func built(tb testing.TB) fstest.MapFS {
	const index = "<!doctype html><title>The Mesh</title>"
	const js = "console.log('mesh')"
	return fstest.MapFS{
		".gitkeep":                   {},
		"index.html":                 {Data: []byte(index)},
		"index.html.gz":              {Data: gz(tb, index)},
		"assets/main-ABCD1234.js":    {Data: []byte(js)},
		"assets/main-ABCD1234.js.gz": {Data: gz(tb, js)},
		"assets/main-EFGH5678.css":   {Data: []byte("body{}")},
	}
}

func get(h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestServe(t *testing.T) {
	h := webui.New(built(t))
	for name, tt := range map[string]struct {
		path, accept           string
		status                 int
		ctype, cache, encoding string
		body                   string
	}{
		"IndexAtRoot":     {path: "/", status: 200, ctype: "text/html; charset=utf-8", cache: "no-cache", body: "<!doctype html><title>The Mesh</title>"},
		"IndexGzipped":    {path: "/", accept: "gzip, deflate, br", status: 200, ctype: "text/html; charset=utf-8", cache: "no-cache", encoding: "gzip"},
		"GzipRefused":     {path: "/", accept: "br, gzip;q=0", status: 200, cache: "no-cache", body: "<!doctype html><title>The Mesh</title>"},
		"GzipByStar":      {path: "/", accept: "*", status: 200, encoding: "gzip"},
		"ChunkImmutable":  {path: "/assets/main-ABCD1234.js", status: 200, ctype: "text/javascript; charset=utf-8", cache: "public, max-age=31536000, immutable", body: "console.log('mesh')"},
		"ChunkGzipped":    {path: "/assets/main-ABCD1234.js", accept: "gzip", status: 200, encoding: "gzip", cache: "public, max-age=31536000, immutable"},
		"CSSWithoutGz":    {path: "/assets/main-EFGH5678.css", accept: "gzip", status: 200, ctype: "text/css; charset=utf-8", body: "body{}"},
		"Missing":         {path: "/assets/nope-1234.js", status: 404},
		"GzNotServedAsIs": {path: "/assets/main-ABCD1234.js.gz", status: 404},
		"UnknownType":     {path: "/.gitkeep", status: 404},
		"Directory":       {path: "/assets", status: 404},
		"DotDot":          {path: "/../index.html", status: 200, body: "<!doctype html><title>The Mesh</title>"},
	} {
		t.Run(name, func(t *testing.T) {
			w := get(h, tt.path, "Accept-Encoding", tt.accept)
			if w.Code != tt.status {
				t.Fatalf("status: got %d, want %d", w.Code, tt.status)
			}
			if tt.status != 200 {
				return
			}
			hdr := w.Header()
			if tt.ctype != "" && hdr.Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type: got %q, want %q", hdr.Get("Content-Type"), tt.ctype)
			}
			if tt.cache != "" && hdr.Get("Cache-Control") != tt.cache {
				t.Errorf("Cache-Control: got %q, want %q", hdr.Get("Cache-Control"), tt.cache)
			}
			if got := hdr.Get("Content-Encoding"); got != tt.encoding {
				t.Errorf("Content-Encoding: got %q, want %q", got, tt.encoding)
			}
			if hdr.Get("Vary") != "Accept-Encoding" {
				t.Errorf("Vary: got %q, want Accept-Encoding", hdr.Get("Vary"))
			}
			if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "connect-src 'self' ws: wss:") {
				t.Errorf("Content-Security-Policy: got %q, want self only with ws: wss:", csp)
			}
			body := w.Body.String()
			if tt.encoding == "gzip" {
				r, err := gzip.NewReader(w.Body)
				if err != nil {
					t.Fatalf("body is not gzip: %v", err)
				}
				var b bytes.Buffer
				b.ReadFrom(r)
				body = b.String()
			}
			if tt.body != "" && body != tt.body {
				t.Errorf("body: got %q, want %q", body, tt.body)
			}
		})
	}
}

func TestServeConditional(t *testing.T) {
	h := webui.New(built(t))
	plain, zipped := get(h, "/"), get(h, "/", "Accept-Encoding", "gzip")
	etag := plain.Header().Get("ETag")
	if etag == "" || etag == zipped.Header().Get("ETag") {
		t.Fatalf("ETag: got %q plain and %q gzipped, want two different tags", etag, zipped.Header().Get("ETag"))
	}
	if w := get(h, "/", "If-None-Match", etag); w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match with the current tag: got %d, want 304", w.Code)
	}
	if w := get(h, "/", "If-None-Match", `"stale"`); w.Code != 200 {
		t.Errorf("If-None-Match with a stale tag: got %d, want 200", w.Code)
	}
}

func TestNotBuilt(t *testing.T) {
	h := webui.New(fstest.MapFS{".gitkeep": {}})
	for _, path := range []string{"/", "/assets/main-ABCD1234.js"} {
		w := get(h, path)
		if w.Code != http.StatusServiceUnavailable {
			t.Errorf("%s: status: got %d, want 503", path, w.Code)
		}
		if !strings.Contains(w.Body.String(), "web client not built: run make web") {
			t.Errorf("%s: body: got %q, want it to say how to build the client", path, w.Body.String())
		}
		if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type: got %q, want text/html", path, ct)
		}
	}
}

// TestEmbedded checks the binary's own copy: built or not, / answers HTML.
func TestEmbedded(t *testing.T) {
	w := get(webui.Handler(), "/")
	if w.Code != 200 && w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status: got %d, want 200 (built) or 503 (not built)", w.Code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type: got %q, want text/html", ct)
	}
}
