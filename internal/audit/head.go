package audit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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

// writeHead replaces audit.head atomically: write a tmp file, fsync,
// rename, fsync the directory.
func writeHead(dir string, h head) error {
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("write audit head: %w", err)
	}
	path := filepath.Join(dir, HeadName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write audit head: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp) // best effort: a stale tmp is harmless and replaced next time
		return fmt.Errorf("write audit head: %w", err)
	}
	if err := syncDir(dir); err != nil {
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
