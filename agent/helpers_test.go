package agent_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
	"github.com/the-mesh/mesh/internal/meshtest"
	"github.com/the-mesh/mesh/internal/node"
	"github.com/the-mesh/mesh/internal/web"
)

// noRate turns the node's per-connection frame rate off.
func noRate(_ *node.Config, wc *web.Config) { wc.Rate = 0 }

// mustRegister registers an agent on the node from loopback.
func mustRegister(tb testing.TB, url, name string) (mesh.Participant, string) {
	tb.Helper()
	p, token, err := agent.Register(context.Background(), url, agent.Registration{Name: name})
	if err != nil {
		tb.Fatalf("register %s: %v", name, err)
	}
	return p, token
}

// mustDial connects a client and closes it when the test ends.
func mustDial(tb testing.TB, url, token string) *agent.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := agent.Dial(ctx, agent.Config{URL: url, Token: token, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func mustJoin(tb testing.TB, c *agent.Client, room mesh.RoomID) agent.Joined {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	j, err := c.Join(ctx, room)
	if err != nil {
		tb.Fatalf("join %s: %v", room, err)
	}
	return j
}

// next returns the next message, failing the test after timeout.
func next(tb testing.TB, c *agent.Client, timeout time.Duration) agent.Message {
	tb.Helper()
	select {
	case m, ok := <-c.Messages():
		if !ok {
			tb.Fatalf("Messages closed: %v", c.Err())
		}
		return m
	case <-time.After(timeout):
		tb.Fatalf("no message within %v", timeout)
	}
	panic("unreachable")
}

// eventually polls cond until it holds or the deadline passes.
func eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// proxy is a TCP relay on a fixed loopback address to whichever node is
// current, so that a client keeps one URL across node restarts.
type proxy struct {
	ln     net.Listener
	mu     sync.Mutex
	target string
	conns  map[net.Conn]struct{}
}

func startProxy(tb testing.TB, target *meshtest.Node) *proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{ln: ln, conns: map[net.Conn]struct{}{}}
	p.point(target)
	go p.serve()
	tb.Cleanup(p.close)
	return p
}

func (p *proxy) URL() string { return "http://" + p.ln.Addr().String() }

// point sends new connections to n.
func (p *proxy) point(n *meshtest.Node) {
	p.mu.Lock()
	p.target = strings.TrimPrefix(n.URL, "http://")
	p.mu.Unlock()
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target := p.target
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		go p.pipe(c, target)
	}
}

func (p *proxy) pipe(c net.Conn, target string) {
	defer func() {
		c.Close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	b, err := net.DialTimeout("tcp", target, time.Second)
	if err != nil {
		return
	}
	defer b.Close()
	done := make(chan struct{})
	go func() { io.Copy(b, c); b.Close(); close(done) }()
	io.Copy(c, b)
	c.Close()
	<-done
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

// drop cuts every relayed connection, as a network failure would.
func (p *proxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}
