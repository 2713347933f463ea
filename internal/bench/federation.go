package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/the-mesh/mesh/internal/interchange"
)

// FederationConfig is the federation workload: a relay and three nodes
// (child processes of the mesh binary), a room hosted on node B, a sender
// on node A and a receiver on node C, so that every message goes
// A -> relay -> B -> relay -> C.
type FederationConfig struct {
	Bin      string   // the mesh binary; "" means this executable
	NodeArgs []string // more flags for each node's mesh up
	Messages int      // measured messages
	Warmup   int      // messages sent (and awaited at C) before the measured ones
	Window   int      // says in flight
	// E2E counts a say in flight until the receiver has it, instead of
	// until the sending node acknowledges it (durable in its queue).
	E2E  bool
	Size int // text bytes per message
	// Timeout bounds the measured run (sending and receiving).
	Timeout time.Duration
	// ProfileDir, when set, gets a CPU profile of each node (a.pprof,
	// b.pprof, c.pprof) taken over ProfileFor from the start of the
	// measured run, through mesh up --debug-addr.
	ProfileDir string
	ProfileFor time.Duration
	// Trace, with ProfileDir, also takes an execution trace of each node
	// over the first 2 s ({a,b,c}.trace): go tool trace -pprof=sched FILE
	// shows which goroutines waited for a CPU, -pprof=sync which waited
	// on each other.
	Trace    bool
	Progress io.Writer // nil: no progress
}

// DefaultFederation returns the defaults of `mesh bench federation`.
func DefaultFederation() FederationConfig {
	return FederationConfig{Messages: 20000, Warmup: 500, Window: 256, Size: 200, Timeout: 5 * time.Minute, ProfileFor: 5 * time.Second}
}

func (c *FederationConfig) logf(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "bench federation: "+format+"\n", args...)
	}
}

// fedChild is one node of the chain with what the workload needs of it.
type fedChild struct {
	name  string // a, b or c
	node  *Node
	dir   string
	id    string
	owner string
	debug string // host:port of /debug/pprof, or ""
}

// RunFederation measures messages through a chain of nodes: an agent on
// node A says them, as fast as the window allows, in a room on node B
// that an agent on node C has joined. It reports messages/s end to end,
// the latency from the sender's write to the receiver's read, and CPU per
// message of each node and of the relay.
func RunFederation(ctx context.Context, cfg FederationConfig) (r *Report, err error) {
	if cfg.Messages < 1 || cfg.Window < 1 || cfg.Size < 1 || cfg.Warmup < 0 || cfg.Timeout <= 0 {
		return nil, errors.New("federation needs messages >= 1, window >= 1, size >= 1, warmup >= 0, timeout > 0")
	}
	relayDir, err := os.MkdirTemp("", "mesh-bench-fedrelay-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(relayDir)
	relay, err := startRelay(ctx, cfg.Bin, relayDir, "--rate", "0", "--send-queue", "65536", "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	defer relay.stop()
	cfg.logf("relay at %s", relay.url)

	nodes := make([]*fedChild, 3)
	defer func() {
		for _, n := range nodes {
			if n == nil {
				continue
			}
			if n.node != nil {
				if e := n.node.Stop(); e != nil && err == nil {
					err = fmt.Errorf("node %s: %w", n.name, e)
				}
			}
			os.RemoveAll(n.dir)
		}
	}()
	for i, name := range []string{"a", "b", "c"} {
		n, err := startFedChild(ctx, cfg, name, relay.url, relayDir)
		if err != nil {
			return nil, err
		}
		nodes[i] = n
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	cfg.logf("nodes a %s, b %s, c %s", a.id, b.id, c.id)

	room, err := b.federatedRoom(ctx, "bench-federation")
	if err != nil {
		return nil, err
	}
	address := room + "@" + b.id
	for _, n := range []*fedChild{a, c} {
		if err := n.waitDirectory(ctx, address, 30*time.Second); err != nil {
			return nil, err
		}
	}
	sender, err := a.agentConn(ctx, "bench-sender", address)
	if err != nil {
		return nil, err
	}
	defer sender.c.Close()
	receiver, err := c.agentConn(ctx, "bench-receiver", address)
	if err != nil {
		return nil, err
	}
	defer receiver.c.Close()

	run := &fedRun{cfg: &cfg, sender: sender, receiver: receiver, h: NewHistogram(), echo: NewHistogram(),
		slots: make(chan struct{}, cfg.Window), seen: make(chan struct{}, 1)}
	go run.readSender()
	go run.readReceiver()

	if cfg.Warmup > 0 {
		cfg.logf("warm-up: %d messages", cfg.Warmup)
		if err := run.send(ctx, cfg.Warmup, false, 2*time.Minute); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	procs := map[string]int{"a": a.node.Cmd.Process.Pid, "b": b.node.Cmd.Process.Pid, "c": c.node.Cmd.Process.Pid,
		"relay": relay.cmd.Process.Pid, "generator": os.Getpid()}
	before := map[string]Stats{}
	for k, pid := range procs {
		if before[k], err = ProcStats(pid); err != nil {
			return nil, err
		}
	}
	framesBefore, _ := relayMetrics(ctx, relay.url)
	var profiles sync.WaitGroup
	var profErr atomic.Pointer[error]
	if cfg.ProfileDir != "" {
		for _, n := range nodes {
			profiles.Go(func() {
				if err := n.profile(ctx, cfg.ProfileFor, filepath.Join(cfg.ProfileDir, n.name+".pprof"), cfg.Trace); err != nil {
					profErr.Store(&err)
				}
			})
		}
	}
	cfg.logf("measuring: %d messages, window %d", cfg.Messages, cfg.Window)
	start := time.Now()
	sendErr := run.send(ctx, cfg.Messages, true, cfg.Timeout)
	last := time.Unix(0, run.lastRecv.Load())
	el := last.Sub(start)
	after := map[string]Stats{}
	for k, pid := range procs {
		after[k], _ = ProcStats(pid)
	}
	framesAfter, _ := relayMetrics(ctx, relay.url)
	sendDone := time.Unix(0, run.lastAck.Load()).Sub(start)
	profiles.Wait()
	if e := profErr.Load(); e != nil && sendErr == nil {
		sendErr = fmt.Errorf("profile: %w", *e)
	}

	got := run.measured.Load()
	r = NewReport("federation")
	r.Add("messages", "messages measured", "", cfg.Messages)
	r.Add("window", "says in flight", "", cfg.Window)
	r.Add("window_until", "a say is in flight until", "", map[bool]string{false: "acked", true: "received"}[cfg.E2E])
	r.Add("size_bytes", "text size", "bytes", cfg.Size)
	r.Add("received", "received on C", "", got)
	r.Add("lost", "lost (acked, never received)", "", int64(cfg.Messages)-got)
	r.Add("gaps", "seq gaps on C", "", run.gaps.Load())
	r.Add("dups", "seq repeats on C", "", run.dups.Load())
	r.Add("refused", "says refused", "", run.refused.Load())
	r.Add("throughput", "end to end, A to C", "msgs/s", float64(got)/el.Seconds())
	r.Add("ack_rate", "acked by A (durable in its queue)", "msgs/s", float64(cfg.Messages)/sendDone.Seconds())
	r.Add("elapsed_s", "first send to last receive", "s", el.Seconds())
	r.Add("p50_ms", "sender to receiver p50", "ms", ms(run.h.Quantile(0.5)))
	r.Add("p99_ms", "sender to receiver p99", "ms", ms(run.h.Quantile(0.99)))
	r.Add("max_ms", "sender to receiver max", "ms", ms(run.h.Quantile(1)))
	r.Add("echo_p50_ms", "A to B and back to A p50", "ms", ms(run.echo.Quantile(0.5)))
	const delivered = "interchange_delivered_total"
	r.Add("frames_per_msg", "relay frames per message (all kinds, acks too)", "", (framesAfter[delivered]-framesBefore[delivered])/float64(max(got, 1)))
	var total time.Duration
	for _, k := range []string{"a", "b", "c", "relay", "generator"} {
		cpu := after[k].CPU - before[k].CPU
		if k != "generator" {
			total += cpu
		}
		r.Add("cpu_us_per_msg_"+k, "CPU per message, "+map[string]string{"a": "node A (sender's)",
			"b": "node B (home)", "c": "node C (receiver's)", "relay": "relay", "generator": "this generator"}[k], "µs", float64(cpu.Microseconds())/float64(max(got, 1)))
	}
	r.Add("cpu_us_per_msg", "CPU per message, nodes and relay", "µs", float64(total.Microseconds())/float64(max(got, 1)))
	for _, k := range []string{"a", "b", "c", "relay"} {
		r.Add("cpu_cores_"+k, "", "cores", (after[k].CPU-before[k].CPU).Seconds()/el.Seconds())
	}
	for _, n := range nodes {
		r.Add("rss_mib_"+n.name, "", "MiB", mib(after[n.name].RSS))
	}
	if cfg.ProfileDir != "" {
		r.Note("CPU profiles of the first %v: %s/{a,b,c}.pprof (go tool pprof -top FILE); allocations: {a,b,c}-allocs.pprof", cfg.ProfileFor, cfg.ProfileDir)
	}
	r.Note("The generator, the relay and the three nodes share this machine's CPUs; loadavg at the end: %s", loadavg())
	if sendErr != nil {
		return r, sendErr
	}
	return r, nil
}

func startFedChild(ctx context.Context, cfg FederationConfig, name, relayURL, relayDir string) (*fedChild, error) {
	dir, err := os.MkdirTemp("", "mesh-bench-fed"+name+"-")
	if err != nil {
		return nil, err
	}
	n := &fedChild{name: name, dir: dir}
	// A first start makes the node's identity.
	first, err := StartNode(ctx, NodeOptions{Bin: cfg.Bin, Dir: dir, Extra: []string{"--log-level", "warn"}})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	var info struct {
		Node struct {
			ID string `json:"id"`
		} `json:"node"`
	}
	err = first.API.do(ctx, http.MethodGet, "/api/v1/node", "", nil, &info)
	if e := first.Stop(); err == nil {
		err = e
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	n.id = info.Node.ID
	secret, err := interchange.OpenRegistry(relayDir).Allow(n.id)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	secretFile := filepath.Join(dir, "interchange.secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	extra := []string{"--log-level", "warn", "--interchange", relayURL, "--interchange-secret-file", secretFile}
	if cfg.ProfileDir != "" {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		n.debug = "127.0.0.1:" + strconv.Itoa(port)
		extra = append(extra, "--debug-addr", n.debug)
	}
	n.node, err = StartNode(ctx, NodeOptions{Bin: cfg.Bin, Dir: dir, Extra: append(extra, cfg.NodeArgs...)})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	owner, err := os.ReadFile(filepath.Join(dir, "owner.token"))
	if err != nil {
		return n, err
	}
	n.owner = strings.TrimSpace(string(owner))
	return n, nil
}

// federatedRoom creates a federated room on n with limits that do not
// throttle the benchmark, and returns its id.
func (n *fedChild) federatedRoom(ctx context.Context, name string) (string, error) {
	in := map[string]any{"name": name, "policy": map[string]any{
		"visibility": "federated",
		"limits":     map[string]any{"messagesPerMinute": 0, "burst": 1000000, "maxMessageBytes": 65536},
	}}
	var out struct {
		Room struct {
			ID string `json:"id"`
		} `json:"room"`
	}
	if err := n.node.API.do(ctx, http.MethodPost, "/api/v1/rooms", n.owner, in, &out); err != nil {
		return "", fmt.Errorf("create room on node %s: %w", n.name, err)
	}
	return out.Room.ID, nil
}

// waitDirectory waits until n's directory lists address.
func (n *fedChild) waitDirectory(ctx context.Context, address string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var out struct {
			Rooms []struct {
				Address string `json:"address"`
			} `json:"rooms"`
		}
		if err := n.node.API.do(ctx, http.MethodGet, "/api/v1/directory", n.owner, nil, &out); err != nil {
			return err
		}
		for _, r := range out.Rooms {
			if r.Address == address {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s never saw %s in its directory", n.name, address)
		}
		if !sleepUntil(ctx, time.Now().Add(20*time.Millisecond)) {
			return ctx.Err()
		}
	}
}

// agentConn registers an agent on n, connects it and joins it to address.
func (n *fedChild) agentConn(ctx context.Context, name, address string) (*client, error) {
	tok, err := n.node.API.Register(ctx, name)
	if err != nil {
		return nil, err
	}
	conn, err := Dial(ctx, n.node.URL)
	if err != nil {
		return nil, err
	}
	head, err := conn.Handshake(tok, address, 30*time.Second)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("node %s: %w", n.name, err)
	}
	return newClient(conn, address, head), nil
}

// profile writes a CPU profile of n over d to path, and what n allocated
// to path-allocs.pprof; with trace, a 2 s execution trace to path.trace.
func (n *fedChild) profile(ctx context.Context, d time.Duration, path string, trace bool) (err error) {
	if n.debug == "" {
		return nil
	}
	secs := max(1, int(d.Round(time.Second)/time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", n.debug, secs), nil)
	if err != nil {
		return err
	}
	var traced sync.WaitGroup
	var traceErr error
	if trace {
		traced.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.debug+"/debug/pprof/trace?seconds=2", nil)
			if err == nil {
				err = fetch(req, strings.TrimSuffix(path, ".pprof")+".trace")
			}
			traceErr = err
		})
	}
	defer func() {
		traced.Wait()
		if err == nil && traceErr != nil {
			err = fmt.Errorf("node %s: trace: %w", n.name, traceErr)
		}
	}()
	if err := fetch(req, path); err != nil {
		return fmt.Errorf("node %s: %w", n.name, err)
	}
	// What was allocated since the node started, for -sample_index=alloc_space.
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.debug+"/debug/pprof/allocs", nil)
	if err != nil {
		return err
	}
	return fetch(req, strings.TrimSuffix(path, ".pprof")+"-allocs.pprof")
}

// fetch writes what req answers to path.
func fetch(req *http.Request, path string) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: http %d", req.URL.Path, resp.StatusCode)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// fedRun is the traffic of the federation workload: one sender, one
// receiver. Each say's ref is its index; its text starts with its send
// time.
type fedRun struct {
	cfg      *FederationConfig
	sender   *client
	receiver *client
	h        *Histogram // sender to receiver, measured messages
	echo     *Histogram // sender to its own mirror, measured messages
	slots    chan struct{}

	measuring atomic.Bool
	received  atomic.Int64 // messages C received in this phase
	measured  atomic.Int64 // of them, measured
	acked     atomic.Int64 // acks in this phase
	refused   atomic.Int64
	gaps      atomic.Int64
	dups      atomic.Int64
	lastRecv  atomic.Int64 // UnixNano
	lastAck   atomic.Int64 // UnixNano
	errMsg    atomic.Pointer[string]
	seen      chan struct{} // signalled on each receive
}

func (fr *fedRun) release(e2e bool) {
	if fr.cfg.E2E == e2e {
		select {
		case <-fr.slots:
		default:
		}
	}
}

// readSender reads the sender's acks, errors and the echoes of its own
// messages through its node's mirror.
func (fr *fedRun) readSender() {
	cl := fr.sender
	for {
		f, err := cl.c.ReadFrame()
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		switch t := FrameType(f); {
		case bytes.Equal(t, typeAck):
			fr.acked.Add(1)
			fr.lastAck.Store(now)
			fr.release(false)
		case bytes.Equal(t, typeError):
			fr.refused.Add(1)
			code, _ := StringField(f, keyCode)
			msg, _ := StringField(f, []byte(`"message":`))
			s := string(code) + ": " + string(msg)
			fr.errMsg.CompareAndSwap(nil, &s)
			fr.release(false)
			fr.release(true)
		case bytes.Equal(t, typeMessage):
			if d, ok := ScanMessage(f); ok && d.Sent != 0 && fr.measuring.Load() {
				fr.echo.Record(time.Duration(now - d.Sent))
			}
		}
	}
}

// readReceiver reads the receiver's messages.
func (fr *fedRun) readReceiver() {
	cl := fr.receiver
	for {
		f, err := cl.c.ReadFrame()
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		if !bytes.Equal(FrameType(f), typeMessage) {
			continue
		}
		d, ok := ScanMessage(f)
		if !ok || !bytes.Equal(d.Room, cl.room) || d.Sent == 0 {
			continue
		}
		switch {
		case d.Seq == cl.last+1:
		case d.Seq > cl.last:
			fr.gaps.Add(int64(d.Seq - cl.last - 1))
		default:
			fr.dups.Add(1)
		}
		cl.last = max(cl.last, d.Seq)
		if fr.measuring.Load() {
			fr.h.Record(time.Duration(now - d.Sent))
			fr.measured.Add(1)
		}
		fr.lastRecv.Store(now)
		fr.received.Add(1)
		fr.release(true)
		select {
		case fr.seen <- struct{}{}:
		default:
		}
	}
}

// send says n messages, keeping at most the window in flight, and waits
// until the receiver has them all (or timeout passes).
func (fr *fedRun) send(ctx context.Context, n int, measured bool, timeout time.Duration) error {
	fr.received.Store(0)
	fr.acked.Store(0)
	fr.measuring.Store(measured)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	room := string(fr.sender.room)
	var buf, text []byte
	for i := range n {
		select {
		case fr.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("sent %d of %d in %v (window full)%s", i, n, timeout, fr.lastError())
		}
		text = AppendText(text[:0], time.Now().UnixNano(), fr.cfg.Size)
		buf = append(buf[:0], `{"type":"say","room":`...)
		buf = strconv.AppendQuote(buf, room)
		buf = append(buf, `,"ref":"`...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, `","text":"`...)
		buf = append(buf, text...)
		buf = append(buf, `"}`...)
		if err := fr.sender.c.WriteText(buf); err != nil {
			return err
		}
	}
	for fr.received.Load() < int64(n) {
		select {
		case <-fr.seen:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("received %d of %d in %v%s", fr.received.Load(), n, timeout, fr.lastError())
		}
	}
	// Empty the window for the next phase.
	for len(fr.slots) > 0 {
		<-fr.slots
	}
	return nil
}

func (fr *fedRun) lastError() string {
	if s := fr.errMsg.Load(); s != nil {
		return "; first error: " + *s
	}
	return ""
}
