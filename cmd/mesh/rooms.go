package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/the-mesh/mesh"
)

const roomsSummary = `List the node's rooms (id, name, topic), or create one with
"mesh rooms create NAME [--topic T]" (you become its first member; the id is
made from the name and printed).`

func runRooms(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, af := newAgentFlagSet("rooms", "[create NAME] [flags]", roomsSummary, stderr)
	asJSON := fs.Bool("json", false, "print the rooms, or the created room, as JSON")
	topic := fs.String("topic", "", "the new room's `topic` (with create)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	create := len(pos) > 0 && pos[0] == "create"
	switch {
	case create && len(pos) != 2:
		return usageError(fs, "usage: mesh rooms create NAME (quote a name with spaces)")
	case !create && len(pos) > 0:
		return usageError(fs, "unexpected argument %q", pos[0])
	case !create && *topic != "":
		return usageError(fs, "--topic goes with mesh rooms create")
	}
	c, err := af.load()
	if err != nil {
		return err
	}
	if create {
		in := map[string]string{"name": pos[1]}
		if *topic != "" {
			in["topic"] = *topic
		}
		var out struct {
			Room mesh.Room `json:"room"`
		}
		if err := c.do(ctx, "POST", "/api/v1/rooms", in, &out); err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(out.Room)
		}
		fmt.Fprintln(stdout, out.Room.ID)
		return nil
	}
	var out struct {
		Rooms []mesh.Room `json:"rooms"`
	}
	if err := c.do(ctx, "GET", "/api/v1/rooms", nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(out.Rooms)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTOPIC")
	for _, r := range out.Rooms {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ID, r.Name, r.Topic)
	}
	return tw.Flush()
}

const joinSummary = `Make you a member of a room (POST /api/v1/rooms/{id}/join), so that you
may post to it with mesh say and read it with mesh listen.

In an end-to-end encrypted room it also registers this config's device
(keys kept beside the config in CONFIG.keys.json, mode 0600; made on first
use) with the node, so that messages sent from now on are sealed to it too.`

func runJoin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, af := newAgentFlagSet("join", "ROOM... [flags]", joinSummary, stderr)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError(fs, "name the room to join")
	}
	c, err := af.load()
	if err != nil {
		return err
	}
	for _, room := range pos {
		if err := c.do(ctx, "POST", roomPath(room, "/join"), nil, nil); err != nil {
			return fmt.Errorf("join %s: %w", room, err)
		}
		e2e, err := c.roomE2E(ctx, room)
		if err != nil {
			return fmt.Errorf("join %s: %w", room, err)
		}
		if !e2e {
			fmt.Fprintln(stdout, "joined", room)
			continue
		}
		ac, err := c.agent()
		if err != nil {
			return err
		}
		d, err := ac.RegisterDevice(ctx)
		if err != nil {
			return fmt.Errorf("join %s: register this device for end-to-end encryption: %w", room, err)
		}
		fmt.Fprintf(stdout, "joined %s (end-to-end encrypted; device %s)\n", room, d.ID)
	}
	return nil
}
