package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/the-mesh/mesh/internal/federation"
	"github.com/the-mesh/mesh/internal/node"
)

// federationFlags are the flags of `mesh up` that link a node to a relay.
type federationFlags struct {
	url         string
	secretFile  string
	maxAttempts int
	maxAge      time.Duration
	retryMin    time.Duration
	retryMax    time.Duration
}

func (f *federationFlags) register(fs *flag.FlagSet) {
	def := federation.DefaultConfig()
	fs.StringVar(&f.url, "interchange", "", "federate through the Interchange relay at this `URL` (ws://host:port; wss:// off loopback)")
	fs.StringVar(&f.secretFile, "interchange-secret-file", "", "`file` holding the secret `mesh interchange allow` printed for this node (none: an open relay)")
	fs.IntVar(&f.maxAttempts, "federation-max-attempts", def.MaxAttempts, "transmissions of a federated message before it goes to dead-letter.jsonl (0: no bound)")
	fs.DurationVar(&f.maxAge, "federation-max-age", def.MaxAge, "age of an unacknowledged federated message before it goes to dead-letter.jsonl (0: no bound)")
	fs.DurationVar(&f.retryMin, "federation-retry-min", def.RetryMin, "first retry timeout of federated messages; it doubles, with jitter, while unacknowledged")
	fs.DurationVar(&f.retryMax, "federation-retry-max", def.RetryMax, "longest retry timeout of federated messages")
}

// apply sets cfg.Federation from the flags.
func (f *federationFlags) apply(cfg *node.Config) error {
	if f.url == "" {
		if f.secretFile != "" {
			return errors.New("--interchange-secret-file needs --interchange")
		}
		return nil
	}
	if !strings.HasPrefix(f.url, "ws://") && !strings.HasPrefix(f.url, "wss://") &&
		!strings.HasPrefix(f.url, "http://") && !strings.HasPrefix(f.url, "https://") {
		return fmt.Errorf("--interchange %q: want ws://host:port or wss://host", f.url)
	}
	switch {
	case f.maxAttempts < 0 || f.maxAge < 0:
		return errors.New("--federation-max-attempts and --federation-max-age cannot be negative")
	case f.retryMin <= 0 || f.retryMax < f.retryMin:
		return errors.New("--federation-retry-min must be positive and at most --federation-retry-max")
	}
	fc := federation.DefaultConfig()
	fc.URL, fc.MaxAttempts, fc.MaxAge, fc.RetryMin, fc.RetryMax = f.url, f.maxAttempts, f.maxAge, f.retryMin, f.retryMax
	if f.secretFile != "" {
		b, err := os.ReadFile(f.secretFile)
		if err != nil {
			return fmt.Errorf("--interchange-secret-file: %w", err)
		}
		if fc.Secret = strings.TrimSpace(string(b)); fc.Secret == "" {
			return fmt.Errorf("--interchange-secret-file %s is empty", f.secretFile)
		}
	}
	cfg.Federation = &fc
	return nil
}

const federationHelp = `Usage: mesh federation <status|dead-letters> [flags]

Inspect a running node's federation (it needs the owner's token, read from
the node's data directory):

  status                       the relay link, each destination's queue and
                               retry state, each origin's stream, the bounds
  dead-letters [list]          what federation gave up on, with the reason
  dead-letters replay [ID...]  queue dead letters again (all without IDs)

Flags: --node URL (default http://127.0.0.1:3000), --data DIR (default
./mesh-data), --json (print the answer as JSON).
`

func runFederation(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, federationHelp)
		return exitError{2, errors.New("name a subcommand: status or dead-letters")}
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, federationHelp)
		return nil
	case "status":
		return federationStatus(ctx, args, stdout, stderr)
	case "dead-letters":
		return federationDeadLetters(ctx, args, stdout, stderr)
	}
	return exitError{2, fmt.Errorf("unknown subcommand %q (run mesh federation --help)", sub)}
}

// ownerClient parses --node, --data and --json and returns a client with
// the owner's token.
func ownerClient(name string, args []string, stderr io.Writer) (*agentConfig, []string, bool, error) {
	fs := newFlagSet("federation "+name, "See mesh federation --help.", stderr)
	nodeURL := fs.String("node", "http://127.0.0.1:3000", "the node's `URL`")
	dir := fs.String("data", "./mesh-data", "the node's data `directory` (for owner.token)")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, nil, false, err
	}
	tok, err := os.ReadFile(filepath.Join(*dir, "owner.token"))
	if err != nil {
		return nil, nil, false, fmt.Errorf("read the owner's token: %w", err)
	}
	return &agentConfig{Node: strings.TrimRight(*nodeURL, "/"), Token: strings.TrimSpace(string(tok))}, pos, *asJSON, nil
}

func federationStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, _, asJSON, err := ownerClient("status", args, stderr)
	if err != nil {
		return err
	}
	var out struct {
		Federation federation.Status `json:"federation"`
	}
	if err := c.do(ctx, "GET", "/api/v1/federation", nil, &out); err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(out.Federation)
	}
	s := out.Federation
	link := "down"
	if s.Linked {
		link = fmt.Sprintf("up (relay %s, auth %s)", s.RelayID, s.Auth)
	}
	fmt.Fprintf(stdout, "relay        %s\nlink         %s\n", s.Relay, link)
	if s.LastError != "" {
		fmt.Fprintf(stdout, "last error   %s\n", s.LastError)
	}
	fmt.Fprintf(stdout, "queue epoch  %s\nbounds       %d attempts, %s\ndead letters %d\nreachable    %s\n",
		s.Epoch, s.MaxAttempts, s.MaxAge, s.DeadLetters, strings.Join(s.Reachable, " "))
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nOUTBOUND\tPENDING\tSENT\tNEXT\tOLDEST\tATTEMPTS\tRETRY\tDOWN UNTIL")
	for _, o := range s.Outbound {
		oldest, down := "-", "-"
		if !o.Oldest.IsZero() {
			oldest = time.Since(o.Oldest).Round(time.Millisecond).String() + " ago"
		}
		if !o.DownUntil.IsZero() {
			down = o.DownUntil.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%s\t%s\n", o.Node, o.Pending, o.Sent, o.Next, oldest, o.Attempts, o.RetryTimeout, down)
	}
	fmt.Fprintln(tw, "\nINBOUND\tEXPECT\tACKED")
	for _, in := range s.Inbound {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", in.Node, in.Expect, in.Acked)
	}
	return tw.Flush()
}

func federationDeadLetters(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	action := "list"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		action, args = args[0], args[1:]
	}
	c, ids, asJSON, err := ownerClient("dead-letters", args, stderr)
	if err != nil {
		return err
	}
	switch action {
	case "list":
		var out struct {
			DeadLetters []federation.DeadLetter `json:"deadLetters"`
		}
		if err := c.do(ctx, "GET", "/api/v1/federation/dead-letters", nil, &out); err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(stdout)
			for _, dl := range out.DeadLetters {
				if err := enc.Encode(dl); err != nil {
					return err
				}
			}
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTO\tKIND\tATTEMPTS\tDEAD SINCE\tREASON")
		for _, dl := range out.DeadLetters {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", dl.ID, dl.To, dl.Kind, dl.Attempts, dl.TS.Format(time.RFC3339), dl.Reason)
		}
		return tw.Flush()
	case "replay":
		var out struct {
			Replayed int `json:"replayed"`
		}
		if err := c.do(ctx, "POST", "/api/v1/federation/dead-letters/replay", map[string]any{"ids": ids}, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "replayed %d\n", out.Replayed)
		return nil
	}
	return exitError{2, fmt.Errorf("unknown action %q: list or replay", action)}
}
