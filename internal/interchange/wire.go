package interchange

import (
	"encoding/json"

	"github.com/the-mesh/mesh"
)

// Path is where a relay serves instances.
const Path = "/interchange/v1"

// Version is the protocol version in the challenge.
const Version = 1

// Frame types.
const (
	TypeChallenge   = "challenge"
	TypeHello       = "hello"
	TypeWelcome     = "welcome"
	TypeAnnounce    = "announce"
	TypeSend        = "send"
	TypeDeliver     = "deliver"
	TypeForward     = "forward"
	TypeDirectory   = "directory"
	TypeRoutes      = "routes"
	TypeUnreachable = "unreachable"
	TypeError       = "error"
)

// Instance kinds and link authentication.
const (
	KindNode  = "node"
	KindRelay = "relay"

	AuthSecret = "secret" // the instance gave its registered secret's proof
	AuthOpen   = "open"   // an open relay let an unregistered instance in
)

// Challenge is the relay's first frame.
type Challenge struct {
	Type    string `json:"type"`
	Relay   string `json:"relay"`
	Nonce   string `json:"nonce"`
	Version int    `json:"version"`
}

// Hello answers the challenge.
type Hello struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Key  string `json:"key"`           // base64 Ed25519 public key
	Sig  string `json:"sig"`           // base64 signature of the proof
	MAC  string `json:"mac,omitempty"` // hex HMAC-SHA256 of the proof, keyed with SHA-256(secret)
	Name string `json:"name,omitempty"`
	// Nonce challenges the relay in turn (32 random bytes, base64): the
	// welcome then proves the relay's identity. Bridges send it.
	Nonce string `json:"nonce,omitempty"`
}

// Welcome accepts a hello.
type Welcome struct {
	Type   string `json:"type"`
	Relay  string `json:"relay"`
	Auth   string `json:"auth"`
	Limits Limits `json:"limits"`
	// Key and Sig answer a hello's nonce: the relay's base64 Ed25519
	// public key (Relay derives from it) and its signature of the
	// welcome proof (see welcomeProof).
	Key string `json:"key,omitempty"`
	Sig string `json:"sig,omitempty"`
}

// Limits tells an instance what the relay holds it to.
type Limits struct {
	MaxFrameBytes int     `json:"maxFrameBytes"`
	Rate          float64 `json:"rate"` // frames per second; 0 = off
	Burst         int     `json:"burst"`
	// MaxBatch is how many bodies a send may carry in bodies; relays that
	// know no batches leave it out (0: send body only).
	MaxBatch int `json:"maxBatch,omitempty"`
}

// RoomInfo is a federated room in the directory.
type RoomInfo struct {
	ID    mesh.RoomID `json:"id"`
	Name  string      `json:"name"`
	Topic string      `json:"topic,omitempty"`
}

// Announce tells the relay a node's name and federated rooms; each
// replaces the last.
type Announce struct {
	Type  string     `json:"type"`
	Name  string     `json:"name,omitempty"`
	Rooms []RoomInfo `json:"rooms"`
}

// NodeEntry is one node in a directory or a routes frame. Hops is 0 for a
// node connected to the relay that wrote it.
type NodeEntry struct {
	ID    string     `json:"id"`
	Name  string     `json:"name,omitempty"`
	Auth  string     `json:"auth"`
	Key   string     `json:"key"`
	Hops  int        `json:"hops"`
	Rooms []RoomInfo `json:"rooms"`
}

// Directory lists the nodes reachable through a relay.
type Directory struct {
	Type  string      `json:"type"`
	Relay string      `json:"relay"`
	Nodes []NodeEntry `json:"nodes"`
}

// Routes is a directory sent to a bridged relay.
type Routes struct {
	Type  string      `json:"type"`
	Nodes []NodeEntry `json:"nodes"`
}

// Send is a frame from a node to another node. The relay passes it on as
// Deliver, with From and Auth set from the link. It carries one body
// (Body) or a batch of them (Bodies, a JSON array of bodies: the first at
// position N, the next at N+1, and so on). N, Base and Epoch are the
// sending node's queue positions (see package federation); Sig is the
// sender's Ed25519 signature of SignedBytes(from, to, Body), or of
// SignedBytes(from, to, Bodies): one signature covers the whole batch.
type Send struct {
	Type   string          `json:"type"`
	To     string          `json:"to"`
	ID     string          `json:"id"`
	N      uint64          `json:"n,omitempty"`
	Base   uint64          `json:"base,omitempty"`
	Epoch  string          `json:"epoch,omitempty"`
	Key    string          `json:"key"`
	Sig    string          `json:"sig"`
	Body   json.RawMessage `json:"body,omitempty"`
	Bodies json.RawMessage `json:"bodies,omitempty"`
}

// Deliver is a Send as the destination node receives it.
type Deliver struct {
	Type   string          `json:"type"`
	From   string          `json:"from"`
	Auth   string          `json:"auth"`
	To     string          `json:"to"`
	ID     string          `json:"id"`
	N      uint64          `json:"n,omitempty"`
	Base   uint64          `json:"base,omitempty"`
	Epoch  string          `json:"epoch,omitempty"`
	Key    string          `json:"key"`
	Sig    string          `json:"sig"`
	Body   json.RawMessage `json:"body,omitempty"`
	Bodies json.RawMessage `json:"bodies,omitempty"`
}

// Unreachable tells a sender that the relay has no route to To.
type Unreachable struct {
	Type string `json:"type"`
	To   string `json:"to"`
	ID   string `json:"id,omitempty"`
}

// ErrorFrame refuses a frame (ID names it when it could be read) or tells
// why the relay is about to close the link.
type ErrorFrame struct {
	Type    string `json:"type"`
	ID      string `json:"id,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// SignedBytes returns what a Send's signature covers: a domain string, the
// sending and receiving node ids and the exact bytes of its body (a JSON
// object) or of its bodies (a JSON array), which cannot be taken for each
// other.
func SignedBytes(from, to string, body []byte) []byte {
	return AppendSignedBytes(make([]byte, 0, len(signDomain)+len(from)+len(to)+2+len(body)), from, to, body)
}

// AppendSignedBytes appends SignedBytes(from, to, body) to b.
func AppendSignedBytes(b []byte, from, to string, body []byte) []byte {
	b = append(b, signDomain...)
	b = append(b, from...)
	b = append(b, 0)
	b = append(b, to...)
	b = append(b, 0)
	return append(b, body...)
}

const signDomain = "mesh-federation-v1\x00"

// The whitelists: the only members a routed frame may have. They are the
// JSON names of Send, mesh.FedBody and mesh.Message (checked by a test).
var (
	sendFields = []string{"to", "id", "n", "base", "epoch", "key", "sig", "body", "bodies"}
	bodyFields = []string{"kind", "room", "participant", "msg", "after", "head", "members", "event", "ref",
		"code", "message", "upto", "epoch", "devices", "policy", "tick", "moves", "op"}
	msgFields = []string{"id", "room", "seq", "kind", "from", "trust", "ts", "body", "to", "ref", "flags", "provenance", "bridged"}
)

// Defaults.
const (
	DefaultMaxFrameBytes = 128 << 10
	DefaultRate          = 10000 // frames per second per instance
	DefaultBurst         = 20000
	MaxHops              = 8
	maxRooms             = 1000 // rooms one node may announce
	maxIDBytes           = 64   // a frame id
	MaxBatch             = 1024 // bodies in one frame
)
