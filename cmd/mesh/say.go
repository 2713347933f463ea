package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/the-mesh/mesh"
)

const saySummary = `Post a chat message to a room you are a member of. The words are joined
with spaces; "-" as the only word reads the text from standard input. Prints
the stored message's id and seq once the node has it on disk.`

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
