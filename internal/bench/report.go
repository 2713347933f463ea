package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Report is a workload's result: named figures in a fixed order, printed
// as a readable block and as one JSON line with the same keys.
type Report struct {
	Workload string
	fields   []field
	notes    []string
}

type field struct {
	key   string // JSON key
	label string // text label; "" keeps the field out of the text block
	unit  string
	value any // string, int64, uint64, int, float64 or bool
}

// NewReport starts a report for workload.
func NewReport(workload string) *Report { return &Report{Workload: workload} }

// Add appends a figure. A float is rounded to 3 decimals (6 below 0.01).
func (r *Report) Add(key, label, unit string, value any) {
	if f, ok := value.(float64); ok {
		value = round(f)
	}
	r.fields = append(r.fields, field{key, label, unit, value})
}

// Note appends a line of text shown under the figures (not in the JSON).
func (r *Report) Note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// Get returns the value of key and whether the report has it.
func (r *Report) Get(key string) (any, bool) {
	for _, f := range r.fields {
		if f.key == key {
			return f.value, true
		}
	}
	return nil, false
}

func round(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	scale := 1e3
	if math.Abs(f) < 0.01 {
		scale = 1e6
	}
	return math.Round(f*scale) / scale
}

// JSON returns the report as one JSON object, workload first and the
// machine last.
func (r *Report) JSON() []byte {
	var b bytes.Buffer
	b.WriteString(`{"workload":`)
	writeJSON(&b, r.Workload)
	for _, f := range r.fields {
		b.WriteByte(',')
		writeJSON(&b, f.key)
		b.WriteByte(':')
		writeJSON(&b, f.value)
	}
	b.WriteString(`,"machine":`)
	writeJSON(&b, Machine())
	b.WriteByte('}')
	return b.Bytes()
}

func writeJSON(b *bytes.Buffer, v any) {
	if f, ok := v.(float64); ok {
		b.WriteString(strconv.FormatFloat(f, 'f', -1, 64))
		return
	}
	data, err := json.Marshal(v)
	if err != nil { // only plain values are added
		data = []byte("null")
	}
	b.Write(data)
}

// WriteText writes the readable block.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "mesh bench %s (%s)\n", r.Workload, Machine())
	width := 0
	for _, f := range r.fields {
		width = max(width, len(f.label))
	}
	for _, f := range r.fields {
		if f.label == "" {
			continue
		}
		v := fmt.Sprint(f.value)
		if x, ok := f.value.(float64); ok {
			v = strconv.FormatFloat(x, 'f', -1, 64)
		}
		fmt.Fprintf(w, "  %-*s  %s", width, f.label, v)
		if f.unit != "" {
			fmt.Fprintf(w, " %s", f.unit)
		}
		fmt.Fprintln(w)
	}
	for _, n := range r.notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

// Write prints the text block (unless jsonOnly) and then the JSON line.
func (r *Report) Write(w io.Writer, jsonOnly bool) {
	if !jsonOnly {
		r.WriteText(w)
	}
	w.Write(append(r.JSON(), '\n'))
}

// Machine describes where the benchmark ran, e.g. "2 cores".
func Machine() string {
	n := runtime.NumCPU()
	if n == 1 {
		return "1 core"
	}
	return strconv.Itoa(n) + " cores"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func secs(d time.Duration) float64 { return d.Seconds() }

// plural is for notes: plural(3, "gap") is "3 gaps".
func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.FormatInt(n, 10) + " " + strings.TrimSuffix(word, "s") + "s"
}
