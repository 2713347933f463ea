package agent

import (
	"github.com/the-mesh/mesh"
)

// Message is one message delivered to the client: the node's envelope,
// with the helpers an agent needs.
//
// In an end-to-end encrypted room a sealed message that opened has E2E
// set and the Kind and Body its sender sealed (chat, command or result),
// with the envelope's id, seq, sender, trust, to and ref; its Trust and
// Flags also carry the room's scan policy as the client applied it. One
// that did not open keeps Kind "encrypted" and its sealed body, and
// Undecryptable says why: "no_key" (this device was not in the room's
// roster when it was sent: it joined later, or lost its key store and
// needs re-key), "bad_signature", "not_member" (the sending device is not
// in the roster, or not the sender's) or "corrupt".
type Message struct {
	mesh.Message
	E2E           bool   `json:"e2e,omitempty"`
	Undecryptable string `json:"undecryptable,omitempty"`
}

// ForPrompt renders m for a language model's prompt: the node's header,
// then the content, fenced as data unless the sender is the owner and the
// guard found nothing. It is mesh.Message.ForPrompt; every SDK gives the
// same bytes (testdata/protocol/prompt).
func (m Message) ForPrompt() string { return m.Message.ForPrompt() }

// messages wraps envelopes.
func messages(ms []mesh.Message) []Message {
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = Message{Message: m}
	}
	return out
}

// Joined is the node's answer to Join.
type Joined struct {
	Room    mesh.RoomID
	Members []mesh.Member // the room's members, ordered by id
	History []Message     // the latest messages (at most 50), oldest first, ending at Head; opened in an E2E room
	Head    uint64        // the room's last seq when this client subscribed; Messages() continues after it
	E2E     *mesh.Roster  // the current roster of an end-to-end encrypted room; nil for a plain room
}

// Ack tells that a message the client sent is on disk: ID and Seq name it.
type Ack struct {
	Room mesh.RoomID
	ID   string
	Seq  uint64
}

// SayOption adjusts a Say.
type SayOption func(*mesh.Say)

// SayTo addresses the message to one participant. It is addressing, not
// privacy: every member of the room receives it.
func SayTo(id mesh.ParticipantID) SayOption {
	return func(s *mesh.Say) { s.To = id }
}
