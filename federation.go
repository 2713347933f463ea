package mesh

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Federation: nodes meet through an Interchange relay. A federated room
// lives on its home node, which assigns its seqs; other nodes address it as
// "<roomId>@<nodeId>" and mirror what it sends them. A participant of
// another node is "<participantId>@<nodeId>" in the rooms of this one.

// RemoteRoom returns the address of room on node: "room@node".
func RemoteRoom(room RoomID, node string) RoomID { return RoomID(string(room) + "@" + node) }

// Split returns the room id and home node of a federated address
// "room@node"; ok is false for anything else (a local room id included).
func (id RoomID) Split() (room RoomID, node string, ok bool) {
	r, n, found := strings.Cut(string(id), "@")
	if !found || !RoomID(r).Valid() || !ValidNodeID(n) {
		return "", "", false
	}
	return RoomID(r), n, true
}

// Remote reports whether id is a well-formed federated address room@node.
func (id RoomID) Remote() bool {
	_, _, ok := id.Split()
	return ok
}

// ValidNodeID reports whether s is a node id: "n" and 16 letters a-z or
// digits 2-7 (the base32 of a hash of the node's public key).
func ValidNodeID(s string) bool { return validInstanceID(s, 'n') }

func validInstanceID(s string, prefix byte) bool {
	if len(s) != 17 || s[0] != prefix {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// RemoteParticipant returns how node names a participant of another node:
// "id@node".
func RemoteParticipant(id ParticipantID, node string) ParticipantID {
	return ParticipantID(string(id) + "@" + node)
}

// Qualify returns id as "id@node" unless it already names its node.
func Qualify(id ParticipantID, node string) ParticipantID {
	if id == "" || strings.Contains(string(id), "@") {
		return id
	}
	return RemoteParticipant(id, node)
}

// ViewParticipant converts a participant id as node writer names it into
// how node viewer names it: every node names its own participants bare and
// every other one id@node.
func ViewParticipant(id ParticipantID, writer, viewer string) ParticipantID {
	q := Qualify(id, writer)
	if s, ok := strings.CutSuffix(string(q), "@"+viewer); ok {
		return ParticipantID(s)
	}
	return q
}

// Kinds of FedBody, the messages nodes send each other.
const (
	FedJoin      = "join"      // a participant of the sender joins a room of the receiver
	FedLeave     = "leave"     // ... leaves it; from a room's home: the home ended the membership (Event kick or ban)
	FedSay       = "say"       // a chat message for a room of the receiver (Msg)
	FedCommand   = "command"   // a command for a room of the receiver (Msg)
	FedResult    = "result"    // a result for a room of the receiver (Msg)
	FedSubscribe = "subscribe" // send me the room's messages after After, then live
	FedRoster    = "roster"    // the room's members and head, answering join and subscribe
	FedMessage   = "message"   // a stored envelope of a room of the sender (Msg)
	FedPresence  = "presence"  // a member came or went (Participant, Event)
	FedRefused   = "refused"   // the receiver refused Ref (a message id or a join) with Code
	FedAccess    = "access"    // home to a member's node: which of its participants hold capability Event (Members)
	FedAck       = "ack"       // link: every frame up to Upto of queue Epoch is applied
	FedDevices   = "devices"   // member's node to a home: Participant's devices now (Devices) for E2E rooms
	FedMove      = "move"      // member's node to a home: its participants' moves in a room (Moves, ack = the move's seq); not queued
	FedWorld     = "world"     // home to a member's node: the avatars of a room that changed at Tick (Moves); not queued
	FedRequest   = "request"   // member's node to a home: Participant asks for Op in Room; Ref names the request
	FedReply     = "reply"     // home to a member's node: the answer to request Ref: Op, or Code and Message
)

// Operations of a request body (FedOp.Name). Writes travel queued, reads
// not (PROTOCOL.md, "Operations on remote rooms").
const (
	OpModerate   = "moderate"    // Action on Target
	OpSetPolicy  = "set-policy"  // Policy, the document; the reply has Room
	OpDataGet    = "data-get"    // Path; the reply's payload is the file, File its info
	OpDataList   = "data-list"   // Path, a prefix; the reply's payload is the JSON array of FileInfo
	OpDataPut    = "data-put"    // Path; the payload is the file; the reply has File
	OpDataDelete = "data-delete" // Path
)

// FedOp is an operation a member's node asks a room's home to run for one
// of its participants (in a request body), or its answer (in a reply). A
// payload (a file, a listing) travels in chunks, each in its own body:
// Size and SHA256 (hex) are of the whole payload, Offset and Data of the
// chunk.
type FedOp struct {
	Name   string          `json:"name"`
	Action string          `json:"action,omitempty"` // moderate
	Target ParticipantID   `json:"target,omitempty"` // moderate, as the sending node names it
	Path   string          `json:"path,omitempty"`   // data-*
	Policy json.RawMessage `json:"policy,omitempty"` // set-policy: the document, participants named as the home names them
	Room   *Room           `json:"room,omitempty"`   // set-policy's reply: the room after
	File   *FileInfo       `json:"file,omitempty"`   // data-get's and data-put's reply
	Size   int64           `json:"size,omitempty"`
	SHA256 string          `json:"sha256,omitempty"`
	Offset int64           `json:"offset,omitempty"`
	Data   []byte          `json:"data,omitempty"`
}

// Writes reports whether op changes the room (and so travels queued).
func (op *FedOp) Writes() bool {
	return op.Name != OpDataGet && op.Name != OpDataList
}

// Events of bodies that are not about a participant.
const (
	// FedBatches, as an ack's Event, says that the acknowledging node (and
	// its relay) takes batches: frames with bodies instead of body.
	FedBatches = "batches"
	// FedRecent, as a subscribe's Event (with After 0), asks for the recent
	// window (the last DefaultHistory messages) instead of the history.
	FedRecent = "recent"
)

// FedBody is one message between two nodes, carried by the Interchange
// inside a frame that the sending node signs. Fields are left out when
// empty; which ones a kind uses is in PROTOCOL.md ("Federation").
type FedBody struct {
	Kind        string       `json:"kind"`
	Room        RoomID       `json:"room,omitempty"` // always an address: room@home
	Participant *Participant `json:"participant,omitempty"`
	Msg         *Message     `json:"msg,omitempty"`
	After       uint64       `json:"after,omitempty"`
	Head        uint64       `json:"head,omitempty"`
	Members     []Member     `json:"members,omitempty"`
	Event       string       `json:"event,omitempty"`
	Ref         string       `json:"ref,omitempty"`
	Code        string       `json:"code,omitempty"`
	Message     string       `json:"message,omitempty"`
	Upto        uint64       `json:"upto,omitempty"`
	Epoch       string       `json:"epoch,omitempty"`
	// Devices are a participant's E2E devices, each with its signature
	// (join and devices bodies; PROTOCOL.md, "Devices across nodes").
	Devices []Device `json:"devices,omitempty"`
	// Policy is an E2E room's policy, in the roster body: its members'
	// SDKs apply its scan and execute.from after decrypting.
	Policy *Policy `json:"policy,omitempty"`
	// Tick and Moves are a room's world (move and world bodies, PROTOCOL.md
	// "The world across nodes"): avatars, ids as the sender names them.
	Tick  uint64        `json:"tick,omitempty"`
	Moves []AvatarState `json:"moves,omitempty"`
	// Op is the operation of a request body, or its answer in a reply.
	Op *FedOp `json:"op,omitempty"`
}

// MarshalJSON writes b as its fields say, but that the envelope of a post
// (say, command, result) leaves out seq and trust, which the room's home
// assigns: a post has neither until the home stores it.
func (b FedBody) MarshalJSON() ([]byte, error) {
	type plain FedBody
	if b.Msg == nil || (b.Kind != FedSay && b.Kind != FedCommand && b.Kind != FedResult) {
		return json.Marshal(plain(b))
	}
	m := b.Msg
	b.Msg = nil
	return json.Marshal(struct {
		plain
		Msg *postEnvelope `json:"msg"`
	}{plain(b), &postEnvelope{ID: m.ID, Room: m.Room, Kind: m.Kind, From: m.From, TS: m.TS, Body: m.Body, To: m.To,
		Ref: m.Ref, Flags: m.Flags, Provenance: m.Provenance, Bridged: m.Bridged}})
}

// postEnvelope is a Message as a post carries it: without seq and trust.
type postEnvelope struct {
	ID         string        `json:"id"`
	Room       RoomID        `json:"room"`
	Kind       MessageKind   `json:"kind"`
	From       Sender        `json:"from"`
	TS         time.Time     `json:"ts"`
	Body       Body          `json:"body"`
	To         ParticipantID `json:"to,omitempty"`
	Ref        string        `json:"ref,omitempty"`
	Flags      []string      `json:"flags,omitempty"`
	Provenance []Provenance  `json:"provenance,omitempty"`
	Bridged    *Bridged      `json:"bridged,omitempty"`
}

// ProvenanceStatement returns the bytes a provenance entry's signature
// covers: the canonical JSON (RFC 8785) of m without seq, trust, flags and
// provenance, with room set to address (room@home), ts to the entry's ts,
// and participant ids written in full (from.id as id@from.node, to as
// id@node, viewer being the node whose naming m uses), bridged's room
// and author too. Every node that
// handles the envelope can rebuild it, whatever it changed in the fields
// left out and however it names participants.
func ProvenanceStatement(m *Message, address RoomID, p Provenance, viewer string) ([]byte, error) {
	from := m.From
	from.ID = Qualify(from.ID, from.Node)
	st := statement{ID: m.ID, Room: address, Kind: m.Kind, From: from, TS: p.TS, Body: m.Body, To: Qualify(m.To, viewer), Ref: m.Ref}
	if m.Bridged != nil {
		st.Bridged = m.Bridged.qualified(viewer)
		return st.canonicalSlow()
	}
	if b, ok := st.canonical(); ok {
		return b, nil
	}
	return st.canonicalSlow()
}

// canonicalSlow is the statement's canonical JSON the long way: encoded,
// decoded into plain values, written canonically.
func (st *statement) canonicalSlow() ([]byte, error) {
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	return Canonical(raw)
}

// plainBody reports whether every field of b but Text, Command, OK and
// Output is zero (whatever fields Body gains).
func plainBody(b *Body) bool {
	v := reflect.ValueOf(b).Elem()
	for i := range v.NumField() {
		switch v.Type().Field(i).Name {
		case "Text", "Command", "OK", "Output":
		default:
			if !v.Field(i).IsZero() {
				return false
			}
		}
	}
	return true
}

// canonical writes the canonical JSON of a statement whose body holds
// only text, a command name, an ok and an output (every chat message):
// the members in sorted order, strings escaped as Canonical escapes them.
// It reports false for any other statement (canonicalSlow writes it), so
// both always agree (TestProvenanceStatementFast).
func (st *statement) canonical() ([]byte, bool) {
	if y := st.TS.Year(); y < 0 || y > 9999 || !plainBody(&st.Body) {
		return nil, false
	}
	var b strings.Builder
	b.Grow(256 + len(st.Body.Text) + len(st.Body.Output))
	member := func(first bool, key string) {
		if !first {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(key)
		b.WriteString(`":`)
	}
	// Keys in order: body, from, id, kind, ref, room, to, ts; in body:
	// command, ok, output, text; in from: id, kind, name, node.
	b.WriteString(`{"body":{`)
	first := true
	if st.Body.Command != "" {
		member(first, "command")
		writeJSONString(&b, st.Body.Command)
		first = false
	}
	if st.Body.OK != nil {
		member(first, "ok")
		b.WriteString(strconv.FormatBool(*st.Body.OK))
		first = false
	}
	if st.Body.Output != "" {
		member(first, "output")
		writeJSONString(&b, st.Body.Output)
		first = false
	}
	if st.Body.Text != "" {
		member(first, "text")
		writeJSONString(&b, st.Body.Text)
	}
	b.WriteString(`},"from":{"id":`)
	writeJSONString(&b, string(st.From.ID))
	b.WriteString(`,"kind":`)
	writeJSONString(&b, string(st.From.Kind))
	b.WriteString(`,"name":`)
	writeJSONString(&b, st.From.Name)
	b.WriteString(`,"node":`)
	writeJSONString(&b, st.From.Node)
	b.WriteString(`},"id":`)
	writeJSONString(&b, st.ID)
	b.WriteString(`,"kind":`)
	writeJSONString(&b, string(st.Kind))
	if st.Ref != "" {
		b.WriteString(`,"ref":`)
		writeJSONString(&b, st.Ref)
	}
	b.WriteString(`,"room":`)
	writeJSONString(&b, string(st.Room))
	if st.To != "" {
		b.WriteString(`,"to":`)
		writeJSONString(&b, string(st.To))
	}
	b.WriteString(`,"ts":"`)
	b.WriteString(st.TS.Format(time.RFC3339Nano))
	b.WriteString(`"}`)
	return []byte(b.String()), true
}

// statement is Message without the fields a provenance signature leaves out.
type statement struct {
	ID   string        `json:"id"`
	Room RoomID        `json:"room"`
	Kind MessageKind   `json:"kind"`
	From Sender        `json:"from"`
	TS   time.Time     `json:"ts"`
	Body Body          `json:"body"`
	To   ParticipantID `json:"to,omitempty"`
	Ref  string        `json:"ref,omitempty"`
	// Bridged, with room and author written in full, so the original a
	// bridged message names is signed too.
	Bridged *Bridged `json:"bridged,omitempty"`
}

// Canonical renders a JSON value as RFC 8785 (JCS) does: no whitespace,
// object keys sorted by UTF-16 code units, numbers as ECMAScript writes
// them. It fails on text that is not one JSON value.
func Canonical(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var b strings.Builder
	writeCanonical(&b, v)
	return []byte(b.String()), nil
}
