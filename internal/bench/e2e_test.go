package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildMesh builds the mesh binary into a temporary directory.
func buildMesh(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mesh")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/the-mesh/mesh/cmd/mesh")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBench runs `mesh bench args... --json-only` and decodes its JSON line.
func runBench(t *testing.T, bin string, args ...string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, append(append([]string{"bench"}, args...), "--json-only")...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mesh bench %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var r map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil {
		t.Fatalf("output %q is not one JSON line: %v", stdout.String(), err)
	}
	t.Logf("%s", bytes.TrimSpace(stdout.Bytes()))
	return r
}

// TestEndToEnd builds the binary and runs tiny workloads against child
// nodes: nothing may be lost and the figures must be sane.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts nodes")
	}
	bin := buildMesh(t)
	num := func(t *testing.T, r map[string]any, key string) float64 {
		t.Helper()
		v, ok := r[key].(float64)
		if !ok {
			t.Fatalf("%s: got %v, want a number", key, r[key])
		}
		return v
	}
	checkTraffic := func(t *testing.T, r map[string]any, receivers float64) {
		t.Helper()
		sent, acked := num(t, r, "sent"), num(t, r, "acked")
		if sent < 1 || acked != sent {
			t.Errorf("sent %v, acked %v, want equal and positive", sent, acked)
		}
		for _, k := range []string{"lost", "gaps", "dups", "refused", "dropped_conns"} {
			if v := num(t, r, k); v != 0 {
				t.Errorf("%s: got %v, want 0", k, v)
			}
		}
		if got, want := num(t, r, "delivered"), num(t, r, "expected"); got != want || got != acked*receivers {
			t.Errorf("delivered %v, expected %v, want both %v", got, want, acked*receivers)
		}
		p50, p99, mx := num(t, r, "p50_ms"), num(t, r, "p99_ms"), num(t, r, "max_ms")
		if !(0 < p50 && p50 <= p99 && p99 <= mx && mx < 30000) {
			t.Errorf("latency p50 %v, p99 %v, max %v: want 0 < p50 <= p99 <= max < 30s", p50, p99, mx)
		}
		if v := num(t, r, "node_rss_mib"); v < 1 || v > 4096 {
			t.Errorf("node RSS %v MiB is not sane", v)
		}
		if v := num(t, r, "node_cpu_us_per_delivery"); v < 0 || v > 1e6 {
			t.Errorf("node CPU per delivery %v µs is not sane", v)
		}
	}

	t.Run("fanout", func(t *testing.T) {
		// 50 msgs/s for a 1s window: about 50 measured messages.
		r := runBench(t, bin, "fanout", "--members", "20", "--rate", "50", "--duration", "1s", "--warmup", "200ms", "--quiet")
		checkTraffic(t, r, 20)
		// The window counts says by their actual send time, so a
		// publisher starved of CPU (the machine may be busy) can count a
		// few more or fewer than rate x duration.
		if sent := num(t, r, "sent"); sent < 10 || sent > 100 {
			t.Errorf("sent %v, want about 50", sent)
		}
	})
	t.Run("rooms", func(t *testing.T) {
		r := runBench(t, bin, "rooms", "--clients", "20", "--rooms", "4", "--rate", "5", "--duration", "1s", "--warmup", "200ms", "--quiet")
		checkTraffic(t, r, 4) // 5 clients a room: 4 receivers per message
	})
	t.Run("idle", func(t *testing.T) {
		r := runBench(t, bin, "idle", "--conns", "50", "--rooms", "5", "--duration", "300ms", "--warmup", "200ms", "--quiet")
		if v := num(t, r, "node_connections"); v != 50 {
			t.Errorf("node_connections: got %v, want 50", v)
		}
		if v := num(t, r, "dropped_conns"); v != 0 {
			t.Errorf("dropped_conns: got %v, want 0", v)
		}
	})
	t.Run("federation", func(t *testing.T) {
		r := runBench(t, bin, "federation", "--messages", "200", "--warmup", "20", "--window", "16", "--quiet")
		if v := num(t, r, "received"); v != 200 {
			t.Errorf("received %v, want 200", v)
		}
		for _, k := range []string{"lost", "gaps", "dups", "refused"} {
			if v := num(t, r, k); v != 0 {
				t.Errorf("%s: got %v, want 0", k, v)
			}
		}
		if p50, p99 := num(t, r, "p50_ms"), num(t, r, "p99_ms"); !(0 < p50 && p50 <= p99 && p99 < 60000) {
			t.Errorf("latency p50 %v, p99 %v: want 0 < p50 <= p99 < 60s", p50, p99)
		}
		for _, k := range []string{"cpu_us_per_msg_a", "cpu_us_per_msg_b", "cpu_us_per_msg_c", "frames_per_msg"} {
			if v := num(t, r, k); v < 0 || v > 1e6 {
				t.Errorf("%s %v is not sane", k, v)
			}
		}
	})
	t.Run("startup", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		args := []string{"startup", "--messages", "2000", "--rooms", "4", "--runs", "1", "--settle", "100ms", "--data", data, "--quiet"}
		r := runBench(t, bin, args...)
		if v := num(t, r, "ready_ms"); v <= 0 || v > 30000 {
			t.Errorf("ready_ms %v is not sane", v)
		}
		if _, ok := r["generate_s"]; !ok {
			t.Errorf("first run did not generate")
		}
		r = runBench(t, bin, args...)
		if _, ok := r["generate_s"]; ok {
			t.Errorf("second run generated again instead of reusing %s", data)
		}
	})
}
