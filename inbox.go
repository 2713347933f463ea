package mesh

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// Inbox reasons: why an item is in a participant's inbox. Append only.
const (
	InboxTo      = "to"      // a message addressed to the participant (chat or result)
	InboxMention = "mention" // reserved: the node's mention rule counts only "to" today
	InboxCommand = "command" // a command whose target is the participant
)

// Inbox frame types.
const (
	FrameInbox      = "inbox"       // client: read the inbox; node: the page that answers it
	FrameInboxAck   = "inbox.ack"   // client: acknowledge items
	FrameInboxAcked = "inbox.acked" // node: answers inbox.ack
	FrameInboxItem  = "inbox.item"  // node: a new item, pushed to live connections
)

// Inbox limits.
const (
	DefaultInboxMax = 10_000 // unacknowledged items kept per participant
)

// InboxItem is one entry of a participant's inbox: N numbers it (1, 2, 3,
// … per participant, never reused), Reason says why it is there and
// Message is the stored envelope it refers to.
type InboxItem struct {
	N       uint64          `json:"n"`
	Reason  string          `json:"reason"`
	Message json.RawMessage `json:"message"`
}

// Inbox is a page of a participant's inbox: the unacknowledged items with
// n > after, the cursor to read on from, how many items are unacknowledged
// in all, and how many unread ones the bound dropped before this page.
type Inbox struct {
	Items   []InboxItem `json:"items"`
	Next    uint64      `json:"next"`
	Unacked int         `json:"unacked"`
	Dropped uint64      `json:"dropped,omitempty"`
}

// InboxRead is the client frame that reads the inbox.
type InboxRead struct {
	Type  string `json:"type"`
	After uint64 `json:"after,omitempty"`
	Limit int    `json:"limit,omitempty"` // 0: DefaultPageLimit
	Ref   string `json:"ref,omitempty"`
}

// InboxAck acknowledges every item with n <= UpTo; UpTo is required.
type InboxAck struct {
	Type string  `json:"type"`
	UpTo *uint64 `json:"upTo"`
	Ref  string  `json:"ref,omitempty"`
}

// InboxFrame answers InboxRead.
type InboxFrame struct {
	Type string `json:"type"`
	Ref  string `json:"ref,omitempty"`
	Inbox
}

// InboxAcked answers InboxAck: Acked is the participant's ack cursor (every
// item with n <= Acked is gone) and Unacked what is left.
type InboxAcked struct {
	Type    string `json:"type"`
	Ref     string `json:"ref,omitempty"`
	Acked   uint64 `json:"acked"`
	Unacked int    `json:"unacked"`
}

// InboxItemFrame pushes a new item to the participant's live connections.
type InboxItemFrame struct {
	Type string    `json:"type"`
	Item InboxItem `json:"item"`
}

// WebhookEvent is the body of a webhook delivery.
type WebhookEvent struct {
	Type        string        `json:"type"` // "inbox.item"
	Participant ParticipantID `json:"participant"`
	Item        InboxItem     `json:"item"`
}

// Webhook headers.
const (
	HeaderWebhookTimestamp = "X-Mesh-Timestamp" // unix seconds
	HeaderWebhookSignature = "X-Mesh-Signature" // "v1=" + hex HMAC-SHA256
	HeaderWebhookDelivery  = "X-Mesh-Delivery"  // the same for every attempt of one item
)

// SignWebhook returns the X-Mesh-Signature value for a delivery: "v1="
// and the hex HMAC-SHA256, keyed with the secret's bytes, of the decimal
// unix timestamp, a ".", and the body.
func SignWebhook(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// decodeInbox decodes the inbox and inbox.ack client frames.
func decodeInbox(typ string, data []byte) (any, error) {
	if typ == FrameInbox {
		f := new(InboxRead)
		if err := decodeStrict(data, f); err != nil {
			return nil, err
		}
		if f.Limit < 0 || f.Limit > MaxPageLimit {
			return nil, Errorf(EInvalid, "inbox limit must be 1 to %d (0 or absent: %d), got %d.", MaxPageLimit, DefaultPageLimit, f.Limit)
		}
		return f, nil
	}
	f := new(InboxAck)
	if err := decodeStrict(data, f); err != nil {
		return nil, err
	}
	if f.UpTo == nil {
		return nil, Errorf(EInvalid, `inbox.ack needs "upTo": the n of the last item to acknowledge.`)
	}
	return f, nil
}
