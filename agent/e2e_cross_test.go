package agent_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
	"github.com/the-mesh/mesh/internal/meshtest"
)

// TestE2ECrossSDK: a Go client and a TypeScript SDK client
// (sdk/test/fixtures/e2e-peer.ts, run with node and tsx) read each other's
// sealed messages in an E2E room, and a command the Go client sends runs in
// the TypeScript one, whose sealed result the Go client opens. It is
// skipped without node, without npm ci, or when the tree's TypeScript SDK
// has no E2E support yet.
func TestE2ECrossSDK(t *testing.T) {
	const repo = ".."
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	for _, need := range []string{"node_modules/tsx", "sdk/src/e2e", "sdk/test/fixtures/e2e-peer.ts"} {
		if _, err := os.Stat(filepath.Join(repo, need)); err != nil {
			t.Skipf("%s is missing (npm ci; the TypeScript SDK with E2E)", need)
		}
	}
	n := meshtest.Start(t, "")
	_, tg := mustRegister(t, n.URL, "gopher")
	tp, tt := mustRegister(t, n.URL, "tsbot")
	room := e2eRoom(t, n, "cross", map[string]any{"grants": map[string]any{string(tp.ID): []string{"execute"}}})
	g := dialKeys(t, n.URL, tg, agent.MemoryKeys())
	mustJoin(t, g, room)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	peer := exec.CommandContext(ctx, nodeBin, "--conditions=mesh-source", "--import", "tsx",
		"test/fixtures/e2e-peer.ts", n.URL, tt, string(room))
	peer.Dir = filepath.Join(repo, "sdk")
	peer.Stderr = testLog{t}
	stdout, err := peer.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}
	type line struct {
		Ready         bool   `json:"ready"`
		Got           string `json:"got"`
		E2E           bool   `json:"e2e"`
		Undecryptable string `json:"undecryptable"`
		Error         string `json:"error"`
	}
	lines := make(chan line, 16)
	exited, done := make(chan error, 1), make(chan struct{})
	t.Cleanup(func() { cancel(); <-done }) // no logging after the test
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			t.Logf("ts peer: %s", sc.Text())
			var l line
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				lines <- l
			}
		}
		close(lines)
		exited <- peer.Wait()
	}()
	next := func(what string) line {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the TypeScript peer ended before %s: %v", what, <-exited)
			}
			if l.Error != "" {
				t.Fatalf("the TypeScript peer failed: %s", l.Error)
			}
			return l
		case <-ctx.Done():
			t.Fatalf("no %s from the TypeScript peer", what)
		}
		panic("unreachable")
	}
	if l := next("ready"); !l.Ready {
		t.Fatalf("got %+v, want ready", l)
	}

	// Go → TypeScript, and its answer back.
	say(t, g, room, "hello from go")
	if l := next("the Go line"); !l.E2E || l.Got != "hello from go" {
		t.Fatalf("the TypeScript peer got %+v, want the opened Go line", l)
	}
	reply := nextWhere(t, g, 30*time.Second, "the TypeScript reply", func(m agent.Message) bool {
		return m.Kind == mesh.MessageChat || m.Kind == mesh.MessageEncrypted
	})
	if !reply.E2E || reply.Body.Text != "ts heard: hello from go" || reply.From.ID != tp.ID {
		t.Fatalf("Go got %+v (undecryptable %q), want the opened TypeScript reply", reply.Message, reply.Undecryptable)
	}

	// A Go command run by the TypeScript SDK: its sealed result opens here.
	ack, err := g.SendCommand(ctx, room, tp.ID, "upper", "shout")
	if err != nil {
		t.Fatal(err)
	}
	res := nextWhere(t, g, 30*time.Second, "the result", func(m agent.Message) bool { return m.Kind == mesh.MessageResult })
	if !res.E2E || res.Ref != ack.ID || res.Body.OK == nil || !*res.Body.OK || res.Body.Output != "SHOUT" {
		t.Fatalf("result %+v (e2e %t), want ok SHOUT for %s", res.Message, res.E2E, ack.ID)
	}

	say(t, g, room, "bye")
	next("bye")
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the TypeScript peer: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the TypeScript peer did not end after bye")
	}
}

// testLog writes a child's stderr to the test log.
type testLog struct{ t *testing.T }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Logf("ts peer stderr: %s", b)
	return len(b), nil
}
