package audit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/the-mesh/mesh/internal/atomicfile"
)

// head is the content of audit.head.
type head struct {
	N    uint64 `json:"n"`
	Hash string `json:"hash"`
}

func (l *Log) writeHeadLogged(n uint64, hash [32]byte) {
	if err := writeHead(l.dir, head{N: n, Hash: string(appendHex(nil, hash))}); err != nil {
		// The head only helps Verify; the log itself is intact.
		l.logger.Error("audit log: cannot update audit.head", "err", err)
	}
}

// writeHead replaces audit.head atomically.
func writeHead(dir string, h head) error {
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("write audit head: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, HeadName), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write audit head: %w", err)
	}
	return nil
}

// readHead reads audit.head; ok is false if it does not exist.
func readHead(dir string) (h head, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, HeadName))
	if os.IsNotExist(err) {
		return head{}, false, nil
	} else if err != nil {
		return head{}, false, fmt.Errorf("read audit head: %w", err)
	}
	if err := json.Unmarshal(b, &h); err != nil || !isHash(h.Hash) {
		return head{}, false, fmt.Errorf("read audit head: %s is not {\"n\":N,\"hash\":\"<64 hex>\"}", HeadName)
	}
	return h, true, nil
}

// mismatch is the Detail of the "audit-head-mismatch" line.
type mismatch struct {
	Head   *head  `json:"head,omitempty"`
	FileN  uint64 `json:"fileN"`
	Reason string `json:"reason"`
}

// checkHead compares audit.head with the end of the file as Open found it.
// It returns nil when they agree, or when the head cannot tell.
func checkHead(dir string, t tail) *mismatch {
	h, ok, err := readHead(dir)
	if err != nil {
		return &mismatch{FileN: t.n, Reason: err.Error()}
	} else if !ok {
		return nil
	}
	m := &mismatch{Head: &h, FileN: t.n}
	switch {
	case h.N > t.n:
		m.Reason = fmt.Sprintf("audit.head records line %d but the file ends at line %d: lines were removed", h.N, t.n)
	case h.N == t.n && h.Hash != string(appendHex(nil, t.hash)),
		h.N+1 == t.n && h.Hash != t.prev:
		m.Reason = fmt.Sprintf("line %d was changed after it was written: its hash does not match audit.head", h.N)
	default:
		return nil
	}
	return m
}
