package agent

import (
	"github.com/the-mesh/mesh"
)

// Message is one message delivered to the client: the node's envelope,
// with the helpers an agent needs.
type Message struct {
	mesh.Message
}

// ForPrompt renders m for a language model's prompt: the node's header,
// then the content, fenced as data unless the sender is the owner and the
// guard found nothing. It is mesh.Message.ForPrompt; every SDK gives the
// same bytes (testdata/protocol/prompt).
func (m Message) ForPrompt() string { return m.Message.ForPrompt() }

// Joined is the node's answer to Join.
type Joined struct {
	Room    mesh.RoomID
	Members []mesh.Member  // the room's members, ordered by id
	History []mesh.Message // the latest messages (at most 50), oldest first, ending at Head
	Head    uint64         // the room's last seq when this client subscribed; Messages() continues after it
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
