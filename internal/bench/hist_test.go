package bench_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/bench"
)

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(100 - i) // unsorted on purpose
	}
	for name, tt := range map[string]struct {
		values []float64
		q      float64
		want   float64
	}{
		"empty":        {nil, 0.5, 0},
		"one":          {[]float64{7}, 0.99, 7},
		"p50 of 100":   {hundred, 0.50, 50},
		"p99 of 100":   {hundred, 0.99, 99},
		"p999 of 100":  {hundred, 0.999, 100},
		"max of 100":   {hundred, 1, 100},
		"tiny q":       {hundred, 0.0001, 1},
		"p50 of two":   {[]float64{2, 1}, 0.5, 1},
		"p51 of two":   {[]float64{2, 1}, 0.51, 2},
		"p50 of three": {[]float64{3, 1, 2}, 0.5, 2},
	} {
		t.Run(name, func(t *testing.T) {
			if got := bench.Percentile(slices.Clone(tt.values), tt.q); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBuckets(t *testing.T) {
	check := func(us uint64) {
		t.Helper()
		b := bench.BucketOf(us)
		lo, hi := bench.BucketBounds(b)
		if us < lo || us > hi {
			t.Fatalf("value %d in bucket %d [%d, %d]", us, b, lo, hi)
		}
		if hi-lo > lo/64 {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/64 of its start", b, lo, hi)
		}
		if lo > 0 && bench.BucketOf(lo-1) != b-1 {
			t.Fatalf("value %d is in bucket %d, want %d", lo-1, bench.BucketOf(lo-1), b-1)
		}
	}
	for us := uint64(0); us < 5000; us++ {
		check(us)
	}
	for range 10000 {
		check(rand.Uint64N(bench.HistMaxUS + 1))
	}
	check(bench.HistMaxUS)
}

func TestHistogramQuantile(t *testing.T) {
	for name, tt := range map[string]struct {
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		"empty":        {nil, 0.5, 0},
		"exact small":  {[]time.Duration{10 * time.Microsecond, 20 * time.Microsecond, 30 * time.Microsecond}, 0.5, 20 * time.Microsecond},
		"max is exact": {[]time.Duration{1 * time.Microsecond, 1234567 * time.Nanosecond}, 1, 1234567 * time.Nanosecond},
		"negative":     {[]time.Duration{-time.Second}, 0.5, 0},
		"past an hour": {[]time.Duration{2 * time.Hour}, 1, 2 * time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			h := bench.NewHistogram()
			for _, v := range tt.values {
				h.Record(v)
			}
			if got := h.Quantile(tt.q); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestHistogramError checks quantiles against the exact nearest rank over a
// wide spread of latencies.
func TestHistogramError(t *testing.T) {
	h := bench.NewHistogram()
	var exact []float64
	for range 100000 {
		d := time.Duration(math.Exp(rand.Float64()*18) * float64(time.Microsecond)) // 1µs to ~65s
		h.Record(d)
		exact = append(exact, float64(d))
	}
	if h.Count() != 100000 {
		t.Fatalf("count %d, want 100000", h.Count())
	}
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		want := bench.Percentile(exact, q)
		got := float64(h.Quantile(q))
		// Bucket width is 1/64 of its start; the midpoint is within half of
		// that, plus the microsecond truncation.
		if math.Abs(got-want) > want/100+float64(time.Microsecond) {
			t.Errorf("q %v: got %v, want %v", q, time.Duration(got), time.Duration(want))
		}
	}
}
