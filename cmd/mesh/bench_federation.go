package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/the-mesh/mesh/internal/bench"
)

func benchFederation(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := bench.DefaultFederation()
	fs := newBenchFlags("federation", `Federation: start a relay (mesh interchange) and three nodes (mesh up
--interchange) on this machine, a federated room on node B, an agent on node A
that says --messages messages in it and an agent on node C that has joined it:
every message goes A -> relay -> B -> relay -> C. The sender keeps --window
says in flight (until acked by A, or with --e2e until C has them), after
--warmup messages that are not counted. Measures msgs/s end to end (first send
to last receive), latency sender to receiver, and CPU per message of each node
and of the relay, and relay frames per message (batching shows there).
--profile DIR writes a CPU profile of each node over the first
--profile-for of the measured run and what it allocated (through mesh up
--debug-addr).`, args, stdout, stderr)
	var nodeArgs string
	var jsonOnly, quiet bool
	fs.StringVar(&cfg.Bin, "bin", "", "mesh `binary` to start the relay and nodes from (default: this executable)")
	fs.StringVar(&nodeArgs, "node-args", "", "more `flags` for each node's mesh up, space-separated")
	fs.IntVar(&cfg.Messages, "messages", cfg.Messages, "messages measured")
	fs.IntVar(&cfg.Warmup, "warmup", cfg.Warmup, "messages sent and received before the measured ones")
	fs.IntVar(&cfg.Window, "window", cfg.Window, "says in flight")
	fs.BoolVar(&cfg.E2E, "e2e", false, "a say is in flight until the receiver has it (default: until A acks it)")
	fs.IntVar(&cfg.Size, "size", cfg.Size, "text `bytes` per message (send time, then padding)")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "longest measured run")
	fs.StringVar(&cfg.ProfileDir, "profile", "", "write CPU profiles of the nodes to `dir` (a.pprof, b.pprof, c.pprof)")
	fs.DurationVar(&cfg.ProfileFor, "profile-for", cfg.ProfileFor, "length of the profiles")
	fs.BoolVar(&cfg.Trace, "trace", false, "with --profile, also 2 s execution traces of the nodes (a.trace...; go tool trace -pprof=sched FILE)")
	fs.BoolVar(&jsonOnly, "json-only", false, "print only the JSON line")
	fs.BoolVar(&quiet, "quiet", false, "print no progress on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return exitError{2, fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	cfg.NodeArgs = strings.Fields(nodeArgs)
	if !quiet {
		cfg.Progress = stderr
	}
	r, err := bench.RunFederation(ctx, cfg)
	if r != nil {
		r.Write(stdout, jsonOnly)
	}
	return err
}
