package federation_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/federation"
)

func openQueue(tb testing.TB, dir string) *federation.Queue {
	tb.Helper()
	q, err := federation.OpenQueue(dir, slog.New(slog.DiscardHandler), time.Now, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return q
}

// put queues a body and waits until it is durable.
func put(tb testing.TB, q *federation.Queue, to, text string) *federation.Entry {
	tb.Helper()
	ch := make(chan *federation.Entry, 1)
	q.Put(to, "say", []byte(fmt.Sprintf(`{"kind":"say","ref":%q}`, text)), func(e *federation.Entry, err error) {
		if err != nil {
			tb.Error(err)
		}
		ch <- e
	})
	return <-ch
}

func pending(q *federation.Queue, to string) []uint64 {
	var out []uint64
	for e := q.Next(to, 0); e != nil; e = q.Next(to, e.N) {
		out = append(out, e.N)
	}
	return out
}

func TestQueueSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir)
	epoch := q.Epoch()
	for i := range 5 {
		put(t, q, "nb", fmt.Sprint(i))
	}
	put(t, q, "nc", "x")
	if k, last := q.Ack("nb", 2); k != 2 || last.N != 2 {
		t.Fatalf("ack removed %d, want 2", k)
	}
	q.Close()

	q = openQueue(t, dir)
	defer q.Close()
	if q.Epoch() != epoch {
		t.Fatalf("epoch: got %s, want %s", q.Epoch(), epoch)
	}
	if got := fmt.Sprint(pending(q, "nb")); got != "[3 4 5]" {
		t.Fatalf("pending for nb after reopen: got %s, want [3 4 5]", got)
	}
	if q.Base("nb") != 3 || q.Base("nc") != 1 {
		t.Fatalf("base: nb %d nc %d", q.Base("nb"), q.Base("nc"))
	}
	if e := put(t, q, "nb", "6"); e.N != 6 {
		t.Fatalf("the next position after reopen: got %d, want 6", e.N)
	}
}

func TestQueueCompacts(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir)
	big := strings.Repeat("x", 4096)
	var last uint64
	for range 100 { // > 256 KiB
		last = put(t, q, "nb", big).N
	}
	q.Ack("nb", last)
	put(t, q, "nb", "after") // a write after the ack triggers the compaction
	q.Ack("nb", last+1)
	put(t, q, "nc", "y")
	q.Ack("nc", 1)
	q.Close()
	st, _ := os.Stat(filepath.Join(dir, federation.QueueFile))
	if st.Size() > 4096 {
		t.Fatalf("queue is %d bytes after every entry was acknowledged, want it compacted", st.Size())
	}
	q = openQueue(t, dir)
	defer q.Close()
	if e := put(t, q, "nb", "next"); e.N != last+2 {
		t.Fatalf("position after compaction: got %d, want %d", e.N, last+2)
	}
}

func TestQueueTornTail(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir)
	put(t, q, "nb", "1")
	put(t, q, "nb", "2")
	q.Close()
	f, _ := os.OpenFile(filepath.Join(dir, federation.QueueFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"op":"put","entry":{"id":"q_torn","to":"nb","n":3,"ki`)
	f.Close()
	q = openQueue(t, dir)
	defer q.Close()
	if got := fmt.Sprint(pending(q, "nb")); got != "[1 2]" {
		t.Fatalf("pending after a torn write: %s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, federation.QueueFile+".corrupt")); err != nil {
		t.Fatalf("torn tail not set aside: %v", err)
	}
}

func TestDeadLettersAndReplay(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir)
	defer q.Close()
	put(t, q, "nb", "1")
	e := put(t, q, "nb", "2")
	put(t, q, "nb", "3")
	if err := q.Dead(e, "test: gave up"); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(pending(q, "nb")); got != "[1 3]" {
		t.Fatalf("pending after a dead letter: %s", got)
	}
	dls, err := q.DeadLetters()
	if err != nil || len(dls) != 1 || dls[0].Reason != "test: gave up" || dls[0].ID != e.ID || string(dls[0].Body) != string(e.Body) {
		t.Fatalf("dead letters: %+v, %v", dls, err)
	}
	if _, err := q.Replay([]string{"q_nosuch"}); err == nil {
		t.Fatal("replaying an unknown id did not fail")
	}
	if k, err := q.Replay(nil); k != 1 || err != nil {
		t.Fatalf("replay: %d %v", k, err)
	}
	if got := fmt.Sprint(pending(q, "nb")); got != "[1 3 4]" {
		t.Fatalf("pending after replay: %s, want the dead letter at the end", got)
	}
	if dls, _ := q.DeadLetters(); len(dls) != 0 {
		t.Fatalf("dead letters after replay: %+v", dls)
	}
	if e := q.Next("nb", 3); string(e.Body) != `{"kind":"say","ref":"2"}` {
		t.Fatalf("replayed body: %s", e.Body)
	}
}

func TestQueueExpired(t *testing.T) {
	q := openQueue(t, t.TempDir())
	defer q.Close()
	put(t, q, "nb", "1")
	if got := q.Expired(time.Now(), 0, time.Hour); len(got) != 0 {
		t.Fatalf("expired too early: %v", got)
	}
	if got := q.Expired(time.Now().Add(2*time.Hour), 0, time.Hour); len(got) != 1 {
		t.Fatalf("expired by age: %v", got)
	}
}

// TestQueueAttemptsSurviveReopen: the transmissions counted by Sent hold
// across a restart, and across a compaction that rewrites the file, so the
// attempts bound holds whatever restarts come between.
func TestQueueAttemptsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir)
	var es []*federation.Entry
	for i := range 3 {
		es = append(es, put(t, q, "nb", fmt.Sprint(i)))
	}
	q.Sent(es, time.Now())     // a batch of three
	q.Sent(es[:1], time.Now()) // the oldest again, on a timeout
	q.Sent(es[:1], time.Now())
	attempts := func(q *federation.Queue) string {
		var out []int
		for e := q.Next("nb", 0); e != nil; e = q.Next("nb", e.N) {
			out = append(out, e.Attempts())
		}
		return fmt.Sprint(out)
	}
	q.Close()

	q = openQueue(t, dir)
	if got := attempts(q); got != "[3 1 1]" {
		t.Fatalf("attempts after reopen: got %s, want [3 1 1]", got)
	}
	if got := q.Expired(time.Now(), 3, 0); len(got) != 1 || got[0].N != 1 {
		t.Fatalf("expired at 3 attempts after reopen: %v, want entry 1", got)
	}
	// A rewrite keeps the pending entries with their counts.
	q.Sent([]*federation.Entry{q.Next("nb", 1)}, time.Now())
	if err := q.Rewrite(); err != nil {
		t.Fatal(err)
	}
	q.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, federation.QueueFile)); strings.Contains(string(b), `"op":"sent"`) {
		t.Fatalf("the rewritten file still has sent lines:\n%s", b)
	}
	q = openQueue(t, dir)
	defer q.Close()
	if got := attempts(q); got != "[3 2 1]" {
		t.Fatalf("attempts after a rewrite: got %s, want [3 2 1]", got)
	}
}

func BenchmarkQueuePut(b *testing.B) {
	q := openQueue(b, b.TempDir())
	defer q.Close()
	body := []byte(`{"kind":"say","room":"design@nx3b5t7kq2wzm4ha6","msg":{"id":"m_d7tr2mq5vx4ka6zo","body":{"text":"hello, room"}}}`)
	done := make(chan struct{}, 1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q.Put("nb", "say", body, func(*federation.Entry, error) { done <- struct{}{} })
		if i%512 == 511 {
			for range 512 {
				<-done
			}
			q.Ack("nb", uint64(i+1))
		}
	}
	for range b.N % 512 {
		<-done
	}
}

func federationOpen(dir string) (*federation.Queue, error) {
	return federation.OpenQueue(dir, slog.New(slog.DiscardHandler), time.Now, nil)
}
