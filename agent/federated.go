package agent

import (
	"context"

	"github.com/the-mesh/mesh"
)

// E2E rooms of other nodes (room@home). Two things differ from a room of
// this client's node:
//
//   - Naming in signatures: a sealed message's associated data holds "to"
//     as the room's home names it (PROTOCOL.md, "Naming in signatures").
//     The client converts with mesh.ViewParticipant from its node's naming
//     before sealing and verifying (homeTo). Rosters and from.id arrive in
//     this node's naming, so device owners compare as they are.
//   - The node acks a post to a remote room once it is queued for the
//     home, without a seq, and a refusal by the home comes later as an
//     error with the same ref. A sealed post there waits for its stored
//     copy (a message with the ack's id, which carries the seq) or that
//     refusal (storedWait), so a keys entry's seq is known and a conflict
//     re-keys as in a local room.

// homeTo returns participant to, as this client's node names it, as the
// home of room (an address room@home, or a local room) names it.
func (c *Client) homeTo(home mesh.RoomID, to mesh.ParticipantID) mesh.ParticipantID {
	_, node, ok := home.Split()
	mine := c.Me().Node
	if !ok || to == "" || mine == "" || mine == node { // unknown, or this node's room
		return to
	}
	return mesh.ViewParticipant(to, mine, node)
}

// storedWait waits for the stored copy of a post to a remote room: id is
// set from the ack (under Client.mu), ch gets the seq or the refusal.
type storedWait struct {
	id string
	ch chan reply // buffered: the reader never blocks on it
}

// awaitStored registers a wait for the post with ref; call the returned
// func to stop waiting.
func (c *Client) awaitStored(ref string) (*storedWait, func()) {
	sw := &storedWait{ch: make(chan reply, 1)}
	c.mu.Lock()
	if c.stored == nil {
		c.stored = map[string]*storedWait{}
	}
	c.stored[ref] = sw
	c.mu.Unlock()
	return sw, func() {
		c.mu.Lock()
		delete(c.stored, ref)
		c.mu.Unlock()
	}
}

// ackedRemoteLocked notes the message id of an ack without seq for a
// stored wait. c.mu must be held.
func (c *Client) ackedRemoteLocked(f *inFrame) {
	if sw := c.stored[f.Ref]; sw != nil && f.Type == mesh.FrameAck && f.Seq == 0 {
		sw.id = f.ID
	}
}

// storedLocked hands a stored copy of an own post to its wait. c.mu must
// be held.
func (c *Client) storedLocked(m *mesh.Message) {
	for ref, sw := range c.stored {
		if sw.id != "" && sw.id == m.ID {
			sw.ch <- reply{f: &inFrame{Type: mesh.FrameAck, Ref: ref, ID: m.ID, Seq: m.Seq}}
			delete(c.stored, ref)
			return
		}
	}
}

// refusedStored hands a late refusal to the wait for its ref, and reports
// whether there was one.
func (c *Client) refusedStored(ref string, err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	sw := c.stored[ref]
	if sw == nil {
		return false
	}
	sw.ch <- reply{err: err}
	delete(c.stored, ref)
	return true
}

// waitStored waits for sw's stored copy or refusal.
func waitStored(ctx context.Context, sw *storedWait) (*inFrame, error) {
	select {
	case r := <-sw.ch:
		return r.f, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
