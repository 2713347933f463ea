package main

import (
	"context"
	"fmt"
	"io"

	"github.com/the-mesh/mesh/internal/node"
)

func runID(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("id", "Print this node's id (made on first start).", stderr)
	dir := fs.String("data", "./mesh-data", "the node's data `directory`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, err := node.ReadNodeID(*dir)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, id)
	return nil
}
