// Command train fits the guard's model to labelled texts and writes the
// model file that package guard embeds, or measures how well the method
// generalises. Run it from internal/guard:
//
//	go run ./train                      # retrain model.bin from testdata/dev.jsonl
//	go run ./train -loso                # leave-one-source-out report
//	go run ./train -cv 5                # stratified 5-fold out-of-fold report and score quantiles
//	go run ./train -holdout 0.25 -out /tmp/split.bin -heldback /tmp/heldback.jsonl
//
// Training is deterministic: the same data and flags give a byte-identical
// model file.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"slices"
	"sort"

	"github.com/the-mesh/mesh/internal/guard"
)

func main() {
	data := flag.String("data", "testdata/dev.jsonl", "labelled JSONL to train on")
	out := flag.String("out", "model.bin", "model file to write (with -holdout: the model trained on the rest)")
	loso := flag.Bool("loso", false, "report leave-one-source-out results instead of training")
	cv := flag.Int("cv", 0, "report stratified k-fold out-of-fold results instead of training")
	holdout := flag.Float64("holdout", 0, "hold back this fraction of each source, train on the rest")
	heldback := flag.String("heldback", "", "with -holdout, write the held-back examples here")
	verbose := flag.Bool("v", false, "with -cv, print the misjudged non-jailbreak texts")
	seed := flag.Uint64("seed", 20250611, "seed for splits")
	flag.Parse()

	f, err := os.Open(*data)
	if err != nil {
		log.Fatal(err)
	}
	examples, err := guard.ReadExamples(f)
	f.Close()
	if err != nil {
		log.Fatal(err)
	}
	cfg := guard.DefaultTrainConfig()

	switch {
	case *loso:
		report := &guard.Report{}
		var families []string
		for _, e := range examples {
			if fam := guard.Family(e.Source); !slices.Contains(families, fam) {
				families = append(families, fam)
			}
		}
		sort.Strings(families)
		for _, fam := range families {
			var train, test []guard.Example
			for _, e := range examples {
				if guard.Family(e.Source) == fam {
					test = append(test, e)
				} else {
					train = append(train, e)
				}
			}
			s := guard.NewWithModel(guard.Train(train, cfg))
			for _, e := range test {
				report.Add(e, s.Scan(e.Text).Injection)
			}
		}
		fmt.Println("Leave-one-source-out (sources grouped by family: train/test files and NotInject_* left out together)")
		report.WriteTo(os.Stdout)
	case *cv > 1:
		folds := stratify(examples, *cv, *seed)
		report := &guard.Report{}
		var benign, target, jail []float64
		for k := range *cv {
			var train, test []guard.Example
			for i, e := range examples {
				if folds[i] == k {
					test = append(test, e)
				} else {
					train = append(train, e)
				}
			}
			s := guard.NewWithModel(guard.Train(train, cfg))
			for _, e := range test {
				r := s.Scan(e.Text)
				report.Add(e, r.Injection)
				if *verbose && r.Injection != e.Injection() && guard.Group(e) != guard.GroupJailbreak {
					t := e.Text
					if len(t) > 160 {
						t = t[:160]
					}
					fmt.Printf("MISS %.3f %s %q %v\n", r.Score, guard.Group(e), t, r.Findings)
				}
				switch guard.Group(e) {
				case guard.GroupTarget:
					target = append(target, r.Score)
				case guard.GroupJailbreak:
					jail = append(jail, r.Score)
				default:
					benign = append(benign, r.Score)
				}
			}
		}
		fmt.Printf("Stratified %d-fold cross-validation, out-of-fold verdicts\n", *cv)
		report.WriteTo(os.Stdout)
		sort.Float64s(benign)
		fmt.Println("\nthreshold  benign-FPR  target-detect  jailbreak-detect")
		for _, t := range []float64{0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9} {
			fmt.Printf("%.2f       %6.2f%%     %6.1f%%         %6.1f%%\n", t, 100*above(benign, t), 100*above(target, t), 100*above(jail, t))
		}
		fmt.Printf("top benign scores: %.3f\n", benign[max(0, len(benign)-8):])
	case *holdout > 0:
		folds := stratify(examples, int(1 / *holdout + 0.5), *seed)
		var train, test []guard.Example
		for i, e := range examples {
			if folds[i] == 0 {
				test = append(test, e)
			} else {
				train = append(train, e)
			}
		}
		m := guard.Train(train, cfg)
		write(*out, m)
		if *heldback != "" {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			for _, e := range test {
				enc.Encode(e)
			}
			if err := os.WriteFile(*heldback, b.Bytes(), 0o644); err != nil {
				log.Fatal(err)
			}
		}
		fmt.Printf("Held back %d of %d examples (stratified by source); trained on %d\n", len(test), len(examples), len(train))
		guard.Evaluate(guard.NewWithModel(m), test).WriteTo(os.Stdout)
	default:
		write(*out, guard.Train(examples, cfg))
	}
}

// stratify assigns each example to one of k folds, dealing each source's
// examples round-robin after a seeded shuffle.
func stratify(examples []guard.Example, k int, seed uint64) []int {
	bySource := map[string][]int{}
	var sources []string
	for i, e := range examples {
		if _, ok := bySource[e.Source]; !ok {
			sources = append(sources, e.Source)
		}
		bySource[e.Source] = append(bySource[e.Source], i)
	}
	sort.Strings(sources)
	rng := rand.New(rand.NewPCG(seed, seed^0xf01d))
	folds := make([]int, len(examples))
	next := 0
	for _, s := range sources {
		idx := bySource[s]
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		for _, i := range idx {
			folds[i] = next % k
			next++
		}
	}
	return folds
}

func above(scores []float64, t float64) float64 {
	n := 0
	for _, s := range scores {
		if s >= t {
			n++
		}
	}
	return float64(n) / float64(max(len(scores), 1))
}

func write(path string, m *guard.Model) {
	b, err := m.MarshalBinary()
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		log.Fatal(err)
	}
}
