package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Node is the node under test: a child process the generator started, or
// an existing node reached by URL (then Cmd is nil and stats come from
// /metrics).
type Node struct {
	URL string
	TLS *tls.Config // for an https node; nil: the system's roots
	API *API
	Cmd *exec.Cmd // nil for an existing node
	Dir string    // the child's data directory

	tempDir bool // Dir was made by StartNode and is removed by Stop

	log    *tailBuffer
	exited chan struct{} // closed when the child has exited
	err    error         // the child's exit error, set before exited closes
	ready  time.Duration // from start to the first 200 on /healthz
}

// NodeOptions says how to start a child node.
type NodeOptions struct {
	Bin   string   // the mesh binary; "" means this executable
	Dir   string   // data directory; "" means a new temporary one, removed by Stop
	Extra []string // more flags for `mesh up`
	// ReadyTimeout bounds the wait for /healthz; 0 means 60s.
	ReadyTimeout time.Duration
}

// StartNode starts `mesh up` on a free loopback port with rate and
// per-address connection limits off, and waits until /healthz answers 200.
func StartNode(ctx context.Context, o NodeOptions) (*Node, error) {
	bin := o.Bin
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find the mesh binary: %w", err)
		}
		bin = exe
	}
	dir, temp := o.Dir, false
	if dir == "" {
		d, err := os.MkdirTemp("", "mesh-bench-")
		if err != nil {
			return nil, err
		}
		dir, temp = d, true
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := append([]string{"up", "--addr", addr, "--data", dir, "--rate", "0", "--max-conns-per-ip", "0"}, o.Extra...)
	n := &Node{
		URL:    "http://" + addr,
		Dir:    dir,
		log:    &tailBuffer{max: 64 << 10},
		exited: make(chan struct{}),
	}
	n.API = NewAPI(n.URL, 64)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = n.log, n.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		if temp {
			os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	n.Cmd, n.tempDir = cmd, temp
	go func() {
		n.err = cmd.Wait()
		close(n.exited)
	}()
	timeout := o.ReadyTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	if err := n.waitReady(ctx, start, timeout); err != nil {
		n.Stop()
		return nil, err
	}
	return n, nil
}

// ExistingNode returns a Node for a node that is already running at url,
// verifying an https node's certificate with tc (nil: the system's roots).
func ExistingNode(ctx context.Context, url string, tc *tls.Config) (*Node, error) {
	n := &Node{URL: strings.TrimSuffix(url, "/"), TLS: tc}
	n.API = NewAPI(n.URL, 64)
	n.API.Client.Transport.(*http.Transport).TLSClientConfig = tc
	if !n.API.Healthy(ctx) {
		return nil, fmt.Errorf("node at %s: /healthz does not answer 200", url)
	}
	return n, nil
}

func (n *Node) waitReady(ctx context.Context, start time.Time, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	probe := &API{Base: n.URL, Client: n.API.Client}
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		ok := probe.Healthy(pctx)
		cancel()
		if ok {
			n.ready = time.Since(start)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-n.exited:
			return fmt.Errorf("node exited before it was ready (%v); its output:\n%s", n.err, n.log.String())
		case <-deadline.C:
			return fmt.Errorf("node not ready after %v; its output:\n%s", timeout, n.log.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// ReadyAfter is the time from starting the child to its first 200 on
// /healthz (0 for an existing node).
func (n *Node) ReadyAfter() time.Duration { return n.ready }

// Output returns the last 64 KiB the child wrote to stdout and stderr.
func (n *Node) Output() string {
	if n.log == nil {
		return ""
	}
	return n.log.String()
}

// Stop sends SIGTERM to a child node and waits up to 15s for it to exit,
// then kills it. It removes a temporary data directory. It does nothing for
// an existing node.
func (n *Node) Stop() error {
	if n.Cmd == nil {
		return nil
	}
	var err error
	if e := n.Cmd.Process.Signal(syscall.SIGTERM); e != nil && !errors.Is(e, os.ErrProcessDone) {
		err = e
	}
	select {
	case <-n.exited:
		var ee *exec.ExitError
		if n.err != nil && !(errors.As(n.err, &ee) && ee.Exited() && ee.ExitCode() == 0) {
			err = fmt.Errorf("node exit: %v", n.err)
		}
	case <-time.After(15 * time.Second):
		// The node ignored SIGTERM; this is reported, and the kill is
		// best effort.
		_ = n.Cmd.Process.Kill()
		<-n.exited
		err = errors.New("node did not exit within 15s of SIGTERM; killed")
	}
	if n.tempDir {
		os.RemoveAll(n.Dir)
	}
	return err
}

// Stats is a sample of the node's resource use.
type Stats struct {
	RSS int64         // resident memory, bytes
	CPU time.Duration // user plus system CPU time since start
}

// Stats samples the node's memory and CPU: from /proc for a child, from
// /metrics (process_resident_memory_bytes, process_cpu_seconds_total) for
// an existing node.
func (n *Node) Stats(ctx context.Context) (Stats, error) {
	if n.Cmd != nil {
		return ProcStats(n.Cmd.Process.Pid)
	}
	m, err := n.API.Metrics(ctx)
	if err != nil {
		return Stats{}, err
	}
	rss, ok1 := m["process_resident_memory_bytes"]
	cpu, ok2 := m["process_cpu_seconds_total"]
	if !ok1 || !ok2 {
		return Stats{}, errors.New("/metrics lacks process_resident_memory_bytes or process_cpu_seconds_total")
	}
	return Stats{RSS: int64(rss), CPU: time.Duration(cpu * float64(time.Second))}, nil
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux the generator runs on.
const clockTick = 100

// ProcStats reads a process's VmRSS from /proc/<pid>/status and its
// utime+stime from /proc/<pid>/stat.
func ProcStats(pid int) (Stats, error) {
	var s Stats
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return s, err
	}
	if s.RSS, err = ParseVmRSS(status); err != nil {
		return s, err
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return s, err
	}
	s.CPU, err = ParseProcCPU(stat)
	return s, err
}

// ParseVmRSS returns the VmRSS line of /proc/<pid>/status in bytes.
func ParseVmRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("unexpected VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// ParseProcCPU returns utime+stime from a /proc/<pid>/stat line. The
// command name in parentheses may hold spaces, so fields count from the
// last ')'.
func ParseProcCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	// After the name: state(3) ppid(4) ... utime(14) stime(15).
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat times: %w", err)
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it. It is safe for
// concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

var _ io.Writer = (*tailBuffer)(nil)
