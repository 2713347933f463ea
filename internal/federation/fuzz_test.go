package federation_test

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzQueueReplay opens a queue over arbitrary file contents: it never
// panics, and what it cannot replay it refuses or sets aside.
func FuzzQueueReplay(f *testing.F) {
	f.Add([]byte(`{"op":"epoch","epoch":"e1"}` + "\n" + `{"op":"put","entry":{"id":"q_1","to":"nb","n":1,"kind":"say","ts":"2026-03-01T12:00:00Z","body":{},"sig":"s"}}` + "\n" + `{"op":"ack","to":"nb","upto":1}` + "\n"))
	f.Add([]byte(`{"op":"next","to":"nb","n":7}` + "\n" + `{"op":"dead","to":"nb","n":3}` + "\n"))
	f.Add([]byte(`{"op":"put","entry":{"id":"q_1","to":"nb","n":1,"kind":"say","ts":"2026-03-01T12:00:00Z","body":{},"attempts":4}}` + "\n" + `{"op":"sent","to":"nb","n":1,"upto":9}` + "\n"))
	f.Add([]byte(`{"op":"put","entry":{"n":0}}` + "\n"))
	f.Add([]byte(`{"op":"put"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "federation-queue.jsonl"), data, 0o600)
		q, err := federationOpen(dir)
		if err != nil {
			return
		}
		for _, to := range q.Dests() {
			for e := q.Next(to, 0); e != nil; e = q.Next(to, e.N) {
				if e.N == 0 {
					t.Fatal("an entry at position 0")
				}
			}
			q.Base(to)
		}
		q.Close()
	})
}
