package e2e

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/the-mesh/mesh"
	"golang.org/x/crypto/chacha20poly1305"
)

// ChainKeySize is the size of a chain key and of a message key.
const ChainKeySize = 32

// SealKeys makes a new chain key for id's device in room's epoch and wraps
// it to every device of roster (id's own included, if listed). It returns
// the keys body to post and the chain key to keep.
func SealKeys(id *Identity, room mesh.RoomID, epoch uint64, roster []mesh.Device, rnd io.Reader) (*mesh.Sealed, []byte, error) {
	rnd = randOrDefault(rnd)
	ck0 := make([]byte, ChainKeySize)
	if _, err := io.ReadFull(rnd, ck0); err != nil {
		return nil, nil, fmt.Errorf("e2e: chain key: %w", err)
	}
	eph, err := newBoxKey(rnd)
	if err != nil {
		return nil, nil, fmt.Errorf("e2e: ephemeral key: %w", err)
	}
	s := &mesh.Sealed{V: mesh.E2EVersion, Type: mesh.SealedKeys, Epoch: epoch, Device: id.ID(),
		Eph: eph.PublicKey().Bytes(), Wraps: make([]mesh.Wrap, 0, len(roster))}
	for _, d := range roster {
		k, info, err := wrapKey(eph, d, s, room)
		if err != nil {
			return nil, nil, err
		}
		nonce := make([]byte, chacha20poly1305.NonceSizeX)
		if _, err := io.ReadFull(rnd, nonce); err != nil {
			return nil, nil, fmt.Errorf("e2e: nonce: %w", err)
		}
		aead, _ := chacha20poly1305.NewX(k)
		s.Wraps = append(s.Wraps, mesh.Wrap{To: d.ID, Nonce: nonce, CT: aead.Seal(nil, nonce, ck0, info)})
	}
	s.Sig = ed25519.Sign(id.Sign, keysInput(s, room))
	return s, ck0, nil
}

// wrapKey derives the key that wraps a chain key to device d and the
// associated data that binds it.
func wrapKey(eph *ecdh.PrivateKey, d mesh.Device, s *mesh.Sealed, room mesh.RoomID) (key, info []byte, err error) {
	pub, err := ecdh.X25519().NewPublicKey(d.Box)
	if err != nil {
		return nil, nil, fmt.Errorf("e2e: device %s: box key: %w", d.ID, err)
	}
	shared, err := eph.ECDH(pub) // refuses a low-order (all-zero) result
	if err != nil {
		return nil, nil, fmt.Errorf("e2e: device %s: %w", d.ID, err)
	}
	info = enc(nil).lp(labelWrap).lp(string(room)).u64(s.Epoch).lp(s.Device).lp(d.ID)
	salt := append(eph.PublicKey().Bytes(), d.Box...)
	key, err = hkdf.Key(sha256.New, shared, salt, string(info), ChainKeySize)
	return key, info, err
}

func keysInput(s *mesh.Sealed, room mesh.RoomID) []byte {
	e := enc(nil).lp(labelKeys).lp(string(room)).u64(s.Epoch).lp(s.Device).lpb(s.Eph).u64(uint64(len(s.Wraps)))
	for _, w := range s.Wraps {
		e = e.lp(w.To).lpb(w.Nonce).lpb(w.CT)
	}
	return e
}

// OpenKeys returns the chain key a keys body wraps to id's device. The
// caller verifies the body's signature first (VerifySealed). ErrNoKey: no
// wrap for this device; ErrCorrupt: the wrap does not open.
func OpenKeys(id *Identity, room mesh.RoomID, s *mesh.Sealed) ([]byte, error) {
	me := id.ID()
	for _, w := range s.Wraps {
		if w.To != me {
			continue
		}
		peer, err := ecdh.X25519().NewPublicKey(s.Eph)
		if err != nil {
			return nil, fmt.Errorf("%w: eph: %v", ErrCorrupt, err)
		}
		shared, err := id.Box.ECDH(peer)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		box := id.Box.PublicKey().Bytes()
		info := enc(nil).lp(labelWrap).lp(string(room)).u64(s.Epoch).lp(s.Device).lp(me)
		key, err := hkdf.Key(sha256.New, shared, append(append([]byte(nil), s.Eph...), box...), string(info), ChainKeySize)
		if err != nil {
			return nil, err
		}
		aead, _ := chacha20poly1305.NewX(key)
		if len(w.Nonce) != aead.NonceSize() {
			return nil, fmt.Errorf("%w: wrap nonce of %d bytes", ErrCorrupt, len(w.Nonce))
		}
		ck, err := aead.Open(nil, w.Nonce, w.CT, info)
		if err != nil {
			return nil, fmt.Errorf("%w: the wrap to %s does not open", ErrCorrupt, me)
		}
		return ck, nil
	}
	return nil, fmt.Errorf("%w: keys entry of %s at epoch %d has no wrap for device %s", ErrNoKey, s.Device, s.Epoch, me)
}

// newBoxKey reads an X25519 private key from rnd. (ecdh's GenerateKey may
// ignore its reader; reading the bytes keeps test vectors reproducible.)
func newBoxKey(rnd io.Reader) (*ecdh.PrivateKey, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return nil, err
	}
	return ecdh.X25519().NewPrivateKey(b)
}

func randOrDefault(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}
