package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/the-mesh/mesh/internal/guard"
)

const scanSummary = `Scan text for prompt injection with the node's guard and default threshold.

With no flags, mesh scan reads all of standard input as one text. With
--jsonl it reads one JSON object per line and scans its "text" field. Either
way it writes one JSON line per text:

  {"injection": true|false, "score": 0..1, "findings": [...]}

With --eval FILE it scans a labelled JSONL file ({"text", "label":
"injection"|"benign", "source"}) and prints the detection rate and false
positive rate, overall, per group and per source.`

func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("scan", scanSummary, stderr)
	jsonl := fs.Bool("jsonl", false, "read one JSON object with a \"text\" field per line")
	eval := fs.String("eval", "", "evaluate on a labelled JSONL file instead of scanning stdin")
	model := fs.String("model", "", "use this model file instead of the embedded one (for held-back evaluation)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return exitError{2, fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	s := guard.New()
	if *model != "" {
		b, err := os.ReadFile(*model)
		if err != nil {
			return err
		}
		m, err := guard.ParseModel(b)
		if err != nil {
			return fmt.Errorf("read model %s: %w", *model, err)
		}
		s = guard.NewWithModel(m)
	}
	if *eval != "" {
		f, err := os.Open(*eval)
		if err != nil {
			return err
		}
		defer f.Close()
		examples, err := guard.ReadExamples(f)
		if err != nil {
			return fmt.Errorf("read %s: %w", *eval, err)
		}
		_, err = guard.Evaluate(s, examples).WriteTo(stdout)
		return err
	}

	enc := json.NewEncoder(stdout)
	if !*jsonl {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		return enc.Encode(s.Scan(string(b)))
	}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var in struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal([]byte(line), &in); err != nil || in.Text == nil {
			return exitError{1, fmt.Errorf("line %d: want a JSON object with a \"text\" string", n)}
		}
		if err := enc.Encode(s.Scan(*in.Text)); err != nil {
			return err
		}
	}
	return sc.Err()
}
