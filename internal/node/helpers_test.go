package node_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/node"
)

// clock is a settable time source, safe for the audit writer's goroutine.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := new(clock)
	c.Set(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// MustOpen opens a node in dir (a fresh temp dir when "") and closes it
// when the test ends unless the test closed it first.
func MustOpen(tb testing.TB, dir string, now func() time.Time) *node.Node {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	cfg := node.DefaultConfig()
	cfg.DataDir, cfg.Name, cfg.Now = dir, "test", now
	n, err := node.Open(cfg)
	if err != nil {
		tb.Fatalf("open node: %v", err)
	}
	tb.Cleanup(func() {
		if _, done := closed.LoadOrStore(n, true); !done {
			n.Close()
		}
	})
	return n
}

// closed holds the nodes a test closed itself, so that cleanup does not
// close them twice.
var closed sync.Map

// MustReopen closes n and opens the node in the same dir again.
func MustReopen(tb testing.TB, n *node.Node, dir string, now func() time.Time) *node.Node {
	tb.Helper()
	closed.Store(n, true)
	if err := n.Close(); err != nil {
		tb.Fatalf("close node: %v", err)
	}
	return MustOpen(tb, dir, now)
}

// MustOwner returns the node's owner.
func MustOwner(tb testing.TB, n *node.Node) mesh.Participant {
	tb.Helper()
	p, err := n.Authenticate(n.OwnerToken())
	if err != nil {
		tb.Fatalf("authenticate owner: %v", err)
	}
	return p
}

// MustRegister registers a participant named name under actor (or from
// loopback when actor is nil) and returns it with its token.
func MustRegister(tb testing.TB, n *node.Node, actor *mesh.Participant, r node.Registration) (mesh.Participant, string) {
	tb.Helper()
	if r.Name == "" {
		r.Name = "agent"
	}
	p, tok, err := n.Register(actor, actor == nil, "127.0.0.1", r)
	if err != nil {
		tb.Fatalf("register %q: %v", r.Name, err)
	}
	return p, tok
}

// MustCreateRoom creates a room named name with actor as its creator.
func MustCreateRoom(tb testing.TB, n *node.Node, actor mesh.Participant, name string) mesh.Room {
	tb.Helper()
	r, err := n.CreateRoom(actor, node.NewRoom{Name: name})
	if err != nil {
		tb.Fatalf("create room %q: %v", name, err)
	}
	return r
}

// MustJoin makes p a member of room id.
func MustJoin(tb testing.TB, n *node.Node, p mesh.Participant, id mesh.RoomID) {
	tb.Helper()
	if err := n.AddMember(p, id, ""); err != nil {
		tb.Fatalf("join %s to %s: %v", p.ID, id, err)
	}
}

// say posts and waits for the outcome.
func say(tb testing.TB, n *node.Node, actor mesh.Participant, post node.Post) (mesh.Message, error) {
	tb.Helper()
	type result struct {
		m   mesh.Message
		err error
	}
	ch := make(chan result, 1)
	n.Say(actor, post, nil, func(m mesh.Message, err error) { ch <- result{m, err} })
	select {
	case r := <-ch:
		return r.m, r.err
	case <-time.After(10 * time.Second):
		tb.Fatalf("say: no outcome after 10s")
	}
	return mesh.Message{}, nil
}

// auditRecord is the part of an audit line the tests look at.
type auditRecord struct {
	Actor   mesh.ParticipantID `json:"actor"`
	Action  string             `json:"action"`
	Room    mesh.RoomID        `json:"room"`
	Outcome string             `json:"outcome"`
	Code    string             `json:"code"`
	Detail  json.RawMessage    `json:"detail"`
}

// auditRecords waits for the audit log to be on disk and returns the
// records with the given action.
func auditRecords(tb testing.TB, n *node.Node, action string) []auditRecord {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Audit.Sync(ctx); err != nil {
		tb.Fatalf("sync audit: %v", err)
	}
	lines, err := n.Audit.Read(0, 0)
	if err != nil {
		tb.Fatalf("read audit: %v", err)
	}
	var out []auditRecord
	for _, l := range lines {
		var r auditRecord
		if err := json.Unmarshal(l, &r); err != nil {
			tb.Fatalf("audit line %s: %v", l, err)
		}
		if r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

// checkCode fails the test unless err has the code want ("" for nil).
func checkCode(tb testing.TB, err error, want string) {
	tb.Helper()
	if got := mesh.ErrorCode(err); got != want {
		tb.Errorf("code: got %q (%v), want %q", got, err, want)
	}
}
