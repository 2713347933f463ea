package main

// This file holds what the shell-agent commands (register, rooms, join,
// say, listen, cmd) share: the --config and --node flags, flags mixed with
// arguments, and REST calls that turn the node's error answers into
// *mesh.Error.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/the-mesh/mesh"
)

const defaultNodeURL = "http://127.0.0.1:3000"

// agentFlags are the flags every shell-agent command has.
type agentFlags struct {
	config string
	node   string
	caFile string
}

// newAgentFlagSet returns a flag set whose usage line shows the command's
// arguments, with --config and --node defined.
func newAgentFlagSet(name, synopsis, summary string, w io.Writer) (*flag.FlagSet, *agentFlags) {
	fs := newFlagSet(name, summary, w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: mesh %s %s\n\n%s\n\nFlags (before or after the arguments; -- ends them):\n", name, synopsis, summary)
		fs.PrintDefaults()
	}
	af := &agentFlags{}
	fs.StringVar(&af.config, "config", defaultConfigPath(), "config `file` holding the node URL and token ($MESH_CONFIG, else $XDG_CONFIG_HOME/mesh/config.json, else ~/.config/mesh/config.json)")
	fs.StringVar(&af.node, "node", "", "the node's `URL`, overriding the config's")
	addCAFileFlag(fs, &af.caFile)
	return fs, af
}

// load reads the config and applies --node.
func (af *agentFlags) load() (agentConfig, error) {
	c, err := loadConfig(af.config)
	if err != nil {
		return c, err
	}
	c.keys = keysPathFor(af.config)
	if af.node != "" {
		c.Node = af.node
	}
	if af.caFile != "" {
		if c.CAFile, err = absCAFile(af.caFile); err != nil {
			return c, err
		}
	}
	return c, nil
}

// parseArgs parses flags that may come before, between or after the
// positional arguments (`mesh listen lobby --json`), which flag.Parse alone
// does not, and returns the positional ones. Everything after "--" is
// positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError is a wrong number of arguments; it prints the usage and exits 2.
func usageError(fs *flag.FlagSet, format string, args ...any) error {
	fs.Usage()
	return exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// do sends one REST request to the node with the config's token and
// decodes a JSON answer into out (when not nil). A refusal by the node is
// a *mesh.Error carrying its code and message.
func (c agentConfig) do(ctx context.Context, method, path string, in, out any) error {
	ac, err := c.agent()
	if err != nil {
		return err
	}
	return c.reach(ac.Do(ctx, method, path, in, out))
}

// reach adds to a failure to reach the node the question whether it runs.
func (c agentConfig) reach(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("is the node running at %s? %w", c.Node, err)
	}
	return err
}

// roomPath returns the REST path of a room, escaping the id.
func roomPath(room string, rest string) string {
	return "/api/v1/rooms/" + url.PathEscape(room) + rest
}

// resolveParticipant returns who as a participant id: an id (p_...) as
// given, else the one member of room with that name.
func (c agentConfig) resolveParticipant(ctx context.Context, room, who string) (mesh.ParticipantID, error) {
	if strings.HasPrefix(who, "p_") {
		return mesh.ParticipantID(who), nil
	}
	var out struct {
		Members []mesh.Member `json:"members"`
	}
	if err := c.do(ctx, "GET", roomPath(room, "/members"), nil, &out); err != nil {
		return "", err
	}
	var found []mesh.ParticipantID
	for _, m := range out.Members {
		if m.Name == who {
			found = append(found, m.ID)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("no member of %s is named %q (give a participant id, p_...)", room, who)
	default:
		return "", fmt.Errorf("%d members of %s are named %q: give a participant id (%s)", len(found), room, who, found[0])
	}
}
