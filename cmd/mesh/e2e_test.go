package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
)

// TestE2ECommandLine: in an end-to-end encrypted room mesh join registers
// the config's device, mesh say seals, mesh listen opens, mesh cmd seals a
// command and opens its result; the node's files never hold the text.
func TestE2ECommandLine(t *testing.T) {
	dir := t.TempDir()
	p := startNode(t, dir)
	owner := strings.TrimSpace(string(mustRead(t, filepath.Join(dir, "owner.token"))))
	alice, _ := mustRegister(t, p, "alice")
	bob, bobID := mustRegister(t, p, "bob")
	st, body := p.node().Do(t, "POST", "/api/v1/rooms", owner, map[string]any{"name": "secret", "policy": map[string]any{
		"e2e": true, "grants": map[string]any{bobID: []string{"execute"}}}})
	if st != http.StatusCreated {
		t.Fatalf("create room: HTTP %d %v", st, body)
	}

	// Not a member yet: refused as a plain post would be.
	if code, _, errOut := run(t, "say", "secret", "too early", "--config", alice); code != 1 || !strings.Contains(errOut, "not a member") {
		t.Errorf("say before join: exit %d, %q; want a refusal", code, errOut)
	}
	for _, c := range []string{alice, bob} {
		code, out, errOut := run(t, "join", "secret", "--config", c)
		if code != 0 || !strings.Contains(out, "end-to-end encrypted; device d") {
			t.Fatalf("mesh join: exit %d, %q %q", code, out, errOut)
		}
		keys := strings.TrimSuffix(c, ".json") + ".keys.json"
		if fi, err := os.Stat(keys); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key store %s: %v; want mode 0600", keys, err)
		}
	}

	listen := exec.Command(meshBin, "listen", "secret", "--json", "--count", "1", "--for", "30s", "--config", bob)
	var out strings.Builder
	listen.Stdout = &out
	stderr, _ := listen.StderrPipe()
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	ready, done, exited := make(chan bool, 1), make(chan error, 1), make(chan struct{})
	t.Cleanup(func() { listen.Process.Kill(); <-exited })
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		found := false
		for sc.Scan() {
			t.Logf("listen: %s", sc.Text())
			if sc.Text() == "mesh listen: ready" && !found {
				found = true
				ready <- true
			}
		}
		if !found {
			ready <- false
		}
		done <- listen.Wait()
	}()
	if !<-ready {
		t.Fatalf("mesh listen exited before it was ready: %v", <-done)
	}
	code, said, errOut := run(t, "say", "secret", "the", "word", "is", "marmalade-93", "--config", alice)
	if code != 0 {
		t.Fatalf("mesh say: exit %d, %q %q", code, said, errOut)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("mesh listen: %v; output %q", err, out.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("mesh listen did not stop after one message")
	}
	var m agent.Message
	if err := json.Unmarshal([]byte(strings.TrimSpace(out.String())), &m); err != nil {
		t.Fatalf("listen output %q: %v", out.String(), err)
	}
	if !m.E2E || m.Kind != mesh.MessageChat || m.Body.Text != "the word is marmalade-93" || m.From.Name != "alice" || !strings.HasPrefix(said, m.ID+" ") {
		t.Errorf("listen got %+v (e2e %t); want alice's opened line %q", m.Message, m.E2E, said)
	}

	// A command through mesh cmd to bob's Go program, and its result.
	var bc struct{ Token string }
	json.Unmarshal(mustRead(t, bob), &bc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runner, err := agent.Dial(ctx, agent.Config{URL: p.url, Token: bc.Token, Keys: agent.MemoryKeys()})
	if err != nil {
		t.Fatal(err)
	}
	defer runner.Close()
	runner.Command("shout", mesh.TrustLocal, func(ctx context.Context, cmd agent.Command) (string, error) {
		return strings.ToUpper(cmd.Text()), nil
	})
	if _, err := runner.Join(ctx, "secret"); err != nil {
		t.Fatal(err)
	}
	code, res, errOut := run(t, "cmd", "secret", "bob", "shout", `"quietly"`, "--wait", "30s", "--config", alice)
	if code != 0 || strings.TrimSpace(res) != "QUIETLY" {
		t.Fatalf("mesh cmd: exit %d, %q %q; want QUIETLY", code, res, errOut)
	}

	// The node stored ciphertext only.
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), "marmalade") || strings.Contains(string(b), "quietly") {
				t.Errorf("%s holds plaintext", path)
			}
		}
		return nil
	})
}
