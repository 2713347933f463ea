package mesh

import (
	"encoding/json"
	"time"
)

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
	// Bridged names the original of a message a bridge carried here
	// (PROTOCOL.md, "Bridges"); From is then the bridge's creator.
	Bridged *Bridged `json:"bridged,omitempty"`
}

// Body is a message's content: chat messages carry Text; commands Command
// and Args; results OK and Output (and Ref names the command); events Event.
type Body struct {
	Text    string          `json:"text,omitempty"`
	Command string          `json:"command,omitempty"`
	Args    json.RawMessage `json:"args,omitempty"`
	OK      *bool           `json:"ok,omitempty"`
	Output  string          `json:"output,omitempty"`
	Event   *Event          `json:"event,omitempty"`
	E2E     *Sealed         `json:"e2e,omitempty"` // kind encrypted only
}

// Event is something the node did in a room, told to its members in the
// room's log: a data file changed, a member was muted, kicked or banned, the
// policy changed, an end-to-end encrypted room started a new epoch.
type Event struct {
	Type   string        `json:"type"` // data.put, data.delete, moderation, policy, e2e.epoch
	Path   string        `json:"path,omitempty"`
	Size   int64         `json:"size,omitempty"`
	SHA256 string        `json:"sha256,omitempty"`
	Action string        `json:"action,omitempty"` // mute, unmute, kick, ban, unban
	Target ParticipantID `json:"target,omitempty"`
	By     ParticipantID `json:"by,omitempty"`
	E2E    *Roster       `json:"e2e,omitempty"` // e2e.epoch
}

// Event types.
const (
	EventDataPut    = "data.put"
	EventDataDelete = "data.delete"
	EventModeration = "moderation"
	EventPolicy     = "policy"
)

// Flags the node puts on delivered messages.
const (
	FlagInjection = "injection" // followed by ":" and the scanner's finding
)

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
	MaxWaitSeconds       = 55  // longest long poll of GET .../messages?wait=
	DefaultPageLimit     = 100
	MaxCommandNameBytes  = 64 // command names
)
