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
// goroutines, each keeping a batch of appends in flight, spread over 16,
// 100 and 1,000 rooms (more than the store keeps open at once).
func BenchmarkAppend(b *testing.B) {
	for _, rooms := range []int{16, 100, 1000} {
		b.Run(fmt.Sprintf("%d-rooms", rooms), func(b *testing.B) { benchAppend(b, rooms) })
	}
}

func benchAppend(b *testing.B, rooms int) {
	const writers, inFlight = 8, 512
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

// BenchmarkJournalAppend measures Journal.Append from 100 goroutines per
// CPU, as when many participants join rooms at once.
func BenchmarkJournalAppend(b *testing.B) {
	var fsyncs atomic.Int64
	j, err := jsonl.OpenJournalFsync(filepath.Join(b.TempDir(), "rooms.jsonl"), nil,
		func([]byte) error { return nil }, func(time.Duration) { fsyncs.Add(1) })
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	type join struct {
		Op          string `json:"op"`
		Room        string `json:"room"`
		Participant string `json:"participant"`
		N           int    `json:"n"`
	}
	var n atomic.Int64
	b.SetParallelism(100)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			if err := j.Append(join{"join", "room-" + strconv.Itoa(i%100), "agent-" + strconv.Itoa(i), i}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	b.ReportMetric(float64(b.N)/float64(max(1, fsyncs.Load())), "appends/fsync")
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

// BenchmarkOpenAfterCrash opens 1,000,000 messages in 100 rooms after a
// crash that left a full WAL (64 MiB: the last 2,900 lines of every room)
// and cut every log back by 1,000 lines, which Open puts back.
func BenchmarkOpenAfterCrash(b *testing.B) {
	const rooms, perRoom, inWAL, lost = 100, 10_000, 2_900, 1_000
	dir := b.TempDir()
	writeLogs(b, dir, rooms, perRoom, 200)
	openCheck(b, dir, rooms, perRoom) // builds the indexes
	fi, err := os.Stat(logPath(dir, "room-0"))
	if err != nil {
		b.Fatal(err)
	}
	cut := fi.Size() / perRoom * (perRoom - lost) // lines are all 200 bytes
	wal := jsonl.WALHeader()
	for r := range rooms {
		room := mesh.RoomID(fmt.Sprintf("room-%d", r))
		var buf []byte
		for seq := uint64(perRoom - inWAL + 1); seq <= perRoom; seq++ {
			buf = benchLine(buf, seq, 199)
			wal = jsonl.AppendWALRecord(wal, jsonl.WALRecord{Room: room, Seq: seq, Line: buf})
		}
	}
	for b.Loop() {
		b.StopTimer()
		for r := range rooms {
			if err := os.Truncate(logPath(dir, mesh.RoomID(fmt.Sprintf("room-%d", r))), cut); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "messages", "wal"), wal, 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		openCheck(b, dir, rooms, perRoom)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/open")
	b.ReportMetric(float64(len(wal))/(1<<20), "MiB-wal")
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
