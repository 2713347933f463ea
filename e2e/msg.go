package e2e

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"

	"github.com/the-mesh/mesh"
	"golang.org/x/crypto/chacha20poly1305"
)

// Plain is what a message of an E2E room says once opened: the kind and
// body a plain message would have carried.
type Plain struct {
	Kind mesh.MessageKind `json:"kind"`
	Body mesh.Body        `json:"body"`
}

// Envelope is the part of a posted message, outside the body, that a sealed
// message binds: the room's home address, the addressee and the reference.
type Envelope struct {
	Room mesh.RoomID
	To   mesh.ParticipantID
	Ref  string
}

// MessageKey returns the key of message n (n ≥ 1) of the chain that starts
// with ck0. Chain.Next does the same incrementally.
func MessageKey(ck0 []byte, n uint64) ([]byte, error) {
	c := Chain{ck: ck0, n: 1}
	for c.n < n {
		if err := c.step(); err != nil {
			return nil, err
		}
	}
	return hkdf.Expand(sha256.New, c.ck, labelMessage, ChainKeySize)
}

// Chain is a sender's ratchet: each Next returns the next counter and its
// message key and forgets the chain key it came from.
type Chain struct {
	ck []byte
	n  uint64 // the counter ck belongs to
}

// NewChain starts a chain at counter 1 with chain key ck0.
func NewChain(ck0 []byte) *Chain { return &Chain{ck: ck0, n: 1} }

// ResumeChain continues a chain whose next counter is n with chain key ck.
func ResumeChain(ck []byte, n uint64) *Chain { return &Chain{ck: ck, n: n} }

// State returns the chain key and counter the next Next will use, for a
// key store to save.
func (c *Chain) State() ([]byte, uint64) { return c.ck, c.n }

// Next returns the next counter and its message key.
func (c *Chain) Next() (uint64, []byte, error) {
	mk, err := hkdf.Expand(sha256.New, c.ck, labelMessage, ChainKeySize)
	if err != nil {
		return 0, nil, err
	}
	n := c.n
	return n, mk, c.step()
}

func (c *Chain) step() error {
	next, err := hkdf.Expand(sha256.New, c.ck, labelChain, ChainKeySize)
	if err != nil {
		return err
	}
	c.ck, c.n = next, c.n+1
	return nil
}

func msgAD(env Envelope, epoch uint64, device string, keys, n uint64) []byte {
	return enc(nil).lp(labelMsg).lp(string(env.Room)).u64(epoch).lp(device).u64(keys).u64(n).lp(string(env.To)).lp(env.Ref)
}

func msgInput(s *mesh.Sealed, env Envelope) []byte {
	return enc(msgAD(env, s.Epoch, s.Device, s.Keys, s.N)).lpb(s.Nonce).lpb(s.CT)
}

// Seal encrypts p as message n of id's chain in epoch, whose keys entry has
// seq keys, with message key mk.
func Seal(id *Identity, env Envelope, epoch, keys, n uint64, mk []byte, p Plain, rnd io.Reader) (*mesh.Sealed, error) {
	text, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("e2e: plaintext: %w", err)
	}
	aead, err := chacha20poly1305.NewX(mk)
	if err != nil {
		return nil, fmt.Errorf("e2e: message key: %w", err)
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(randOrDefault(rnd), nonce); err != nil {
		return nil, fmt.Errorf("e2e: nonce: %w", err)
	}
	s := &mesh.Sealed{V: mesh.E2EVersion, Type: mesh.SealedMsg, Epoch: epoch, Device: id.ID(), Keys: keys, N: n, Nonce: nonce}
	s.CT = aead.Seal(nil, nonce, text, msgAD(env, epoch, s.Device, keys, n))
	s.Sig = ed25519.Sign(id.Sign, msgInput(s, env))
	return s, nil
}

// Open decrypts a msg body with message key mk (MessageKey of the sender's
// chain key and s.N). The caller verifies the signature first.
func Open(s *mesh.Sealed, env Envelope, mk []byte) (Plain, error) {
	aead, err := chacha20poly1305.NewX(mk)
	if err != nil {
		return Plain{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	text, err := aead.Open(nil, s.Nonce, s.CT, msgAD(env, s.Epoch, s.Device, s.Keys, s.N))
	if err != nil {
		return Plain{}, fmt.Errorf("%w: message %d of %s does not open", ErrCorrupt, s.N, s.Device)
	}
	var p Plain
	if err := mesh.DecodeStrict(text, &p); err != nil {
		return Plain{}, fmt.Errorf("%w: plaintext: %v", ErrCorrupt, err)
	}
	switch p.Kind {
	case mesh.MessageChat, mesh.MessageCommand, mesh.MessageResult:
	default:
		return Plain{}, fmt.Errorf("%w: plaintext kind %q", ErrCorrupt, p.Kind)
	}
	return p, nil
}
