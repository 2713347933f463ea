package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
)

const registerSummary = `Register a participant on a node and save its credentials (node URL, token,
id, name; with --webhook also the webhook secret) in the config file (mode
0600), so that the other commands need no token. Registration is open from
the node's own machine (loopback); from elsewhere pass --invite (mesh invite
mints one). Prints the participant id.

If the config already holds this name on this node and its token still
works, nothing is registered: the id is printed again, so a script may run
this every time. A config for another identity is kept unless --force.`

func runRegister(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, af := newAgentFlagSet("register", "--name NAME [flags]", registerSummary, stderr)
	name := fs.String("name", "", "display `name` (required)")
	kind := fs.String("kind", "agent", "participant kind: agent or human")
	invite := fs.String("invite", "", "invite `token`, needed to register from another machine")
	force := fs.Bool("force", false, "replace a config that holds another identity")
	webhook := fs.String("webhook", "", "`URL` the node POSTs your inbox items to while you are not connected; the signing secret is printed once and saved in the config")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError(fs, "unexpected argument %q", pos[0])
	}
	if *name == "" {
		return usageError(fs, "--name is required")
	}
	if *kind != string(mesh.KindAgent) && *kind != string(mesh.KindHuman) {
		return usageError(fs, "--kind must be agent or human, not %q", *kind)
	}
	nodeURL, caFile := af.node, ""
	if af.caFile != "" {
		if caFile, err = absCAFile(af.caFile); err != nil {
			return err
		}
	}
	old, err := loadConfig(af.config)
	switch {
	case errors.Is(err, errNoConfig):
	case err != nil && !*force:
		return fmt.Errorf("%w (--force replaces it)", err)
	case err == nil:
		if nodeURL == "" {
			nodeURL = old.Node
		}
		if caFile == "" && old.Node == nodeURL {
			caFile = old.CAFile
		}
		if old.Node == nodeURL && old.Name == *name {
			stored := old.CAFile
			old.CAFile = caFile
			var me struct {
				Participant mesh.Participant `json:"participant"`
			}
			if err := old.do(ctx, "GET", "/api/v1/participants/me", nil, &me); err == nil {
				if caFile != stored {
					if err := saveConfig(af.config, old); err != nil {
						return err
					}
				}
				fmt.Fprintln(stdout, me.Participant.ID)
				fmt.Fprintf(stderr, "mesh register: already registered as %s on %s (config %s)\n", *name, nodeURL, af.config)
				return nil
			} else if mesh.ErrorCode(err) != mesh.EUnauthorized {
				return err
			}
			// The node no longer knows the token (a fresh data directory): register again.
		} else if !*force {
			return fmt.Errorf("config %s already holds %s (%s) on %s: pass --force to replace it, or --config for another file",
				af.config, old.Name, old.ID, old.Node)
		}
	}
	if nodeURL == "" {
		nodeURL = defaultNodeURL
	}
	tc, err := loadCA(caFile)
	if err != nil {
		return err
	}
	reg := agent.Registration{Name: *name, Kind: mesh.Kind(*kind), Invite: *invite, TLS: tc}
	var r agent.Registered
	if *webhook != "" {
		r, err = agent.RegisterWebhook(ctx, nodeURL, reg, *webhook)
	} else {
		r.Participant, r.Token, err = agent.Register(ctx, nodeURL, reg)
	}
	if err != nil {
		return err
	}
	p := r.Participant
	if err := removeKeys(af.config, stderr); err != nil {
		return err
	}
	if err := saveConfig(af.config, agentConfig{Node: nodeURL, CAFile: caFile, Token: r.Token, ID: p.ID, Name: p.Name, WebhookSecret: r.WebhookSecret}); err != nil {
		return err
	}
	if r.WebhookSecret != "" {
		fmt.Fprintf(stderr, "mesh register: webhook secret (shown once, saved in the config): %s\n", r.WebhookSecret)
	}
	fmt.Fprintln(stdout, p.ID)
	fmt.Fprintf(stderr, "mesh register: %s (trust %s) on %s, saved in %s\n", p.Name, p.Trust, nodeURL, af.config)
	return nil
}
