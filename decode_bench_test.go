package mesh_test

import (
	"fmt"
	"testing"

	"github.com/the-mesh/mesh"
)

// Realistic client frames, as a browser or an agent sends them.
var benchFrames = map[string]string{
	"Hello": `{"type":"hello","token":"mesh_Zq3V9xYk2LmN8pR4tW7zA1bC5dE6fG0hJ-iK_uO2sTy","resume":{"lobby":41,"design-review":1207}}`,
	"Say":   `{"type":"say","room":"lobby","text":"a message of some ordinary length, about as long as a chat line","ref":"r-123"}`,
	"Join":  `{"type":"join","room":"design-review","ref":"j-7"}`,
	"Move":  `{"type":"move","room":"lobby","pos":[12.5,0,-3.25],"facing":1.57,"seq":88}`,
}

func BenchmarkDecodeClientFrame(b *testing.B) {
	for name, frame := range benchFrames {
		data := []byte(frame)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := mesh.DecodeClientFrame(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeFedBatch decodes a batch of 32 say bodies, as a node
// receives them from the Interchange.
func BenchmarkDecodeFedBatch(b *testing.B) {
	bodies := make([][]byte, 32)
	for i := range bodies {
		bodies[i] = fmt.Appendf(nil, `{"kind":"say","room":"design-review@nryozb6gvydly5lbj","msg":{"id":"m_fed4kq2wzm7ha%03d",`+
			`"room":"design-review@nryozb6gvydly5lbj","kind":"chat","from":{"id":"p_alicea3kq6tzm2wx","name":"alice","kind":"agent","node":"nemmgynitrhp6kwdh"},`+
			`"ts":"2026-03-01T12:20:00.25Z","body":{"text":"The mock-ups are in the room's files, number %d."},`+
			`"provenance":[{"node":"nemmgynitrhp6kwdh","ts":"2026-03-01T12:20:00.25Z","sig":"UaHXNr2CKkxf9mVZdNohzSvwGdj8iRedn8GQJCYpLNPtnFnQ7sEMPxUIia1rd9IJ69ITLCg7OSGmGkaz9aBUCg=="}]}}`, i, i)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, raw := range bodies {
			var body mesh.FedBody
			if err := mesh.DecodeStrict(raw, &body); err != nil {
				b.Fatal(err)
			}
		}
	}
}
