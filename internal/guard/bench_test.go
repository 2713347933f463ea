package guard_test

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// message4KB builds a 4 KB message from benign and attack dev texts.
func message4KB(tb testing.TB) string {
	examples := mustReadExamples(tb, "testdata/dev.jsonl")
	var b strings.Builder
	for i := 0; b.Len() < 4096; i += 7 {
		b.WriteString(examples[i%len(examples)].Text)
		b.WriteString("\n")
	}
	return b.String()[:4096]
}

// BenchmarkScan4KB reports throughput (MB/s) and the 99th percentile
// latency of one Scan of a 4 KB message.
func BenchmarkScan4KB(b *testing.B) {
	s := scanner()
	msg := message4KB(b)
	b.SetBytes(int64(len(msg)))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		s.Scan(msg)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
