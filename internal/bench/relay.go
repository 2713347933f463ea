package bench

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/interchange"
)

// RelayConfig is the relay workload: an Interchange relay child process
// and synthetic nodes speaking its protocol from this process.
type RelayConfig struct {
	Bin        string        // the mesh binary; "" means this executable
	Rate       float64       // latency phase: frames per second, paced
	LatencyFor time.Duration // latency phase length
	Pairs      int           // throughput phase: sender and receiver pairs
	BlastFor   time.Duration // throughput phase length
	Nodes      int           // memory phase: idle nodes connected at once
	Text       int           // bytes of chat text in each frame's body
	// ProfileDir, when set, gets CPU profiles of the throughput phase:
	// relay.pprof (through mesh interchange --debug-addr) and
	// generator.pprof (this process).
	ProfileDir string
	Progress   io.Writer // nil: no progress
}

// DefaultRelay returns the defaults of `mesh bench relay`.
func DefaultRelay() RelayConfig {
	return RelayConfig{Rate: 2000, LatencyFor: 5 * time.Second, Pairs: 4, BlastFor: 5 * time.Second, Nodes: 1000, Text: 120}
}

func (c *RelayConfig) logf(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "bench relay: "+format+"\n", args...)
	}
}

// relayChild is the relay under test.
type relayChild struct {
	cmd  *exec.Cmd
	url  string
	dir  string // a temporary data directory, removed by stop
	done chan struct{}
}

func startRelayChild(ctx context.Context, bin, debug string) (*relayChild, error) {
	args := []string{"--open", "--rate", "0", "--send-queue", "65536", "--log-level", "warn"}
	if debug != "" {
		args = append(args, "--debug-addr", debug)
	}
	return startRelay(ctx, bin, "", args...)
}

// startRelay starts mesh interchange on a free loopback port with args,
// in dir ("" makes a temporary one, removed by stop), and waits until it
// listens.
func startRelay(ctx context.Context, bin, dir string, args ...string) (*relayChild, error) {
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		bin = exe
	}
	temp := dir == ""
	if temp {
		d, err := os.MkdirTemp("", "mesh-bench-relay-")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"interchange", "--addr", "127.0.0.1:" + strconv.Itoa(port), "--data", dir}, args...)...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		if temp {
			os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("start the relay: %w", err)
	}
	r := &relayChild{cmd: cmd, done: make(chan struct{})}
	if temp {
		r.dir = dir
	}
	lines := bufio.NewScanner(stdout)
	re := regexp.MustCompile(`listening on (ws://\S+)`)
	timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	for lines.Scan() {
		if m := re.FindStringSubmatch(lines.Text()); m != nil {
			r.url = m[1]
			break
		}
	}
	timer.Stop()
	go func() {
		for lines.Scan() {
		}
		cmd.Wait()
		close(r.done)
	}()
	if r.url == "" {
		r.stop()
		return nil, errors.New("the relay did not start")
	}
	return r, nil
}

func (r *relayChild) stop() {
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
	}
	if r.dir != "" {
		os.RemoveAll(r.dir)
	}
}

// synthNode is a node identity for the relay's open mode.
func synthNode() interchange.Identity {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	return interchange.Identity{ID: interchange.InstanceID('n', priv.Public().(ed25519.PublicKey)), Key: priv}
}

func dialSynth(ctx context.Context, url string) (*interchange.Link, interchange.Identity, error) {
	id := synthNode()
	l, err := interchange.Dial(ctx, interchange.DialConfig{URL: url, Identity: id, Kind: interchange.KindNode,
		// A sender waits on a short queue, which stays in the caches: a
		// long one only costs the generator memory traffic.
		Queue: interchange.QueueLimits{MaxFrames: 2048, MaxBytes: 2 << 20, WriteTimeout: 10 * time.Second}})
	return l, id, err
}

// sendPayload builds a send frame from id to node to whose id field is
// 19 digits at offset at (for a timestamp), with a chat body of text bytes.
func sendPayload(id interchange.Identity, to string, text int) (frame []byte, at int) {
	body, _ := json.Marshal(mesh.FedBody{Kind: mesh.FedSay, Room: mesh.RoomID("bench@" + to), Msg: &mesh.Message{
		ID: "m_bench0000000000", Room: mesh.RoomID("bench@" + to), Kind: mesh.MessageChat,
		From: mesh.Sender{ID: "p_bench0000000000", Name: "bench", Kind: mesh.KindAgent, Node: id.ID},
		TS:   time.Now().UTC(), Body: mesh.Body{Text: padding(text)},
		Provenance: []mesh.Provenance{{Node: id.ID, TS: time.Now().UTC(),
			Sig: "w0cWa0R5gkM8mNWbdlPtqD3rSOeKvmaotSZobbESzDTu4iDJwK7fLSLcIpBUAmn2ei37eS+puYBjs7XQm6yfAw=="}}}})
	sig := ed25519.Sign(id.Key, interchange.SignedBytes(id.ID, to, body))
	f, _ := json.Marshal(interchange.Send{Type: interchange.TypeSend, To: to, ID: "0000000000000000000", N: 1, Base: 1,
		Epoch: "bench", Key: id.Public(), Sig: base64.StdEncoding.EncodeToString(sig), Body: body})
	return f, len(`{"type":"send","to":"`) + len(to) + len(`","id":"`)
}

func padding(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return string(b)
}

func stamp(frame []byte, at int) []byte {
	f := append([]byte(nil), frame...)
	strconv.AppendInt(f[:at], time.Now().UnixNano(), 10)
	return f
}

// receiveStamps reads deliver frames and records now - the stamp in
// their id, until the link closes.
func receiveStamps(l *interchange.Link, h *Histogram, count *atomic.Int64) {
	for {
		p, err := l.Read()
		if err != nil {
			return
		}
		if len(p) < 20 || string(p[:17]) != `{"type":"deliver"` {
			continue
		}
		i := indexOf(p, []byte(`"id":"`))
		if i < 0 || i+6+19 > len(p) {
			continue
		}
		ns, err := strconv.ParseInt(string(p[i+6:i+6+19]), 10, 64)
		if err != nil {
			continue
		}
		if h != nil {
			h.Record(time.Since(time.Unix(0, ns)))
		}
		count.Add(1)
	}
}

func indexOf(p, sub []byte) int {
	for i := 0; i+len(sub) <= len(p); i++ {
		if string(p[i:i+len(sub)]) == string(sub) {
			return i
		}
	}
	return -1
}

// RunRelay measures one relay: the latency it adds (paced frames from one
// node to another through it, against the same frames over one direct
// loopback TCP hop), its throughput (pairs of nodes sending as fast as they
// can) and its memory per connected node.
func RunRelay(ctx context.Context, cfg RelayConfig) (r *Report, err error) {
	if cfg.Rate <= 0 || cfg.Pairs < 1 || cfg.Nodes < 1 || cfg.Text < 0 {
		return nil, errors.New("relay needs rate > 0, pairs >= 1, nodes >= 1")
	}
	var debug string
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return nil, err
		}
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		debug = "127.0.0.1:" + strconv.Itoa(port)
	}
	relay, err := startRelayChild(ctx, cfg.Bin, debug)
	if err != nil {
		return nil, err
	}
	defer relay.stop()
	pid := relay.cmd.Process.Pid
	r = NewReport("relay")
	r.Add("relay", "relay", "", relay.url)

	// Memory: idle nodes.
	cfg.logf("memory: %d idle nodes", cfg.Nodes)
	time.Sleep(time.Second)
	idle, _ := ProcStats(pid)
	var links []*interchange.Link
	var mu sync.Mutex
	err = forEach(ctx, cfg.Nodes, 32, func(ctx context.Context, i int) error {
		l, _, err := dialSynth(ctx, relay.url)
		if err != nil {
			return err
		}
		go func() {
			for {
				if _, err := l.Read(); err != nil {
					return
				}
			}
		}()
		mu.Lock()
		links = append(links, l)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("connect idle nodes: %w", err)
	}
	time.Sleep(2 * time.Second)
	full, _ := ProcStats(pid)
	for _, l := range links {
		l.Abort()
	}
	r.Add("idle_nodes", "idle nodes connected", "", cfg.Nodes)
	r.Add("rss_before_mib", "relay RSS before", "MiB", float64(idle.RSS)/(1<<20))
	r.Add("rss_after_mib", "relay RSS with the nodes", "MiB", float64(full.RSS)/(1<<20))
	r.Add("rss_per_node_kib", "relay RSS per connected node", "KiB", float64(full.RSS-idle.RSS)/float64(cfg.Nodes)/1024)
	// Latency: one node to another, paced.
	cfg.logf("latency: %g frames/s for %v", cfg.Rate, cfg.LatencyFor)
	la, ida, err := dialSynth(ctx, relay.url)
	if err != nil {
		return nil, err
	}
	lb, idb, err := dialSynth(ctx, relay.url)
	if err != nil {
		return nil, err
	}
	frame, at := sendPayload(ida, idb.ID, cfg.Text)
	r.Add("frame_bytes", "frame size", "B", len(frame))
	hRelay, hDirect := NewHistogram(), NewHistogram()
	var got atomic.Int64
	go receiveStamps(lb, hRelay, &got)
	n := pace(ctx, cfg.Rate, cfg.LatencyFor, func() { la.SendWait(stamp(frame, at)) })
	waitCount(&got, int64(n), 5*time.Second)
	la.Close()
	lb.Close()
	if _, err := directHop(ctx, frame, at, cfg.Rate, cfg.LatencyFor, hDirect); err != nil {
		return nil, err
	}
	r.Add("latency_frames", "frames timed", "", n)
	r.Add("latency_lost", "frames lost", "", int64(n)-got.Load())
	r.Add("relay_p50_us", "node to node through the relay p50", "µs", us(hRelay.Quantile(0.5)))
	r.Add("relay_p99_us", "node to node through the relay p99", "µs", us(hRelay.Quantile(0.99)))
	r.Add("direct_p50_us", "one direct loopback hop p50", "µs", us(hDirect.Quantile(0.5)))
	r.Add("direct_p99_us", "one direct loopback hop p99", "µs", us(hDirect.Quantile(0.99)))
	r.Add("added_p50_us", "latency the relay adds p50 (relay - direct)", "µs", us(hRelay.Quantile(0.5)-hDirect.Quantile(0.5)))

	// Throughput: pairs of nodes, each sender as fast as it can.
	cfg.logf("throughput: %d pairs for %v", cfg.Pairs, cfg.BlastFor)
	var recv atomic.Int64
	var senders, receivers []*interchange.Link
	for range cfg.Pairs {
		s, sid, err := dialSynth(ctx, relay.url)
		if err != nil {
			return nil, err
		}
		d, did, err := dialSynth(ctx, relay.url)
		if err != nil {
			return nil, err
		}
		senders, receivers = append(senders, s), append(receivers, d)
		go func() {
			for {
				if _, err := d.Read(); err != nil {
					return
				}
				recv.Add(1)
			}
		}()
		f, _ := sendPayload(sid, did.ID, cfg.Text)
		go func() {
			for ctx.Err() == nil {
				if !s.SendWait(f) {
					return
				}
			}
		}()
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Second) // warm up
	var profiled sync.WaitGroup
	var profileErr error
	stopProfile := func() {}
	if debug != "" {
		stopProfile, err = profileSelf(filepath.Join(cfg.ProfileDir, "generator.pprof"))
		if err != nil {
			return nil, err
		}
		profiled.Go(func() {
			secs := max(1, int(cfg.BlastFor/time.Second))
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", debug, secs), nil)
			if err == nil {
				err = fetch(req, filepath.Join(cfg.ProfileDir, "relay.pprof"))
			}
			profileErr = err
		})
	}
	before, err := ProcStats(pid)
	if err != nil {
		return nil, err
	}
	genBefore, _ := ProcStats(os.Getpid())
	r0, t0 := recv.Load(), time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(cfg.BlastFor):
	}
	r1, el := recv.Load(), time.Since(t0)
	after, _ := ProcStats(pid)
	genAfter, _ := ProcStats(os.Getpid())
	stopProfile()
	profiled.Wait()
	if profileErr != nil {
		return nil, fmt.Errorf("profile the relay: %w", profileErr)
	}
	for _, l := range senders {
		l.Abort()
	}
	time.Sleep(200 * time.Millisecond)
	for _, l := range receivers {
		l.Abort()
	}
	rate := float64(r1-r0) / el.Seconds()
	r.Add("throughput", "frames through the relay", "/s", rate)
	r.Add("relay_cpu_per_frame_us", "relay CPU per frame", "µs", float64((after.CPU-before.CPU).Microseconds())/float64(max(r1-r0, 1)))
	r.Add("relay_cpu_cores", "relay CPU", "cores", (after.CPU-before.CPU).Seconds()/el.Seconds())
	r.Add("generator_cpu_cores", "generator CPU (this process: senders and receivers)", "cores", (genAfter.CPU-genBefore.CPU).Seconds()/el.Seconds())
	if m, err := relayMetrics(ctx, relay.url); err == nil {
		r.Add("throughput_dropped", "frames the relay dropped (a full queue)", "", int64(m["interchange_dropped_queue_total"]))
	}

	if cfg.ProfileDir != "" {
		r.Note("CPU profiles of the throughput phase: %s/{relay,generator}.pprof (go tool pprof -top FILE)", cfg.ProfileDir)
	}
	r.Note("The generator runs on the same machine as the relay and shares its CPUs; loadavg at the end: %s", loadavg())
	return r, nil
}

// relayMetrics reads the relay's /metrics.
func relayMetrics(ctx context.Context, url string) (map[string]float64, error) {
	return NewAPI("http"+strings.TrimPrefix(url, "ws"), 1).Metrics(ctx)
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// pace calls send rate times a second for d and returns how many times.
func pace(ctx context.Context, rate float64, d time.Duration, send func()) int {
	start := time.Now()
	n := 0
	for ctx.Err() == nil {
		next := start.Add(time.Duration(float64(n) / rate * float64(time.Second)))
		if next.Sub(start) >= d {
			break
		}
		if w := time.Until(next); w > 0 {
			time.Sleep(w)
		}
		send()
		n++
	}
	return n
}

func waitCount(c *atomic.Int64, want int64, max time.Duration) {
	deadline := time.Now().Add(max)
	for c.Load() < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// directHop sends the same frames, paced the same, over one loopback TCP
// connection (length-prefixed) and times them: the baseline a relay's
// two hops are compared with.
func directHop(ctx context.Context, frame []byte, at int, rate float64, d time.Duration, h *Histogram) (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		var hdr [4]byte
		buf := make([]byte, 0, 1<<16)
		for {
			if _, err := io.ReadFull(br, hdr[:]); err != nil {
				return
			}
			n := int(binary.BigEndian.Uint32(hdr[:]))
			buf = buf[:n]
			if _, err := io.ReadFull(br, buf); err != nil {
				return
			}
			if ns, err := strconv.ParseInt(string(buf[at:at+19]), 10, 64); err == nil {
				h.Record(time.Since(time.Unix(0, ns)))
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	n := pace(ctx, rate, d, func() {
		f := stamp(frame, at)
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(len(f)))
		c.Write(append(hdr[:], f...))
	})
	c.Close()
	<-done
	return n, nil
}

// profileSelf starts a CPU profile of this process into path; stop ends it.
func profileSelf(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("profile the generator: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return string(b[:len(b)-1])
}
