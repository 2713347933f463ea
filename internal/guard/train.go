package guard

import (
	"math"
	"math/rand/v2"
	"strings"
)

// Example is one labelled text, as stored in testdata/dev.jsonl.
type Example struct {
	Text   string `json:"text"`
	Label  string `json:"label"` // "injection" or "benign"
	Source string `json:"source"`
	Lang   string `json:"lang,omitempty"`
}

// Injection reports whether e is labelled as an attack.
func (e Example) Injection() bool { return e.Label == "injection" }

// TrainConfig are the knobs of Train. DefaultTrainConfig gives the values
// the shipped model was trained with.
type TrainConfig struct {
	Epochs int
	Rate   float64 // initial learning rate, decayed as Rate/(1+epoch/4)
	L2     float64 // weight decay per epoch
	Seed   uint64  // seeds the example order
	// HarmfulWeight scales the loss of the JailbreakBench PAIR/GCG rows:
	// harmful-content requests with no override language, whose role-play
	// framing is shared by benign prompts (WildGuard).
	HarmfulWeight float64
	// RulePull is how hard rule weights are pulled back to their priors.
	RulePull float64
}

// DefaultTrainConfig returns the configuration of the shipped model.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{Epochs: 80, Rate: 0.5, L2: 1e-3, Seed: 20250611, HarmfulWeight: 0, RulePull: 0.5}
}

// Train fits a model to examples with stochastic gradient descent on the
// class-balanced logistic loss. It is deterministic: the same examples in
// the same order and the same config give a bit-identical model.
func Train(examples []Example, cfg TrainConfig) *Model {
	set := compileRules(rules)
	type row struct {
		idx  []uint32
		hits []int
		y    float64
		w    float64
	}
	var npos, nneg float64
	for _, e := range examples {
		if e.Injection() {
			npos++
		} else {
			nneg++
		}
	}
	rows := make([]row, len(examples))
	var x extractor
	for i, e := range examples {
		var ob obfuscation
		x.extract(set, canonical(e.Text, &ob))
		r := row{idx: append([]uint32(nil), x.idx...), y: 0, w: 0.5 * (npos + nneg) / max(nneg, 1)}
		if e.Injection() {
			r.y, r.w = 1, 0.5*(npos+nneg)/max(npos, 1)
		}
		if strings.Contains(e.Source, "JailbreakBench") {
			r.w *= cfg.HarmfulWeight
		}
		for k, hit := range x.hits {
			if hit {
				r.hits = append(r.hits, k)
			}
		}
		rows[i] = r
	}

	m := &Model{Rules: make([]float32, len(rules)), Hash: make([]float32, 1<<HashBits)}
	w := make([]float64, 1<<HashBits)
	wr := make([]float64, len(rules))
	for i, r := range rules {
		wr[i] = r.prior
	}
	bias := 0.0
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	for epoch := 0; epoch < cfg.Epochs; epoch++ {
		lr := cfg.Rate / (1 + float64(epoch)/4)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, k := range order {
			r := &rows[k]
			inv := 0.0
			if len(r.idx) > 0 {
				inv = 1 / math.Sqrt(float64(len(r.idx)))
			}
			z := bias
			for _, i := range r.idx {
				z += w[i] * inv
			}
			for _, i := range r.hits {
				z += wr[i]
			}
			g := (1/(1+math.Exp(-z)) - r.y) * r.w * lr
			bias -= g
			for _, i := range r.idx {
				w[i] -= g * inv
			}
			for _, i := range r.hits {
				wr[i] -= g
			}
		}
		decay := 1 - lr*cfg.L2*float64(len(rows))/10
		for i := range w {
			w[i] *= decay
		}
		// Rule weights are pulled back to their priors much harder than
		// n-gram weights: a rule is a claim its author made, and a few
		// dozen examples should only nudge it.
		for i, r := range rules {
			wr[i] = r.prior + (wr[i]-r.prior)*(1-cfg.RulePull*lr)
		}
	}
	m.Bias = float32(bias)
	for i := range w {
		m.Hash[i] = float32(w[i])
	}
	for i := range wr {
		m.Rules[i] = float32(wr[i])
	}
	m.quantizeInPlace()
	return m
}
