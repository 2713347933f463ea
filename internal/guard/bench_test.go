package guard_test

import (
	"encoding/json"
	"os"
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

// vectorText returns the text of the row of testdata/protocol/guard/scan.json
// named name, so that the TypeScript SDK's bench (sdk/bench/guard.ts) scans
// the same bytes.
func vectorText(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile("../../testdata/protocol/guard/scan.json")
	if err != nil {
		tb.Fatal(err)
	}
	var v struct {
		Input struct {
			Texts []struct{ Name, Text string } `json:"texts"`
		} `json:"input"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatal(err)
	}
	for _, t := range v.Input.Texts {
		if t.Name == name {
			return t.Text
		}
	}
	tb.Fatalf("no vector named %q", name)
	return ""
}

// BenchmarkScanChat and BenchmarkScan8KB scan a typical 200-byte chat
// message and an 8 KiB one made of dev texts, as sdk/bench/guard.ts does.
func BenchmarkScanChat(b *testing.B) { benchmarkScan(b, vectorText(b, "chat 200 bytes")) }
func BenchmarkScan8KB(b *testing.B)  { benchmarkScan(b, vectorText(b, "long 8 KiB")) }

func benchmarkScan(b *testing.B, msg string) {
	s := scanner()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for range b.N {
		s.Scan(msg)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "scans/s")
}
