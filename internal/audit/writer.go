package audit

import (
	"fmt"
	"time"
)

// syncEvery spaces the writer's turns: at most one fsync per interval,
// however busy the node, so the audit log costs a bounded share of the
// disk. A crash can lose at most the last interval's records.
const syncEvery = 10 * time.Millisecond

// run is the writer goroutine, owned by Open and Close. Each turn it takes
// everything recorded so far, writes it with one write and one fsync (group
// commit), and wakes Sync callers. It returns after Close once buf is empty.
func (l *Log) run() {
	defer close(l.done)
	var spare []byte
	var lastHead time.Time
	var headN uint64
	for {
		l.mu.Lock()
		for len(l.buf) == 0 && !l.closing {
			l.wake.Wait()
		}
		if len(l.buf) == 0 {
			l.closed = true
			l.space.Broadcast()
			n, hash, failed := l.synced, l.prev, l.err != nil
			l.mu.Unlock()
			if !failed && n != headN {
				l.writeHeadLogged(n, hash)
			}
			return
		}
		batch, n, hash := l.buf, l.n, l.prev
		l.buf = spare[:0]
		failed := l.err != nil
		l.space.Broadcast()
		l.mu.Unlock()

		var err error
		start := time.Now()
		if !failed {
			err = l.write(batch)
		}

		if err != nil {
			l.logger.Error("audit log: write failed; later records are not written", "err", err)
		}
		l.mu.Lock()
		if err != nil {
			l.err = err
		}
		if failed || err != nil {
			l.lost += n - l.synced
		}
		l.synced = n // lost lines count as done too, so Sync returns l.err
		close(l.syncCh)
		l.syncCh = make(chan struct{})
		l.mu.Unlock()

		spare = batch
		if cap(spare) > 1<<20 {
			spare = nil // give back the memory of a burst
		}
		if now := l.now(); err == nil && !failed && now.Sub(lastHead) >= headEvery {
			l.writeHeadLogged(n, hash)
			lastHead, headN = now, n
		}
		l.mu.Lock()
		closing := l.closing
		l.mu.Unlock()
		if wait := syncEvery - time.Since(start); wait > 0 && !closing {
			time.Sleep(wait)
		}
	}
}

// write appends batch to the file and fsyncs it.
func (l *Log) write(batch []byte) error {
	if _, err := l.f.Write(batch); err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	start := time.Now()
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("fsync audit log: %w", err)
	}
	if l.onFsync != nil {
		l.onFsync(time.Since(start))
	}
	return nil
}
