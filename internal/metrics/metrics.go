// Package metrics is a small registry of counters, gauges and histograms
// written in the Prometheus text exposition format (version 0.0.4). It
// covers what a node reports and nothing more; every update is one atomic
// operation, so it can sit on the fan-out path.
package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Registry holds named metrics and writes them in name order.
type Registry struct {
	mu      sync.Mutex
	metrics map[string]metric
}

type metric interface {
	write(w io.Writer, name string)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{metrics: map[string]metric{}} }

func (r *Registry) add(name, help, typ string, m metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.metrics[name]; dup {
		panic("metrics: duplicate metric " + name) // a programming error, found at start-up
	}
	r.metrics[name] = described{help: help, typ: typ, m: m}
}

type described struct {
	help, typ string
	m         metric
}

func (d described) write(w io.Writer, name string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, d.help, name, d.typ)
	d.m.write(w, name)
}

// WriteText writes every metric in the Prometheus text format.
func (r *Registry) WriteText(w io.Writer) {
	r.mu.Lock()
	names := make([]string, 0, len(r.metrics))
	for n := range r.metrics {
		names = append(names, n)
	}
	ms := r.metrics
	r.mu.Unlock()
	sort.Strings(names)
	for _, n := range names {
		ms[n].write(w, n)
	}
}

// Counter is a monotonically increasing count.
type Counter struct{ v atomic.Uint64 }

// Counter registers and returns a counter.
func (r *Registry) Counter(name, help string) *Counter {
	c := new(Counter)
	r.add(name, help, "counter", c)
	return c
}

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Value returns the count.
func (c *Counter) Value() uint64 { return c.v.Load() }

func (c *Counter) write(w io.Writer, name string) { fmt.Fprintf(w, "%s %d\n", name, c.v.Load()) }

// Gauge registers a gauge whose value is read from f at scrape time.
func (r *Registry) Gauge(name, help string, f func() float64) {
	r.add(name, help, "gauge", gaugeFunc(f))
}

// CounterFunc registers a counter whose value is read from f at scrape time.
func (r *Registry) CounterFunc(name, help string, f func() float64) {
	r.add(name, help, "counter", gaugeFunc(f))
}

type gaugeFunc func() float64

func (g gaugeFunc) write(w io.Writer, name string) {
	fmt.Fprintf(w, "%s %s\n", name, formatFloat(g()))
}

// Histogram counts observations into fixed buckets.
type Histogram struct {
	bounds []float64 // upper bounds, ascending
	counts []atomic.Uint64
	count  atomic.Uint64
	sumNS  atomic.Uint64 // sum in nanoseconds, for durations
}

// DurationHistogram registers a histogram of durations in seconds with the
// given upper bounds.
func (r *Registry) DurationHistogram(name, help string, bounds ...time.Duration) *Histogram {
	h := &Histogram{bounds: make([]float64, len(bounds)), counts: make([]atomic.Uint64, len(bounds))}
	for i, b := range bounds {
		h.bounds[i] = b.Seconds()
	}
	r.add(name, help, "histogram", h)
	return h
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	s := d.Seconds()
	for i, b := range h.bounds {
		if s <= b {
			h.counts[i].Add(1)
			break
		}
	}
	h.count.Add(1)
	h.sumNS.Add(uint64(max(d, 0)))
}

func (h *Histogram) write(w io.Writer, name string) {
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(w, "%s_bucket{le=\"%s\"} %d\n", name, formatFloat(b), cum)
	}
	n := h.count.Load()
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n", name, n)
	fmt.Fprintf(w, "%s_sum %s\n%s_count %d\n", name, formatFloat(float64(h.sumNS.Load())/1e9), name, n)
}

func formatFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
