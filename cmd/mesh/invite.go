package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/the-mesh/mesh/agent"
	"github.com/the-mesh/mesh/internal/node"
)

const inviteSummary = `Mint a single-use invite token on a running node. Someone on another machine
registers with it: POST /api/v1/participants {"name":..., "invite": TOKEN}.
It uses the owner token from the data directory.`

func runInvite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("invite", inviteSummary, stderr)
	nodeURL := fs.String("node", "http://127.0.0.1:3000", "the node's `URL`")
	dir := fs.String("data", "./mesh-data", "the node's data `directory` (for owner.token, and tls/ca.pem of --tls auto)")
	var caFile string
	addCAFileFlag(fs, &caFile)
	if err := fs.Parse(args); err != nil {
		return err
	}
	tok, err := node.ReadOwnerToken(*dir)
	if err != nil {
		return err
	}
	cfg := agent.Config{URL: *nodeURL, Token: tok}
	if cfg.TLS, err = inviteTLS(caFile, *dir); err != nil {
		return err
	}
	var body struct {
		Invite  string `json:"invite"`
		Expires string `json:"expires"`
	}
	if err := cfg.Do(ctx, "POST", "/api/v1/invites", nil, &body); err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("is the node running at %s? %w", *nodeURL, err)
		}
		return err
	}
	fmt.Fprintln(stdout, body.Invite)
	fmt.Fprintf(stderr, "mesh invite: single use, expires %s\n", body.Expires)
	return nil
}
