package jsonl_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/store/jsonl"
)

// benchLine returns a lineLen-byte line (newline excluded) for seq.
func benchLine(buf []byte, seq uint64, lineLen int) []byte {
	buf = append(buf[:0], `{"seq":`...)
	buf = strconv.AppendUint(buf, seq, 10)
	buf = append(buf, `,"text":"`...)
	for len(buf) < lineLen-2 {
		buf = append(buf, 'x')
	}
	return append(buf, `"}`...)
}

// BenchmarkAppend measures durable appends of 200-byte lines from 8
// goroutines, each keeping a batch of appends in flight.
func BenchmarkAppend(b *testing.B) {
	const writers, inFlight, rooms = 8, 512, 16
	var fsyncs, fsyncNanos atomic.Int64
	s, err := jsonl.Open(b.TempDir(), jsonl.Options{OnFsync: func(d time.Duration) {
		fsyncs.Add(1)
		fsyncNanos.Add(int64(d))
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			n := b.N/writers + btoi(w < b.N%writers)
			var batch sync.WaitGroup
			for i := 0; i < n; i += inFlight {
				for k := i; k < min(n, i+inFlight); k++ {
					room := mesh.RoomID("room-" + strconv.Itoa((w*inFlight+k)%rooms))
					batch.Add(1)
					s.Append(room, func(seq uint64) ([]byte, error) { return benchLine(make([]byte, 0, 200), seq, 200), nil },
						func(e mesh.Entry, err error) {
							if err != nil {
								failed.Add(1)
							}
							batch.Done()
						})
				}
				batch.Wait()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d appends failed", n)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N)/float64(max(1, fsyncs.Load())), "msgs/fsync")
	b.ReportMetric(float64(fsyncNanos.Load())/float64(max(1, fsyncs.Load()))/1e3, "µs/fsync")
}

// BenchmarkRead reads pages of 100 from random places in a 100,000-line log.
func BenchmarkRead(b *testing.B) {
	dir := b.TempDir()
	writeLogs(b, dir, 1, 100_000, 200)
	s, err := jsonl.Open(dir, jsonl.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for b.Loop() {
		after := rng.Uint64N(100_000 - 100)
		es, err := s.Read("room-0", after, 100)
		if err != nil || len(es) != 100 {
			b.Fatalf("Read: %d entries, %v", len(es), err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkOpen opens 1,000,000 stored messages in 100 rooms. The first
// open, which builds every index, is reported as "rebuild".
func BenchmarkOpen(b *testing.B) {
	const rooms, perRoom = 100, 10_000
	dir := b.TempDir()
	writeLogs(b, dir, rooms, perRoom, 200)
	b.Run("rebuild", func(b *testing.B) {
		for b.Loop() {
			for r := range rooms {
				os.Remove(filepath.Join(dir, "messages", fmt.Sprintf("room-%d.idx", r)))
			}
			openCheck(b, dir, rooms, perRoom)
		}
	})
	openCheck(b, dir, rooms, perRoom) // builds the indexes if rebuild did not run
	b.Run("1M-msgs-100-rooms", func(b *testing.B) {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		for b.Loop() {
			openCheck(b, dir, rooms, perRoom)
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/open")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "MiB-alloc/open")
		b.ReportMetric(float64(rssKiB())/1024, "MiB-RSS")
	})
}

func openCheck(b *testing.B, dir string, rooms, perRoom int) {
	s, err := jsonl.Open(dir, jsonl.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if h, _ := s.Head("room-7"); h.Seq != uint64(perRoom) || len(s.Rooms()) != rooms {
		b.Fatalf("Head = %v with %d rooms, want seq %d, %d rooms", h, len(s.Rooms()), perRoom, rooms)
	}
	s.Close()
}

// writeLogs writes rooms logs of n lines each straight to disk, no index.
func writeLogs(b *testing.B, dir string, rooms, n, lineLen int) {
	b.Helper()
	os.MkdirAll(filepath.Join(dir, "messages"), 0o755)
	var buf []byte
	for r := range rooms {
		f, err := os.Create(filepath.Join(dir, "messages", fmt.Sprintf("room-%d.jsonl", r)))
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		for seq := uint64(1); seq <= uint64(n); seq++ {
			buf = benchLine(buf, seq, lineLen-1)
			w.Write(append(buf, '\n'))
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// rssKiB returns the process's resident set size, or 0 if unknown.
func rssKiB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
