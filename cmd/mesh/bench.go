package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/the-mesh/mesh/internal/bench"
)

const benchHelp = `Usage: mesh bench <workload> [flags]

Drive a node with a workload and report what it delivered, what it lost,
end-to-end latency, and the node's memory and CPU. Each workload prints a
readable block and then one JSON line with the same figures (only the JSON
line with --json-only). Progress goes to stderr.

Workloads:
  fanout   N members joined to one room receive what one publisher sends at
           R msgs/s: each message makes N deliveries (default 1000 x 90/s)
  rooms    N clients spread over K rooms, each sending R msgs/s: each
           message makes (room size - 1) deliveries (default 2000 in 100, 1/s)
  idle     N connections, each hello'd and joined to a room, held for the
           duration: the node's RSS per connection (default 10000)
  startup  generate a data directory with M messages, start a node on it
           several times: time to ready and RSS (default 1,000,000 messages)
  relay    an Interchange relay (this binary, mesh interchange --open):
           latency it adds between two nodes, frames/s through it, RSS per
           connected node (bench_relay.go)
  federation
           a relay and three nodes (this binary, or --bin): an agent on node
           A says N messages in a room on node B that an agent on node C has
           joined (A -> relay -> B -> relay -> C), W says in flight: msgs/s
           end to end, latency sender to receiver, CPU per message of each
           node and of the relay, relay frames per message; --profile DIR
           takes CPU and allocation profiles of the nodes (default 20,000
           messages, W 256; bench_federation.go). Compare two builds with
           --bin OLD and --bin NEW, run by turns: the machine's load moves
           msgs/s more than CPU per message

By default fanout, rooms and idle start their own node (this binary, "mesh
up" on a free loopback port and a temporary data directory, with --rate 0
--max-conns-per-ip 0) and stop it with SIGTERM at the end; --url drives an
existing node instead (its rate limits then apply, and CPU and RSS come from
its /metrics).

How it measures: the publisher writes its send time (UnixNano) at the start
of each text and its send time as the ref; receivers read seq, room and send
time straight out of the raw frames. Traffic runs for --warmup, then for
--duration, the measured window: a message counts if it was sent inside the
window, and the generator then waits (up to --drain) for it to arrive.
  delivered     deliveries of measured messages; expected is every acked
                message times its receivers; lost = expected - delivered
  gaps, dups    seqs a receiver skipped or saw twice (must both be 0)
  latency       receive time - send time, fixed-bucket histogram (within 0.8%)
  node CPU      utime+stime from /proc/<pid>/stat over the window (or
                process_cpu_seconds_total), divided by deliveries
  node RSS      VmRSS from /proc/<pid>/status (or process_resident_memory_bytes)
  generator CPU this process's CPU over the window: the generator shares
                the machine with the node, so read it beside node CPU

Run mesh bench <workload> --help for a workload's flags.
`

// runBench runs `mesh bench <workload> [flags]`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, benchHelp)
		return exitError{2, errors.New("name a workload: fanout, rooms, idle, startup, relay or federation")}
	}
	name, args := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, benchHelp)
		return nil
	case "fanout":
		return benchFanout(ctx, args, stdout, stderr)
	case "rooms":
		return benchRooms(ctx, args, stdout, stderr)
	case "idle":
		return benchIdle(ctx, args, stdout, stderr)
	case "startup":
		return benchStartup(ctx, args, stdout, stderr)
	case "relay":
		return benchRelay(ctx, args, stdout, stderr)
	case "federation":
		return benchFederation(ctx, args, stdout, stderr)
	}
	return exitError{2, fmt.Errorf("unknown workload %q (run mesh bench --help)", name)}
}

// benchFlags are the flags every workload that drives a node has.
type benchFlags struct {
	fs       *flag.FlagSet
	common   *bench.Common
	nodeArgs string
	caFile   string
	jsonOnly bool
	quiet    bool
}

// newBenchFlags makes the flag set of a workload. Help goes to stdout when
// asked for, errors to stderr.
func newBenchFlags(workload, summary string, args []string, stdout, stderr io.Writer) *flag.FlagSet {
	w := stderr
	if slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" }) {
		w = stdout
	}
	return newFlagSet("bench "+workload, summary, w)
}

func addCommonFlags(fs *flag.FlagSet, c *bench.Common) *benchFlags {
	b := &benchFlags{fs: fs, common: c}
	fs.StringVar(&c.URL, "url", "", "drive the existing node at `http://host:port` instead of starting one")
	fs.StringVar(&c.Bin, "bin", "", "mesh `binary` to start the node from (default: this executable)")
	fs.StringVar(&b.nodeArgs, "node-args", "", "more `flags` for the child's mesh up, space-separated (e.g. \"--max-frame-bytes 131072\")")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "length of the measured window")
	fs.DurationVar(&c.Warmup, "warmup", c.Warmup, "traffic before the measured window, not counted")
	fs.DurationVar(&c.Drain, "drain", c.Drain, "longest wait after the window for deliveries in flight")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "registrations and connection set-ups in flight at once")
	addCAFileFlag(fs, &b.caFile)
	fs.BoolVar(&b.jsonOnly, "json-only", false, "print only the JSON line")
	fs.BoolVar(&b.quiet, "quiet", false, "print no progress on stderr")
	return b
}

func (b *benchFlags) parse(args []string, stderr io.Writer) error {
	if err := b.fs.Parse(args); err != nil {
		return err
	}
	if b.fs.NArg() > 0 {
		return exitError{2, fmt.Errorf("unexpected arguments %q", b.fs.Args())}
	}
	b.common.NodeArgs = strings.Fields(b.nodeArgs)
	tc, err := loadCA(b.caFile)
	if err != nil {
		return err
	}
	b.common.TLS = tc
	if !b.quiet {
		b.common.Progress = stderr
	}
	return nil
}

func benchFanout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := bench.DefaultFanout()
	fs := newBenchFlags("fanout", `Fanout: --members connections join one room and one more connection publishes
--rate messages a second of --size bytes to it. Every message makes --members
deliveries (the publisher gets acks, not copies). Measures deliveries/s, loss,
seq gaps, latency, node RSS and node CPU per delivery.`, args, stdout, stderr)
	b := addCommonFlags(fs, &cfg.Common)
	fs.IntVar(&cfg.Members, "members", cfg.Members, "receiving connections in the room, each its own participant")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "messages a second the publisher sends")
	fs.IntVar(&cfg.Size, "size", cfg.Size, "text `bytes` per message (send time, then padding)")
	fs.StringVar(&cfg.Room, "room", cfg.Room, "room `name`; created with high limits if missing")
	if err := b.parse(args, stderr); err != nil {
		return err
	}
	r, err := bench.RunFanout(ctx, cfg)
	if err != nil {
		return err
	}
	r.Write(stdout, b.jsonOnly)
	return nil
}

func benchRooms(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := bench.DefaultRooms()
	fs := newBenchFlags("rooms", `Rooms: --clients connections spread round-robin over --rooms rooms, each
sending --rate messages a second of --size bytes at a random phase. Every
message makes (room size - 1) deliveries. Measures deliveries/s, loss, seq
gaps, latency, node RSS and node CPU per delivery.`, args, stdout, stderr)
	b := addCommonFlags(fs, &cfg.Common)
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "connections, each its own participant")
	fs.IntVar(&cfg.Rooms, "rooms", cfg.Rooms, "rooms the clients are spread over")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "messages a second each client sends")
	fs.IntVar(&cfg.Size, "size", cfg.Size, "text `bytes` per message (send time, then padding)")
	fs.StringVar(&cfg.Prefix, "prefix", cfg.Prefix, "room names are `prefix`-0, prefix-1, ...")
	if err := b.parse(args, stderr); err != nil {
		return err
	}
	r, err := bench.RunRooms(ctx, cfg)
	if err != nil {
		return err
	}
	r.Write(stdout, b.jsonOnly)
	return nil
}

func benchIdle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := bench.DefaultIdle()
	fs := newBenchFlags("idle", `Idle: --conns connections, each hello'd and joined to one of --rooms rooms,
held for --duration after --warmup to settle. Reports the node's RSS before
connecting, after, and per connection ((after - before) / conns), and its CPU
while the connections sit idle.`, args, stdout, stderr)
	b := addCommonFlags(fs, &cfg.Common)
	fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "connections to hold")
	fs.IntVar(&cfg.Rooms, "rooms", cfg.Rooms, "rooms the connections join, round-robin")
	fs.IntVar(&cfg.Participants, "participants", cfg.Participants, "participants whose tokens the connections share round-robin (0: one per connection)")
	fs.StringVar(&cfg.Prefix, "prefix", cfg.Prefix, "room names are `prefix`-0, prefix-1, ...")
	if err := b.parse(args, stderr); err != nil {
		return err
	}
	r, err := bench.RunIdle(ctx, cfg)
	if err != nil {
		return err
	}
	r.Write(stdout, b.jsonOnly)
	return nil
}

func benchStartup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := bench.DefaultStartup()
	fs := newBenchFlags("startup", `Startup: write --messages messages over --rooms rooms into a data directory
through the storage package (cached in --data when given), then start a node
on it --runs times, and as many times on an empty directory for comparison.
Reports the time from exec to the first 200 on /healthz, and VmRSS at ready
and its peak within --settle after.`, args, stdout, stderr)
	var nodeArgs string
	var jsonOnly, quiet bool
	fs.StringVar(&cfg.Bin, "bin", "", "mesh `binary` to start the node from (default: this executable)")
	fs.StringVar(&nodeArgs, "node-args", "", "more `flags` for mesh up, space-separated")
	fs.IntVar(&cfg.Messages, "messages", cfg.Messages, "messages in the generated directory")
	fs.IntVar(&cfg.Rooms, "rooms", cfg.Rooms, "rooms the messages are spread over")
	fs.IntVar(&cfg.Size, "size", cfg.Size, "text `bytes` per message")
	fs.IntVar(&cfg.Runs, "runs", cfg.Runs, "starts to measure on each directory")
	fs.StringVar(&cfg.Data, "data", "", "`dir` to generate into and reuse on later runs (default: a temporary one)")
	fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "how long after ready to watch RSS for its peak")
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
	r, err := bench.RunStartup(ctx, cfg)
	if err != nil {
		return err
	}
	r.Write(stdout, jsonOnly)
	return nil
}
