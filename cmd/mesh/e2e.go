package main

// This file holds what the shell-agent commands do in end-to-end encrypted
// rooms: the node cannot read or post for them there, so say, cmd and join
// go through the Go SDK with a key store kept next to the config.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
)

// keysPathFor returns the key store file of the config at path: beside
// it, "config.json" giving "config.keys.json".
func keysPathFor(config string) string {
	return strings.TrimSuffix(config, filepath.Ext(config)) + ".keys.json"
}

// removeKeys deletes the key store of the config at path, when a new
// participant replaces the config's: its device belongs to the old one.
func removeKeys(config string, stderr io.Writer) error {
	p := keysPathFor(config)
	err := os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove the old key store: %w", err)
	}
	fmt.Fprintf(stderr, "mesh register: removed %s: its device keys were the old participant's\n", p)
	return nil
}

// roomE2E reports whether room's policy makes it end-to-end encrypted.
func (c agentConfig) roomE2E(ctx context.Context, room string) (bool, error) {
	var out struct {
		Room mesh.Room `json:"room"`
	}
	if err := c.do(ctx, "GET", roomPath(room, ""), nil, &out); err != nil {
		return false, err
	}
	return out.Room.Policy.E2E, nil
}

// e2eClient connects through the SDK and follows room, an end-to-end
// encrypted room the participant must already be a member of (as for a
// plain post), so that it can seal and open its messages.
func (c agentConfig) e2eClient(ctx context.Context, room string) (*agent.Client, error) {
	var out struct {
		Members []mesh.Member `json:"members"`
	}
	if err := c.do(ctx, "GET", roomPath(room, "/members"), nil, &out); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(out.Members, func(m mesh.Member) bool { return m.ID == c.ID }) {
		return nil, mesh.Errorf(mesh.EForbidden, "You are not a member of room %q: join it first (mesh join %s).", room, room)
	}
	ac, err := c.agent()
	if err != nil {
		return nil, err
	}
	cl, err := agent.Dial(ctx, ac)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.Node, err)
	}
	if _, err := cl.Join(ctx, mesh.RoomID(room)); err != nil {
		cl.Close()
		return nil, fmt.Errorf("join %s: %w", room, err)
	}
	return cl, nil
}
