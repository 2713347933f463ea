package mesh

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Bridge copies a room's new chat messages into another room, one way. It
// runs on the node that is the home of its source room (From); its target
// (To) is a room of the same node or a federated address room@node. Two
// bridges make a two-way link.
type Bridge struct {
	ID      string        `json:"id"`
	From    RoomID        `json:"from"`
	To      RoomID        `json:"to"`
	By      ParticipantID `json:"by"`
	Created time.Time     `json:"created"`
	State   string        `json:"state"`            // BridgeActive or BridgeSuspended
	Reason  string        `json:"reason,omitempty"` // why it is suspended: a sentence
	// Cursor is the last source seq the bridge dealt with: carried,
	// passed over (not chat, bridged already, or while suspended) or
	// refused by the target.
	Cursor uint64 `json:"cursor"`
}

// Bridge states.
const (
	BridgeActive    = "active"
	BridgeSuspended = "suspended"
)

// Bridged names the original of a message a bridge carried into a room: its
// room, id, seq, author and trust in that room. The room and the author's
// id are as the node storing the message names them (room@node and id@node
// for another node's). A message with Bridged set is never bridged again.
type Bridged struct {
	Room  RoomID `json:"room"`
	ID    string `json:"id"`
	Seq   uint64 `json:"seq"`
	From  Sender `json:"from"`
	Trust Trust  `json:"trust"`
}

// qualified returns b with its room and author written in full, as
// "room@node" and "id@node", viewer being the node whose naming b uses:
// the same on every node, for the provenance statement.
func (b *Bridged) qualified(viewer string) *Bridged {
	q := *b
	if !q.Room.Remote() {
		q.Room = RemoteRoom(q.Room, viewer)
	}
	node := q.From.Node
	if node == "" {
		node = viewer
	}
	q.From.ID = Qualify(q.From.ID, node)
	if _, n, ok := strings.Cut(string(q.From.ID), "@"); ok {
		q.From.Node = n
	}
	return &q
}

// bridgedID is what a message id and a bare participant id may be.
var bridgedID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate checks a Bridged that came from another node: the room an id or
// address room@node, the ids made of letters, digits, '_' and '-' (the
// author's with @node), a name of at most MaxNameBytes, known kind and trust.
func (b *Bridged) Validate() error {
	room := b.Room
	if r, _, ok := room.Split(); ok {
		room = r
	}
	author, node, remote := strings.Cut(string(b.From.ID), "@")
	switch {
	case !room.Valid():
		return Errorf(EInvalid, "bridged.room: %q is not a room id or address room@node.", b.Room)
	case !bridgedID.MatchString(b.ID):
		return Errorf(EInvalid, "bridged.id: %q is not a message id.", b.ID)
	case b.Seq == 0:
		return Errorf(EInvalid, "bridged.seq must be the original's seq, above 0.")
	case !bridgedID.MatchString(author) || remote && !ValidNodeID(node) || b.From.Node != "" && !ValidNodeID(b.From.Node):
		return Errorf(EInvalid, "bridged.from: %q is not a participant id (id or id@node) with its node.", b.From.ID)
	case len(b.From.Name) > MaxNameBytes || !b.From.Kind.Valid():
		return Errorf(EInvalid, "bridged.from must name the original's author: a name of at most %d bytes and a kind.", MaxNameBytes)
	case !b.Trust.Valid():
		return Errorf(EInvalid, "bridged.trust: unknown trust level %q.", b.Trust)
	}
	return nil
}

// BridgedMessageID is the id of the message bridge carries for the source
// message at seq: the same every time, so a repeat after a crash is known.
func BridgedMessageID(bridge string, seq uint64) string {
	return fmt.Sprintf("mb_%s_%d", strings.TrimPrefix(bridge, "br_"), seq)
}
