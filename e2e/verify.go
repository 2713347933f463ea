package e2e

import (
	"crypto/ed25519"
	"fmt"

	"github.com/the-mesh/mesh"
	"golang.org/x/crypto/chacha20poly1305"
)

// CheckShape checks what a node can check of a sealed body without keys:
// version, type, field sizes. maxPlain bounds a message's plaintext in
// bytes (its ciphertext is 16 bytes longer). The error is EInvalid or
// ETooLarge and names the field as body.e2e.<field>.
func CheckShape(s *mesh.Sealed, maxPlain int) error {
	bad := func(field, format string, args ...any) error {
		return mesh.Errorf(mesh.EInvalid, "body.e2e.%s %s.", field, fmt.Sprintf(format, args...))
	}
	size := func(field string, b []byte, n int) error {
		if len(b) != n {
			return bad(field, "must be %d bytes, got %d", n, len(b))
		}
		return nil
	}
	switch {
	case s.V != mesh.E2EVersion:
		return bad("v", "must be %d, got %d", mesh.E2EVersion, s.V)
	case s.Epoch == 0:
		return bad("epoch", "is missing")
	case !mesh.ValidDeviceID(s.Device):
		return bad("device", "%q is not a device id", s.Device)
	}
	if err := size("sig", s.Sig, ed25519.SignatureSize); err != nil {
		return err
	}
	switch s.Type {
	case mesh.SealedKeys:
		if s.Keys != 0 || s.N != 0 || s.Nonce != nil || s.CT != nil {
			return bad("type", `"keys" carries eph and wraps only, not keys, n, nonce or ct`)
		}
		if err := size("eph", s.Eph, 32); err != nil {
			return err
		}
		if len(s.Wraps) == 0 || len(s.Wraps) > mesh.MaxRosterDevices {
			return bad("wraps", "must hold 1 to %d wraps, got %d", mesh.MaxRosterDevices, len(s.Wraps))
		}
		for i, w := range s.Wraps {
			f := fmt.Sprintf("wraps[%d].", i)
			if !mesh.ValidDeviceID(w.To) {
				return bad(f+"to", "%q is not a device id", w.To)
			}
			if err := size(f+"nonce", w.Nonce, chacha20poly1305.NonceSizeX); err != nil {
				return err
			}
			if err := size(f+"ct", w.CT, ChainKeySize+chacha20poly1305.Overhead); err != nil {
				return err
			}
		}
	case mesh.SealedMsg:
		if s.Eph != nil || s.Wraps != nil {
			return bad("type", `"msg" carries keys, n, nonce and ct, not eph or wraps`)
		}
		switch {
		case s.Keys == 0:
			return bad("keys", "must be the seq of the sender's keys entry")
		case s.N == 0:
			return bad("n", "must count from 1")
		}
		if err := size("nonce", s.Nonce, chacha20poly1305.NonceSizeX); err != nil {
			return err
		}
		if len(s.CT) < chacha20poly1305.Overhead {
			return bad("ct", "is shorter than its %d-byte tag", chacha20poly1305.Overhead)
		}
		if n := len(s.CT) - chacha20poly1305.Overhead; n > maxPlain {
			return mesh.Errorf(mesh.ETooLarge, "body.e2e.ct holds %d bytes of plaintext; the limit is %d.", n, maxPlain)
		}
	default:
		return bad("type", `must be "keys" or "msg", got %q`, s.Type)
	}
	return nil
}

// Verify checks a sealed body's signature with the sending device's key.
// env.Room is the room's home address; env.To and env.Ref are ignored for
// keys bodies. The error wraps ErrBadSignature.
func Verify(s *mesh.Sealed, env Envelope, sign []byte) error {
	if len(sign) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: no signing key for device %s", ErrBadSignature, s.Device)
	}
	var input []byte
	if s.Type == mesh.SealedKeys {
		input = keysInput(s, env.Room)
	} else {
		input = msgInput(s, env)
	}
	if !ed25519.Verify(sign, input, s.Sig) {
		return fmt.Errorf("%w: %s body of device %s at epoch %d", ErrBadSignature, s.Type, s.Device, s.Epoch)
	}
	return nil
}
