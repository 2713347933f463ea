package audit_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/the-mesh/mesh/internal/audit"
)

// BenchmarkRecord records typical chat lines from parallel goroutines and
// waits for them to be fsynced; records/s counts durable lines.
func BenchmarkRecord(b *testing.B) {
	l := MustOpen(b, b.TempDir(), audit.Options{})
	var i atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Record(say(int(i.Add(1))))
		}
	})
	if err := l.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	MustClose(b, l)
}
