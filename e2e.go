package mesh

import (
	"crypto/sha256"
	"encoding/base32"
	"time"
)

// End-to-end encrypted rooms (policy "e2e": true): the node stores and
// relays bodies it cannot open. Package e2e does the cryptography; these are
// the shapes on the wire. PROTOCOL.md, "End-to-end encrypted rooms", is the
// contract.

// E2E wire constants.
const (
	E2EVersion    = 1           // the "v" of every sealed body
	SealedKeys    = "keys"      // a sender's chain key, wrapped to each roster device
	SealedMsg     = "msg"       // one message under a sender's chain
	EventE2EEpoch = "e2e.epoch" // the node started a new epoch with a new roster

	MaxDevices       = 8   // devices per participant
	MaxRosterDevices = 256 // devices in one E2E room's roster
)

// Device is one client's public keys: Sign (Ed25519) and Box (X25519). Sig
// is the device's own signature binding Box to Sign (see e2e.SignDevice).
// In a roster, Participant names its owner and Sig and Created are omitted.
type Device struct {
	ID          string        `json:"id"`
	Participant ParticipantID `json:"participant,omitempty"`
	Sign        []byte        `json:"sign"`
	Box         []byte        `json:"box"`
	Sig         []byte        `json:"sig,omitempty"`
	Created     time.Time     `json:"created,omitzero"`
}

// Roster is an E2E room's epoch: the devices that may read what is sent in
// it. Room is the home address "room@node", the same on every node. Seq is
// the seq of the epoch event, when known.
type Roster struct {
	Epoch   uint64   `json:"epoch"`
	Room    RoomID   `json:"room"`
	Devices []Device `json:"devices"`
	Seq     uint64   `json:"seq,omitempty"`
}

// Sealed is the body of a message of kind "encrypted". Type "keys" carries
// Eph and Wraps; type "msg" carries Keys, N, Nonce and CT.
type Sealed struct {
	V      int    `json:"v"`
	Type   string `json:"type"`
	Epoch  uint64 `json:"epoch"`
	Device string `json:"device"`
	Eph    []byte `json:"eph,omitempty"`
	Wraps  []Wrap `json:"wraps,omitempty"`
	Keys   uint64 `json:"keys,omitempty"`
	N      uint64 `json:"n,omitempty"`
	Nonce  []byte `json:"nonce,omitempty"`
	CT     []byte `json:"ct,omitempty"`
	Sig    []byte `json:"sig"`
}

// SealedBody is the body a client posts with kind "encrypted" (say, or
// POST .../messages): the sealed body and nothing else.
type SealedBody struct {
	E2E *Sealed `json:"e2e"`
}

// Wrap is a chain key sealed to one device.
type Wrap struct {
	To    string `json:"to"`
	Nonce []byte `json:"nonce"`
	CT    []byte `json:"ct"`
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// DeviceID returns the id of the device whose Ed25519 public key is sign:
// "d" and the base32 of the first 10 bytes of its SHA-256.
func DeviceID(sign []byte) string {
	sum := sha256.Sum256(sign)
	return "d" + idEncoding.EncodeToString(sum[:10])
}

// ValidDeviceID reports whether s has the shape of a device id.
func ValidDeviceID(s string) bool { return validInstanceID(s, 'd') }
