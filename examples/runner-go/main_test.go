package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
	"github.com/the-mesh/mesh/internal/meshtest"
)

func TestRunnerRunsOnlyTheWhitelist(t *testing.T) {
	n := meshtest.Start(t, "")
	runnerID, runnerTok := n.Register(t, "runner")
	_, askerTok := n.Register(t, "asker")
	// A room where the runner may execute: local participants do not by default.
	st, body := n.Do(t, "POST", "/api/v1/rooms", askerTok, map[string]any{"name": "ops",
		"policy": map[string]any{"grants": map[string]any{string(runnerID): []string{"execute"}}}})
	if st != 201 {
		t.Fatalf("create room: HTTP %d %v", st, body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan mesh.ParticipantID, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, n.URL, runnerTok, "ops", "runner", func(id mesh.ParticipantID) { ready <- id })
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("runner stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the runner did not join")
	}
	asker, err := agent.Dial(ctx, agent.Config{URL: n.URL, Token: askerTok})
	if err != nil {
		t.Fatal(err)
	}
	defer asker.Close()
	if _, err := asker.Join(ctx, "ops"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		args   any
		ok     bool
		output string
	}{
		{map[string]string{"name": "uname"}, true, "Linux"},
		{"uname", true, "Linux"},
		{map[string]string{"name": "rm -rf /"}, false, "is not on the whitelist"},
		{"date; uname", false, "is not on the whitelist"},
	}
	for _, tt := range tests {
		ack, err := asker.SendCommand(ctx, "ops", runnerID, "run", tt.args)
		if err != nil {
			t.Fatal(err)
		}
		m := next(t, asker, func(m agent.Message) bool { return m.Kind == mesh.MessageResult && m.Ref == ack.ID })
		if m.Body.OK == nil || *m.Body.OK != tt.ok || !strings.Contains(m.Body.Output, tt.output) {
			t.Errorf("run %v: got ok=%v output %q, want ok=%v containing %q", tt.args, m.Body.OK, m.Body.Output, tt.ok, tt.output)
		}
	}
	// As chat, the answer is a chat message to the sender.
	if _, err := asker.Say(ctx, "ops", "/run uname", agent.SayTo(runnerID)); err != nil {
		t.Fatal(err)
	}
	if m := next(t, asker, func(m agent.Message) bool { return m.From.ID == runnerID && m.Kind == mesh.MessageChat }); !strings.Contains(m.Body.Text, "Linux") {
		t.Errorf("/run uname as chat: got %q", m.Body.Text)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("runner: %v", err)
	}
}

func next(t *testing.T, c *agent.Client, match func(agent.Message) bool) agent.Message {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case m := <-c.Messages():
			if match(m) {
				return m
			}
		case <-timeout:
			t.Fatal("no matching message")
		}
	}
}
