package mesh

import (
	"regexp"
	"strings"
	"time"
)

// RoomID names a room on its home node: lowercase letters, digits and
// dashes, 1 to 64 characters. It is made from the room's name at creation.
type RoomID string

// Lobby is the room every node has from its first start.
const Lobby RoomID = "lobby"

var roomIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// Valid reports whether id is a well-formed room id.
func (id RoomID) Valid() bool { return roomIDPattern.MatchString(string(id)) }

// RoomIDFromName makes a room id from a display name: lowercased, runs of
// anything but letters and digits turned into one dash, cut to 64
// characters. It returns "" when nothing usable is left.
func RoomIDFromName(name string) RoomID {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		default:
			dash = true
		}
		if b.Len() >= 64 {
			break
		}
	}
	s := b.String()
	if len(s) > 64 {
		s = strings.TrimRight(s[:64], "-")
	}
	return RoomID(s)
}

// Room is a place where participants meet. Its creator owns it.
type Room struct {
	ID       RoomID        `json:"id"`
	Name     string        `json:"name"`
	Topic    string        `json:"topic,omitempty"`
	Creator  ParticipantID `json:"creator"`
	Policy   Policy        `json:"policy"`
	Created  time.Time     `json:"created"`
	Revision uint64        `json:"revision"`
}

// FileInfo describes one of a room's shared files.
type FileInfo struct {
	Path     string    `json:"path"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	SHA256   string    `json:"sha256"` // hex, for change detection and ETags
}

// Member is a participant's membership of a room, as listed by the members
// endpoint and the joined frame.
type Member struct {
	Participant
	Online bool `json:"online"`
}

// Limits for names and topics, in bytes.
const (
	MaxNameBytes  = 64
	MaxTopicBytes = 512
)
