package main_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/meshtest"
)

var meshBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "meshbin")
	if err != nil {
		panic(err)
	}
	meshBin = filepath.Join(dir, "mesh")
	if out, err := exec.Command("go", "build", "-o", meshBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build mesh: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a `mesh up` child process.
type proc struct {
	cmd  *exec.Cmd
	url  string
	out  chan string // stdout lines after the listening line
	done chan error
}

// startNode runs mesh up on dir with a free port and waits until it listens.
func startNode(t *testing.T, dir string, flags ...string) *proc {
	t.Helper()
	args := append([]string{"up", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "warn"}, flags...)
	cmd := exec.Command(meshBin, args...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = &testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, out: make(chan string, 100), done: make(chan error, 1)}
	lines := bufio.NewScanner(stdout)
	listening := regexp.MustCompile(`listening on (http://\S+)`)
	deadline := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
	for lines.Scan() {
		if m := listening.FindStringSubmatch(lines.Text()); m != nil {
			p.url = m[1]
			break
		}
	}
	deadline.Stop()
	if p.url == "" {
		t.Fatal("mesh up did not print its URL")
	}
	go func() {
		for lines.Scan() {
			p.out <- lines.Text()
		}
		close(p.out)
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-p.done })
	return p
}

func (p *proc) node() *meshtest.Node { return &meshtest.Node{URL: p.url, Dir: ""} }

// stop sends sig and waits for the process to exit.
func (p *proc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		p.done <- err // for Cleanup
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("mesh did not exit within 20 s of %v", sig)
		return nil
	}
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(b []byte) (int, error) {
	w.t.Logf("node: %s", strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// run runs the mesh binary and returns its exit code, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(meshBin, args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

func TestHelp(t *testing.T) {
	code, out, _ := run(t, "--help")
	for _, cmd := range []string{"up", "invite", "audit", "bench", "scan", "id", "version"} {
		if code != 0 || !strings.Contains(out, "  "+cmd+" ") {
			t.Errorf("mesh --help (exit %d) does not list %q:\n%s", code, cmd, out)
		}
	}
	code, _, errOut := run(t, "up", "--help")
	for _, flag := range []string{"-addr", "-data", "-max-frame-bytes", "-max-text-bytes", "-rate", "-burst", "-max-conns-per-ip"} {
		if code != 0 || !strings.Contains(errOut, flag) {
			t.Errorf("mesh up --help (exit %d) does not explain %s:\n%s", code, flag, errOut)
		}
	}
	if code, _, errOut := run(t, "up", "--rate", "-1"); code == 0 || !strings.Contains(errOut, "negative") {
		t.Errorf("mesh up --rate -1: exit %d, %q; want a refusal naming the problem", code, errOut)
	}
	if code, _, errOut := run(t, "frobnicate"); code != 2 || !strings.Contains(errOut, "frobnicate") {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
	if code, out, _ := run(t, "version"); code != 0 || !strings.HasPrefix(out, "mesh ") {
		t.Errorf("mesh version: exit %d, %q", code, out)
	}
}

// TestFirstStart checks the identity files, their modes and the login URL.
func TestFirstStart(t *testing.T) {
	dir := t.TempDir()
	p := startNode(t, dir)
	line := <-p.out
	tok, err := os.ReadFile(filepath.Join(dir, "owner.token"))
	if err != nil {
		t.Fatal(err)
	}
	want := p.url + "/#token=" + strings.TrimSpace(string(tok))
	if !strings.Contains(line, want) {
		t.Fatalf("login line %q does not hold %q", line, want)
	}
	for _, f := range []string{"owner.token", "node.key"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, err %v; want 0600", f, st.Mode().Perm(), err)
		}
	}
	code, id, _ := run(t, "id", "--data", dir)
	if code != 0 || !strings.Contains(string(mustRead(t, filepath.Join(dir, "node.json"))), strings.TrimSpace(id)) {
		t.Fatalf("mesh id printed %q (exit %d), not the id in node.json", id, code)
	}
	n := p.node()
	if st, body := n.Do(t, "GET", "/api/v1/participants/me", strings.TrimSpace(string(tok)), nil); st != 200 ||
		body["participant"].(map[string]any)["trust"] != "owner" {
		t.Fatalf("owner token: HTTP %d %v", st, body)
	}
	if st, body := n.Do(t, "GET", "/api/v1/rooms/lobby", strings.TrimSpace(string(tok)), nil); st != 200 {
		t.Fatalf("lobby: HTTP %d %v", st, body)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var _ = io.Discard
