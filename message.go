package mesh

import "time"

// MessageKind says what a message is.
type MessageKind string

const (
	MessageChat      MessageKind = "chat"
	MessageCommand   MessageKind = "command"
	MessageResult    MessageKind = "result"
	MessageEvent     MessageKind = "event"
	MessageEncrypted MessageKind = "encrypted"
)

// Message is the envelope stored in a room's log and delivered to its
// members. ID, Room, Seq, From, Trust and TS are set by the node.
type Message struct {
	ID         string        `json:"id"`
	Room       RoomID        `json:"room"`
	Seq        uint64        `json:"seq"`
	Kind       MessageKind   `json:"kind"`
	From       Sender        `json:"from"`
	Trust      Trust         `json:"trust"`
	TS         time.Time     `json:"ts"`
	Body       Body          `json:"body"`
	To         ParticipantID `json:"to,omitempty"`
	Ref        string        `json:"ref,omitempty"`
	Flags      []string      `json:"flags,omitempty"`
	Provenance []Provenance  `json:"provenance,omitempty"`
}

// Body is a message's content. Chat messages carry Text.
type Body struct {
	Text string `json:"text,omitempty"`
}

// Provenance is one node's signature over a message it originated or relayed.
type Provenance struct {
	Node string    `json:"node"`
	TS   time.Time `json:"ts"`
	Sig  string    `json:"sig"`
}

// Default wire limits; each has a flag on `mesh up`.
const (
	DefaultMaxFrameBytes = 64 << 10
	DefaultMaxTextBytes  = 8 << 10
	DefaultHistory       = 50  // messages in a joined frame
	MaxPageLimit         = 500 // messages per GET .../messages page
	DefaultPageLimit     = 100
)
