package web_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/the-mesh/mesh/internal/meshtest"
)

// raw sends a request with a raw body and returns the status and body.
func raw(t *testing.T, n *meshtest.Node, method, path, token string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, n.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRoomData(t *testing.T) {
	n := meshtest.Start(t, "")
	_, ownerTok := n.Node.OwnerToken(), n.Node.OwnerToken()
	_, writerTok := n.Register(t, "writer")
	_, readerTok := n.Register(t, "reader")
	id := room(t, n, ownerTok, "files", nil) // default: local may read, not write
	for _, tok := range []string{writerTok, readerTok} {
		n.Do(t, "POST", "/api/v1/rooms/"+id+"/join", tok, nil)
	}
	watcher := n.Hello(t, readerTok)
	watcher.Join(id)
	base := "/api/v1/rooms/" + id + "/data/"

	if st, body := raw(t, n, "PUT", base+"notes/plan.md", ownerTok, []byte("# plan\n")); st != 200 || !strings.Contains(body, `"sha256"`) {
		t.Fatalf("owner put: HTTP %d %s", st, body)
	}
	ev := watcher.Expect("message")["message"].(map[string]any)
	if ev["kind"] != "event" || ev["body"].(map[string]any)["event"].(map[string]any)["path"] != "notes/plan.md" {
		t.Fatalf("members got %v, want a data.put event", ev)
	}
	if st, body := raw(t, n, "GET", base+"notes/plan.md", readerTok, nil); st != 200 || body != "# plan\n" {
		t.Fatalf("reader get: HTTP %d %q", st, body)
	}
	if st, body := raw(t, n, "GET", base, readerTok, nil); st != 200 || !strings.Contains(body, "notes/plan.md") {
		t.Fatalf("list: HTTP %d %s", st, body)
	}
	for name, tt := range map[string]struct {
		method, path, token string
		body                []byte
		status              int
		code                string
	}{
		"write without data-write":  {"PUT", base + "x.txt", writerTok, []byte("x"), 403, "forbidden"},
		"delete without data-write": {"DELETE", base + "notes/plan.md", writerTok, nil, 403, "forbidden"},
		"dot-dot":                   {"GET", base + "notes/%2E%2E/%2E%2E/node.key", readerTok, nil, 400, "invalid"},
		"hidden file":               {"PUT", base + ".env", ownerTok, []byte("x"), 400, "invalid"},
		"oversized file":            {"PUT", base + "big.bin", ownerTok, bytes.Repeat([]byte("x"), 1<<20+1), 413, "too_large"},
		"missing file":              {"GET", base + "nope.txt", readerTok, nil, 404, "not_found"},
		"not a member":              {"GET", base + "notes/plan.md", n.Node.OwnerToken()[:0] + mustRegister(t, n), nil, 403, "forbidden"},
	} {
		t.Run(name, func(t *testing.T) {
			st, body := raw(t, n, tt.method, tt.path, tt.token, tt.body)
			if st != tt.status || !strings.Contains(body, `"`+tt.code+`"`) {
				t.Fatalf("HTTP %d %s, want %d %s", st, body, tt.status, tt.code)
			}
		})
	}
	// A policy letting local participants write: data-write and ingress.
	if st, body := n.Do(t, "PUT", "/api/v1/rooms/"+id+"/policy", ownerTok, map[string]any{
		"capabilities": map[string]any{"local": []string{"speak", "listen", "data-read", "data-write"}}}); st != 200 {
		t.Fatalf("policy: HTTP %d %v", st, body)
	}
	if st, body := raw(t, n, "PUT", base+"x.txt", writerTok, []byte("x")); st != 200 {
		t.Fatalf("write with data-write: HTTP %d %s", st, body)
	}
	if st, _ := raw(t, n, "DELETE", base+"x.txt", writerTok, nil); st != 204 {
		t.Fatalf("delete: HTTP %d", st)
	}
}

func mustRegister(t *testing.T, n *meshtest.Node) string {
	_, tok := n.Register(t, "outsider")
	return tok
}
