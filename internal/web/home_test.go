package web_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/the-mesh/mesh/internal/meshtest"
)

// TestHome: / and /assets/ are the web client (built or not), under its
// Content-Security-Policy; /api/ keeps its JSON errors.
func TestHome(t *testing.T) {
	n := meshtest.Start(t, "")
	for path, want := range map[string]struct {
		statuses []int
		ctype    string
	}{
		"/":                     {[]int{200, 503}, "text/html; charset=utf-8"},
		"/assets/none-1234.js":  {[]int{404, 503}, ""},
		"/api/v1/no-such-thing": {[]int{404}, "application/json"},
	} {
		resp, err := http.Get(n.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !slices.Contains(want.statuses, resp.StatusCode) {
			t.Errorf("GET %s: got %d, want one of %v", path, resp.StatusCode, want.statuses)
		}
		if ct := resp.Header.Get("Content-Type"); want.ctype != "" && !strings.HasPrefix(ct, want.ctype) {
			t.Errorf("GET %s: Content-Type: got %q, want %q", path, ct, want.ctype)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); path == "/" && csp == "" {
			t.Errorf("GET /: no Content-Security-Policy")
		}
	}
}
