package guard

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// Groups of sources used in reports. The targets of the issue are stated
// for GroupTarget (override and planted-instruction attacks) and
// GroupOrdinary (ordinary benign text, which must never be flagged).
const (
	GroupTarget    = "override+planted"
	GroupJailbreak = "jailbreak"
	GroupOrdinary  = "ordinary-benign"
	GroupHard      = "hard-benign"
)

// Group classifies an example by its source and label.
func Group(e Example) string {
	s := e.Source
	if e.Injection() {
		if strings.Contains(s, "BIPIA") || strings.Contains(s, "sysprompt_extraction") || strings.Contains(s, "promptinject") {
			return GroupTarget
		}
		return GroupJailbreak
	}
	if strings.Contains(s, "clinc") || strings.Contains(s, "BIPIA") {
		return GroupOrdinary // CLINC requests, e-mails, Stack Overflow
	}
	return GroupHard
}

// Family names a source up to its train/test split, so that
// leave-one-source-out never trains on a sibling file of the test source.
func Family(source string) string {
	r := strings.NewReplacer("_attack_train.json", "_attack", "_attack_test.json", "_attack",
		"/train.jsonl", "", "/test.jsonl", "", "NotInject_one.json", "NotInject", "NotInject_two.json", "NotInject",
		"NotInject_three.json", "NotInject")
	return r.Replace(source)
}

// Tally counts flagged texts out of a total.
type Tally struct{ Flagged, Total int }

func (t Tally) String() string {
	if t.Total == 0 {
		return "-"
	}
	return fmt.Sprintf("%4d/%-4d %6.1f%%", t.Flagged, t.Total, 100*float64(t.Flagged)/float64(t.Total))
}

// Report is the outcome of scanning labelled examples.
type Report struct {
	Sources   map[string]Tally // by source and label, "source [label]"
	Groups    map[string]Tally
	Injection Tally // detection over all attacks
	Benign    Tally // false positives over all benign texts
}

// Add records one verdict.
func (r *Report) Add(e Example, flagged bool) {
	if r.Sources == nil {
		r.Sources, r.Groups = map[string]Tally{}, map[string]Tally{}
	}
	inc := func(t *Tally) {
		t.Total++
		if flagged {
			t.Flagged++
		}
	}
	key := e.Source + " [" + e.Label + "]"
	t := r.Sources[key]
	inc(&t)
	r.Sources[key] = t
	g := r.Groups[Group(e)]
	inc(&g)
	r.Groups[Group(e)] = g
	if e.Injection() {
		inc(&r.Injection)
	} else {
		inc(&r.Benign)
	}
}

// Evaluate scans every example with s and tallies the verdicts.
func Evaluate(s *Scanner, examples []Example) *Report {
	r := &Report{}
	for _, e := range examples {
		r.Add(e, s.Scan(e.Text).Injection)
	}
	return r
}

// WriteTo prints r as a table: detection rate for attack sources, false
// positive rate for benign ones.
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "%-72s %s\n", "source [label]", "flagged/total  rate")
	for _, k := range slices.Sorted(maps.Keys(r.Sources)) {
		fmt.Fprintf(&b, "%-72s %s\n", k, r.Sources[k])
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "%-72s %s\n", "detection, override+planted (garak non-jailbreak, BIPIA)", r.Groups[GroupTarget])
	fmt.Fprintf(&b, "%-72s %s\n", "detection, jailbreaks (in-the-wild, DAN, AutoDAN, PAIR, GCG)", r.Groups[GroupJailbreak])
	fmt.Fprintf(&b, "%-72s %s\n", "detection, all attacks", r.Injection)
	fmt.Fprintf(&b, "%-72s %s\n", "false positives, all benign", r.Benign)
	fmt.Fprintf(&b, "%-72s %s\n", "false positives, ordinary benign (CLINC, e-mail, Stack Overflow)", r.Groups[GroupOrdinary])
	fmt.Fprintf(&b, "%-72s %s\n", "false positives, hard benign (NotInject, XSTest, WildGuard, commits)", r.Groups[GroupHard])
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// ReadExamples reads one JSON Example per line; blank lines are skipped.
func ReadExamples(r io.Reader) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e Example
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
