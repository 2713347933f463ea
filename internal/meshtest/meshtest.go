// Package meshtest starts real nodes on random ports and speaks the wire
// protocol to them, for tests. Clients mask frames as browsers do and read
// whole frames from a real socket.
package meshtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/node"
	"github.com/the-mesh/mesh/internal/web"
)

// Node is a node serving on a random loopback port.
type Node struct {
	URL  string
	Dir  string
	Node *node.Node
	Web  *web.Server
	hs   *http.Server
}

// Options adjust a node's configuration before it opens.
type Options func(*node.Config, *web.Config)

// Start opens a node in dir (a fresh temp dir when ""), serves it, and
// stops it when the test ends.
func Start(tb testing.TB, dir string, opts ...Options) *Node {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	nc, wc := node.DefaultConfig(), web.DefaultConfig()
	nc.DataDir, nc.Name = dir, "test"
	nc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	wc.Logger = nc.Logger
	for _, o := range opts {
		o(&nc, &wc)
	}
	n, err := node.Open(nc)
	if err != nil {
		tb.Fatalf("open node: %v", err)
	}
	srv := web.New(n, wc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	tn := &Node{URL: "http://" + ln.Addr().String(), Dir: dir, Node: n, Web: srv, hs: hs}
	tb.Cleanup(tn.Stop)
	return tn
}

// Stop shuts the node down; it is safe to call twice.
func (n *Node) Stop() {
	if n.hs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.hs.Shutdown(ctx)
	n.Web.Shutdown(ctx)
	n.Node.Close()
	n.hs = nil
}

// Do sends a REST request and decodes the JSON answer into a map.
func (n *Node) Do(tb testing.TB, method, path, token string, body any) (int, map[string]any) {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, n.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			tb.Fatalf("%s %s: answer is not JSON: %q", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

// Register registers a participant from loopback and returns its id and token.
func (n *Node) Register(tb testing.TB, name string) (mesh.ParticipantID, string) {
	tb.Helper()
	st, body := n.Do(tb, "POST", "/api/v1/participants", "", map[string]any{"name": name, "kind": "agent"})
	if st != http.StatusCreated {
		tb.Fatalf("register %s: HTTP %d %v", name, st, body)
	}
	p := body["participant"].(map[string]any)
	return mesh.ParticipantID(p["id"].(string)), body["token"].(string)
}

// Client is a raw WebSocket client.
type Client struct {
	tb   testing.TB
	Conn net.Conn
	br   *bufio.Reader
	// World keeps state frames; without it the reads skip them, so tests
	// about messages do not see avatars spawn.
	World bool
}

// Dial opens a WebSocket to the node.
func (n *Node) Dial(tb testing.TB) *Client {
	tb.Helper()
	c, err := n.TryDial()
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	c.tb = tb
	tb.Cleanup(func() { c.Conn.Close() })
	return c
}

// TryDial opens a WebSocket, returning the handshake error.
func (n *Node) TryDial() (*Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(n.URL, "http")+"/api/v1/ws")
	if err != nil {
		return nil, err
	}
	if br == nil {
		br = bufio.NewReader(conn)
	}
	return &Client{Conn: conn, br: br}, nil
}

// Hello dials, sends hello with token and returns the client after welcome.
func (n *Node) Hello(tb testing.TB, token string) *Client {
	tb.Helper()
	c := n.Dial(tb)
	c.Send(map[string]any{"type": "hello", "token": token})
	c.Expect("welcome")
	return c
}

// Send writes v as a JSON text frame.
func (c *Client) Send(v any) {
	c.tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.tb.Fatal(err)
	}
	c.SendRaw(b)
}

// SendRaw writes a text frame with the given payload.
func (c *Client) SendRaw(b []byte) {
	c.tb.Helper()
	c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := wsutil.WriteClientText(c.Conn, b); err != nil {
		c.tb.Fatalf("send: %v", err)
	}
}

// Frame is a decoded server frame.
type Frame map[string]any

// Type returns the frame's type.
func (f Frame) Type() string { s, _ := f["type"].(string); return s }

// Next reads the next text frame, failing the test after timeout.
func (c *Client) Next(timeout time.Duration) Frame {
	c.tb.Helper()
	f, err := c.TryNext(timeout)
	if err != nil {
		c.tb.Fatalf("read frame: %v", err)
	}
	return f
}

// TryNext reads the next text frame or returns the error (a closed
// connection gives a *wsutil.ClosedError or io.EOF).
func (c *Client) TryNext(timeout time.Duration) (Frame, error) {
	c.Conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		data, op, err := wsutil.ReadServerData(struct {
			io.Reader
			io.Writer
		}{c.br, c.Conn})
		if err != nil {
			return nil, err
		}
		if op != ws.OpText {
			continue
		}
		var f Frame
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, errors.New("frame is not JSON: " + string(data))
		}
		if f.Type() == "state" && !c.World {
			continue
		}
		return f, nil
	}
}

// Expect reads frames until one of type typ arrives, failing on an error
// frame or after 5 s. Presence frames are skipped unless asked for.
func (c *Client) Expect(typ string) Frame {
	c.tb.Helper()
	for {
		f := c.Next(5 * time.Second)
		if f.Type() == typ {
			return f
		}
		if f.Type() == "error" {
			c.tb.Fatalf("expected %s, got error %v", typ, f)
		}
		if f.Type() != "presence" && f.Type() != "state" {
			c.tb.Fatalf("expected %s, got %v", typ, f)
		}
	}
}

// ExpectError reads frames until an error frame arrives and returns it.
func (c *Client) ExpectError() Frame {
	c.tb.Helper()
	for {
		f := c.Next(5 * time.Second)
		if f.Type() == "error" {
			return f
		}
		if f.Type() != "presence" && f.Type() != "message" && f.Type() != "state" {
			c.tb.Fatalf("expected an error frame, got %v", f)
		}
	}
}

// Join joins a room and returns the joined frame.
func (c *Client) Join(room string) Frame {
	c.tb.Helper()
	c.Send(map[string]any{"type": "join", "room": room})
	return c.Expect("joined")
}

// SendBinary writes a binary frame.
func (c *Client) SendBinary(b []byte) {
	c.tb.Helper()
	if err := wsutil.WriteClientBinary(c.Conn, b); err != nil {
		c.tb.Fatalf("send: %v", err)
	}
}

// SendQuiet writes v as a text frame and returns the error instead of
// failing the test, for use from other goroutines.
func (c *Client) SendQuiet(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return wsutil.WriteClientText(c.Conn, b)
}

// SetReadBuffer shrinks the socket's kernel receive buffer.
func (c *Client) SetReadBuffer(n int) {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(n)
	}
}

// UnlimitedRoom creates, as the node's owner, a room with no per-sender
// message rate limit (policy limits.messagesPerMinute 0), so that a test
// can send bursts, and returns its id.
func (n *Node) UnlimitedRoom(tb testing.TB, name string) string {
	tb.Helper()
	st, body := n.Do(tb, "POST", "/api/v1/rooms", n.Node.OwnerToken(), map[string]any{"name": name,
		"policy": map[string]any{"limits": map[string]any{"messagesPerMinute": 0}}})
	if st != http.StatusCreated {
		tb.Fatalf("create room %s: HTTP %d %v", name, st, body)
	}
	return body["room"].(map[string]any)["id"].(string)
}
