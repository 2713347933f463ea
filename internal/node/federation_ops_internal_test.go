package node

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
)

// reassemble feeds the chunks of a reply, in the order given, to a waiter
// and returns its answer once it has one.
func reassemble(chunks []*mesh.FedBody) (opAnswer, bool) {
	w := &opWaiter{}
	for _, c := range chunks {
		if a, done := w.chunk("nhome", c.Op); done {
			return a, true
		}
	}
	return opAnswer{}, false
}

// TestOpChunks: a payload cut into chunks comes back whole, in any order,
// repeats dropped; a damaged, moved or oversized one is refused, naming
// the problem.
func TestOpChunks(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 7000) // 112000 bytes: three chunks
	chunks := func() []*mesh.FedBody {
		return chunkBodies(mesh.FedBody{Kind: mesh.FedReply}, mesh.FedOp{Name: mesh.OpDataGet}, payload, opChunkBytes)
	}
	if n := len(chunks()); n != 3 {
		t.Fatalf("got %d chunks, want 3", n)
	}
	for name, tt := range map[string]struct {
		edit    func([]*mesh.FedBody) []*mesh.FedBody
		code    string // "" : the payload whole
		message string
	}{
		"in order": {edit: func(c []*mesh.FedBody) []*mesh.FedBody { return c }},
		"reversed": {edit: func(c []*mesh.FedBody) []*mesh.FedBody { return []*mesh.FedBody{c[2], c[1], c[0]} }},
		"repeated": {edit: func(c []*mesh.FedBody) []*mesh.FedBody { return []*mesh.FedBody{c[1], c[1], c[0], c[2]} }},
		"damaged": {edit: func(c []*mesh.FedBody) []*mesh.FedBody {
			d := *c[1].Op
			d.Data = append([]byte{'X'}, d.Data[1:]...)
			c[1].Op = &d
			return c
		}, code: mesh.EUnavailable, message: "does not match its SHA-256"},
		"outside": {edit: func(c []*mesh.FedBody) []*mesh.FedBody {
			c[2].Op.Offset += 10
			return c
		}, code: mesh.EUnavailable, message: "outside it"},
		"changed": {edit: func(c []*mesh.FedBody) []*mesh.FedBody {
			c[1].Op.SHA256 = strings.Repeat("0", 64)
			return c
		}, code: mesh.EUnavailable, message: "changed while it was sent"},
		"too large": {edit: func(c []*mesh.FedBody) []*mesh.FedBody {
			c[0].Op.Size = maxOpPayload + 1
			return c
		}, code: mesh.ETooLarge, message: "takes at most"},
	} {
		t.Run(name, func(t *testing.T) {
			a, done := reassemble(tt.edit(chunks()))
			switch {
			case !done:
				t.Fatal("no answer")
			case tt.code == "" && (a.err != nil || !bytes.Equal(a.payload, payload)):
				t.Fatalf("got %d bytes, err %v; want the payload", len(a.payload), a.err)
			case tt.code != "" && (mesh.ErrorCode(a.err) != tt.code || !strings.Contains(mesh.ErrorMessage(a.err), tt.message)):
				t.Fatalf("got %v, want %s containing %q", a.err, tt.code, tt.message)
			}
		})
	}
	// An empty payload is one chunk, whole at once.
	empty := chunkBodies(mesh.FedBody{}, mesh.FedOp{Name: mesh.OpDataGet}, []byte{}, opChunkBytes)
	if a, done := reassemble(empty); len(empty) != 1 || !done || a.err != nil || a.payload == nil || len(a.payload) != 0 {
		t.Fatalf("an empty payload: %d chunks, answer %v %v", len(empty), a, done)
	}
}

// FuzzOpChunks: whatever chunks a home sends, an answer taken as whole
// has the size and SHA-256 the chunks announced.
func FuzzOpChunks(f *testing.F) {
	f.Add([]byte("hello, room"), uint16(4), uint8(1), uint16(0), byte(0))
	f.Add(bytes.Repeat([]byte{7}, 3000), uint16(1000), uint8(3), uint16(1500), byte('x'))
	f.Fuzz(func(t *testing.T, payload []byte, size uint16, rot uint8, at uint16, flip byte) {
		if size == 0 {
			size = 1
		}
		chunks := chunkBodies(mesh.FedBody{}, mesh.FedOp{Name: mesh.OpDataGet}, payload, int(size))
		k := int(rot) % len(chunks)
		chunks = append(chunks[k:], chunks[:k]...) // out of order
		if len(payload) > 0 {                      // maybe damaged on the way
			c := chunks[int(at)%len(chunks)]
			d := *c.Op
			if len(d.Data) > 0 {
				d.Data = bytes.Clone(d.Data)
				d.Data[int(at)%len(d.Data)] ^= flip
			}
			c.Op = &d
		}
		a, done := reassemble(chunks)
		if !done {
			t.Fatal("no answer after every chunk")
		}
		if a.err != nil {
			if flip == 0 {
				t.Fatalf("refused an intact payload: %v", a.err)
			}
			return
		}
		sum := sha256.Sum256(a.payload)
		if a.op.Size != int64(len(payload)) || hex.EncodeToString(sum[:]) != a.op.SHA256 || !bytes.Equal(a.payload, payload) {
			t.Fatalf("took %d bytes that are not the payload of %d", len(a.payload), len(payload))
		}
	})
}
