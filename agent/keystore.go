package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/atomicfile"
)

// A KeyStore keeps a client's end-to-end keys between runs: its device
// identity and its own sender chains (see the package doc, "End-to-end
// encrypted rooms"). Private keys never leave it but for the client's
// memory. A client calls Load once, on its first join of an end-to-end
// encrypted room, and Save after every change, from one goroutine at a
// time; a KeyStore is used by one client at a time.
//
// Losing what a KeyStore holds makes the client a new device: it can no
// longer open what was sent to its old device (reason no_key).
type KeyStore interface {
	// Load returns the stored record, or a zero KeyRecord and no error
	// when nothing is stored yet.
	Load() (KeyRecord, error)
	// Save replaces the stored record. It must be atomic: after a crash
	// Load returns the old record or the new, never a mix.
	Save(KeyRecord) error
}

// KeyRecord is what a KeyStore holds. Its JSON form is the file format of
// FileKeys (version 1):
//
//	{"v": 1, "sign": "<base64 Ed25519 seed>", "box": "<base64 X25519 private key>",
//	 "chains": [{"room": "team@n...", "epoch": 3, "keys": 41, "ck0": "<base64>", "next": 65}]}
type KeyRecord struct {
	V      int           `json:"v"`
	Sign   []byte        `json:"sign"` // the device's Ed25519 seed (32 bytes)
	Box    []byte        `json:"box"`  // the device's X25519 private key (32 bytes)
	Chains []ChainRecord `json:"chains,omitempty"`
}

// ChainRecord is this device's sender chain in one room's epoch: the chain
// key it wrapped to the roster (CK0) in the keys entry at seq Keys, and
// Next, a counter no message of the chain has used: counters below it may
// have been. A client keeps the latest chain of each room only.
type ChainRecord struct {
	Room  mesh.RoomID `json:"room"` // the room's home address, room@node
	Epoch uint64      `json:"epoch"`
	Keys  uint64      `json:"keys"`
	CK0   []byte      `json:"ck0"`
	Next  uint64      `json:"next"`
}

// keyRecordVersion is the V of the records this package writes.
const keyRecordVersion = 1

func (r KeyRecord) clone() KeyRecord {
	r.Sign, r.Box = slices.Clone(r.Sign), slices.Clone(r.Box)
	r.Chains = slices.Clone(r.Chains)
	return r
}

// FileKeys returns a KeyStore that keeps its record in the JSON file at
// path (mode 0600; the directory is made with mode 0700), replaced
// atomically on every Save.
func FileKeys(path string) KeyStore { return &fileKeys{path: path} }

type fileKeys struct{ path string }

func (f *fileKeys) Load() (KeyRecord, error) {
	var r KeyRecord
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("agent: key store: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("agent: key store %s is not valid JSON: %w", f.path, err)
	}
	if r.V != keyRecordVersion {
		return r, fmt.Errorf("agent: key store %s has version %d; this client reads version %d", f.path, r.V, keyRecordVersion)
	}
	return r, nil
}

func (f *fileKeys) Save(r KeyRecord) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return fmt.Errorf("agent: key store: %w", err)
	}
	if err := atomicfile.WriteFile(f.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("agent: key store: %w", err)
	}
	return nil
}

// MemoryKeys returns a KeyStore that keeps its record in memory, for
// tests and for programs that accept a new device on every start.
func MemoryKeys() KeyStore { return &memoryKeys{} }

type memoryKeys struct {
	mu  sync.Mutex
	rec KeyRecord
}

func (m *memoryKeys) Load() (KeyRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rec.clone(), nil
}

func (m *memoryKeys) Save(r KeyRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rec = r.clone()
	return nil
}
