package e2e

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"

	"github.com/the-mesh/mesh"
)

// Identity is a device's private keys. It never leaves the client.
type Identity struct {
	Sign ed25519.PrivateKey
	Box  *ecdh.PrivateKey
}

// NewIdentity makes a device's keys from rnd (crypto/rand.Reader when
// nil): 32 bytes of Ed25519 seed, then 32 bytes of X25519 private key.
func NewIdentity(rnd io.Reader) (*Identity, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(randOrDefault(rnd), seed); err != nil {
		return nil, fmt.Errorf("e2e: signing key: %w", err)
	}
	box, err := newBoxKey(randOrDefault(rnd))
	if err != nil {
		return nil, fmt.Errorf("e2e: box key: %w", err)
	}
	return &Identity{Sign: ed25519.NewKeyFromSeed(seed), Box: box}, nil
}

// ID returns the device id of id's signing key.
func (id *Identity) ID() string { return mesh.DeviceID(id.Sign.Public().(ed25519.PublicKey)) }

// Device returns id's public half, signed, as it is registered with a node.
func (id *Identity) Device() mesh.Device {
	pub := id.Sign.Public().(ed25519.PublicKey)
	box := id.Box.PublicKey().Bytes()
	return mesh.Device{
		ID:   mesh.DeviceID(pub),
		Sign: pub,
		Box:  box,
		Sig:  ed25519.Sign(id.Sign, deviceInput(box)),
	}
}

func deviceInput(box []byte) []byte { return enc(nil).lp(labelDevice).lpb(box) }

// VerifyDevice checks a device's key sizes, that its id is its signing
// key's, and its self-signature. The error names the faulty field.
func VerifyDevice(d mesh.Device) error {
	switch {
	case len(d.Sign) != ed25519.PublicKeySize:
		return fieldErr("sign", "must be a %d-byte Ed25519 public key, got %d bytes", ed25519.PublicKeySize, len(d.Sign))
	case len(d.Box) != 32:
		return fieldErr("box", "must be a 32-byte X25519 public key, got %d bytes", len(d.Box))
	case len(d.Sig) != ed25519.SignatureSize:
		return fieldErr("sig", "must be a %d-byte Ed25519 signature, got %d bytes", ed25519.SignatureSize, len(d.Sig))
	case d.ID != "" && d.ID != mesh.DeviceID(d.Sign):
		return fieldErr("id", "%q is not the id of this signing key (%s)", d.ID, mesh.DeviceID(d.Sign))
	case !ed25519.Verify(d.Sign, deviceInput(d.Box), d.Sig):
		return fieldErr("sig", "does not verify: it must sign the box key with the device's signing key")
	}
	if _, err := ecdh.X25519().NewPublicKey(d.Box); err != nil {
		return fieldErr("box", "is not an X25519 public key")
	}
	return nil
}

// Reasons a message cannot be opened; Reason maps an error to its word.
var (
	ErrNoKey        = errors.New("e2e: no key for this device")
	ErrBadSignature = errors.New("e2e: bad signature")
	ErrNotMember    = errors.New("e2e: sender device not in the roster")
	ErrCorrupt      = errors.New("e2e: corrupt ciphertext")
)

// Reason returns the wire word for an opening error: no_key,
// bad_signature, not_member or corrupt.
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrNoKey):
		return "no_key"
	case errors.Is(err, ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, ErrNotMember):
		return "not_member"
	}
	return "corrupt"
}

func fieldErr(field, format string, args ...any) error {
	return mesh.Errorf(mesh.EInvalid, "%s %s.", field, fmt.Sprintf(format, args...))
}
