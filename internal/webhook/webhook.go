// Package webhook delivers participants' inbox items to their webhook
// URLs while they have no live WebSocket: signed POSTs, retried with
// exponential backoff and jitter, and written to a dead-letter file once
// the retries run out. Where each participant stands is the webhook cursor
// of its inbox, so delivery resumes after a restart (at least once: the
// X-Mesh-Delivery header lets a receiver drop repeats).
package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/the-mesh/mesh"
)

// Config configures a Dispatcher. DefaultConfig fills every field.
type Config struct {
	Retries     int           // attempts after the first before an item goes to the dead letter
	Concurrency int           // deliveries in flight, node-wide
	Timeout     time.Duration // one attempt, connection to answer
	Backoff     time.Duration // wait before the first retry; doubled for each next one
	MaxBackoff  time.Duration // longest wait between two attempts
	DeadLetter  string        // path of webhook-dead-letter.jsonl
	Logger      *slog.Logger
	Now         func() time.Time
	Client      *http.Client // nil: NewClient(Timeout)
}

// DefaultConfig returns the defaults of `mesh up`.
func DefaultConfig() Config {
	return Config{Retries: 6, Concurrency: 8, Timeout: 10 * time.Second, Backoff: time.Second,
		MaxBackoff: 5 * time.Minute, Logger: slog.New(slog.DiscardHandler), Now: time.Now}
}

// Source is what a Dispatcher delivers from: the node's inboxes.
type Source interface {
	// Target returns p's webhook URL and secret; ok is false when p has
	// no webhook or was revoked.
	Target(p mesh.ParticipantID) (url, secret string, ok bool)
	// Next returns p's first item for its webhook with n > after: not
	// acknowledged, still readable by p, and not pushed to a live
	// connection when it arrived.
	Next(p mesh.ParticipantID, after uint64) (mesh.InboxItem, bool, error)
	// Cursor returns p's webhook cursor; SetCursor moves it durably.
	Cursor(p mesh.ParticipantID) (uint64, error)
	SetCursor(p mesh.ParticipantID, n uint64) error
	// Online reports whether p has a live WebSocket connection.
	Online(p mesh.ParticipantID) bool
}

// Dispatcher runs one worker per participant with items to deliver, and
// bounds the attempts in flight node-wide. Its methods are safe for
// concurrent use.
type Dispatcher struct {
	src    Source
	cfg    Config
	log    *slog.Logger
	client *http.Client
	sem    chan struct{} // one token per attempt in flight
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // workers

	mu      sync.Mutex // guards workers and closed
	workers map[mesh.ParticipantID]*worker
	closed  bool

	dlMu sync.Mutex // guards dl and serialises dead-letter writes
	dl   *os.File   // opened by the first dead letter
}

type worker struct {
	again bool // Notify came while the worker ran; guarded by Dispatcher.mu
}

// New returns a dispatcher; the dead-letter file is opened when first
// needed. Call Close.
func New(src Source, cfg Config) *Dispatcher {
	def := DefaultConfig()
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = def.Concurrency
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = def.Timeout
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = def.Backoff
	}
	if cfg.MaxBackoff < cfg.Backoff {
		cfg.MaxBackoff = max(cfg.Backoff, def.MaxBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if cfg.Now == nil {
		cfg.Now = def.Now
	}
	if cfg.Client == nil {
		cfg.Client = NewClient(cfg.Timeout)
	}
	d := &Dispatcher{src: src, cfg: cfg, log: cfg.Logger, client: cfg.Client,
		sem: make(chan struct{}, cfg.Concurrency), workers: map[mesh.ParticipantID]*worker{}}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d
}

// Notify tells the dispatcher that p may have items to deliver.
func (d *Dispatcher) Notify(p mesh.ParticipantID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	if w := d.workers[p]; w != nil {
		w.again = true
		return
	}
	w := &worker{}
	d.workers[p] = w
	d.wg.Go(func() { d.run(p, w) })
}

// Close cancels the deliveries in flight (their items stay where they
// are, to be delivered after the next start), waits for the workers and
// closes the dead-letter file.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
	d.dlMu.Lock()
	defer d.dlMu.Unlock()
	if d.dl != nil {
		return d.dl.Close()
	}
	return nil
}

// run delivers p's items in order until none is left.
func (d *Dispatcher) run(p mesh.ParticipantID, w *worker) {
	for {
		for d.next(p) {
		}
		d.mu.Lock()
		if !w.again || d.ctx.Err() != nil {
			delete(d.workers, p)
			d.mu.Unlock()
			return
		}
		w.again = false
		d.mu.Unlock()
	}
}

// next handles p's next item and reports whether there was one.
func (d *Dispatcher) next(p mesh.ParticipantID) bool {
	if d.ctx.Err() != nil {
		return false
	}
	url, secret, ok := d.src.Target(p)
	if !ok {
		return false
	}
	cur, err := d.src.Cursor(p)
	var item mesh.InboxItem
	if err == nil {
		item, ok, err = d.src.Next(p, cur)
	}
	if err != nil {
		d.log.Error("webhook: read inbox", "participant", p, "err", err)
		return false
	}
	if !ok {
		return false
	}
	if !d.deliver(p, url, secret, item) {
		return false // stopping: the item stays for the next start
	}
	if err := d.src.SetCursor(p, item.N); err != nil {
		d.log.Error("webhook: move cursor", "participant", p, "n", item.N, "err", err)
		return false
	}
	return true
}

// DeliveryID is the X-Mesh-Delivery of participant p's item for message
// id: the same for every attempt, and after a restart.
func DeliveryID(p mesh.ParticipantID, messageID string) string {
	h := sha256.Sum256([]byte(string(p) + "\n" + messageID))
	return "dlv_" + hex.EncodeToString(h[:16])
}

// deliver posts item until it is delivered, skipped (p came online) or
// given up (dead letter); it reports false only when the dispatcher stops.
func (d *Dispatcher) deliver(p mesh.ParticipantID, url, secret string, item mesh.InboxItem) bool {
	body, err := json.Marshal(mesh.WebhookEvent{Type: mesh.FrameInboxItem, Participant: p, Item: item})
	if err != nil {
		d.deadLetter(p, url, item, "", 0, fmt.Sprintf("encode: %v", err))
		return true
	}
	var msg struct {
		ID string `json:"id"`
	}
	json.Unmarshal(item.Message, &msg) // the node's own envelope
	id := DeliveryID(p, msg.ID)
	for attempt := 0; ; attempt++ {
		if d.src.Online(p) {
			d.log.Debug("webhook: participant is online; item left to its connection", "participant", p, "n", item.N)
			return true
		}
		reason, retry, err := d.attempt(url, secret, id, body)
		switch {
		case err != nil && d.ctx.Err() != nil:
			return false
		case reason == "":
			return true // delivered
		case !retry || attempt >= d.cfg.Retries:
			d.deadLetter(p, url, item, id, attempt+1, reason)
			return true
		}
		d.log.Debug("webhook: attempt failed; retrying", "participant", p, "n", item.N, "attempt", attempt+1, "reason", reason)
		t := time.NewTimer(d.backoff(attempt))
		select {
		case <-t.C:
		case <-d.ctx.Done():
			t.Stop()
			return false
		}
	}
}

// backoff is the wait after failed attempt k (from 0): Backoff·2^k capped
// at MaxBackoff, of which a random half is taken off ("equal jitter").
func (d *Dispatcher) backoff(k int) time.Duration {
	w := d.cfg.MaxBackoff
	if k < 30 && d.cfg.Backoff<<k < w && d.cfg.Backoff<<k > 0 {
		w = d.cfg.Backoff << k
	}
	return w/2 + rand.N(w/2+1)
}

// attempt makes one signed POST. reason is "" when the receiver answered
// 2xx, else what went wrong; retry says whether trying again may help.
func (d *Dispatcher) attempt(url, secret, id string, body []byte) (reason string, retry bool, err error) {
	select {
	case d.sem <- struct{}{}:
	case <-d.ctx.Done():
		return "stopped", false, d.ctx.Err()
	}
	defer func() { <-d.sem }()
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Sprintf("bad URL: %v", err), false, nil
	}
	ts := d.cfg.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mesh-webhook/1")
	req.Header.Set(mesh.HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(mesh.HeaderWebhookSignature, mesh.SignWebhook(secret, ts, body))
	req.Header.Set(mesh.HeaderWebhookDelivery, id)
	resp, err := d.client.Do(req)
	if err != nil {
		var ne net.Error
		switch {
		case d.ctx.Err() != nil:
			return "stopped", false, err
		case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
			return fmt.Sprintf("timeout: no answer within %v", d.cfg.Timeout), true, err
		}
		return "error: " + err.Error(), !errors.Is(err, ErrRefusedAddress), err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return "", false, nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return "HTTP " + strconv.Itoa(c), true, nil
	default: // other 4xx, and 3xx: redirects are not followed
		return "HTTP " + strconv.Itoa(c), false, nil
	}
}
