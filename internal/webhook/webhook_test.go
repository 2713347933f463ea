package webhook_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
	"github.com/the-mesh/mesh/internal/webhook"
)

// source is a Source of func fields and in-memory inboxes.
type source struct {
	mu      sync.Mutex
	url     map[mesh.ParticipantID]string
	items   map[mesh.ParticipantID][]mesh.InboxItem
	cursor  map[mesh.ParticipantID]uint64
	online  atomic.Bool
	settled chan mesh.ParticipantID // gets p each time its cursor moves
}

const secret = "whsec_test"

func newSource() *source {
	return &source{url: map[mesh.ParticipantID]string{}, items: map[mesh.ParticipantID][]mesh.InboxItem{},
		cursor: map[mesh.ParticipantID]uint64{}, settled: make(chan mesh.ParticipantID, 100)}
}

func (s *source) add(p mesh.ParticipantID, url string, n uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.url[p] = url
	msg := fmt.Sprintf(`{"id":"m_%s%d","room":"lobby","seq":%d}`, p, n, n)
	s.items[p] = append(s.items[p], mesh.InboxItem{N: n, Reason: mesh.InboxTo, Message: json.RawMessage(msg)})
}

func (s *source) Target(p mesh.ParticipantID) (string, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.url[p]
	return u, secret, ok
}

func (s *source) Next(p mesh.ParticipantID, after uint64) (mesh.InboxItem, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range s.items[p] {
		if it.N > after {
			return it, true, nil
		}
	}
	return mesh.InboxItem{}, false, nil
}

func (s *source) Cursor(p mesh.ParticipantID) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor[p], nil
}

func (s *source) SetCursor(p mesh.ParticipantID, n uint64) error {
	s.mu.Lock()
	s.cursor[p] = n
	s.mu.Unlock()
	s.settled <- p
	return nil
}

func (s *source) Online(mesh.ParticipantID) bool { return s.online.Load() }

// waitSettled waits until the cursor moved k times.
func (s *source) waitSettled(tb testing.TB, k int) {
	tb.Helper()
	for range k {
		select {
		case <-s.settled:
		case <-time.After(10 * time.Second):
			tb.Fatal("the cursor did not move in time")
		}
	}
}

// receiver records deliveries, answering with status(k) for the k-th (from 0).
type receiver struct {
	mu     sync.Mutex
	times  []time.Time
	bodies []mesh.WebhookEvent
	ids    []string
	status func(k int) int
	tb     testing.TB
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := agent.VerifyWebhook(secret, r.Header, body, time.Minute); err != nil {
		rc.tb.Errorf("delivery does not verify: %v", err)
	}
	var ev mesh.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.tb.Errorf("body is not an event: %v", err)
	}
	rc.mu.Lock()
	k := len(rc.times)
	rc.times = append(rc.times, time.Now())
	rc.bodies = append(rc.bodies, ev)
	rc.ids = append(rc.ids, r.Header.Get(mesh.HeaderWebhookDelivery))
	rc.mu.Unlock()
	w.WriteHeader(rc.status(k))
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.times)
}

func mustDispatcher(tb testing.TB, src webhook.Source, mod func(*webhook.Config)) (*webhook.Dispatcher, string) {
	tb.Helper()
	cfg := webhook.DefaultConfig()
	cfg.Backoff, cfg.Retries = 40*time.Millisecond, 3
	cfg.DeadLetter = filepath.Join(tb.TempDir(), "webhook-dead-letter.jsonl")
	if mod != nil {
		mod(&cfg)
	}
	d := webhook.New(src, cfg)
	tb.Cleanup(func() { d.Close() })
	return d, cfg.DeadLetter
}

func readDeadLetters(tb testing.TB, path string) []webhook.DeadLetter {
	tb.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []webhook.DeadLetter
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var dl webhook.DeadLetter
		if err := json.Unmarshal(sc.Bytes(), &dl); err != nil {
			tb.Fatalf("dead letter line %q: %v", sc.Text(), err)
		}
		out = append(out, dl)
	}
	return out
}

func TestRetriesWithBackoffThenDelivers(t *testing.T) {
	rc := &receiver{tb: t, status: func(k int) int {
		if k < 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	src := newSource()
	src.add("p_a", srv.URL, 1)
	d, dl := mustDispatcher(t, src, nil)
	d.Notify("p_a")
	src.waitSettled(t, 1)
	if rc.count() != 3 {
		t.Fatalf("attempts: got %d, want 3 (two failures, then success)", rc.count())
	}
	// Equal jitter: the wait after failure k is in [40ms·2^k/2, 40ms·2^k].
	if g1, g2 := rc.times[1].Sub(rc.times[0]), rc.times[2].Sub(rc.times[1]); g1 < 20*time.Millisecond || g2 < 40*time.Millisecond {
		t.Fatalf("gaps between attempts: got %v and %v, want at least 20ms and 40ms", g1, g2)
	}
	if rc.ids[0] == "" || rc.ids[0] != rc.ids[2] {
		t.Fatalf("X-Mesh-Delivery: got %q, want one id for every attempt", rc.ids)
	}
	if ev := rc.bodies[2]; ev.Type != "inbox.item" || ev.Participant != "p_a" || ev.Item.N != 1 {
		t.Fatalf("event: got %+v", ev)
	}
	if c, _ := src.Cursor("p_a"); c != 1 {
		t.Fatalf("cursor: got %d, want 1", c)
	}
	if got := readDeadLetters(t, dl); len(got) != 0 {
		t.Fatalf("dead letters: got %v, want none", got)
	}
}

func TestGivesUpIntoDeadLetter(t *testing.T) {
	for name, tt := range map[string]struct {
		status   int
		attempts int
		reason   string
	}{
		"ServerError":     {500, 4, "HTTP 500"},
		"TooManyRequests": {429, 4, "HTTP 429"},
		"RequestTimeout":  {408, 4, "HTTP 408"},
		"NotFound":        {404, 1, "HTTP 404"},
		"Forbidden":       {403, 1, "HTTP 403"},
		"Redirect":        {302, 1, "HTTP 302"},
	} {
		t.Run(name, func(t *testing.T) {
			rc := &receiver{tb: t, status: func(int) int { return tt.status }}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			src := newSource()
			src.add("p_a", srv.URL, 1)
			src.add("p_a", srv.URL, 2)
			d, path := mustDispatcher(t, src, func(c *webhook.Config) { c.Backoff = time.Millisecond })
			d.Notify("p_a")
			src.waitSettled(t, 2)
			if got := rc.count(); got != 2*tt.attempts {
				t.Fatalf("attempts for two items: got %d, want %d", got, 2*tt.attempts)
			}
			dls := readDeadLetters(t, path)
			if len(dls) != 2 {
				t.Fatalf("dead letters: got %d, want 2", len(dls))
			}
			if dl := dls[0]; dl.Participant != "p_a" || dl.Item.N != 1 || dl.Reason != tt.reason || dl.Attempts != tt.attempts || dl.URL != srv.URL || dl.Delivery == "" {
				t.Fatalf("dead letter: got %+v, want item 1, reason %q after %d attempts", dl, tt.reason, tt.attempts)
			}
		})
	}
}

func TestRefusedAddresses(t *testing.T) {
	for _, url := range []string{"http://169.254.169.254/latest/meta-data/", "http://[fe80::1]:8080/", "http://0.0.0.0:9/", "http://[::ffff:169.254.1.1]/"} {
		t.Run(url, func(t *testing.T) {
			src := newSource()
			src.add("p_a", url, 1)
			d, path := mustDispatcher(t, src, nil)
			d.Notify("p_a")
			src.waitSettled(t, 1)
			dls := readDeadLetters(t, path)
			if len(dls) != 1 || dls[0].Attempts != 1 || !strings.Contains(dls[0].Reason, "refused address") {
				t.Fatalf("dead letters: got %+v, want one refused address after one attempt", dls)
			}
		})
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.ReadAll(r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	src := newSource()
	src.add("p_a", srv.URL, 1)
	d, path := mustDispatcher(t, src, func(c *webhook.Config) { c.Timeout, c.Retries, c.Backoff = 100*time.Millisecond, 1, time.Millisecond })
	d.Notify("p_a")
	src.waitSettled(t, 1)
	dls := readDeadLetters(t, path)
	if calls.Load() != 2 || len(dls) != 1 || !strings.Contains(strings.ToLower(dls[0].Reason), "timeout") {
		t.Fatalf("got %d calls and dead letters %+v, want 2 calls and a timeout", calls.Load(), dls)
	}
}

func TestOnlineSkips(t *testing.T) {
	rc := &receiver{tb: t, status: func(int) int { return 200 }}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	src := newSource()
	src.online.Store(true)
	src.add("p_a", srv.URL, 1)
	d, _ := mustDispatcher(t, src, nil)
	d.Notify("p_a")
	src.waitSettled(t, 1)
	if rc.count() != 0 {
		t.Fatalf("got %d deliveries while online, want none", rc.count())
	}
}

func TestConcurrencyBound(t *testing.T) {
	var inFlight, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		inFlight.Add(-1)
	}))
	defer srv.Close()
	src := newSource()
	const people = 6
	for i := range people {
		src.add(mesh.ParticipantID(fmt.Sprintf("p_%d", i)), srv.URL, 1)
	}
	d, _ := mustDispatcher(t, src, func(c *webhook.Config) { c.Concurrency = 2 })
	for i := range people {
		d.Notify(mesh.ParticipantID(fmt.Sprintf("p_%d", i)))
	}
	src.waitSettled(t, people)
	if p := peak.Load(); p > 2 || p < 1 {
		t.Fatalf("deliveries in flight at once: got %d, want at most 2", p)
	}
}

func TestCloseCancelsInFlight(t *testing.T) {
	entered := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // the server notices a closed connection only after the body
		entered <- struct{}{}
		<-r.Context().Done() // hangs until the dispatcher gives up
	}))
	defer srv.Close()
	src := newSource()
	src.add("p_a", srv.URL, 1)
	d, _ := mustDispatcher(t, src, nil)
	d.Notify("p_a")
	<-entered
	done := make(chan struct{})
	go func() { d.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not cancel the delivery in flight")
	}
	if c, _ := src.Cursor("p_a"); c != 0 {
		t.Fatalf("cursor after a cancelled delivery: got %d, want 0 (delivered after the next start)", c)
	}
}

// TestDeadLetterAfterTornLine: a last line cut by a crash is ended before
// the next dead letter, so the new line stays whole.
func TestDeadLetterAfterTornLine(t *testing.T) {
	rc := &receiver{tb: t, status: func(int) int { return 410 }}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	src := newSource()
	src.add("p_a", srv.URL, 1)
	d, path := mustDispatcher(t, src, nil)
	torn := `{"ts":"2026-`
	if err := os.WriteFile(path, []byte(torn), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Notify("p_a")
	src.waitSettled(t, 1)
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var dl webhook.DeadLetter
	if len(lines) != 2 || lines[0] != torn || json.Unmarshal([]byte(lines[1]), &dl) != nil || dl.Reason != "HTTP 410" {
		t.Fatalf("dead-letter file: %q", b)
	}
}
