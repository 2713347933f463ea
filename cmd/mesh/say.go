package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
)

const saySummary = `Post a chat message to a room you are a member of. The words are joined
with spaces; "-" as the only word reads the text from standard input. Prints
the stored message's id and seq once the node has it on disk.

In an end-to-end encrypted room the text is sealed here, with the device
keys kept beside the config (CONFIG.keys.json, mode 0600; made and
registered with the node on first use), and sent over the WebSocket.`

func runSay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, af := newAgentFlagSet("say", "ROOM TEXT... [flags]", saySummary, stderr)
	to := fs.String("to", "", "address the message to a member (participant `id`, or a unique name); addressing, not privacy")
	asJSON := fs.Bool("json", false, "print the stored message envelope as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usageError(fs, "usage: mesh say ROOM TEXT...")
	}
	room, text := pos[0], strings.Join(pos[1:], " ")
	if text == "-" {
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
		if err != nil {
			return fmt.Errorf("read standard input: %w", err)
		}
		text = strings.TrimRight(string(b), "\n")
	}
	c, err := af.load()
	if err != nil {
		return err
	}
	in := map[string]string{"text": text}
	if *to != "" {
		id, err := c.resolveParticipant(ctx, room, *to)
		if err != nil {
			return err
		}
		in["to"] = string(id)
	}
	e2e, err := c.roomE2E(ctx, room)
	if err != nil {
		return err
	}
	if e2e {
		return sayE2E(ctx, c, room, text, mesh.ParticipantID(in["to"]), *asJSON, stdout)
	}
	var out struct {
		Message mesh.Message `json:"message"`
	}
	if err := c.do(ctx, "POST", roomPath(room, "/messages"), in, &out); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(out.Message)
	}
	fmt.Fprintln(stdout, out.Message.ID, out.Message.Seq)
	if len(out.Message.Flags) > 0 {
		fmt.Fprintf(stderr, "mesh say: stored as untrusted: the guard flagged it (%s)\n", strings.Join(out.Message.Flags, ", "))
	}
	return nil
}

// sayE2E seals and posts text in an end-to-end encrypted room. With
// --json it prints the message as the room's members open it (the node
// answers with an id and seq only: it cannot read the rest).
func sayE2E(ctx context.Context, c agentConfig, room, text string, to mesh.ParticipantID, asJSON bool, stdout io.Writer) error {
	cl, err := c.e2eClient(ctx, room)
	if err != nil {
		return err
	}
	defer cl.Close()
	var opts []agent.SayOption
	if to != "" {
		opts = append(opts, agent.SayTo(to))
	}
	ack, err := cl.Say(ctx, mesh.RoomID(room), text, opts...)
	if err != nil {
		return err
	}
	if asJSON {
		me := cl.Me()
		return json.NewEncoder(stdout).Encode(agent.Message{E2E: true, Message: mesh.Message{ID: ack.ID, Room: ack.Room, Seq: ack.Seq,
			Kind: mesh.MessageChat, From: me.Sender(), Trust: me.Trust, Body: mesh.Body{Text: text}, To: to}})
	}
	fmt.Fprintln(stdout, ack.ID, ack.Seq)
	return nil
}
