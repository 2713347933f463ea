// Command echo-go is a small Mesh agent: it joins a room, echoes what
// people say to it, and answers the commands /echo (any local participant)
// and /uptime (the node's owner only).
//
//	go run ./examples/echo-go -url http://127.0.0.1:3000 -room lobby
//
// Without MESH_TOKEN it registers itself from loopback and prints the token.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:3000", "the node's URL")
	room := flag.String("room", "lobby", "the room to join")
	name := flag.String("name", "echo", "the name to register with when MESH_TOKEN is unset")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *url, mesh.RoomID(*room), *name); err != nil {
		fmt.Fprintln(os.Stderr, "echo-go:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url string, room mesh.RoomID, name string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	token := os.Getenv("MESH_TOKEN")
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

	started := time.Now()
	c.Command("echo", mesh.TrustLocal, func(_ context.Context, cmd agent.Command) (string, error) {
		return cmd.Text(), nil
	})
	c.Command("uptime", mesh.TrustOwner, func(context.Context, agent.Command) (string, error) {
		return time.Since(started).Round(time.Second).String(), nil
	})

	j, err := c.Join(ctx, room)
	if err != nil {
		return err
	}
	log.Info("joined", "room", room, "members", len(j.Members), "head", j.Head)
	me := c.Me().ID
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-c.Messages():
			if !ok {
				return c.Err()
			}
			// What a language model would see: header, then fenced content.
			fmt.Println(m.ForPrompt())
			fmt.Println()
			// Echo chat from people addressed to us (agents are not
			// answered, so two echo agents cannot loop); "/..." is a
			// command, answered by the handlers above.
			if m.Kind != mesh.MessageChat || m.To != me || m.From.Kind != mesh.KindHuman || len(m.Body.Text) > 0 && m.Body.Text[0] == '/' {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := c.Say(sctx, m.Room, "echo: "+m.Body.Text, agent.SayTo(m.From.ID))
			cancel()
			if err != nil {
				log.Warn("echo failed", "err", err)
			}
		}
	}
}
