package federation

import (
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"crypto/ed25519"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/interchange"
)

// What other nodes send goes through two goroutines. The read goroutine
// verifies each frame (one signature for a batch of bodies), decodes its
// bodies and has the handler Check them, spreading both over the CPUs;
// the apply goroutine takes the frames in order and applies each body in
// its stream's order (Handler.Receive). So the work that does not depend
// on order, which is most of it (decoding, signatures), runs beside the
// work that does.

// applyDepth is how many verified frames may wait for the apply goroutine
// before the read goroutine waits (and the relay holds what follows).
const applyDepth = 16

// inFrame is a verified frame on its way to be applied.
type inFrame struct {
	from   Peer
	epoch  string
	base   uint64
	n      uint64 // the position of bodies[0]; 0: unsequenced
	bodies []inBody
}

// inBody is a decoded body and what came of its checks.
type inBody struct {
	b       mesh.FedBody
	err     error // it does not decode
	checked error // Handler.Check's answer
}

// deliver verifies a frame from another node, which carries one body or
// a batch (one signature for all), decodes and checks its bodies, and
// hands them to the apply goroutine.
func (c *Client) deliver(p []byte) {
	d, err := interchange.ParseDeliver(p)
	if err != nil {
		c.log.Warn("federation: undecodable deliver frame", "err", err)
		return
	}
	from := Peer{ID: d.From, Auth: d.Auth}
	if d.To != c.self {
		c.h.Reject(from, fmt.Sprintf("frame addressed to %s, not to this node", d.To))
		return
	}
	pub, err := c.keys.check(d.From, d.Key, c.cfg.Now())
	if err != nil {
		c.h.Reject(from, err.Error())
		return
	}
	signed := d.Body
	if d.Bodies != nil {
		signed = d.Bodies
	}
	sig, err := base64.StdEncoding.DecodeString(d.Sig)
	c.sigBuf = interchange.AppendSignedBytes(c.sigBuf[:0], d.From, d.To, signed)
	if err != nil || !ed25519.Verify(pub, c.sigBuf, sig) {
		c.h.Reject(from, "signature does not verify")
		return
	}
	if cap(c.sigBuf) > 1<<20 {
		c.sigBuf = nil
	}
	c.heard(d.From)
	var raws [][]byte
	if d.Bodies == nil {
		raws = [][]byte{d.Body}
	} else {
		if d.N == 0 {
			c.h.Reject(from, "a batch of bodies without a position")
			return
		}
		interchange.SplitBodies(d.Bodies, func(body []byte) bool {
			raws = append(raws, body)
			return true
		})
	}
	f := &inFrame{from: from, epoch: d.Epoch, base: d.Base, n: d.N, bodies: make([]inBody, len(raws))}
	Parallel(len(raws), func(i int) {
		ib := &f.bodies[i]
		ib.err = mesh.DecodeStrict(raws[i], &ib.b)
		if ib.err == nil && ib.b.Kind == "" {
			ib.err = errors.New("no kind")
		}
		if ib.err == nil && f.n > 0 {
			ib.checked = c.h.Check(from, &ib.b)
		}
	})
	if f.n == 0 { // unsequenced: acknowledgements and lossy bodies, applied here
		if ib := &f.bodies[0]; ib.err == nil && ib.b.Kind == mesh.FedAck {
			c.acked(d.From, &ib.b)
		} else if ib.err == nil {
			c.receiveLossy(from, &ib.b)
		}
		return
	}
	select {
	case c.applyc <- f:
	case <-c.ctx.Done():
	}
}

// Parallel calls f(0) ... f(n-1), on up to GOMAXPROCS goroutines (this one
// among them), and returns when all have returned. The node's fan-out to
// other nodes uses it too.
func Parallel(n int, f func(i int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				f(i)
			}
		})
	}
	for i := 0; i < n; i += workers {
		f(i)
	}
	wg.Wait()
}

// apply applies verified frames in order until the client closes.
func (c *Client) apply() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case f := <-c.applyc:
			for i := range f.bodies {
				c.receive(f, f.n+uint64(i), &f.bodies[i])
			}
		}
	}
}

// receive applies the body at position n of frame f: in order, once.
func (c *Client) receive(f *inFrame, n uint64, ib *inBody) {
	origin := f.from.ID
	c.mu.Lock()
	in := c.in[origin]
	if in == nil {
		in = &inbox{}
		c.in[origin] = in
	}
	if in.epoch != f.epoch {
		*in = inbox{epoch: f.epoch, expect: max(f.base, 1)}
		in.ackUpto = in.expect - 1
	}
	if f.base > in.expect { // the sender gave up on or was told of what is below
		in.expect = f.base
		if len(in.fifo) == 0 {
			in.ackUpto = max(in.ackUpto, f.base-1)
		}
	}
	apply := false
	switch {
	case n < in.expect:
		in.ackDue = true
	case n > in.expect:
		in.dropped = max(in.dropped, n)
	default:
		in.expect++
		in.fifo = append(in.fifo, applyNote{n: n})
		apply = true
	}
	epoch := in.epoch
	c.mu.Unlock()
	if !apply {
		c.wake()
		return
	}
	if ib.err != nil {
		c.h.Reject(f.from, "body does not decode: "+mesh.ErrorMessage(ib.err))
		c.applied(origin, epoch, n, nil)
		return
	}
	c.h.Receive(f.from, &ib.b, ib.checked, func(err error) { c.applied(origin, epoch, n, err) })
}
