package hub_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/hub"
)

// pipe returns a Conn whose frames can be read from the returned reader.
func pipe(t testing.TB, limits hub.Limits, counters *hub.Counters) (*hub.Conn, *bufio.Reader, net.Conn) {
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	return hub.NewConn(server, limits, counters), bufio.NewReader(client), client
}

func readText(t *testing.T, r *bufio.Reader) map[string]any {
	t.Helper()
	data, op, err := wsutil.ReadServerData(struct {
		io.Reader
		io.Writer
	}{r, io.Discard})
	if err != nil || op != ws.OpText {
		t.Fatalf("read frame: op %v err %v", op, err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("frame %q: %v", data, err)
	}
	return m
}

func entry(seq uint64) mesh.Entry {
	return mesh.Entry{Seq: seq, Line: fmt.Appendf(nil, `{"seq":%d,"body":{"text":"m%d"}}`, seq, seq)}
}

func noLoad(mesh.RoomID, int) (uint64, []mesh.Entry, error) { return 0, nil, nil }

func joinedFrame(history [][]byte, head uint64, _ map[mesh.ParticipantID]int, _ mesh.WorldState) ([]byte, error) {
	raw := make([]json.RawMessage, len(history))
	for i, h := range history {
		raw[i] = h
	}
	return hub.Frame(mesh.Joined{Type: "joined", History: raw, Head: head})
}

func TestFrameEncoding(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 200000} {
		line := []byte(`{"t":"` + string(make([]byte, 0)) + `"}`)
		payload := append([]byte(`{"x":"`), append(make([]byte, n), '"', '}')...)
		for i := 6; i < 6+n; i++ {
			payload[i] = 'a'
		}
		for _, f := range [][]byte{hub.RawFrame(payload), hub.MessageFrame(line)} {
			h, err := ws.ReadHeader(bufioOf(f))
			if err != nil || !h.Fin || h.OpCode != ws.OpText || h.Masked || int(h.Length) != len(f)-headerSize(f) {
				t.Fatalf("n=%d: header %+v err %v for a %d-byte frame", n, h, err, len(f))
			}
		}
	}
}

func bufioOf(b []byte) *bufio.Reader { return bufio.NewReader(io.NopCloser(readerOf(b))) }

type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func readerOf(b []byte) io.Reader { return &byteReader{b} }

func headerSize(f []byte) int {
	switch f[1] & 0x7f {
	case 126:
		return 4
	case 127:
		return 10
	}
	return 2
}

func TestPublishOrderAndAck(t *testing.T) {
	h := hub.New(8)
	r, _ := h.Room("lobby", noLoad)
	a, ar, _ := pipe(t, hub.DefaultLimits, nil)
	b, br, _ := pipe(t, hub.DefaultLimits, nil)
	go func() {
		r.Subscribe(a, mesh.Participant{ID: "a"}, true, false, 0, joinedFrame, nil)
		r.Subscribe(b, mesh.Participant{ID: "b"}, true, false, 0, joinedFrame, nil)
		for seq := uint64(1); seq <= 20; seq++ {
			r.Publish(entry(seq), a) // a, the origin, gets nothing
		}
		ack, _ := hub.Frame(mesh.Ack{Type: "ack", Seq: 21})
		a.Send(ack)
		r.Publish(entry(21), a)
	}()
	readText(t, ar) // joined
	readText(t, br)
	if f := readText(t, ar); f["type"] != "ack" || f["seq"] != 21.0 {
		t.Fatalf("origin got %v, want only its ack", f)
	}
	for seq := 1; seq <= 21; seq++ {
		f := readText(t, br)
		if got := f["message"].(map[string]any)["seq"]; got != float64(seq) {
			t.Fatalf("got seq %v, want %d", got, seq)
		}
	}
}

// TestSlowConsumerDropped: a connection nobody reads is closed once its
// queue is full, and publishing never blocks on it.
func TestSlowConsumerDropped(t *testing.T) {
	var slow atomic.Int32
	h := hub.New(8)
	r, _ := h.Room("lobby", noLoad)
	stuck, _, _ := pipe(t, hub.Limits{MaxFrames: 16, MaxBytes: 1 << 20, WriteTimeout: time.Minute},
		&hub.Counters{SlowConsumers: func() { slow.Add(1) }})
	r.Subscribe(stuck, mesh.Participant{ID: "s"}, true, false, 0, joinedFrame, nil)
	done := make(chan struct{})
	go func() {
		for seq := uint64(1); seq <= 100; seq++ {
			r.Publish(entry(seq), nil)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a consumer that never reads")
	}
	if slow.Load() != 1 || stuck.Reason() == "" {
		t.Fatalf("slow consumers %d, reason %q; want 1 and a reason", slow.Load(), stuck.Reason())
	}
	stuck.Wait() // the writer goroutine has exited
}

// TestResumeFromMemoryAndSync covers both catch-up paths of Subscribe.
func TestResumeFromMemoryAndSync(t *testing.T) {
	h := hub.New(mesh.DefaultHistory)
	r, _ := h.Room("lobby", noLoad)
	for seq := uint64(1); seq <= 100; seq++ {
		r.Publish(entry(seq), nil)
	}
	c, cr, _ := pipe(t, hub.DefaultLimits, nil)
	subs := make(chan hub.Subscription, 1)
	go func() {
		s, _ := r.Subscribe(c, mesh.Participant{ID: "c"}, true, true, 90, joinedFrame, nil)
		subs <- s
	}()
	if f := readText(t, cr); f["type"] != "joined" || len(f["history"].([]any)) != 0 {
		t.Fatalf("got %v, want joined with no history", f)
	}
	for seq := 91; seq <= 100; seq++ {
		if got := readText(t, cr)["message"].(map[string]any)["seq"]; got != float64(seq) {
			t.Fatalf("resume from memory: seq %v, want %d", got, seq)
		}
	}
	if sub := <-subs; sub.Sync {
		t.Fatal("resume within memory asked for a sync")
	}

	d, dr, _ := pipe(t, hub.DefaultLimits, nil)
	got := make(chan hub.Subscription)
	go func() {
		s, _ := r.Subscribe(d, mesh.Participant{ID: "d"}, true, true, 10, joinedFrame, nil)
		got <- s
	}()
	readText(t, dr) // joined
	s := <-got
	if !s.Sync || s.From != 10 || s.To != 100 {
		t.Fatalf("subscription %+v, want a sync of (10, 100]", s)
	}
	go func() {
		r.Publish(entry(101), nil) // held while d syncs
		for seq := uint64(11); seq <= 100; seq++ {
			d.Send(hub.MessageFrame(entry(seq).Line))
		}
		r.EndSync(d)
	}()
	for seq := 11; seq <= 101; seq++ {
		if got := readText(t, dr)["message"].(map[string]any)["seq"]; got != float64(seq) {
			t.Fatalf("sync: seq %v, want %d", got, seq)
		}
	}
}

// discard is a net.Conn that accepts every write: the benchmarks measure
// the node's side of fan-out, not the kernel's.
type discard struct{ net.Conn }

func (discard) Write(p []byte) (int, error)      { return len(p), nil }
func (discard) SetWriteDeadline(time.Time) error { return nil }
func (discard) Close() error                     { return nil }

func BenchmarkMessageFrame(b *testing.B) {
	line := make([]byte, 350)
	b.ReportAllocs()
	for b.Loop() {
		hub.MessageFrame(line)
	}
}

// BenchmarkPublish1000 fans one 200-byte message out to 1,000 subscribers;
// ns/delivery is the node's CPU per delivery without the socket write.
func BenchmarkPublish1000(b *testing.B) {
	const members = 1000
	h := hub.New(mesh.DefaultHistory)
	r, _ := h.Room("lobby", noLoad)
	conns := make([]*hub.Conn, members)
	for i := range conns {
		conns[i] = hub.NewConn(discard{}, hub.DefaultLimits, nil)
		r.Subscribe(conns[i], mesh.Participant{ID: mesh.ParticipantID(fmt.Sprint(i))}, true, false, 0, joinedFrame, nil)
	}
	line := make([]byte, 200)
	b.ReportAllocs()
	var seq uint64
	for b.Loop() {
		seq++
		r.Publish(mesh.Entry{Seq: seq, Line: line}, nil)
	}
	for _, c := range conns {
		c.Wait()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*members), "ns/delivery")
}

// TestWriteCoalescing: a busy connection's frames share writes; a quiet
// one's are written one by one.
func TestWriteCoalescing(t *testing.T) {
	var mu sync.Mutex
	var batches []int
	counters := &hub.Counters{FramesOut: func(n int) { mu.Lock(); batches = append(batches, n); mu.Unlock() }}
	c := hub.NewConn(discard{}, hub.Limits{MaxFrames: 1 << 12, MaxBytes: 1 << 24, WriteTimeout: time.Second,
		WriteDelay: 20 * time.Millisecond}, counters)
	frame := hub.MessageFrame([]byte(`{}`))
	meanBatch := func(send func()) float64 {
		mu.Lock()
		batches = nil
		mu.Unlock()
		send()
		c.Wait()
		mu.Lock()
		defer mu.Unlock()
		sum := 0
		for _, b := range batches {
			sum += b
		}
		return float64(sum) / float64(len(batches))
	}
	quiet := meanBatch(func() {
		for range 5 {
			c.Send(frame)
			c.Wait()
		}
	})
	if quiet != 1 {
		t.Fatalf("quiet connection: mean batch %v, want 1", quiet)
	}
	// Frames about 1 ms apart: the first second measures the rate, the
	// next 300 ms are measured.
	stream := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); {
			c.Send(frame)
			time.Sleep(time.Millisecond)
		}
	}
	stream(1100 * time.Millisecond)
	busy := meanBatch(func() { stream(300 * time.Millisecond) })
	if busy < 3 {
		t.Fatalf("busy connection: mean batch %.1f frames, want several per write", busy)
	}
}

// TestCoalescingNeverOverflows: a client that reads fast is not dropped
// because the writer waited to coalesce while a burst filled its queue.
func TestCoalescingNeverOverflows(t *testing.T) {
	var slow atomic.Int32
	c := hub.NewConn(discard{}, hub.Limits{MaxFrames: 1024, MaxBytes: 1 << 24, WriteTimeout: time.Second,
		WriteDelay: 50 * time.Millisecond}, &hub.Counters{SlowConsumers: func() { slow.Add(1) }})
	frame := hub.MessageFrame([]byte(`{}`))
	for end := time.Now().Add(1100 * time.Millisecond); time.Now().Before(end); { // learn a high rate
		c.Send(frame)
		time.Sleep(100 * time.Microsecond)
	}
	// About 32,000 frames a second: one 50 ms wait would gather 1,600,
	// more than the queue holds; an early write keeps it far from full.
	for i := range 4000 {
		if !c.Send(frame) {
			t.Fatalf("Send %d refused during a burst (slow consumers %d)", i, slow.Load())
		}
		if i%32 == 31 {
			time.Sleep(500 * time.Microsecond) // about 1 ms in practice
		}
	}
	c.Wait()
	if slow.Load() != 0 {
		t.Fatalf("%d slow-consumer drops, want 0", slow.Load())
	}
}

// TestIdleRoomsUnloaded: past MaxIdleRooms the hub drops rooms nobody is
// subscribed to, keeps the others, and a dropped room refuses Subscribe so
// that the caller loads it again.
func TestIdleRoomsUnloaded(t *testing.T) {
	h := hub.New(mesh.DefaultHistory)
	busy, _ := h.Room("busy", noLoad)
	c := hub.NewConn(discard{}, hub.DefaultLimits, nil)
	if _, err := busy.Subscribe(c, mesh.Participant{ID: "a"}, true, false, 0, joinedFrame, nil); err != nil {
		t.Fatal(err)
	}
	idle, _ := h.Room("idle", noLoad)
	for i := range hub.MaxIdleRooms {
		h.Room(mesh.RoomID(fmt.Sprintf("r%d", i)), noLoad)
	}
	if got := h.Len(); got > hub.MaxIdleRooms {
		t.Fatalf("%d rooms in memory, want at most %d", got, hub.MaxIdleRooms)
	}
	if again, _ := h.Room("busy", noLoad); again != busy {
		t.Fatal("a room with a subscriber was unloaded")
	}
	if _, err := idle.Subscribe(c, mesh.Participant{ID: "a"}, true, false, 0, joinedFrame, nil); !errors.Is(err, hub.ErrRoomGone) {
		t.Fatalf("Subscribe on an unloaded room: %v, want ErrRoomGone", err)
	}
}
