package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/the-mesh/mesh/internal/mcpserver"
)

const mcpSummary = `Serve the configured participant's tools to an MCP client (Claude Desktop,
an IDE, any Model Context Protocol host) over standard input and output,
until standard input closes. Configure the host to run "mesh mcp"; it
uses the node URL and token of the config file, as the other agent
commands do. The tools (list_rooms, join_room, send_message,
read_messages, wait_for_messages, list_members, run_command, read_data,
write_data) call the node's REST API with that token; messages come back
rendered for a prompt, their content fenced as untrusted data.
A node serves the same tools at /mcp over streamable HTTP.`

func runMCP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, af := newAgentFlagSet("mcp", "[flags]", mcpSummary, stderr)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError(fs, "usage: mesh mcp [flags]")
	}
	c, err := af.load()
	if err != nil {
		return err
	}
	// Fail fast on a wrong token or node: an MCP host shows the stderr of a
	// server that exits, but not the errors of each tool call.
	if err := c.do(ctx, "GET", "/api/v1/participants/me", nil, nil); err != nil {
		return fmt.Errorf("node %s: %w", c.Node, err)
	}
	// stdout is the MCP stream: StdioTransport writes os.Stdout, which is
	// the stdout Main is given when run as a program.
	hc, err := c.httpClient()
	if err != nil {
		return err
	}
	err = mcpserver.NewWithClient(c.Node, c.Token, hc).Run(ctx, &mcp.StdioTransport{})
	if err == nil || errors.Is(err, io.EOF) || ctx.Err() != nil {
		return nil // stdin closed, or interrupted
	}
	return err
}
