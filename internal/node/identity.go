package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/atomicfile"
)

// Identity files in the data directory.
const (
	nodeFile       = "node.json"
	nodeKeyFile    = "node.key"
	ownerTokenFile = "owner.token"
)

type nodeJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	PublicKey string `json:"publicKey"`
}

// loadIdentity reads node.json and node.key, creating both on first start.
// The node id is derived from the public key, so it is stable and checkable.
func loadIdentity(dir, name string) (mesh.NodeInfo, ed25519.PrivateKey, error) {
	keyPath := filepath.Join(dir, nodeKeyFile)
	infoPath := filepath.Join(dir, nodeFile)
	seed, err := os.ReadFile(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		return createIdentity(dir, name)
	} else if err != nil {
		return mesh.NodeInfo{}, nil, fmt.Errorf("read node key: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(string(trimSpace(seed)))
	if err != nil || len(raw) != ed25519.SeedSize {
		return mesh.NodeInfo{}, nil, fmt.Errorf("node key %s is not a base64 Ed25519 seed", keyPath)
	}
	priv := ed25519.NewKeyFromSeed(raw)
	b, err := os.ReadFile(infoPath)
	if err != nil {
		return mesh.NodeInfo{}, nil, fmt.Errorf("read %s: %w", nodeFile, err)
	}
	var nj nodeJSON
	if err := json.Unmarshal(b, &nj); err != nil {
		return mesh.NodeInfo{}, nil, fmt.Errorf("parse %s: %w", nodeFile, err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	if nj.PublicKey != base64.StdEncoding.EncodeToString(pub) || nj.ID != nodeID(pub) {
		return mesh.NodeInfo{}, nil, fmt.Errorf("%s does not match %s: id or public key differ", nodeFile, nodeKeyFile)
	}
	return mesh.NodeInfo{ID: nj.ID, Name: nj.Name, PublicKey: nj.PublicKey}, priv, nil
}

func createIdentity(dir, name string) (mesh.NodeInfo, ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return mesh.NodeInfo{}, nil, fmt.Errorf("generate node key: %w", err)
	}
	seed := base64.StdEncoding.EncodeToString(priv.Seed()) + "\n"
	if err := atomicfile.WriteFile(filepath.Join(dir, nodeKeyFile), []byte(seed), 0o600); err != nil {
		return mesh.NodeInfo{}, nil, err
	}
	info := mesh.NodeInfo{ID: nodeID(pub), Name: name, PublicKey: base64.StdEncoding.EncodeToString(pub)}
	b, _ := json.MarshalIndent(nodeJSON{ID: info.ID, Name: info.Name, PublicKey: info.PublicKey}, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(dir, nodeFile), append(b, '\n'), 0o644); err != nil {
		return mesh.NodeInfo{}, nil, err
	}
	return info, priv, nil
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// nodeID is "n" plus the first 80 bits of the public key's SHA-256, in base32.
func nodeID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "n" + idEncoding.EncodeToString(sum[:10])
}

// ReadNodeID returns the id in dir's node.json, for `mesh id`.
func ReadNodeID(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, nodeFile))
	if err != nil {
		return "", fmt.Errorf("read node id: %w (start the node once with mesh up to create it)", err)
	}
	var nj nodeJSON
	if err := json.Unmarshal(b, &nj); err != nil {
		return "", fmt.Errorf("parse %s: %w", nodeFile, err)
	}
	return nj.ID, nil
}

// ReadOwnerToken returns the owner token saved in dir at first start.
func ReadOwnerToken(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, ownerTokenFile))
	if err != nil {
		return "", fmt.Errorf("read owner token: %w", err)
	}
	return string(trimSpace(b)), nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// newToken returns a bearer token with 32 random bytes and its SHA-256.
func newToken(prefix string) (string, [32]byte) {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	tok := prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return tok, sha256.Sum256([]byte(tok))
}

// newID returns prefix plus 16 random base32 letters (80 bits).
func newID(prefix string) string {
	var b [10]byte
	rand.Read(b[:])
	return prefix + idEncoding.EncodeToString(b[:])
}
