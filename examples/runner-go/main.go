// Command runner-go is a small Mesh agent that runs whitelisted programs:
// a local participant sends "/run NAME" (or a run command with args
// {"name": NAME}), the agent walks over to them in the room's 3D world,
// runs the program NAME stands for and reports its output as the result.
// Nothing from the message reaches the program: only the whitelist's fixed
// argument lists are ever executed, without a shell.
//
//	go run ./examples/runner-go -url http://127.0.0.1:3000 -room lobby
//
// Without MESH_TOKEN it registers itself from loopback and prints the token.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
)

// whitelist maps what a participant may ask for to the exact program run.
var whitelist = map[string][]string{
	"date":       {"date", "-u"},
	"disk":       {"df", "-h", "."},
	"go-version": {"go", "version"},
	"uname":      {"uname", "-a"},
}

const (
	runTimeout = 10 * time.Second
	maxOutput  = 4000 // bytes of output reported
)

func main() {
	url := flag.String("url", "http://127.0.0.1:3000", "the node's URL")
	room := flag.String("room", "lobby", "the room to join")
	name := flag.String("name", "runner", "the name to register with when MESH_TOKEN is unset")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *url, os.Getenv("MESH_TOKEN"), mesh.RoomID(*room), *name, nil); err != nil {
		fmt.Fprintln(os.Stderr, "runner-go:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends; ready, if not nil, is called once joined.
func run(ctx context.Context, url, token string, room mesh.RoomID, name string, ready func(mesh.ParticipantID)) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if token == "" {
		p, t, err := agent.Register(ctx, url, agent.Registration{Name: name, Kind: mesh.KindAgent})
		if err != nil {
			return err
		}
		log.Info("registered; set MESH_TOKEN to reuse this identity", "id", p.ID, "token", t)
		token = t
	}
	c, err := agent.Dial(ctx, agent.Config{URL: url, Token: token, Logger: log})
	if err != nil {
		return err
	}
	defer c.Close()
	c.Command("run", mesh.TrustLocal, func(ctx context.Context, cmd agent.Command) (string, error) {
		what := programName(cmd)
		walkToward(ctx, c, cmd.Message.Room, cmd.Message.From.ID)
		return runProgram(ctx, what)
	})
	if _, err := c.Join(ctx, room); err != nil {
		return err
	}
	if ready != nil {
		ready(c.Me().ID)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-c.Messages(): // the router answers commands; chat is not ours
			if !ok {
				return c.Err()
			}
		}
	}
}

// programName is NAME from "/run NAME", or from a command's args
// {"name": NAME} or "NAME".
func programName(cmd agent.Command) string {
	var args struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(cmd.Args, &args) == nil && args.Name != "" {
		return args.Name
	}
	return strings.TrimSpace(cmd.Text())
}

func runProgram(ctx context.Context, what string) (string, error) {
	argv, ok := whitelist[what]
	if !ok {
		names := make([]string, 0, len(whitelist))
		for n := range whitelist {
			names = append(names, n)
		}
		slices.Sort(names)
		return "", fmt.Errorf("%q is not on the whitelist; try one of: %s", what, strings.Join(names, ", "))
	}
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if len(out) > maxOutput {
		out = append(out[:maxOutput], "\n[output cut]"...)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return "", fmt.Errorf("%s exited with %d:\n%s", argv[0], exit.ExitCode(), out)
	case err != nil:
		return "", fmt.Errorf("run %s: %w", argv[0], err)
	}
	return strings.TrimRight(string(out), "\n"), nil
}

// walkToward walks up to the sender (a metre away), so people watching
// the room see who is working for whom. It gives up after two seconds.
func walkToward(ctx context.Context, c *agent.Client, room mesh.RoomID, who mesh.ParticipantID) {
	for _, a := range c.Positions(room) {
		if a.ID == who {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			c.MoveTo(ctx, room, a.Pos[0]+1, a.Pos[2])
			return
		}
	}
}
