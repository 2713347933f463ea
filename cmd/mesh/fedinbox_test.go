package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// remoteInbox reads all of token's inbox items on n, waiting until it
// holds at least k, and returns "n:message id" for each.
func remoteInbox(t *testing.T, n *fedNode, token string, k int) []string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var out []string
		for after := 0.0; ; {
			st, body := n.node().Do(t, "GET", fmt.Sprintf("/api/v1/inbox?after=%v&limit=500", after), token, nil)
			if st != 200 {
				t.Fatalf("read inbox: HTTP %d %v", st, body)
			}
			items := body["items"].([]any)
			if len(items) == 0 {
				break
			}
			for _, raw := range items {
				it := raw.(map[string]any)
				out = append(out, fmt.Sprint(it["n"], ":", it["message"].(map[string]any)["id"]))
			}
			after = body["next"].(float64)
		}
		if len(out) >= k {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("the inbox holds %d items, want %d", len(out), k)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// powerCut removes the inbox's mark of room in the node's data dir, as if
// the node had died before its first checkpoint: the room is routed again
// from its start.
func powerCut(t *testing.T, dir, room string) {
	t.Helper()
	path := filepath.Join(dir, "inbox", "marks.json")
	var marks struct {
		Rooms  map[string]uint64 `json:"rooms"`
		Remote bool              `json:"remote"`
	}
	if err := json.Unmarshal(mustRead(t, path), &marks); err != nil || !marks.Remote {
		t.Fatalf("marks.json: %+v %v, want remote rooms routed", marks, err)
	}
	delete(marks.Rooms, room)
	b, _ := json.Marshal(marks)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRemoteInboxAfterCrash: alice of node A is a member of a room of node
// B. A is killed just after routing items of that room, B posts more (over
// two catch-up pages) while A is down, and A is restarted, killed again
// and stopped: every message to alice is in her inbox exactly once,
// numbered the same each time. The kills lose what the inbox had not
// checkpointed, as a power cut would: the mirror is routed again.
func TestRemoteInboxAfterCrash(t *testing.T) {
	rdir := t.TempDir()
	r := startRelay(t, rdir, freeAddr(t))
	a := newFedNode(t, rdir, r.url)
	b := newFedNode(t, rdir, r.url)
	room := b.room(t, "ops")
	a.waitDirectory(t, room)
	aliceID, aliceTok := a.node().Register(t, "alice")
	if st, body := a.node().Do(t, "POST", "/api/v1/rooms/"+room+"/join", aliceTok, nil); st != 200 {
		t.Fatalf("join: HTTP %d %v", st, body)
	}
	remoteAlice := string(aliceID) + "@" + a.id
	var want []string // ids of the messages to alice, in order
	post := func(i int) {
		msg := map[string]any{"text": fmt.Sprint("m", i)}
		if i%3 == 0 {
			msg["to"] = remoteAlice
		}
		st, body := b.node().Do(t, "POST", "/api/v1/rooms/ops/messages", b.owner, msg)
		if st != 201 {
			t.Fatalf("post %d: HTTP %d %v", i, st, body)
		}
		if msg["to"] != nil {
			want = append(want, body["message"].(map[string]any)["id"].(string))
		}
	}
	for i := range 30 {
		post(i)
	}
	remoteInbox(t, a, aliceTok, len(want))
	flags := a.proc.cmd.Args[2:]
	a.proc.stop(t, syscall.SIGKILL)
	// As after a power cut before the inbox's first checkpoint: the items
	// were not on disk yet.
	powerCut(t, a.dir, room)
	os.Truncate(filepath.Join(a.dir, "inbox", string(aliceID)+".jsonl"), 0)
	for i := 30; i < 600; i++ { // more than one catch-up page (256)
		post(i)
	}
	a.restart(t, flags)
	first := remoteInbox(t, a, aliceTok, len(want))
	check := func(what string, got []string) {
		t.Helper()
		var ids []string
		for i, s := range got {
			n, id, _ := strings.Cut(s, ":")
			if n != fmt.Sprint(i+1) {
				t.Fatalf("%s: item %d is numbered %s: %v", what, i+1, n, got)
			}
			ids = append(ids, id)
		}
		if !slices.Equal(ids, want) {
			t.Fatalf("%s: the inbox holds %d items, want the %d messages to alice once each, in order", what, len(ids), len(want))
		}
		if what != "after the catch-up" && !slices.Equal(got, first) {
			t.Fatalf("%s: the items changed since the catch-up", what)
		}
	}
	check("after the catch-up", first)
	a.proc.stop(t, syscall.SIGKILL)
	powerCut(t, a.dir, room) // the whole mirror is routed again: nothing enters twice
	a.restart(t, flags)
	check("after a second kill", remoteInbox(t, a, aliceTok, len(want)))
	a.proc.stop(t, syscall.SIGTERM)
	a.restart(t, flags)
	check("after a stop", remoteInbox(t, a, aliceTok, len(want)))
}
