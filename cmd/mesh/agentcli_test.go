package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
)

// mustRegister registers name on the node with its own config file in a
// temp dir and returns the config path and the participant id.
func mustRegister(t *testing.T, p *proc, name string) (config, id string) {
	t.Helper()
	config = filepath.Join(t.TempDir(), "mesh", "config.json")
	code, out, errOut := run(t, "register", "--config", config, "--node", p.url, "--name", name)
	if code != 0 || !strings.HasPrefix(out, "p_") {
		t.Fatalf("mesh register %s: exit %d, %q %q", name, code, out, errOut)
	}
	return config, strings.TrimSpace(out)
}

func TestRegisterWritesConfig(t *testing.T) {
	p := startNode(t, t.TempDir())
	config, id := mustRegister(t, p, "alice")
	st, err := os.Stat(config)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config: mode %v, err %v; want 0600", st.Mode().Perm(), err)
	}
	if st, err := os.Stat(filepath.Dir(config)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("config directory: mode %v, err %v; want 0700", st.Mode().Perm(), err)
	}
	var c struct{ Node, Token, ID, Name string }
	if err := json.Unmarshal(mustRead(t, config), &c); err != nil {
		t.Fatal(err)
	}
	if c.Node != p.url || !strings.HasPrefix(c.Token, "mesh_") || c.ID != id || c.Name != "alice" {
		t.Errorf("config holds %+v; want node %s, a token, id %s, name alice", c, p.url, id)
	}

	// The same identity again is a no-op; another one is refused without --force.
	if code, out, _ := run(t, "register", "--config", config, "--name", "alice"); code != 0 || strings.TrimSpace(out) != id {
		t.Errorf("register alice again: exit %d, %q; want %s", code, out, id)
	}
	if code, _, errOut := run(t, "register", "--config", config, "--name", "bob"); code != 1 || !strings.Contains(errOut, "--force") {
		t.Errorf("register bob over alice's config: exit %d, %q; want a refusal naming --force", code, errOut)
	}
	if code, out, _ := run(t, "register", "--config", config, "--name", "bob", "--force"); code != 0 || strings.TrimSpace(out) == id {
		t.Errorf("register bob --force: exit %d, %q; want a new id", code, out)
	}
}

func TestRoomsListsLobby(t *testing.T) {
	p := startNode(t, t.TempDir())
	config, _ := mustRegister(t, p, "alice")
	code, out, errOut := run(t, "rooms", "--config", config)
	if code != 0 || !strings.Contains(out, "lobby") {
		t.Fatalf("mesh rooms: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := run(t, "rooms", "create", "Design Review", "--topic", "weekly", "--config", config); code != 0 || strings.TrimSpace(out) != "design-review" {
		t.Fatalf("mesh rooms create: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = run(t, "rooms", "--json", "--config", config)
	var rooms []mesh.Room
	if err := json.Unmarshal([]byte(out), &rooms); code != 0 || err != nil || len(rooms) != 2 {
		t.Fatalf("mesh rooms --json: exit %d, %v, %q", code, err, out)
	}
	if r := rooms[0]; r.ID != "design-review" || r.Topic != "weekly" {
		t.Errorf("rooms[0] = %s %q; want design-review with topic weekly", r.ID, r.Topic)
	}
}

// TestSayListen has bob listen to the lobby and alice say something in it.
func TestSayListen(t *testing.T) {
	p := startNode(t, t.TempDir())
	alice, _ := mustRegister(t, p, "alice")
	bob, bobID := mustRegister(t, p, "bob")
	if code, out, errOut := run(t, "join", "lobby", "--config", alice); code != 0 || !strings.Contains(out, "joined lobby") {
		t.Fatalf("mesh join: exit %d, %q %q", code, out, errOut)
	}

	listen := exec.Command(meshBin, "listen", "lobby", "--json", "--count", "1", "--for", "20s", "--config", bob)
	var out strings.Builder
	listen.Stdout = &out
	stderr, _ := listen.StderrPipe()
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ready := make(chan bool, 1)
	exited := make(chan struct{})
	t.Cleanup(func() { listen.Process.Kill(); <-exited }) // no logging after the test ends
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

	code, said, errOut := run(t, "say", "lobby", "hello", "bob", "--to", bobID, "--config", alice)
	if code != 0 {
		t.Fatalf("mesh say: exit %d, %q %q", code, said, errOut)
	}
	var id string
	var seq uint64
	if _, err := fmt.Sscan(said, &id, &seq); err != nil || !strings.HasPrefix(id, "m_") || seq != 1 {
		t.Fatalf("mesh say printed %q; want the message id and seq 1", said)
	}

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("mesh listen: %v; output %q", err, out.String())
		}
	case <-time.After(30 * time.Second):
		listen.Process.Kill()
		t.Fatal("mesh listen did not stop after one message")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var m mesh.Message
	if err := json.Unmarshal([]byte(lines[0]), &m); len(lines) != 1 || err != nil {
		t.Fatalf("listen output %q: want one JSON line (%v)", out.String(), err)
	}
	if m.ID != id || m.Seq != seq || m.Body.Text != "hello bob" || m.From.Name != "alice" || m.Trust != mesh.TrustLocal || string(m.To) != bobID {
		t.Errorf("listen got %+v; want alice's %s \"hello bob\" to bob", m, id)
	}
}

func TestCmdWithoutExecute(t *testing.T) {
	p := startNode(t, t.TempDir())
	alice, _ := mustRegister(t, p, "alice")
	bob, bobID := mustRegister(t, p, "bob")
	for _, c := range []string{alice, bob} {
		if code, _, errOut := run(t, "join", "lobby", "--config", c); code != 0 {
			t.Fatalf("mesh join: exit %d, %q", code, errOut)
		}
	}
	code, out, errOut := run(t, "cmd", "lobby", bobID, "test", `{"race":true}`, "--config", alice)
	if code != 1 || !strings.Contains(errOut, "forbidden") || !strings.Contains(errOut, "execute") {
		t.Errorf("mesh cmd to bob (no execute): exit %d, %q %q; want exit 1 and forbidden", code, out, errOut)
	}
	// By name, with --wait: refused the same way before any waiting.
	code, _, errOut = run(t, "cmd", "lobby", "bob", "test", "--wait", "5s", "--config", alice)
	if code != 1 || !strings.Contains(errOut, "forbidden") {
		t.Errorf("mesh cmd --wait to bob: exit %d, %q; want exit 1 and forbidden", code, errOut)
	}
}

func TestAgentCommandsWithoutConfig(t *testing.T) {
	config := filepath.Join(t.TempDir(), "none.json")
	for _, args := range [][]string{
		{"rooms"}, {"join", "lobby"}, {"say", "lobby", "hi"}, {"listen", "lobby"}, {"cmd", "lobby", "p_x", "test"}, {"bridge", "list", "lobby"},
	} {
		code, _, errOut := run(t, append(args, "--config", config)...)
		if code != 1 || !strings.Contains(errOut, "run mesh register first") || !strings.Contains(errOut, config) {
			t.Errorf("mesh %s without config: exit %d, %q; want exit 1 and \"run mesh register first\"", args[0], code, errOut)
		}
	}
	for _, cmd := range []string{"register", "rooms", "join", "say", "listen", "cmd", "bridge"} {
		if code, _, errOut := run(t, cmd, "--help"); code != 0 || !strings.Contains(errOut, "-config") || !strings.Contains(errOut, "Usage: mesh "+cmd) {
			t.Errorf("mesh %s --help: exit %d, %q", cmd, code, errOut)
		}
	}
	if code, _, errOut := run(t, "say", "lobby"); code != 2 || !strings.Contains(errOut, "TEXT") {
		t.Errorf("mesh say lobby: exit %d, %q; want a usage error", code, errOut)
	}
}
