package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/metrics"
)

func TestTextFormat(t *testing.T) {
	r := metrics.NewRegistry()
	c := r.Counter("mesh_things_total", "Things.")
	c.Add(3)
	c.Inc()
	r.Gauge("mesh_open", "Open now.", func() float64 { return 2.5 })
	h := r.DurationHistogram("mesh_fsync_seconds", "Fsync latency.", time.Millisecond, 10*time.Millisecond)
	h.Observe(500 * time.Microsecond)
	h.Observe(5 * time.Millisecond)
	h.Observe(time.Second)
	var b strings.Builder
	r.WriteText(&b)
	want := `# HELP mesh_fsync_seconds Fsync latency.
# TYPE mesh_fsync_seconds histogram
mesh_fsync_seconds_bucket{le="0.001"} 1
mesh_fsync_seconds_bucket{le="0.01"} 2
mesh_fsync_seconds_bucket{le="+Inf"} 3
mesh_fsync_seconds_sum 1.0055
mesh_fsync_seconds_count 3
# HELP mesh_open Open now.
# TYPE mesh_open gauge
mesh_open 2.5
# HELP mesh_things_total Things.
# TYPE mesh_things_total counter
mesh_things_total 4
`
	if got := b.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestProcess(t *testing.T) {
	r := metrics.NewRegistry()
	r.RegisterProcess()
	var b strings.Builder
	r.WriteText(&b)
	for _, m := range []string{"process_cpu_seconds_total ", "process_resident_memory_bytes "} {
		if !strings.Contains(b.String(), m) {
			t.Fatalf("missing %s in\n%s", m, b.String())
		}
	}
	if rss, err := metrics.ProcRSS("self"); err != nil || rss < 1<<20 {
		t.Fatalf("ProcRSS(self) = %d, %v; want at least 1 MiB", rss, err)
	}
}
