package federation

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/the-mesh/mesh/internal/interchange"
	"github.com/the-mesh/mesh/internal/store/jsonl"
)

// KeysFile pins each node's public key on first contact.
const KeysFile = "federation-keys.jsonl"

// keyring is the pinned keys of other nodes. Methods are safe for
// concurrent use.
type keyring struct {
	j *jsonl.Journal

	mu   sync.Mutex
	keys map[string]ed25519.PublicKey
}

type keyLine struct {
	Node string    `json:"node"`
	Key  string    `json:"key"`
	TS   time.Time `json:"ts"`
}

func openKeyring(dir string, log *slog.Logger) (*keyring, error) {
	k := &keyring{keys: map[string]ed25519.PublicKey{}}
	j, err := jsonl.OpenJournal(filepath.Join(dir, KeysFile), log, func(line []byte) error {
		var l keyLine
		if err := json.Unmarshal(line, &l); err != nil {
			return err
		}
		pub, err := base64.StdEncoding.DecodeString(l.Key)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return fmt.Errorf("node %s: bad key", l.Node)
		}
		if _, ok := k.keys[l.Node]; !ok { // the first pin stands
			k.keys[l.Node] = pub
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", KeysFile, err)
	}
	k.j = j
	return k, nil
}

// check returns node's key, pinning key on first contact. It fails when key
// is not node's (node ids are derived from keys) or is not the pinned one.
func (k *keyring) check(node, key string, now time.Time) (ed25519.PublicKey, error) {
	pub, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("the frame's key is not a base64 Ed25519 public key")
	}
	k.mu.Lock()
	pinned, ok := k.keys[node]
	k.mu.Unlock()
	if ok {
		if !pinned.Equal(ed25519.PublicKey(pub)) {
			return nil, fmt.Errorf("node %s presented key %s, not the key pinned on first contact", node, key)
		}
		return pinned, nil
	}
	if interchange.InstanceID('n', pub) != node {
		return nil, fmt.Errorf("key %s is not node %s's: the id does not derive from it", key, node)
	}
	if err := k.j.Append(keyLine{Node: node, Key: key, TS: now.UTC()}); err != nil {
		return nil, fmt.Errorf("pin key of %s: %w", node, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if p, ok := k.keys[node]; ok { // pinned meanwhile
		return p, nil
	}
	k.keys[node] = pub
	return pub, nil
}

// known returns node's pinned key, if any.
func (k *keyring) known(node string) (ed25519.PublicKey, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	p, ok := k.keys[node]
	return p, ok
}

func (k *keyring) close() error { return k.j.Close() }
