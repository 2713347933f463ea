package mesh

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Frame types a client sends.
const (
	FrameHello    = "hello"
	FrameJoin     = "join"
	FrameLeave    = "leave"
	FrameSay      = "say"
	FramePing     = "ping"
	FrameCommand  = "command"
	FrameResult   = "result"
	FrameModerate = "moderate"
)

// Frame types a node sends.
const (
	FrameWelcome  = "welcome"
	FrameJoined   = "joined"
	FrameLeft     = "left"
	FrameMessage  = "message"
	FrameAck      = "ack"
	FramePresence = "presence"
	FrameError    = "error"
	FramePong     = "pong"
)

// Hello is the first frame on a WebSocket: it authenticates the connection
// and may resume rooms from the last seq the client saw in each.
type Hello struct {
	Type   string            `json:"type"`
	Token  string            `json:"token"`
	Resume map[RoomID]uint64 `json:"resume,omitempty"`
}

// Join subscribes the connection to a room and makes its participant a member.
type Join struct {
	Type string `json:"type"`
	Room RoomID `json:"room"`
	Ref  string `json:"ref,omitempty"`
}

// Leave unsubscribes the connection and ends the participant's membership.
type Leave struct {
	Type string `json:"type"`
	Room RoomID `json:"room"`
	Ref  string `json:"ref,omitempty"`
}

// Say posts a message to a joined room: a chat line (Kind "" or "chat",
// with Text), or, in an end-to-end encrypted room, a sealed body (Kind
// "encrypted", with Body and no Text).
type Say struct {
	Type string        `json:"type"`
	Room RoomID        `json:"room"`
	Kind MessageKind   `json:"kind,omitempty"`
	Text string        `json:"text,omitempty"`
	Body *SealedBody   `json:"body,omitempty"`
	To   ParticipantID `json:"to,omitempty"`
	Ref  string        `json:"ref,omitempty"`
}

// Command asks a target participant holding execute to run a named command.
type Command struct {
	Type   string          `json:"type"`
	Room   RoomID          `json:"room"`
	Target ParticipantID   `json:"target"`
	Name   string          `json:"name"`
	Args   json.RawMessage `json:"args,omitempty"`
	Ref    string          `json:"ref,omitempty"`
}

// Result answers a command; Ref is the command message's id.
type Result struct {
	Type   string `json:"type"`
	Room   RoomID `json:"room"`
	Ref    string `json:"ref"`
	OK     bool   `json:"ok"`
	Output string `json:"output"`
}

// Moderation actions.
const (
	ModMute   = "mute"
	ModUnmute = "unmute"
	ModKick   = "kick"
	ModBan    = "ban"
	ModUnban  = "unban"
)

// Moderate mutes, unmutes, kicks, bans or unbans a participant in a room;
// it needs the moderate capability.
type Moderate struct {
	Type   string        `json:"type"`
	Room   RoomID        `json:"room"`
	Action string        `json:"action"`
	Target ParticipantID `json:"target"`
	Ref    string        `json:"ref,omitempty"`
}

// Ping asks for a pong.
type Ping struct {
	Type string `json:"type"`
	Ref  string `json:"ref,omitempty"`
}

// Welcome answers hello.
type Welcome struct {
	Type   string      `json:"type"`
	You    Participant `json:"you"`
	Node   NodeInfo    `json:"node"`
	Limits WireLimits  `json:"limits"`
}

// NodeInfo is the public identity of a node.
type NodeInfo struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	PublicKey string `json:"publicKey"`
	Version   string `json:"version,omitempty"`
}

// WireLimits tells a client the limits it will be held to.
type WireLimits struct {
	MaxFrameBytes int     `json:"maxFrameBytes"`
	MaxTextBytes  int     `json:"maxTextBytes"`
	Rate          float64 `json:"rate"`
	Burst         int     `json:"burst"`
}

// Joined answers join (and each room of hello.resume). History holds the
// latest messages for a join; for a resume it is empty and the missed
// messages follow as message frames.
type Joined struct {
	Type    string            `json:"type"`
	Room    RoomID            `json:"room"`
	Ref     string            `json:"ref,omitempty"`
	Members []Member          `json:"members"`
	State   *WorldState       `json:"state,omitempty"`
	History []json.RawMessage `json:"history"`
	Head    uint64            `json:"head"`
	E2E     *Roster           `json:"e2e,omitempty"` // the current roster of an end-to-end encrypted room
}

// Left answers leave.
type Left struct {
	Type string `json:"type"`
	Room RoomID `json:"room"`
	Ref  string `json:"ref,omitempty"`
}

// Ack tells the sending connection its message is on disk (ID and Seq
// name it), or that a frame that stores no message, such as moderate, was
// carried out.
type Ack struct {
	Type string `json:"type"`
	Ref  string `json:"ref,omitempty"`
	ID   string `json:"id,omitempty"`
	Seq  uint64 `json:"seq,omitempty"`
}

// Presence events.
const (
	PresenceJoin   = "join"
	PresenceLeave  = "leave"
	PresenceUpdate = "update"
)

// PresenceFrame tells members that someone came, went or changed.
type PresenceFrame struct {
	Type        string      `json:"type"`
	Room        RoomID      `json:"room"`
	Event       string      `json:"event"`
	Participant Participant `json:"participant"`
}

// ErrorFrame refuses a client frame. Ref echoes the frame's ref when it had one.
type ErrorFrame struct {
	Type    string `json:"type"`
	Ref     string `json:"ref,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Pong answers ping.
type Pong struct {
	Type string `json:"type"`
	Ref  string `json:"ref,omitempty"`
}

// DecodeClientFrame parses one client frame strictly: valid UTF-8, a JSON
// object with a known type, known fields only, right types, required fields
// present. It returns one of *Hello, *Join, *Leave, *Say, *Ping, and the
// frame's ref (best effort, also on error). It also returns *Command,
// *Result, *Moderate, *Move, *InboxRead and *InboxAck. Errors are *Error
// with EInvalid.
func DecodeClientFrame(data []byte) (frame any, ref string, err error) {
	if !utf8.Valid(data) {
		return nil, "", Errorf(EInvalid, "Frame is not valid UTF-8.")
	}
	var head struct {
		Type *string `json:"type"`
		Ref  any     `json:"ref"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, "", invalidJSON(err)
	}
	if r, ok := head.Ref.(string); ok && len(r) <= MaxRefBytes {
		ref = r
	} else if ok {
		return nil, "", Errorf(EInvalid, "ref is %d bytes; the limit is %d.", len(r), MaxRefBytes)
	}
	if head.Type == nil {
		return nil, ref, Errorf(EInvalid, `Frame has no "type" field.`)
	}
	switch *head.Type {
	case FrameHello:
		f := new(Hello)
		err = decodeStrict(data, f)
		if err == nil && f.Token == "" {
			err = Errorf(EInvalid, `hello needs a "token".`)
		}
		for room := range f.Resume {
			if err == nil && !room.Valid() && !room.Remote() {
				err = Errorf(EInvalid, "hello.resume names an invalid room id %q.", room)
			}
		}
		frame = f
	case FrameJoin:
		f := new(Join)
		err = decodeStrict(data, f)
		if err == nil {
			err = needRoomOrAddress("join", f.Room)
		}
		frame = f
	case FrameLeave:
		f := new(Leave)
		err = decodeStrict(data, f)
		if err == nil {
			err = needRoomOrAddress("leave", f.Room)
		}
		frame = f
	case FrameSay:
		f := new(Say)
		err = decodeStrict(data, f)
		if err == nil {
			err = needRoomOrAddress("say", f.Room)
		}
		if err == nil {
			err = checkSayKind(f.Kind, f.Text, f.Body)
		}
		frame = f
	case FramePing:
		f := new(Ping)
		err = decodeStrict(data, f)
		frame = f
	case FrameCommand:
		f := new(Command)
		err = decodeStrict(data, f)
		if err == nil {
			err = needRoomOrAddress("command", f.Room)
		}
		if err == nil && f.Target == "" {
			err = Errorf(EInvalid, `command needs a "target".`)
		}
		if err == nil && (f.Name == "" || len(f.Name) > MaxCommandNameBytes) {
			err = Errorf(EInvalid, `command needs a "name" of 1 to %d bytes.`, MaxCommandNameBytes)
		}
		frame = f
	case FrameResult:
		f := new(Result)
		err = decodeStrict(data, f)
		if err == nil {
			err = needRoomOrAddress("result", f.Room)
		}
		if err == nil && f.Ref == "" {
			err = Errorf(EInvalid, `result needs "ref": the id of the command it answers.`)
		}
		frame = f
	case FrameMove:
		f := new(Move)
		err = decodeStrict(data, f)
		if err == nil {
			err = validMove(f)
		}
		frame = f
	case FrameModerate:
		f := new(Moderate)
		err = decodeStrict(data, f)
		if err == nil {
			err = needRoomOrAddress("moderate", f.Room)
		}
		if err == nil && f.Target == "" {
			err = Errorf(EInvalid, `moderate needs a "target".`)
		}
		if err == nil {
			err = ValidModeration(f.Action)
		}
		frame = f
	case FrameInbox, FrameInboxAck:
		frame, err = decodeInbox(*head.Type, data)
	default:
		return nil, ref, Errorf(EInvalid, "Unknown frame type %q.", *head.Type)
	}
	if err != nil {
		return nil, ref, err
	}
	return frame, ref, nil
}

// checkSayKind checks what a say (or a REST post) carries for its kind: a
// chat line has a non-empty text and no body; an encrypted message has a
// body holding only e2e and no text.
func checkSayKind(kind MessageKind, text string, body *SealedBody) error {
	switch kind {
	case "", MessageChat:
		if body != nil {
			return Errorf(EInvalid, `say of kind "chat" carries "text", not "body" (only kind "encrypted" has a body).`)
		}
		if text == "" {
			return Errorf(EInvalid, `say needs a non-empty "text".`)
		}
	case MessageEncrypted:
		if text != "" {
			return Errorf(EInvalid, `say of kind "encrypted" carries "body", not "text": the text is inside the ciphertext.`)
		}
		if body == nil || body.E2E == nil {
			return Errorf(EInvalid, `say of kind "encrypted" needs "body": {"e2e": {...}}.`)
		}
	default:
		return Errorf(EInvalid, `say kind must be "chat" or "encrypted", got %q (commands and results have frames of their own).`, kind)
	}
	return nil
}

// CheckPostKind is checkSayKind for the REST post, which has the same
// fields as say.
func CheckPostKind(kind MessageKind, text string, body *SealedBody) error {
	return checkSayKind(kind, text, body)
}

func needRoom(frame string, room RoomID) error {
	if room == "" {
		return Errorf(EInvalid, `%s needs a "room".`, frame)
	}
	if !room.Valid() {
		return Errorf(EInvalid, "%s names an invalid room id %q: lowercase letters, digits and dashes, up to 64.", frame, room)
	}
	return nil
}

// needRoomOrAddress is needRoom that also takes a federated address
// room@node.
func needRoomOrAddress(frame string, room RoomID) error {
	if room.Remote() {
		return nil
	}
	return needRoom(frame, room)
}

// ValidModeration checks a moderation action.
func ValidModeration(action string) error {
	switch action {
	case ModMute, ModUnmute, ModKick, ModBan, ModUnban:
		return nil
	}
	return Errorf(EInvalid, `action must be mute, unmute, kick, ban or unban; got %q.`, action)
}

// MaxRefBytes bounds a client's correlation ref.
const MaxRefBytes = 128

func invalidJSON(err error) *Error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return Errorf(EInvalid, "Expected a JSON object, got %s.", typeErr.Value)
		}
		return Errorf(EInvalid, "Field %q must be %s, got %s.", field, jsonKind(typeErr.Type), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return Errorf(EInvalid, "Malformed JSON at byte %d: %v.", syntaxErr.Offset, syntaxErr)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(EInvalid, "Malformed JSON: unexpected end of input.")
	}
	// checkKeys has refused unknown fields already; what is left has no
	// typed error, so its text is passed on.
	return Errorf(EInvalid, "Invalid JSON: %s.", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Bool:
		return "a boolean"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	}
	return "a number"
}
