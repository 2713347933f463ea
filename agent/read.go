package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/the-mesh/mesh"
)

// inFrame is any frame the node sends, decoded once. "message" is an
// envelope in a message frame and a sentence in an error frame, so it is
// kept raw and decoded by type.
type inFrame struct {
	Type        string             `json:"type"`
	Ref         string             `json:"ref"`
	You         *mesh.Participant  `json:"you"`         // welcome
	Limits      mesh.WireLimits    `json:"limits"`      // welcome
	Room        mesh.RoomID        `json:"room"`        // joined, left, presence
	Members     []mesh.Member      `json:"members"`     // joined
	History     []mesh.Message     `json:"history"`     // joined
	Head        uint64             `json:"head"`        // joined
	E2E         *mesh.Roster       `json:"e2e"`         // joined, in an E2E room
	ID          string             `json:"id"`          // ack
	Seq         uint64             `json:"seq"`         // ack
	Event       string             `json:"event"`       // presence
	Participant mesh.Participant   `json:"participant"` // presence
	Code        string             `json:"code"`        // error
	State       *mesh.WorldState   `json:"state"`       // joined
	Moves       []mesh.AvatarState `json:"moves"`       // state
	Raw         json.RawMessage    `json:"message"`     // message (envelope), error (text)
	Items       []mesh.InboxItem   `json:"items"`       // inbox
	Next        uint64             `json:"next"`        // inbox
	Unacked     int                `json:"unacked"`     // inbox, inbox.acked
	Dropped     uint64             `json:"dropped"`     // inbox
	Acked       uint64             `json:"acked"`       // inbox.acked
	Item        *mesh.InboxItem    `json:"item"`        // inbox.item

	Msg  *mesh.Message `json:"-"` // message
	Text string        `json:"-"` // error
}

func decodeFrame(data []byte) (*inFrame, error) {
	f := new(inFrame)
	if err := json.Unmarshal(data, f); err != nil {
		return nil, fmt.Errorf("agent: bad frame from the node: %w", err)
	}
	switch f.Type {
	case mesh.FrameMessage:
		f.Msg = new(mesh.Message)
		if err := json.Unmarshal(f.Raw, f.Msg); err != nil {
			return nil, fmt.Errorf("agent: bad message envelope: %w", err)
		}
	case mesh.FrameError:
		json.Unmarshal(f.Raw, &f.Text)
	}
	return f, nil
}

// handle processes one frame on the reader goroutine. Only a broken
// connection or a stopping client is returned as an error.
func (c *Client) handle(cn *conn, data []byte) error {
	f, err := decodeFrame(data)
	if err != nil {
		c.log.Warn("mesh: skipping a frame", "err", err)
		return nil
	}
	switch f.Type {
	case mesh.FrameMessage:
		return c.onMessage(cn, f.Msg)
	case mesh.FrameJoined:
		c.mu.Lock()
		rs := c.rooms[f.Room]
		join := f.Ref != "" || rs == nil
		switch {
		case join: // history runs up to head
			rs = &roomState{last: f.Head}
			c.rooms[f.Room] = rs
		case f.Head < rs.last: // a resume, and the room's log restarted
			c.log.Warn("mesh: the room's log is shorter than what the client has; starting over from its head",
				"room", f.Room, "had", rs.last, "head", f.Head)
			rs.last = f.Head
		}
		if f.State != nil {
			rs.updateWorld(f.State, nil)
		}
		switch {
		case f.E2E == nil:
		case join || rs.e2e == nil: // joined, or resumed a room that became end-to-end encrypted
			er := newE2ERoom(*f.E2E)
			rs.e2e = er
			history := f.History
			c.wg.Go(func() { c.setupRoom(f.Room, er, history) })
		default:
			rs.e2e.addRoster(*f.E2E)
		}
		c.mu.Unlock()
		c.answer(cn, f, nil)
	case mesh.FrameLeft:
		c.mu.Lock()
		delete(c.rooms, f.Room)
		c.mu.Unlock()
		c.answer(cn, f, nil)
	case mesh.FrameAck, mesh.FrameInbox, mesh.FrameInboxAcked:
		c.answer(cn, f, nil)
	case mesh.FrameInboxItem:
		if f.Item != nil {
			c.pushInbox(*f.Item)
		}
	case mesh.FrameError:
		e := &mesh.Error{Code: f.Code, Message: f.Text}
		if !c.answer(cn, f, e) && !c.refusedStored(f.Ref, e) {
			c.log.Warn("mesh: the node refused a frame", "ref", f.Ref, "code", f.Code, "message", f.Text)
		}
	case mesh.FrameState:
		c.mu.Lock()
		if rs := c.rooms[f.Room]; rs != nil {
			rs.updateWorld(nil, f.Moves)
		}
		c.mu.Unlock()
	case mesh.FramePresence:
		if f.Event == mesh.PresenceLeave {
			c.mu.Lock()
			if rs := c.rooms[f.Room]; rs != nil {
				rs.forget(f.Participant.ID)
			}
			c.mu.Unlock()
		}
		select {
		case c.pres <- mesh.PresenceFrame{Type: f.Type, Room: f.Room, Event: f.Event, Participant: f.Participant}:
		default:
			c.log.Debug("mesh: presence dropped: nobody reads Presence()", "room", f.Room)
		}
	case mesh.FramePong, mesh.FrameWelcome:
	default:
		c.log.Debug("mesh: ignoring an unknown frame", "type", f.Type)
	}
	return nil
}

// answer hands f (or err) to the call waiting for f.Ref, and reports
// whether there was one. An ack moves the room's last seq: the node queues
// it where the message would be in the room's order, so every earlier
// message has been received.
func (c *Client) answer(cn *conn, f *inFrame, err error) bool {
	if f.Ref == "" {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := cn.pending[f.Ref]
	if !ok {
		return false
	}
	delete(cn.pending, f.Ref)
	c.ackedRemoteLocked(f)
	if rs := c.rooms[w.room]; f.Type == mesh.FrameAck && rs != nil && f.Seq > rs.last {
		rs.last = f.Seq
	}
	w.ch <- reply{f: f, err: err}
	return true
}

// onMessage drops what the client already has (by room and seq), routes
// commands addressed to it, and queues the rest for Messages().
func (c *Client) onMessage(cn *conn, m *mesh.Message) error {
	c.mu.Lock()
	rs := c.rooms[m.Room]
	if rs == nil || m.Seq <= rs.last { // not joined (any more), or a repeat
		c.mu.Unlock()
		return nil
	}
	if m.Seq > rs.last+1 {
		c.log.Warn("mesh: gap in the room's stream", "room", m.Room, "after", rs.last, "got", m.Seq)
	}
	rs.last = m.Seq
	me := c.me.ID
	if m.From.ID == me && len(c.stored) > 0 {
		c.storedLocked(m)
	}
	er := rs.e2e
	if er == nil && m.Kind == mesh.MessageEvent && m.Body.Event != nil && m.Body.Event.Type == mesh.EventE2EEpoch && m.Body.Event.E2E != nil {
		er = newE2ERoom(*m.Body.Event.E2E) // the room became end-to-end encrypted
		rs.e2e = er
		c.wg.Go(func() { c.setupRoom(m.Room, er, nil) })
	}
	c.mu.Unlock()
	msg := Message{Message: *m}
	if er != nil {
		if err := er.wait(c.ctx); err != nil && c.ctx.Err() != nil {
			return c.ctx.Err()
		}
		var deliver bool
		if msg, deliver = c.openIn(c.ctx, er, *m, m.From.ID != me); !deliver {
			return nil
		}
	}
	if m.From.ID == me {
		return nil // our own: the ack told the caller (see "Delivery")
	}
	if m.To == me {
		c.route(msg)
	}
	return c.queue.push(c.ctx, cn, msg, func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(cn.pending) > 0 {
			return queueHard
		}
		return queueSoft
	})
}

// setupRoom readies a followed E2E room on its own goroutine: it
// registers the device, reads the policy and opens history (the joined
// frame's, for Join to return), then finishes er, which the reader waits
// for before it opens the room's stream: the history's keys entries are
// known by then. Without a key store the setup fails: Join returns the
// error, and a room followed without Join (one that became end-to-end
// encrypted) gets its sealed messages as undecryptable (no_key).
func (c *Client) setupRoom(room mesh.RoomID, er *e2eRoom, history []mesh.Message) {
	ctx, cancel := context.WithTimeout(c.ctx, 2*restTimeout)
	defer cancel()
	err := c.setupE2E(ctx, room, er)
	if err == nil {
		for _, m := range history {
			if msg, ok := c.openIn(c.ctx, er, m, true); ok {
				er.history = append(er.history, msg)
			}
		}
	}
	er.finish(err)
}

// pump feeds Messages() from the queue until the client stops.
func (c *Client) pump() {
	defer c.wg.Done()
	defer close(c.msgs)
	for {
		m, ok := c.queue.pop(c.ctx)
		if !ok {
			return
		}
		select {
		case c.msgs <- m:
		case <-c.ctx.Done():
			return
		}
	}
}

// queue is the bounded buffer between the reader and Messages(). It
// outlives connections, so nothing received is lost on a reconnect.
type queue struct {
	mu    sync.Mutex
	items []Message
	added chan struct{} // a token when items were added
	space chan struct{} // a token when items were taken, or the limit may have grown
}

func newQueue() *queue {
	return &queue{added: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// poke wakes a waiting push to look at its limit again.
func (q *queue) poke() { signal(q.space) }

// push appends m, waiting while the queue holds limit() messages.
func (q *queue) push(ctx context.Context, cn *conn, m Message, limit func() int) error {
	for {
		q.mu.Lock()
		if len(q.items) < limit() {
			q.items = append(q.items, m)
			q.mu.Unlock()
			signal(q.added)
			return nil
		}
		q.mu.Unlock()
		cn.delivering.Store(true)
		select {
		case <-q.space:
			cn.delivering.Store(false)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// pop takes the oldest message, waiting for one; false when ctx is done.
func (q *queue) pop(ctx context.Context) (Message, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			m := q.items[0]
			q.items[0] = Message{}
			q.items = q.items[1:]
			q.mu.Unlock()
			signal(q.space)
			return m, true
		}
		q.mu.Unlock()
		select {
		case <-q.added:
		case <-ctx.Done():
			return Message{}, false
		}
	}
}
