package bench

import (
	"math"
	"math/bits"
	"sort"
	"sync/atomic"
	"time"
)

// Histogram counts durations in log-linear buckets of microseconds: exact
// below 64µs, then 64 buckets per power of two, so a quantile (a bucket's
// midpoint) is within 0.8% of the true value. Values past an hour land in
// the last bucket, whose quantile is the exact maximum. The zero Histogram
// is not usable; call NewHistogram. Record, Count and the readers are safe
// for concurrent use.
type Histogram struct {
	counts []atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64 // nanoseconds
}

const (
	subBits    = 6
	subBuckets = 1 << subBits
	histMaxUS  = uint64(time.Hour / time.Microsecond)
)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]atomic.Uint64, bucketOf(histMaxUS)+1)}
}

// bucketOf returns the bucket index of a value in microseconds.
func bucketOf(us uint64) int {
	if us < subBuckets {
		return int(us)
	}
	shift := bits.Len64(us) - subBits - 1 // us>>shift is in [64, 128)
	return (shift+1)*subBuckets + int(us>>shift) - subBuckets
}

// bucketBounds returns the smallest and largest value, in microseconds, that
// fall in bucket b.
func bucketBounds(b int) (lo, hi uint64) {
	if b < subBuckets {
		return uint64(b), uint64(b)
	}
	shift := b/subBuckets - 1
	lo = uint64(b%subBuckets+subBuckets) << shift
	return lo, lo + 1<<shift - 1
}

// Record adds one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	us := uint64(d / time.Microsecond)
	if us > histMaxUS {
		us = histMaxUS
	}
	h.counts[bucketOf(us)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// Count returns the number of recorded durations.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max returns the largest recorded duration, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the q-quantile (0 < q <= 1) by nearest rank: the
// midpoint of the bucket holding the ceil(q*n)-th smallest value, never
// more than Max. It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := nearestRank(q, int(n))
	var seen uint64
	for b := range h.counts {
		seen += h.counts[b].Load()
		if seen >= uint64(rank) {
			if b == len(h.counts)-1 { // the overflow bucket
				return h.Max()
			}
			lo, hi := bucketBounds(b)
			d := time.Duration(lo) * time.Microsecond
			if hi > lo { // the midpoint of [lo, hi+1)
				d += time.Duration(hi-lo+1) * time.Microsecond / 2
			}
			return min(d, h.Max())
		}
	}
	return h.Max()
}

// nearestRank returns the 1-based rank of the q-quantile of n values,
// ceil(q*n) clamped to [1, n].
func nearestRank(q float64, n int) int {
	r := int(math.Ceil(q * float64(n)))
	return max(1, min(r, n))
}

// Percentile returns the q-quantile (0 < q <= 1) of values by nearest rank,
// sorting values in place. It returns 0 for no values.
func Percentile(values []float64, q float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sort.Float64s(values)
	return values[nearestRank(q, len(values))-1]
}
