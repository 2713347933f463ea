package bench_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/bench"
)

func TestParseVmRSS(t *testing.T) {
	for name, tt := range map[string]struct {
		status  string
		want    int64
		wantErr bool
	}{
		"real":    {"Name:\tmesh\nVmPeak:\t  20000 kB\nVmRSS:\t   14852 kB\nRssAnon:\t 5000 kB\n", 14852 << 10, false},
		"missing": {"Name:\tmesh\n", 0, true},
		"no unit": {"VmRSS:\t14852\n", 0, true},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := bench.ParseVmRSS([]byte(tt.status))
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("got %d, %v, want %d (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseProcCPU(t *testing.T) {
	for name, tt := range map[string]struct {
		stat    string
		want    time.Duration
		wantErr bool
	}{
		"plain":    {"123 (mesh) S 1 123 123 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 9 0 100 0 0", 3 * time.Second, false},
		"spaces":   {"123 (a b) c)) S 1 123 123 0 -1 4194560 500 0 0 0 7 3 0 0", 100 * time.Millisecond, false},
		"short":    {"123 (mesh) S 1 2", 0, true},
		"no paren": {"123 mesh S", 0, true},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := bench.ParseProcCPU([]byte(tt.stat))
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("got %v, %v, want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestProcStatsSelf(t *testing.T) {
	s, err := bench.ProcStats(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if s.RSS < 1<<20 {
		t.Errorf("got RSS %d, want at least 1 MiB for a Go test binary", s.RSS)
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP process_cpu_seconds_total CPU.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.25
process_resident_memory_bytes 1.5e+07
mesh_connections 3
mesh_fsync_seconds_bucket{le="0.001"} 7
mesh_req{path="/a b",code="200"} 4 1700000000000
broken line here
`
	got, err := bench.ParseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"process_cpu_seconds_total":             1.25,
		"process_resident_memory_bytes":         1.5e7,
		"mesh_connections":                      3,
		`mesh_fsync_seconds_bucket{le="0.001"}`: 7,
		`mesh_req{path="/a b",code="200"}`:      4,
	}
	if len(got) != len(want) {
		t.Errorf("got %d samples %v, want %d", len(got), got, len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
		}
	}
}
