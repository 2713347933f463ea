package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	mesh "github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/store/jsonl"
)

// startupMarker names the file that records what a generated data
// directory holds, so a cached one is reused only for the same workload.
const startupMarker = "bench-startup.json"

type startupShape struct {
	Messages int `json:"messages"`
	Rooms    int `json:"rooms"`
	Size     int `json:"size"`
}

// RunStartup runs the startup workload: it generates (or reuses) a data
// directory with cfg.Messages messages, then starts a node on it cfg.Runs
// times, and as many times on an empty directory for comparison, measuring
// the time to the first 200 on /healthz and the node's RSS.
func RunStartup(ctx context.Context, cfg StartupConfig) (*Report, error) {
	if cfg.Messages < 0 || cfg.Rooms < 1 || cfg.Size < 1 || cfg.Runs < 1 {
		return nil, errors.New("startup needs messages >= 0, rooms >= 1, size >= 1 and runs >= 1")
	}
	dir := cfg.Data
	if dir == "" {
		d, err := os.MkdirTemp("", "mesh-bench-startup-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	shape := startupShape{cfg.Messages, cfg.Rooms, cfg.Size}
	gen, cached, err := prepareStartupDir(ctx, cfg.Bin, cfg.NodeArgs, dir, shape, cfg.logf)
	if err != nil {
		return nil, err
	}
	size, err := dirSize(filepath.Join(dir, "messages"))
	if err != nil {
		return nil, err
	}

	full, err := startRuns(ctx, cfg, dir, "history")
	if err != nil {
		return nil, err
	}
	emptyDir, err := os.MkdirTemp("", "mesh-bench-empty-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(emptyDir)
	empty, err := startRuns(ctx, cfg, emptyDir, "empty")
	if err != nil {
		return nil, err
	}

	r := NewReport("startup")
	r.Add("messages", "messages", "", cfg.Messages)
	r.Add("rooms", "rooms", "", cfg.Rooms)
	r.Add("size_bytes", "text size", "bytes", cfg.Size)
	r.Add("data_mib", "message logs on disk", "MiB", mib(size))
	if cached {
		r.Note("data directory %s reused from an earlier run", dir)
	} else {
		r.Add("generate_s", "generate and register rooms", "s", secs(gen))
	}
	r.Add("runs", "starts", "", cfg.Runs)
	r.Add("ready_ms", "time to ready (median)", "ms", ms(median(full.ready)))
	r.Add("ready_ms_max", "time to ready (max)", "ms", ms(slices.Max(full.ready)))
	r.Add("node_rss_mib", "RSS at ready (median)", "MiB", mib(median(full.rss)))
	r.Add("node_rss_peak_mib", fmt.Sprintf("RSS peak within %v of ready", cfg.Settle), "MiB", mib(slices.Max(full.peak)))
	r.Add("empty_ready_ms", "empty dir: time to ready (median)", "ms", ms(median(empty.ready)))
	r.Add("empty_rss_mib", "empty dir: RSS at ready (median)", "MiB", mib(median(empty.rss)))
	for i := range full.ready {
		r.Note("start %d: ready in %v, RSS %.1f MiB at ready, %.1f MiB peak", i+1,
			full.ready[i].Round(time.Millisecond), mib(full.rss[i]), mib(full.peak[i]))
	}
	return r, nil
}

// prepareStartupDir fills dir with the messages shape asks for, unless its
// marker says it already holds them.
func prepareStartupDir(ctx context.Context, bin string, nodeArgs []string, dir string, shape startupShape, logf func(string, ...any)) (took time.Duration, cached bool, err error) {
	marker := filepath.Join(dir, startupMarker)
	if b, err := os.ReadFile(marker); err == nil {
		var have startupShape
		if err := json.Unmarshal(b, &have); err != nil {
			return 0, false, fmt.Errorf("read %s: %w", marker, err)
		}
		if have != shape {
			return 0, false, fmt.Errorf("%s holds %d messages in %d rooms of %d bytes; use another --data for this shape", dir, have.Messages, have.Rooms, have.Size)
		}
		return 0, true, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, false, err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return 0, false, fmt.Errorf("%s is not empty and was not made by mesh bench startup", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, false, err
	}
	logf("generating %d messages in %d rooms under %s", shape.Messages, shape.Rooms, dir)
	start := time.Now()
	if err := GenerateMessages(ctx, dir, shape.Messages, shape.Rooms, shape.Size); err != nil {
		return 0, false, err
	}
	// The node serves only the rooms in its registry, so create them
	// (their ids are the names slugified, as the logs are named).
	logf("registering the %d rooms with a node", shape.Rooms)
	if err := registerRooms(ctx, bin, nodeArgs, dir, shape.Rooms); err != nil {
		return 0, false, err
	}
	took = time.Since(start)
	b, _ := json.Marshal(shape) // a struct of ints always encodes
	if err := os.WriteFile(marker, b, 0o600); err != nil {
		return 0, false, err
	}
	logf("generated in %v", took.Round(time.Millisecond))
	return took, false, nil
}

// GenerateMessages appends n chat messages with texts of size bytes, spread
// round-robin over rooms bench-startup-0 ..., to the room logs under dir,
// through the storage package as a node would.
func GenerateMessages(ctx context.Context, dir string, n, rooms, size int) error {
	store, err := jsonl.Open(dir, jsonl.Options{})
	if err != nil {
		return err
	}
	ids := make([]mesh.RoomID, rooms)
	for i := range ids {
		ids[i] = mesh.RoomID("bench-startup-" + strconv.Itoa(i))
	}
	from := mesh.Sender{ID: "p_benchstartup", Name: "bench", Kind: mesh.KindAgent, Node: "bench"}
	text := string(AppendText(nil, time.Now().UnixNano(), size))
	ts := time.Now().UTC()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	done := func(_ mesh.Entry, err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
		wg.Done()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		room := ids[i%rooms]
		id := "m_bench" + strconv.Itoa(i)
		wg.Add(1)
		// Append blocks while too much is queued, which paces this loop.
		store.Append(room, func(seq uint64) ([]byte, error) {
			return json.Marshal(mesh.Message{
				ID: id, Room: room, Seq: seq, Kind: mesh.MessageChat, From: from,
				Trust: mesh.TrustLocal, TS: ts.Add(time.Duration(i) * time.Millisecond),
				Body: mesh.Body{Text: text},
			})
		}, done)
	}
	wg.Wait()
	err = store.Close()
	mu.Lock()
	defer mu.Unlock()
	return errors.Join(ctx.Err(), firstErr, err)
}

// registerRooms starts a node on dir and creates rooms bench-startup-0 ...
// in its registry.
func registerRooms(ctx context.Context, bin string, nodeArgs []string, dir string, rooms int) (err error) {
	n, err := StartNode(ctx, NodeOptions{Bin: bin, Dir: dir, Extra: nodeArgs, ReadyTimeout: 10 * time.Minute})
	if err != nil {
		return err
	}
	defer func() {
		if e := n.Stop(); err == nil {
			err = e
		}
	}()
	token, err := n.API.Register(ctx, "bench-startup")
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	ids, err := createRooms(ctx, n.API, []string{token}, "bench-startup", rooms, 16)
	if err != nil {
		return err
	}
	for i, id := range ids {
		if want := "bench-startup-" + strconv.Itoa(i); id != want {
			return fmt.Errorf("room %q got id %q, want %q", want, id, want)
		}
	}
	return nil
}

// startStats are the measurements of one set of starts.
type startStats struct {
	ready     []time.Duration
	rss, peak []int64
}

func startRuns(ctx context.Context, cfg StartupConfig, dir, what string) (startStats, error) {
	var s startStats
	for i := range cfg.Runs {
		cfg.logf("start %d of %d on the %s directory", i+1, cfg.Runs, what)
		n, err := StartNode(ctx, NodeOptions{Bin: cfg.Bin, Dir: dir, Extra: cfg.NodeArgs, ReadyTimeout: 10 * time.Minute})
		if err != nil {
			return s, err
		}
		st, err := n.Stats(ctx)
		peak := st.RSS
		if err == nil {
			ws := sampleWindow(ctx, n, time.Now(), time.Now().Add(cfg.Settle))
			err = ws.err
			peak = max(peak, ws.peakRSS)
		}
		if e := n.Stop(); err == nil {
			err = e
		}
		if err != nil {
			return s, err
		}
		s.ready = append(s.ready, n.ReadyAfter())
		s.rss = append(s.rss, st.RSS)
		s.peak = append(s.peak, peak)
	}
	return s, nil
}

// median returns the middle value (the lower of the two middle ones).
func median[T int64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}
