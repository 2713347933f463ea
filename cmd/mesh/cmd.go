package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
)

const cmdSummary = `Send a command to a member of a room that holds "execute" (POST
/api/v1/rooms/{id}/commands). TARGET is a participant id or a member's unique
name; ARGS-JSON, when given, is any JSON value. Prints the command message's
id and seq. With --wait it listens to the room first and then waits for the
target's result: it prints the result's output and exits 1 if the command
failed, 3 if no result came in time. In an end-to-end encrypted room the
command is sealed here (device keys beside the config, CONFIG.keys.json) and
sent over the WebSocket; the result is opened here.`

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, af := newAgentFlagSet("cmd", "ROOM TARGET NAME [ARGS-JSON] [flags]", cmdSummary, stderr)
	wait := fs.Duration("wait", 0, "wait this long for the result, e.g. 1m (0: do not wait)")
	asJSON := fs.Bool("json", false, "print the command (or, with --wait, the result) envelope as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 3 || len(pos) > 4 {
		return usageError(fs, "usage: mesh cmd ROOM TARGET NAME [ARGS-JSON]")
	}
	if *wait < 0 {
		return usageError(fs, "--wait cannot be negative")
	}
	room, name := pos[0], pos[2]
	var cmdArgs json.RawMessage
	if len(pos) == 4 {
		if !json.Valid([]byte(pos[3])) {
			return usageError(fs, "ARGS-JSON %q is not JSON (quote strings: '\"x\"')", pos[3])
		}
		cmdArgs = json.RawMessage(pos[3])
	}
	c, err := af.load()
	if err != nil {
		return err
	}
	target, err := c.resolveParticipant(ctx, room, pos[1])
	if err != nil {
		return err
	}

	e2e, err := c.roomE2E(ctx, room)
	if err != nil {
		return err
	}
	// With --wait, subscribe before sending, so the result cannot come
	// between the two. An end-to-end encrypted room is always followed:
	// the command is sealed by the SDK.
	var cl *agent.Client
	if *wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *wait)
		defer cancel()
	}
	if e2e {
		if cl, err = c.e2eClient(ctx, room); err != nil {
			return err
		}
		defer cl.Close()
	} else if *wait > 0 {
		ac, err := c.agent()
		if err != nil {
			return err
		}
		cl, err = agent.Dial(ctx, ac)
		if err != nil {
			return fmt.Errorf("connect to %s: %w", c.Node, err)
		}
		defer cl.Close()
		if _, err := cl.Join(ctx, mesh.RoomID(room)); err != nil {
			return fmt.Errorf("join %s: %w", room, err)
		}
	}

	in := map[string]any{"target": target, "name": name}
	if cmdArgs != nil {
		in["args"] = cmdArgs
	}
	var out struct {
		Message mesh.Message `json:"message"`
	}
	if e2e {
		var args any // nil: no args (a nil RawMessage would encode as null)
		if cmdArgs != nil {
			args = cmdArgs
		}
		ack, err := cl.SendCommand(ctx, mesh.RoomID(room), target, name, args)
		if err != nil {
			return err
		}
		me := cl.Me()
		out.Message = mesh.Message{ID: ack.ID, Room: ack.Room, Seq: ack.Seq, Kind: mesh.MessageCommand, From: me.Sender(),
			Trust: me.Trust, To: target, Body: mesh.Body{Command: name, Args: cmdArgs}}
	} else if err := c.do(ctx, "POST", roomPath(room, "/commands"), in, &out); err != nil {
		return err
	}
	if *wait == 0 {
		if *asJSON {
			return json.NewEncoder(stdout).Encode(out.Message)
		}
		fmt.Fprintln(stdout, out.Message.ID, out.Message.Seq)
		return nil
	}
	fmt.Fprintf(stderr, "mesh cmd: sent %s (seq %d); waiting up to %s for the result\n", out.Message.ID, out.Message.Seq, *wait)
	for {
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				return exitError{code: 3, err: fmt.Errorf("no result for %s within %s", out.Message.ID, *wait)}
			}
			return ctx.Err()
		case m, ok := <-cl.Messages():
			if !ok {
				if err := cl.Err(); err != nil {
					return err
				}
				return errors.New("the connection closed before the result came")
			}
			if m.Kind != mesh.MessageResult || m.Ref != out.Message.ID {
				continue
			}
			if *asJSON {
				if err := json.NewEncoder(stdout).Encode(m); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(stdout, m.Body.Output)
			}
			if m.Body.OK == nil || !*m.Body.OK {
				return fmt.Errorf("%s refused or failed the command %s", m.From.Name, name)
			}
			return nil
		}
	}
}
