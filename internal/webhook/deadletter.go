package webhook

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/atomicfile"
)

// DeadLetter is one line of webhook-dead-letter.jsonl: an item the
// webhook gave up on, and why (the last HTTP status or error).
type DeadLetter struct {
	TS          time.Time          `json:"ts"`
	Participant mesh.ParticipantID `json:"participant"`
	Delivery    string             `json:"delivery,omitempty"`
	URL         string             `json:"url"`
	Attempts    int                `json:"attempts"`
	Reason      string             `json:"reason"`
	Item        mesh.InboxItem     `json:"item"`
}

// openDeadLetter opens the dead-letter file for appending. A last line cut
// by a crash is ended with a newline first, so it stays one bad line
// instead of spoiling the next one.
func openDeadLetter(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open webhook dead letter: %w", err)
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		return nil, fmt.Errorf("open webhook dead letter: %w", err)
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fail(err)
	}
	if end > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, end-1); err != nil {
			return fail(err)
		}
		if last[0] != '\n' {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				return fail(err)
			}
		}
	}
	if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
		return fail(err)
	}
	return f, nil
}

// deadLetter appends the item to the dead-letter file, fsynced, and logs it.
func (d *Dispatcher) deadLetter(p mesh.ParticipantID, url string, item mesh.InboxItem, id string, attempts int, reason string) {
	d.log.Warn("webhook: giving up on an item", "participant", p, "n", item.N, "attempts", attempts, "reason", reason)
	if d.cfg.DeadLetter == "" {
		return
	}
	b, err := json.Marshal(DeadLetter{TS: d.cfg.Now().UTC(), Participant: p, Delivery: id, URL: url,
		Attempts: attempts, Reason: reason, Item: item})
	if err != nil {
		d.log.Error("webhook: encode dead letter", "err", err)
		return
	}
	d.dlMu.Lock()
	defer d.dlMu.Unlock()
	if d.dl == nil {
		if d.dl, err = openDeadLetter(d.cfg.DeadLetter); err != nil {
			d.log.Error("webhook: open dead letter", "err", err)
			return
		}
	}
	if _, err = d.dl.Write(append(b, '\n')); err == nil {
		err = d.dl.Sync()
	}
	if err != nil {
		d.log.Error("webhook: write dead letter", "participant", p, "n", item.N, "err", err)
	}
}
