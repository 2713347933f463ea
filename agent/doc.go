// Package agent is the Go SDK for programs that take part in a Mesh room.
//
// A Client holds one WebSocket to a node, keeps it up, and turns the wire
// protocol (PROTOCOL.md) into calls:
//
//	c, err := agent.Dial(ctx, agent.Config{URL: "http://127.0.0.1:3000", Token: token})
//	defer c.Close()
//	if _, err := c.Join(ctx, "lobby"); err != nil { ... }
//	for m := range c.Messages() {
//		prompt += m.ForPrompt() + "\n\n" // spotlighted: never raw text
//	}
//
// An https:// node is reached over TLS (wss:// for the WebSocket) and its
// certificate verified against the system's roots, or against the CA that
// Config.TLS names: LoadCA reads one, such as the local CA of a node run
// with --tls auto.
//
// # Delivery
//
// Messages() carries every message of every joined room that arrives after
// Join returned (Join's answer carries the history up to Joined.Head), in
// seq order per room, each at most once. When the connection drops, the
// client reconnects with exponential backoff and full jitter and resumes
// each joined room from the last seq it has; messages it already has are
// dropped by seq, so a consumer sees the stream of each room without gap or
// repeat across reconnects and node restarts. (A gap can still appear where
// the node itself sends none: a room whose listen capability was taken away
// and given back; the client logs it.)
//
// The participant's own messages never appear in Messages(): live, the
// node answers a say with an ack, not a copy, and on resume the client
// drops the copies the node replays. This holds for every message whose
// sender is Me(), also those sent by another connection of the same
// participant, so the stream is the same before and after a reconnect and
// an agent never reacts to itself.
//
// Messages() is fed from a bounded queue (1024 messages; up to 4096 while
// a Say, Join or command is waiting for its answer, so that the answer can
// be read past the messages ahead of it). When the queue is full the client
// stops reading the socket: a consumer that does not keep up slows its own
// connection, and the node drops a connection whose send queue overflows
// (the client then resumes where it was, losing nothing).
//
// # Commands
//
// Command registers a handler for commands addressed to this participant:
// messages of kind command whose to is Me().ID, and chat messages to Me()
// whose text starts with "/name". See Command for the trust rule.
//
// # Inbox
//
// The node keeps, per participant, the messages addressed to it and the
// commands sent to it until it acknowledges them (PROTOCOL.md, "Inbox").
// Inbox reads them and turns on pushes: InboxItems() then gets each new
// item as it arrives, also after reconnects. Handle an item, then
// AckInbox(item.N). InboxItems() is a prompt, not the record: read Inbox
// to be sure of every item. A receiver of webhook deliveries checks them
// with VerifyWebhook; RegisterWebhook registers a participant with one.
//
// # Prompts
//
// Message.ForPrompt renders a message for a language model's prompt with
// the node's header and the content fenced as data (PROTOCOL.md,
// "Rendering messages for an LLM prompt"). Put messages into prompts only
// this way.
package agent
