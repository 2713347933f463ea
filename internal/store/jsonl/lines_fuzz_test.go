package jsonl_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"testing"
	"testing/iotest"

	"github.com/the-mesh/mesh/internal/store/jsonl"
)

// FuzzScanLog checks the line scanner: whatever the bytes, and however
// they are split across reads, it accepts a prefix of whole lines, each a
// JSON object with the next seq, and reports why it stopped short.
func FuzzScanLog(f *testing.F) {
	good := append(append(line("lobby", 1), '\n'), append(line("lobby", 2), '\n')...)
	for _, seed := range []string{
		"",
		string(good),
		string(good) + `{"seq":3,"te`,
		string(good) + `{"seq":9}` + "\n",
		string(good[:len(good)/2]),
		"{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3}\n",
		"{\"seq\":1,\"a\":{\"seq\":5}}\n",
		"{\"seq\":1}\r\n",
		"\n",
		"{}\n",
		"{\"seq\":-1}\n",
		"{\"seq\":1.5}\n",
		"[1]\n",
		"{\"seq\":1} \n",
		"{\"seq\":1}{\"seq\":2}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		next, end, marks, err := jsonl.ScanLog(bytes.NewReader(data), 2)
		if err != nil && !errors.Is(err, jsonl.ErrCorrupt) {
			t.Fatalf("got %v, want nil or a corrupt-line error", err)
		}
		if end < 0 || end > int64(len(data)) {
			t.Fatalf("end %d, want within [0, %d]", end, len(data))
		}
		if (end < int64(len(data))) != (err != nil) {
			t.Fatalf("end %d of %d with err %v", end, len(data), err)
		}
		if got := uint64(bytes.Count(data[:end], []byte("\n"))); got != next-1 {
			t.Fatalf("accepted %d lines, want %d", got, next-1)
		}
		if end > 0 && data[end-1] != '\n' {
			t.Fatalf("accepted prefix does not end a line")
		}
		if want := int(next / 2); len(marks) != want {
			t.Fatalf("marks: got %d, want %d", len(marks), want)
		}
		for name, r := range map[string]io.Reader{
			"one byte": iotest.OneByteReader(bytes.NewReader(data)),
			"half":     iotest.HalfReader(bytes.NewReader(data)),
		} {
			next2, end2, _, err2 := jsonl.ScanLog(r, 2)
			if next2 != next || end2 != end || (err2 == nil) != (err == nil) {
				t.Fatalf("%s reader: got %d %d %v, want %d %d %v", name, next2, end2, err2, next, end, err)
			}
		}
	})
}

// FuzzLineSeq checks the hand scan for "seq" against encoding/json on
// lines without escapes, where the two must agree.
func FuzzLineSeq(f *testing.F) {
	for _, seed := range []string{
		`{"seq":1}`, `{"seq":18446744073709551615}`, `{"seq":18446744073709551616}`,
		`{"a":{"seq":2},"seq":3}`, `{"a":["seq",{"seq":4}],"b":"seq","seq":5}`,
		`{"seq":1,"seq":2}`, `{ "seq" : 7 }`, `{"seq":1.0}`, `{"seq":-1}`, `{"seq":0}`,
		`{"seq":"1"}`, `{"SEQ":1}`, `{"s\u0065q":1}`, `{"x":"\"seq\":9","seq":8}`, `{}`, `{"seq":1}x`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		got, err := jsonl.LineSeq(line)
		if bytes.IndexByte(line, '\\') >= 0 {
			return
		}
		var m map[string]json.RawMessage
		jerr := json.Unmarshal(line, &m)
		var want uint64
		ok := jerr == nil && m != nil && bytes.IndexByte(line, '\n') < 0 && line[0] == '{' && line[len(line)-1] == '}'
		if ok {
			raw, has := m["seq"]
			n, perr := strconv.ParseUint(string(raw), 10, 64)
			ok = has && perr == nil && n > 0
			want = n
		}
		if ok != (err == nil) || ok && got != want {
			t.Fatalf("LineSeq(%q) = %d, %v; encoding/json says %d, ok %v", line, got, err, want, ok)
		}
	})
}
