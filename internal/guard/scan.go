package guard

import (
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"math"
	"sync"
	"unicode"
	"unicode/utf8"
)

// DefaultThreshold is the score at or above which Scan reports an
// injection. It was chosen on out-of-fold scores of the training data (see
// doc.go) so that almost no benign text is flagged.
const DefaultThreshold = 0.6

// Findings that name an obfuscation undone before scoring. Together with
// the rule findings (FindingOverride ...) and FindingModel they are the
// stable vocabulary of Result.Findings.
const (
	FindingModel        = "model" // the n-gram model, no rule, carried the verdict
	FindingZeroWidth    = "obfuscation:zero-width"
	FindingHomoglyph    = "obfuscation:homoglyph"
	FindingBidi         = "obfuscation:bidi"
	FindingLeetspeak    = "obfuscation:leetspeak"
	FindingSpacing      = "obfuscation:spacing"
	FindingBase64       = "obfuscation:base64"
	FindingHex          = "obfuscation:hex"
	FindingHiddenMarkup = "obfuscation:hidden-markup"
)

// disguiseBonus is added to the logit when letters were disguised inside
// words (zero-width characters, mixed-script look-alikes): honest text has
// no reason to do that. It is a fixed prior, not trained: the training data
// holds almost no such text.
const disguiseBonus = 1.0

// Result is the verdict on one text.
type Result struct {
	// Injection reports whether Score reached the threshold.
	Injection bool `json:"injection"`
	// Score is the model's probability that the text is a prompt attack.
	Score float64 `json:"score"`
	// Findings names what was found, in a stable order. It is empty when
	// Injection is false, so a node can show it as the reason for a flag.
	Findings []string `json:"findings"`
}

//go:embed model.bin
var embeddedModel []byte

// Scanner scores texts for prompt injection. It is immutable after New and
// safe for concurrent use.
type Scanner struct {
	model     *Model
	rules     *ruleSet
	threshold float64
	scratch   sync.Pool // *extractor
}

// New returns a Scanner with the model embedded in the binary. It panics if
// that model does not match this version's rules: a build error, caught by
// the package tests.
func New() *Scanner {
	m, err := ParseModel(embeddedModel)
	if err != nil {
		panic("guard: embedded model: " + err.Error())
	}
	return NewWithModel(m)
}

// NewWithModel returns a Scanner using m, which it must not be changed
// afterwards. It exists for training and evaluation.
func NewWithModel(m *Model) *Scanner {
	s := &Scanner{model: m, rules: compileRules(rules), threshold: DefaultThreshold}
	s.scratch.New = func() any { return new(extractor) }
	return s
}

// view is one reading of the text and the obfuscation it took to get it.
type view struct {
	logit   float64
	hits    []bool
	finding string // the obfuscation finding for this view, or ""
}

// Scan scores text and reports an injection at or above DefaultThreshold.
// Any string is accepted, including invalid UTF-8.
func (s *Scanner) Scan(text string) Result {
	x := s.scratch.Get().(*extractor)
	defer s.scratch.Put(x)

	var ob obfuscation
	views := make([]view, 0, 3)
	main := canonical(text, &ob)
	views = append(views, s.score(x, main, ""))
	if ob.spaced > 0 {
		views[0].finding = FindingSpacing
	}
	if leet := deleet(main); leet != "" {
		views = append(views, s.score(x, leet, FindingLeetspeak))
	}
	for _, b := range decodeBlobs(text, 2) {
		var dob obfuscation
		views = append(views, s.score(x, canonical(b.text, &dob), b.finding))
	}

	bonus := 0.0
	if ob.zeroWidth > 0 || ob.homoglyph > 0 {
		bonus = disguiseBonus
	}
	cut := logitOf(s.threshold)
	best := math.Inf(-1)
	for _, v := range views {
		best = max(best, v.logit+bonus)
	}
	res := Result{Score: sigmoid(best), Findings: []string{}}
	if best < cut {
		return res
	}
	res.Injection = true
	seen := map[string]bool{}
	add := func(f string) {
		if f != "" && !seen[f] {
			seen[f] = true
			res.Findings = append(res.Findings, f)
		}
	}
	for _, v := range views {
		if v.logit+bonus < cut {
			continue
		}
		for r, hit := range v.hits {
			if hit && s.model.Rules[r] > 0 {
				add(rules[r].finding)
			}
		}
	}
	if len(res.Findings) == 0 {
		add(FindingModel)
	}
	for _, v := range views {
		if v.logit+bonus >= cut {
			add(v.finding)
		}
	}
	if ob.zeroWidth > 0 {
		add(FindingZeroWidth)
	}
	if ob.homoglyph > 0 {
		add(FindingHomoglyph)
	}
	if ob.bidi > 0 {
		add(FindingBidi)
	}
	if ob.hidden {
		add(FindingHiddenMarkup)
	}
	return res
}

func (s *Scanner) score(x *extractor, text, finding string) view {
	x.extract(s.rules, text)
	return view{logit: s.model.logit(x), hits: append([]bool(nil), x.hits...), finding: finding}
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

func logitOf(p float64) float64 { return math.Log(p / (1 - p)) }

// blob is a decoded base64 or hex run.
type blob struct {
	text    string
	finding string
}

// minBlob is the shortest run of base64 or hex characters worth decoding.
const minBlob = 16

// decodeBlobs finds runs of at least minBlob base64 or hex characters
// (line breaks may split a run) and returns those that decode to readable
// text, and, up to depth levels, the blobs inside those.
func decodeBlobs(text string, depth int) []blob {
	var out []blob
	for i := 0; i < len(text); {
		if !isB64(text[i]) {
			i++
			continue
		}
		j, hexOnly := i, true
		for j < len(text) && (isB64(text[j]) || text[j] == '\n' || text[j] == '\r') {
			hexOnly = hexOnly && (isHex(text[j]) || text[j] == '\n' || text[j] == '\r')
			j++
		}
		run := text[i:j]
		i = j
		if len(run) < minBlob {
			continue
		}
		var b blob
		if hexOnly {
			b = blob{decodeHex(run), FindingHex}
		}
		if b.text == "" {
			b = blob{decodeB64(run), FindingBase64}
		}
		if b.text == "" {
			continue
		}
		out = append(out, b)
		if depth > 1 {
			for _, inner := range decodeBlobs(b.text, depth-1) {
				out = append(out, blob{inner.text, b.finding})
			}
		}
	}
	return out
}

func isB64(c byte) bool {
	return isLower(c) || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '+' || c == '/' || c == '=' || c == '-' || c == '_'
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func dropBreaks(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\n' && s[i] != '\r' {
			b = append(b, s[i])
		}
	}
	return b
}

func decodeHex(s string) string {
	b := dropBreaks(s)
	if len(b)%2 == 1 {
		b = b[:len(b)-1]
	}
	out := make([]byte, len(b)/2)
	if _, err := hex.Decode(out, b); err != nil {
		return ""
	}
	return readable(out)
}

func decodeB64(s string) string {
	b := dropBreaks(s)
	for len(b) > 0 && b[len(b)-1] == '=' {
		b = b[:len(b)-1]
	}
	// Trim leading/trailing characters that cannot be part of the blob,
	// such as a '/' or '-' from a surrounding path.
	for len(b) > 0 && (b[0] == '/' || b[0] == '-' || b[0] == '_') {
		b = b[1:]
	}
	if len(b)%4 == 1 {
		b = b[:len(b)-1]
	}
	enc := base64.RawStdEncoding
	for _, c := range b {
		if c == '-' || c == '_' {
			enc = base64.RawURLEncoding
			break
		}
	}
	out := make([]byte, enc.DecodedLen(len(b)))
	n, err := enc.Decode(out, b)
	if err != nil {
		return ""
	}
	return readable(out[:n])
}

// readable returns b as a string if it looks like text someone could read:
// valid UTF-8, at least 8 bytes, nearly all printable, with some spaces.
func readable(b []byte) string {
	if len(b) < 8 || !utf8.Valid(b) {
		return ""
	}
	n, bad, spaces := 0, 0, 0
	for _, r := range string(b) {
		n++
		switch {
		case r == ' ' || r == '\n' || r == '\t':
			spaces++
		case r == '\r':
		case !unicode.IsPrint(r):
			bad++
		}
	}
	if bad*20 > n || spaces == 0 && n > 24 {
		return ""
	}
	return string(b)
}
