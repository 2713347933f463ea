package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/the-mesh/mesh"
)

// InboxItem is one item of the participant's inbox (PROTOCOL.md, "Inbox"):
// a message addressed to it or a command for it, kept by the node until
// acknowledged with AckInbox.
type InboxItem struct {
	N       uint64 // numbers the participant's items; acknowledge up to it
	Reason  string // mesh.InboxTo or mesh.InboxCommand
	Message Message
}

// Inbox is a page of the inbox.
type Inbox struct {
	Items   []InboxItem
	Next    uint64 // pass as after to read on
	Unacked int    // items waiting for acknowledgement in all
	Dropped uint64 // unread items the node's bound dropped before these
}

// inboxQueue is how many pushed items InboxItems() buffers before it drops.
const inboxQueue = 256

// Inbox reads up to limit (0: 100) of the participant's unacknowledged
// inbox items with n > after, on the live connection. The first call also
// turns on pushes: from then on InboxItems() gets each new item, on this
// connection and, after a reconnect, on the next one (the client asks again
// from the last n it saw, so items that came meanwhile are pushed too).
// Refusals are *mesh.Error (invalid).
func (c *Client) Inbox(ctx context.Context, after uint64, limit int) (Inbox, error) {
	c.mu.Lock()
	c.inboxOn = true
	c.mu.Unlock()
	f, err := c.call(ctx, "", func(ref string) any {
		return mesh.InboxRead{Type: mesh.FrameInbox, After: after, Limit: limit, Ref: ref}
	})
	if err != nil {
		return Inbox{}, err
	}
	out := Inbox{Next: f.Next, Unacked: f.Unacked, Dropped: f.Dropped}
	for _, it := range f.Items {
		item, err := decodeInboxItem(it)
		if err != nil {
			return Inbox{}, err
		}
		out.Items = append(out.Items, item)
	}
	c.mu.Lock()
	c.inboxLast = max(c.inboxLast, out.Next)
	c.mu.Unlock()
	return out, nil
}

// AckInbox acknowledges every inbox item with n <= upTo; the node drops
// them for good. It returns the node's ack cursor and the items left.
func (c *Client) AckInbox(ctx context.Context, upTo uint64) (acked uint64, unacked int, err error) {
	f, err := c.call(ctx, "", func(ref string) any {
		return mesh.InboxAck{Type: mesh.FrameInboxAck, UpTo: &upTo, Ref: ref}
	})
	if err != nil {
		return 0, 0, err
	}
	return f.Acked, f.Unacked, nil
}

// InboxItems returns the items the node pushes once Inbox was called. It
// is a prompt, not the record: when 256 items wait unread, newer ones are
// dropped (and logged), and an item may come twice around the first Inbox
// call. Read Inbox and AckInbox for every item exactly; the node keeps
// them until acknowledged. It is closed when the client stops.
func (c *Client) InboxItems() <-chan InboxItem { return c.inbox }

func decodeInboxItem(it mesh.InboxItem) (InboxItem, error) {
	var m mesh.Message
	if err := json.Unmarshal(it.Message, &m); err != nil {
		return InboxItem{}, fmt.Errorf("agent: bad inbox item %d: %w", it.N, err)
	}
	return InboxItem{N: it.N, Reason: it.Reason, Message: Message{Message: m}}, nil
}

// pushInbox hands an item to InboxItems() unless it was seen already.
func (c *Client) pushInbox(it mesh.InboxItem) {
	item, err := decodeInboxItem(it)
	if err != nil {
		c.log.Warn("mesh: skipping an inbox item", "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if item.N <= c.inboxLast || c.inboxClosed {
		return
	}
	c.inboxLast = item.N
	select {
	case c.inbox <- item:
	default:
		c.log.Warn("mesh: inbox push dropped: InboxItems() is not read; the item stays in the inbox", "n", item.N)
	}
}

// closeInbox closes InboxItems(); pushes after it are dropped.
func (c *Client) closeInbox() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inboxClosed = true
	close(c.inbox)
}

// resumeInbox turns pushes on again on a new connection, if Inbox was
// ever called, and pushes what came while the client was away.
func (c *Client) resumeInbox() {
	c.mu.Lock()
	on, after := c.inboxOn, c.inboxLast
	c.mu.Unlock()
	if !on {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	for {
		f, err := c.call(ctx, "", func(ref string) any {
			return mesh.InboxRead{Type: mesh.FrameInbox, After: after, Limit: mesh.MaxPageLimit, Ref: ref}
		})
		if err != nil {
			c.log.Warn("mesh: could not read the inbox after reconnecting", "err", err)
			return
		}
		for _, it := range f.Items {
			c.pushInbox(it)
		}
		if len(f.Items) == 0 || f.Next <= after {
			return
		}
		after = f.Next
	}
}

// Registered is what the node answers a registration with.
type Registered struct {
	Participant mesh.Participant
	Token       string // the participant's bearer token, shown only once
	// WebhookSecret signs the participant's webhook deliveries (see
	// VerifyWebhook); shown only once, and only when a webhook was given.
	WebhookSecret string
}

// RegisterWebhook is Register for a participant with a webhook URL: the
// node POSTs its inbox items there while it is not connected, signed with
// the returned WebhookSecret.
func RegisterWebhook(ctx context.Context, baseURL string, r Registration, webhook string) (Registered, error) {
	body := registrationBody(r)
	body["webhook"] = webhook
	return register(ctx, baseURL, r, body)
}
