package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
)

// skillBlocks returns the ```sh blocks of SKILL.md, in order.
func skillBlocks(t *testing.T, path string) []string {
	t.Helper()
	var blocks []string
	var cur *strings.Builder
	for _, line := range strings.Split(string(mustRead(t, path)), "\n") {
		switch {
		case cur == nil && strings.TrimSpace(line) == "```sh":
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if cur != nil {
		t.Fatal("SKILL.md: unterminated ```sh block")
	}
	return blocks
}

// TestSkill runs the shell blocks of SKILL.md as one bash script, in a fresh
// directory and home, against a clone of this repository, while a second
// participant answers the script's message so that its mesh listen has a
// reply to print.
func TestSkill(t *testing.T) {
	if testing.Short() {
		t.Skip("clones and builds the repository")
	}
	top := strings.TrimSpace(gitOut(t, "", "rev-parse", "--show-toplevel"))
	tmp := t.TempDir()
	repo := filepath.Join(tmp, "repo")
	gitOut(t, "", "clone", "-q", top, repo)
	if _, err := os.Stat(filepath.Join(repo, "SKILL.md")); err != nil {
		// Not committed yet (a working tree under review): test the working
		// tree instead, committed into the clone. CI tests a clean clone.
		t.Logf("SKILL.md is not committed in %s: testing the working tree", top)
		overlayWorkTree(t, top, repo)
	}
	blocks := skillBlocks(t, filepath.Join(repo, "SKILL.md"))
	if len(blocks) < 4 {
		t.Fatalf("SKILL.md has %d sh blocks; want clone, build, start, register, listen, stop", len(blocks))
	}
	script := "set -euo pipefail\n" + strings.Join(blocks, "\n")
	work, home := filepath.Join(tmp, "work"), filepath.Join(tmp, "home")
	for _, d := range []string{work, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	addr := freeAddr(t)

	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = work
	cmd.Env = skillEnv(t, home, repo, addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the node it starts is in the group
	cmd.Stderr = scriptStderr{t}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	kill := time.AfterFunc(5*time.Minute, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	defer kill.Stop()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	heard := make(chan string, 1) // the script's message, as the responder saw it
	responded := make(chan struct{})
	go func() { defer close(responded); respond(ctx, t, "http://"+addr, heard) }()
	defer func() { cancel(); <-responded }() // no logging after the test ends

	var out strings.Builder
	said := regexp.MustCompile(`^m_\S+ \d+$`)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		t.Logf("script: %s", line)
		out.WriteString(line + "\n")
		if said.MatchString(line) {
			t.Logf("clone to first message sent: %v", time.Since(start).Round(time.Millisecond))
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("SKILL.md script: %v\n%s", err, out.String())
	}
	t.Logf("whole script: %v", time.Since(start).Round(time.Millisecond))
	var text string
	select {
	case text = <-heard:
	default:
		t.Fatal("the responder never saw the script's message")
	}
	if !strings.Contains(out.String(), `"text":"got: `+text+`"`) {
		t.Errorf("mesh listen did not print the reply to %q:\n%s", text, out.String())
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("the node still answers after the script's last block")
	}
}

// respond waits for the node at url, joins the lobby as "responder", and
// answers the first chat message of someone else with "got: TEXT" once the
// sender is listening (online in the lobby). It sends TEXT on heard.
func respond(ctx context.Context, t *testing.T, url string, heard chan<- string) {
	var tok string
	for ctx.Err() == nil {
		var err error
		if _, tok, err = agent.Register(ctx, url, agent.Registration{Name: "responder"}); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	c, err := agent.Dial(ctx, agent.Config{URL: url, Token: tok})
	if err != nil {
		t.Logf("responder: %v", err)
		return
	}
	defer c.Close()
	j, err := c.Join(ctx, "lobby")
	if err != nil {
		t.Logf("responder: %v", err)
		return
	}
	var m mesh.Message
	for _, h := range j.History {
		if h.Kind == mesh.MessageChat && h.From.ID != c.Me().ID {
			m = h.Message
		}
	}
	for m.ID == "" {
		select {
		case <-ctx.Done():
			return
		case in := <-c.Messages():
			if in.Kind == mesh.MessageChat {
				m = in.Message
			}
		}
	}
	heard <- m.Body.Text
	t.Logf("responder: heard %q from %s", m.Body.Text, m.From.Name)
	for ctx.Err() == nil && !online(ctx, url, tok, m.From.ID) {
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := c.Say(ctx, "lobby", "got: "+m.Body.Text); err != nil {
		t.Logf("responder: %v", err)
	}
}

// online reports whether id has a WebSocket subscribed to the lobby.
func online(ctx context.Context, url, tok string, id mesh.ParticipantID) bool {
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/api/v1/rooms/lobby/members", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var out struct{ Members []mesh.Member }
	if decodeJSON(resp, &out) != nil {
		return false
	}
	for _, m := range out.Members {
		if m.ID == id {
			return m.Online
		}
	}
	return false
}

// skillEnv is the script's environment: a fresh home and config, the
// node's address, and the Go caches of this test so nothing is downloaded.
func skillEnv(t *testing.T, home, repo, addr string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "XDG_CONFIG_HOME", "MESH_CONFIG", "MESH_REPO", "MESH_ADDR", "GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS":
			continue
		}
		env = append(env, kv)
	}
	goEnv := strings.Fields(string(mustOutput(t, exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH"))))
	if len(goEnv) != 3 {
		t.Fatalf("go env: %q", goEnv)
	}
	return append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"MESH_REPO="+repo, "MESH_ADDR="+addr,
		"GOCACHE="+goEnv[0], "GOMODCACHE="+goEnv[1], "GOPATH="+goEnv[2], "GOPROXY=off", "GOTOOLCHAIN=local")
}

// overlayWorkTree copies the working tree's files (tracked and untracked,
// not ignored) of top into the clone at repo and commits them there.
func overlayWorkTree(t *testing.T, top, repo string) {
	t.Helper()
	files := gitOut(t, top, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	for _, f := range strings.Split(strings.TrimRight(files, "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(top, f))
		if err != nil {
			continue // deleted in the working tree
		}
		st, _ := os.Stat(filepath.Join(top, f))
		dst := filepath.Join(repo, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	gitOut(t, repo, "add", "-A")
	gitOut(t, repo, "-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "-q", "-m", "working tree")
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	return string(mustOutput(t, cmd))
}

func mustOutput(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr)
	}
	return out
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func decodeJSON(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

// scriptStderr logs the script's standard error.
type scriptStderr struct{ t *testing.T }

func (w scriptStderr) Write(b []byte) (int, error) {
	w.t.Logf("script stderr: %s", strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
