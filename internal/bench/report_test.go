package bench_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/the-mesh/mesh/internal/bench"
)

func TestReport(t *testing.T) {
	r := bench.NewReport("fanout")
	r.Add("members", "members", "", 1000)
	r.Add("p50_ms", "latency p50", "ms", 1.23456)
	r.Add("tiny", "tiny", "", 0.0012345)
	r.Add("lost", "lost", "", int64(0))
	r.Add("hidden", "", "", "x")
	r.Note("a note")
	var b bytes.Buffer
	r.Write(&b, false)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	last := lines[len(lines)-1]

	var got map[string]any
	if err := json.Unmarshal([]byte(last), &got); err != nil {
		t.Fatalf("last line %q is not JSON: %v", last, err)
	}
	want := map[string]any{"workload": "fanout", "members": 1000.0, "p50_ms": 1.235, "tiny": 0.001235, "lost": 0.0, "hidden": "x", "machine": bench.Machine()}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
		}
	}
	if !strings.HasPrefix(last, `{"workload":"fanout","members":1000,`) || !strings.HasSuffix(last, `"machine":"`+bench.Machine()+`"}`) {
		t.Errorf("got %s, want workload first and machine last", last)
	}
	text := b.String()
	for _, s := range []string{"latency p50  1.235 ms", "note: a note"} {
		if !strings.Contains(text, s) {
			t.Errorf("text block lacks %q:\n%s", s, text)
		}
	}
	if strings.Contains(strings.Join(lines[:len(lines)-1], "\n"), "hidden") {
		t.Errorf("a field without a label is in the text block")
	}

	b.Reset()
	r.Write(&b, true)
	if strings.Count(b.String(), "\n") != 1 || !strings.HasPrefix(b.String(), "{") {
		t.Errorf("json-only wrote %q, want one JSON line", b.String())
	}
}
