package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/the-mesh/mesh/internal/node"
)

const inviteSummary = `Mint a single-use invite token on a running node. Someone on another machine
registers with it: POST /api/v1/participants {"name":..., "invite": TOKEN}.
It uses the owner token from the data directory.`

func runInvite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("invite", inviteSummary, stderr)
	nodeURL := fs.String("node", "http://127.0.0.1:3000", "the node's `URL`")
	dir := fs.String("data", "./mesh-data", "the node's data `directory` (for owner.token)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tok, err := node.ReadOwnerToken(*dir)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*nodeURL, "/")+"/api/v1/invites", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("is the node running at %s? %w", *nodeURL, err)
	}
	defer resp.Body.Close()
	var body struct {
		Invite  string `json:"invite"`
		Expires string `json:"expires"`
		Error   *struct{ Code, Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("read response (HTTP %d): %w", resp.StatusCode, err)
	}
	if body.Error != nil {
		return fmt.Errorf("%s: %s", body.Error.Code, body.Error.Message)
	}
	fmt.Fprintln(stdout, body.Invite)
	fmt.Fprintf(stderr, "mesh invite: single use, expires %s\n", body.Expires)
	return nil
}
