package interchange

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/atomicfile"
)

// Files in a relay's data directory.
const (
	RegistryFile = "registry.jsonl" // allowed instances: id and SHA-256 of the secret
	identityFile = "relay.json"
	keyFile      = "relay.key"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// InstanceID derives an instance id from its public key: prefix ('n' for a
// node, 'r' for a relay) and the first 80 bits of the key's SHA-256 in
// base32. Nodes make their ids the same way (package node).
func InstanceID(prefix byte, pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return string(prefix) + idEncoding.EncodeToString(sum[:10])
}

// Identity is who an instance is: its id and its Ed25519 key.
type Identity struct {
	ID  string
	Key ed25519.PrivateKey
}

// Public returns the base64 public key.
func (id Identity) Public() string {
	return base64.StdEncoding.EncodeToString(id.Key.Public().(ed25519.PublicKey))
}

// LoadIdentity reads the relay's identity from dir (relay.json and
// relay.key), creating it on first use.
func LoadIdentity(dir string) (Identity, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Identity{}, fmt.Errorf("create data directory: %w", err)
	}
	seed, err := os.ReadFile(filepath.Join(dir, keyFile))
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return Identity{}, err
		}
		s := base64.StdEncoding.EncodeToString(priv.Seed()) + "\n"
		if err := atomicfile.WriteFile(filepath.Join(dir, keyFile), []byte(s), 0o600); err != nil {
			return Identity{}, err
		}
		id := Identity{ID: InstanceID('r', priv.Public().(ed25519.PublicKey)), Key: priv}
		b, _ := json.MarshalIndent(map[string]string{"id": id.ID, "publicKey": id.Public()}, "", "  ")
		if err := atomicfile.WriteFile(filepath.Join(dir, identityFile), append(b, '\n'), 0o644); err != nil {
			return Identity{}, err
		}
		return id, nil
	} else if err != nil {
		return Identity{}, fmt.Errorf("read relay key: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(seed)))
	if err != nil || len(raw) != ed25519.SeedSize {
		return Identity{}, fmt.Errorf("relay key %s is not a base64 Ed25519 seed", keyFile)
	}
	priv := ed25519.NewKeyFromSeed(raw)
	return Identity{ID: InstanceID('r', priv.Public().(ed25519.PublicKey)), Key: priv}, nil
}

// ValidRelayID reports whether id is a relay id: r and 16 letters a-z, 2-7.
func ValidRelayID(id string) bool { return len(id) > 0 && id[0] == 'r' && validInstance([]byte(id)) }

// proof returns the bytes an instance's hello signs and MACs.
func proof(relay, nonce, id, kind string) []byte {
	return []byte("mesh-interchange-v1\nhello\n" + relay + "\n" + nonce + "\n" + id + "\n" + kind)
}

// welcomeProof returns the bytes a relay's welcome signs when the hello
// challenged it: its id, the hello's nonce, and the instance's id and the
// relay's own nonce, which tie the answer to this link's handshake.
func welcomeProof(relay, helloNonce, id, nonce string) []byte {
	return []byte("mesh-interchange-v1\nwelcome\n" + relay + "\n" + helloNonce + "\n" + id + "\n" + nonce)
}

// proveRelay fills in w's key and sig: the relay's answer to the hello's
// nonce, for the instance id, on the link whose challenge had nonce.
func proveRelay(w *Welcome, relay Identity, helloNonce, id, nonce string) {
	w.Key = relay.Public()
	w.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(relay.Key, welcomeProof(relay.ID, helloNonce, id, nonce)))
}

// verifyWelcome checks the relay's answer to helloNonce: a key whose id
// is the welcome's relay, and want when want is set, and its signature.
// Errors: EUnauthorized.
func verifyWelcome(w Welcome, want, helloNonce, id, nonce string) error {
	if w.Key == "" || w.Sig == "" {
		return mesh.Errorf(mesh.EUnauthorized, "The relay did not prove its identity: its welcome has no key and signature (a relay before bridges proved theirs?).")
	}
	pub, err := base64.StdEncoding.DecodeString(w.Key)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return mesh.Errorf(mesh.EUnauthorized, "The relay's welcome.key is not a base64 Ed25519 public key.")
	}
	if got := InstanceID('r', pub); got != w.Relay {
		return mesh.Errorf(mesh.EUnauthorized, "The relay calls itself %s, but its key is relay %s's.", w.Relay, got)
	}
	if want != "" && w.Relay != want {
		return mesh.Errorf(mesh.EUnauthorized, "The relay is %s, not %s as expected: an impostor, or the relay got a new identity.", w.Relay, want)
	}
	sig, err := base64.StdEncoding.DecodeString(w.Sig)
	if err != nil || !ed25519.Verify(pub, welcomeProof(w.Relay, helloNonce, id, nonce), sig) {
		return mesh.Errorf(mesh.EUnauthorized, "The relay's welcome signature does not verify: it does not hold relay %s's key.", w.Relay)
	}
	return nil
}

// newNonce returns 32 random bytes in base64.
func newNonce() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return base64.StdEncoding.EncodeToString(b[:])
}

// SecretHash is what a registry keeps of a secret, and the MAC key.
func SecretHash(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

func mac(hash [32]byte, msg []byte) string {
	h := hmac.New(sha256.New, hash[:])
	h.Write(msg)
	return hex.EncodeToString(h.Sum(nil))
}

// answer builds the hello that answers ch.
func answer(ch Challenge, id Identity, kind, secret, name string) Hello {
	p := proof(ch.Relay, ch.Nonce, id.ID, kind)
	h := Hello{Type: TypeHello, ID: id.ID, Kind: kind, Key: id.Public(),
		Sig: base64.StdEncoding.EncodeToString(ed25519.Sign(id.Key, p)), Name: name}
	if secret != "" {
		h.MAC = mac(SecretHash(secret), p)
	}
	return h
}

// NewSecret returns a fresh shared secret: "mis_" and 43 URL-safe base64
// characters.
func NewSecret() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return "mis_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// Registry is the flat file of allowed instances: registry.jsonl, one JSON
// object per line, {"id", "hash", "added"} (hash: hex SHA-256 of the secret)
// or {"id", "removed": true}; the last line for an id wins. It is re-read
// when the file changes, so `mesh interchange allow` works on a running
// relay. Methods are safe for concurrent use.
type Registry struct {
	path string

	mu      sync.Mutex // guards the fields below
	mod     time.Time
	size    int64
	entries map[string][32]byte
}

type registryLine struct {
	ID      string    `json:"id"`
	Hash    string    `json:"hash,omitempty"`
	Added   time.Time `json:"added,omitzero"`
	Removed bool      `json:"removed,omitempty"`
}

// OpenRegistry returns the registry in dir (the file may not exist yet).
func OpenRegistry(dir string) *Registry {
	return &Registry{path: filepath.Join(dir, RegistryFile), entries: map[string][32]byte{}}
}

// lookup returns the secret hash registered for id.
func (r *Registry) lookup(id string) ([32]byte, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.reloadLocked(); err != nil {
		return [32]byte{}, false, err
	}
	h, ok := r.entries[id]
	return h, ok, nil
}

func (r *Registry) reloadLocked() error {
	st, err := os.Stat(r.path)
	if errors.Is(err, os.ErrNotExist) {
		clear(r.entries)
		return nil
	} else if err != nil {
		return err
	}
	if st.ModTime().Equal(r.mod) && st.Size() == r.size {
		return nil
	}
	b, err := os.ReadFile(r.path)
	if err != nil {
		return err
	}
	entries := map[string][32]byte{}
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var l registryLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			return fmt.Errorf("%s line %d: %w", RegistryFile, i+1, err)
		}
		if l.Removed {
			delete(entries, l.ID)
			continue
		}
		raw, err := hex.DecodeString(l.Hash)
		if err != nil || len(raw) != 32 {
			return fmt.Errorf("%s line %d: hash is not 64 hex digits", RegistryFile, i+1)
		}
		entries[l.ID] = [32]byte(raw)
	}
	r.entries, r.mod, r.size = entries, st.ModTime(), st.Size()
	return nil
}

// Allow registers id with a new secret and returns the secret; only its
// hash is written. An id registered before gets a new secret.
func (r *Registry) Allow(id string) (string, error) {
	if !validInstance([]byte(id)) {
		return "", mesh.Errorf(mesh.EInvalid, "%q is not a node or relay id (n or r and 16 letters a-z, 2-7).", id)
	}
	secret := NewSecret()
	h := SecretHash(secret)
	return secret, r.append(registryLine{ID: id, Hash: hex.EncodeToString(h[:]), Added: time.Now().UTC()})
}

// Remove takes id out of the registry: it can no longer connect with its
// secret (a connected instance stays until it reconnects).
func (r *Registry) Remove(id string) error {
	return r.append(registryLine{ID: id, Removed: true})
}

func (r *Registry) append(l registryLine) error {
	b, _ := json.Marshal(l)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(r.path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open registry: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write registry: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync registry: %w", err)
	}
	return atomicfile.SyncDir(filepath.Dir(r.path))
}

// verifyHello checks a hello against the challenge it answers and the
// registry, and returns the link's auth (AuthSecret or AuthOpen).
// Errors: EUnauthorized, EInvalid.
func verifyHello(h *Hello, ch Challenge, reg *Registry, open bool) (string, error) {
	prefix := byte('n')
	switch h.Kind {
	case KindNode:
	case KindRelay:
		prefix = 'r'
	default:
		return "", mesh.Errorf(mesh.EInvalid, `hello.kind must be "node" or "relay".`)
	}
	pub, err := base64.StdEncoding.DecodeString(h.Key)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return "", mesh.Errorf(mesh.EInvalid, "hello.key must be a base64 Ed25519 public key.")
	}
	if InstanceID(prefix, pub) != h.ID {
		return "", mesh.Errorf(mesh.EUnauthorized, "Id %s is not the id of key %s.", h.ID, h.Key)
	}
	if h.Nonce != "" {
		if n, err := base64.StdEncoding.DecodeString(h.Nonce); err != nil || len(n) != 32 {
			return "", mesh.Errorf(mesh.EInvalid, "hello.nonce must be 32 random bytes in base64.")
		}
	}
	sig, err := base64.StdEncoding.DecodeString(h.Sig)
	p := proof(ch.Relay, ch.Nonce, h.ID, h.Kind)
	if err != nil || !ed25519.Verify(pub, p, sig) {
		return "", mesh.Errorf(mesh.EUnauthorized, "The hello's signature does not verify.")
	}
	hash, known, err := reg.lookup(h.ID)
	if err != nil {
		return "", fmt.Errorf("read registry: %w", err)
	}
	switch {
	case known && subtle.ConstantTimeCompare([]byte(mac(hash, p)), []byte(h.MAC)) == 1:
		return AuthSecret, nil
	case known:
		return "", mesh.Errorf(mesh.EUnauthorized, "Wrong secret for %s.", h.ID)
	case open:
		return AuthOpen, nil
	}
	return "", mesh.Errorf(mesh.EUnauthorized, "%s is not allowed on this relay (mesh interchange allow --node %s).", h.ID, h.ID)
}
