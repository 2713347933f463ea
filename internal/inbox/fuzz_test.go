package inbox_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/the-mesh/mesh/internal/inbox"
)

// FuzzLoad writes arbitrary bytes as an inbox file and loads it: the load
// must not fail or panic, must keep a prefix of whole lines, and must
// leave a file that loads again to the same state.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"{\"op\":\"item\",\"n\":1,\"room\":\"lobby\",\"seq\":4,\"id\":\"m_a\",\"reason\":\"to\"}\n{\"op\":\"ack\",\"upTo\":1}\n",
		"{\"op\":\"item\",\"n\":2,\"room\":\"lobby\",\"seq\":4,\"id\":\"m_a\",\"reason\":\"command\",\"pushed\":true}\n{\"op\":\"state\",\"last\":2,\"hook\":1,\"seen\":{\"lobby\":4}}\n",
		"{\"op\":\"item\",\"n\":1,\"room\":\"design@nq4c7ha2lmx5tyvbk\",\"seq\":9,\"id\":\"m_a\",\"reason\":\"command\"}\n{\"op\":\"state\",\"last\":1,\"seen\":{\"design@nq4c7ha2lmx5tyvbk\":9}}\n",
		"{\"op\":\"hook\",\"upTo\":3}\n{\"op\":\"item\"", "{\"op\":\"item\",\"n\":0}\n", "\n", "{}", "{\"op\":\"state\",\"seen\":{\"BAD\":1}}\n",
	} {
		f.Add([]byte(s))
		f.Add([]byte(s[:len(s)/2])) // cut as a crash leaves it
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, string(alice)+".jsonl")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := inbox.Open(dir, inbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		first, err := s.Page(alice, 0, 500)
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		s.Close()
		kept, _ := os.ReadFile(path)
		if len(kept) > len(data) || string(kept) != string(data[:len(kept)]) {
			t.Fatalf("the load kept %q, not a prefix of %q", kept, data)
		}
		if len(kept) > 0 && kept[len(kept)-1] != '\n' {
			t.Fatalf("the load kept a line without newline: %q", kept)
		}
		s, err = inbox.Open(dir, inbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		again, err := s.Page(alice, 0, 500)
		if err != nil || len(again.Refs) != len(first.Refs) || again.Last != first.Last || again.Ack != first.Ack {
			t.Fatalf("second load: got %+v %v, want %+v", again, err, first)
		}
	})
}
