package main

import (
	"errors"
	"flag"

	"github.com/the-mesh/mesh/internal/node"
)

// addInboxFlags defines the inbox and webhook flags of `mesh up` on fs,
// filling cfg, and returns the check to run once the flags are parsed.
func addInboxFlags(fs *flag.FlagSet, cfg *node.Config) func() error {
	fs.IntVar(&cfg.InboxMax, "inbox-max", cfg.InboxMax, "unacknowledged inbox items kept per participant; the oldest are dropped")
	w := &cfg.Webhook
	fs.IntVar(&w.Retries, "webhook-retries", w.Retries, "webhook attempts after the first before an item goes to webhook-dead-letter.jsonl")
	fs.IntVar(&w.Concurrency, "webhook-concurrency", w.Concurrency, "webhook attempts in flight, node-wide")
	fs.DurationVar(&w.Timeout, "webhook-timeout", w.Timeout, "longest webhook attempt, connection to answer")
	fs.DurationVar(&w.Backoff, "webhook-backoff", w.Backoff, "wait before the first webhook retry; doubled for each next one (at most 5m, with jitter)")
	return func() error {
		switch {
		case cfg.InboxMax < 1:
			return errors.New("--inbox-max must be at least 1")
		case w.Retries < 0:
			return errors.New("--webhook-retries cannot be negative")
		case w.Concurrency < 1:
			return errors.New("--webhook-concurrency must be at least 1")
		case w.Timeout <= 0 || w.Backoff <= 0:
			return errors.New("--webhook-timeout and --webhook-backoff must be positive")
		}
		return nil
	}
}
