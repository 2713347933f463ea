package main

import (
	"context"
	"fmt"
	"io"

	"github.com/the-mesh/mesh/internal/bench"
)

func benchRelay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := bench.DefaultRelay()
	fs := newBenchFlags("relay", `Relay: start an Interchange relay (mesh interchange --open --rate 0) and
drive it with synthetic nodes from this process. Latency: --rate frames a
second from one node to another for --latency-for, timed from send to
receive, against the same frames over one direct loopback TCP hop (the
difference is what the relay adds). Throughput: --pairs senders each sending
as fast as they can to their own receiver for --blast-for. Memory: --nodes
idle nodes linked at once; the relay's RSS per node. Frames are sends with a
chat body of --text bytes, signed as nodes sign them.`, args, stdout, stderr)
	var jsonOnly, quiet bool
	fs.StringVar(&cfg.Bin, "bin", "", "mesh `binary` to start the relay from (default: this executable)")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "frames a second in the latency phase")
	fs.DurationVar(&cfg.LatencyFor, "latency-for", cfg.LatencyFor, "length of the latency phase")
	fs.IntVar(&cfg.Pairs, "pairs", cfg.Pairs, "sender and receiver pairs in the throughput phase")
	fs.DurationVar(&cfg.BlastFor, "blast-for", cfg.BlastFor, "length of the throughput phase (after 1 s of warm-up)")
	fs.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "idle nodes in the memory phase")
	fs.IntVar(&cfg.Text, "text", cfg.Text, "chat text `bytes` in each frame")
	fs.StringVar(&cfg.ProfileDir, "profile", "", "write CPU profiles of the throughput phase to `dir` (relay.pprof, generator.pprof)")
	fs.BoolVar(&jsonOnly, "json-only", false, "print only the JSON line")
	fs.BoolVar(&quiet, "quiet", false, "print no progress on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return exitError{2, fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if !quiet {
		cfg.Progress = stderr
	}
	r, err := bench.RunRelay(ctx, cfg)
	if err != nil {
		return err
	}
	r.Write(stdout, jsonOnly)
	return nil
}
