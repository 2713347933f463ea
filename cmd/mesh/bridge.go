package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/the-mesh/mesh"
)

const bridgeSummary = `Manage a room's bridges (PROTOCOL.md, "Bridges"): a bridge copies the room's
new chat messages into another room, one way; two bridges make a two-way link.

  mesh bridge add ROOM --to TARGET   bridge ROOM (a room of your node) into
                                     TARGET: a room id or an address room@node;
                                     prints the bridge's id
  mesh bridge list ROOM              ROOM's bridges: id, target, state, creator
  mesh bridge rm ROOM BRIDGE_ID      remove one (its creator, a moderator of
                                     ROOM or the node's owner)

Making one needs the bridge capability in ROOM and TARGET, speak in TARGET,
and data.egress "allow" in ROOM's policy; the node's refusal names the rule.`

func runBridge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, af := newAgentFlagSet("bridge", "add ROOM --to TARGET | list ROOM | rm ROOM BRIDGE_ID [flags]", bridgeSummary, stderr)
	asJSON := fs.Bool("json", false, "print the bridge (add) or the bridges (list) as JSON")
	to := fs.String("to", "", "the `TARGET` room of add: an id or an address room@node")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError(fs, "name a subcommand: add, list or rm")
	}
	sub, pos := pos[0], pos[1:]
	switch {
	case sub != "add" && sub != "list" && sub != "rm":
		return usageError(fs, "unknown subcommand %q: want add, list or rm", sub)
	case sub == "add" && len(pos) != 1:
		return usageError(fs, "usage: mesh bridge add ROOM --to TARGET")
	case sub == "add" && *to == "":
		return usageError(fs, "add needs --to TARGET: the room to copy into (an id or room@node)")
	case sub != "add" && *to != "":
		return usageError(fs, "--to goes with mesh bridge add")
	case sub == "list" && len(pos) != 1:
		return usageError(fs, "usage: mesh bridge list ROOM")
	case sub == "rm" && len(pos) != 2:
		return usageError(fs, "usage: mesh bridge rm ROOM BRIDGE_ID")
	case sub == "rm" && *asJSON:
		return usageError(fs, "--json goes with mesh bridge add or list")
	}
	c, err := af.load()
	if err != nil {
		return err
	}
	ac, err := c.agent()
	if err != nil {
		return err
	}
	room := mesh.RoomID(pos[0])
	switch sub {
	case "add":
		b, err := ac.CreateBridge(ctx, room, mesh.RoomID(*to))
		if err != nil {
			return c.reach(err)
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(b)
		}
		fmt.Fprintln(stdout, b.ID)
		return nil
	case "rm":
		if err := ac.DeleteBridge(ctx, room, pos[1]); err != nil {
			return c.reach(err)
		}
		fmt.Fprintln(stdout, "removed", pos[1])
		return nil
	}
	bs, err := ac.Bridges(ctx, room)
	if err != nil {
		return c.reach(err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(bs)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTO\tSTATE\tBY\tREASON")
	for _, b := range bs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.ID, b.To, b.State, b.By, b.Reason)
	}
	return tw.Flush()
}
