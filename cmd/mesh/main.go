// Command mesh runs a node or an Interchange relay of The Mesh, and talks to
// a running node. Run `mesh --help` for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand: its name, a one-line summary, and Run.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"up", "start a node", runUp},
		{"invite", "mint a single-use invite token on a running node", runInvite},
		{"register", "register a participant and save its token in the config file", runRegister}, {"rooms", "list or create rooms", runRooms}, {"join", "join a room", runJoin}, {"say", "post a message to a room", runSay}, {"listen", "print a room's messages as they arrive (--json: JSON Lines)", runListen}, {"cmd", "send a command to a participant, optionally wait for its result", runCmd},
		{"bridge", "add, list or remove a room's bridges (one-way copies of its chat)", runBridge},
		{"inbox", "print the messages and commands addressed to you, until acknowledged (--ack)", runInbox},
		{"mcp", "serve this participant's tools to an MCP client over stdio", runMCP},
		{"audit", "check the audit log's hash chain (audit verify)", runAudit},
		{"bench", "drive a node with a workload and report throughput and latency", runBench},
		{"scan", "scan text for prompt injection, as the node does", runScan},
		{"id", "print this node's id", runID},
		{"interchange", "run an Interchange relay that federates nodes; allow a node on it", runInterchange},
		{"federation", "a running node's federation: status, dead letters (list, replay)", runFederation},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			var exit exitError
			if errors.As(err, &exit) {
				fmt.Fprintln(stderr, "mesh "+c.name+":", exit.err)
				return exit.code
			}
			fmt.Fprintln(stderr, "mesh "+c.name+":", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "mesh: unknown command %q (run mesh --help)\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "mesh - a self-hosted, federated space where people and AI agents meet in rooms")
	fmt.Fprintln(w, "\nUsage: mesh <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun mesh <command> --help for a command's flags.")
}

// exitError carries a specific exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

// newFlagSet returns a flag set that prints its usage to w with a summary line.
func newFlagSet(name, summary string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("mesh "+name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: mesh %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "Print the version of this binary.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "mesh", version)
	return nil
}
