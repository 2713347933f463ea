package node

import (
	"sync"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/hub"
)

// liveConns are, per participant, the WebSocket connections that asked for
// its inbox (an inbox frame): they get inbox.item pushes, and while a
// participant has one its webhook is not called.
type liveConns struct {
	mu sync.Mutex // guards m; Send is called under it (it never blocks)
	m  map[mesh.ParticipantID]map[*hub.Conn]struct{}
}

// AttachInbox registers c, a connection authenticated as p, for inbox
// pushes. DetachInbox must follow when it ends.
func (n *Node) AttachInbox(p mesh.ParticipantID, c *hub.Conn) {
	l := &n.live
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[mesh.ParticipantID]map[*hub.Conn]struct{}{}
	}
	if l.m[p] == nil {
		l.m[p] = map[*hub.Conn]struct{}{}
	}
	l.m[p][c] = struct{}{}
}

// DetachInbox undoes AttachInbox.
func (n *Node) DetachInbox(p mesh.ParticipantID, c *hub.Conn) {
	l := &n.live
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m[p], c)
	if len(l.m[p]) == 0 {
		delete(l.m, p)
	}
}

func (l *liveConns) online(p mesh.ParticipantID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m[p]) > 0
}

func (l *liveConns) send(p mesh.ParticipantID, frame []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.m[p] {
		c.Send(frame)
	}
}
