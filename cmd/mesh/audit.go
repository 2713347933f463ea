package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/the-mesh/mesh/internal/audit"
)

const auditSummary = `Check the audit log. mesh audit verify --data DIR walks audit.jsonl and its
hash chain and exits 0 when it is intact, or 1 naming the first bad line.`

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintf(stderr, "Usage: mesh audit verify --data DIR\n\n%s\n", auditSummary)
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
			return nil
		}
		return exitError{2, fmt.Errorf("unknown subcommand %q", args[0])}
	}
	fs := newFlagSet("audit verify", auditSummary, stderr)
	dir := fs.String("data", "./mesh-data", "the node's data `directory`")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	n, err := audit.Verify(*dir)
	var bad *audit.VerifyError
	if errors.As(err, &bad) {
		return exitError{1, fmt.Errorf("audit log is NOT intact: %w", err)}
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "audit log intact: %d lines\n", n)
	return nil
}
