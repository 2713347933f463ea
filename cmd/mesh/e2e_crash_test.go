package main_test

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/the-mesh/mesh/e2e"
)

// TestE2EEpochsAfterCrash kills the node with SIGKILL twice and checks
// that an end-to-end encrypted room begins a new epoch at every start,
// its number always above the last, with the same roster.
func TestE2EEpochsAfterCrash(t *testing.T) {
	dir := t.TempDir()
	p := startNode(t, dir)
	n := p.node()
	owner := strings.TrimSpace(string(mustRead(t, filepath.Join(dir, "owner.token"))))
	dev, err := e2e.NewIdentity(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := dev.Device()
	if st, body := n.Do(t, "PUT", "/api/v1/participants/me/devices", owner, map[string]any{"sign": d.Sign, "box": d.Box, "sig": d.Sig}); st != 201 {
		t.Fatalf("register device: HTTP %d %v", st, body)
	}
	if st, body := n.Do(t, "POST", "/api/v1/rooms", owner, map[string]any{"name": "vault", "policy": map[string]any{"e2e": true}}); st != 201 {
		t.Fatalf("create room: HTTP %d %v", st, body)
	}
	epoch := func() float64 {
		t.Helper()
		st, body := p.node().Do(t, "GET", "/api/v1/rooms/vault/e2e", owner, nil)
		if st != 200 {
			t.Fatalf("roster: HTTP %d %v", st, body)
		}
		devs := body["devices"].([]any)
		if len(devs) != 1 || devs[0].(map[string]any)["id"] != d.ID {
			t.Fatalf("roster devices %v, want the owner's device", devs)
		}
		return body["epoch"].(float64)
	}
	last := epoch()
	for range 2 {
		p.stop(t, syscall.SIGKILL)
		p = startNode(t, dir)
		if got := epoch(); got <= last {
			t.Fatalf("after a crash: epoch %v, want above %v", got, last)
		} else {
			last = got
		}
	}
	if last != 3 {
		t.Fatalf("epoch %v after two restarts, want 3", last)
	}
}
