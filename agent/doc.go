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
// # Bridges
//
// CreateBridge, Bridges and DeleteBridge make, list and remove a room's
// bridges (PROTOCOL.md, "Bridges"); Config has the same methods for a
// program without a connection. A message a bridge carried arrives with
// Message.Bridged naming its original. Moderation, policy and room data,
// of this node's rooms and of remote ones (room@node), go through Do.
//
// # End-to-end encrypted rooms
//
// In a room whose policy has "e2e": true the node stores and relays only
// ciphertext (PROTOCOL.md, "End-to-end encrypted rooms"); the client seals
// and opens messages itself, so Config.Keys must hold a KeyStore:
//
//	c, err := agent.Dial(ctx, agent.Config{URL: url, Token: token,
//		Keys: agent.FileKeys("/var/lib/my-bot/keys.json")})
//
// The store keeps this client's device (an Ed25519 and an X25519 key) and
// its sender chains; Join of an E2E room without one fails with
// ErrNoKeyStore. FileKeys writes a JSON file atomically with mode 0600;
// MemoryKeys is for tests. Keep the file: a client that loses it is a new
// device, and what was sent before that device joined the room's roster
// arrives undecryptable (reason no_key: it "needs re-key"), never silently
// dropped.
//
// On the first Join of an E2E room the client registers its device with
// the node (Config.RegisterDevice does that alone). The node keeps, per
// epoch, the roster of the members' devices and starts a new epoch at every
// membership change; the client learns rosters from Joined.E2E and the
// e2e.epoch events of the stream (which are delivered as other events).
// Say, SendCommand and command results are then sealed: the first message
// of an epoch posts a keys entry (a fresh chain key wrapped to every device
// of the roster) and keeps the chain in the store; each message is sealed
// under its own key of that chain. When the epoch moved on (the node
// answers conflict), the client reads the new roster, re-keys and resends,
// up to 3 times. A removed member's devices are in no later roster, so
// they get no key for what is sent after.
//
// Messages(), Joined.History and resumes after a reconnect carry opened
// messages: Message.E2E is set and Kind and Body are what the sender
// sealed; a message that does not open keeps Kind "encrypted" with
// Message.Undecryptable giving the reason. Keys entries are key transport:
// they are not delivered (E2EStats counts them). The node cannot scan what
// it cannot read, so the client applies the room's scan policy to opened
// text as the node does in a plain room (flag: the node's flag strings and
// trust untrusted; block: dropped and logged, without the text), and, on
// top of Command's trust floor, the policy's execute.from to opened
// commands. The client reads the policy on Join and again after each
// policy event. No plaintext of an E2E room is ever logged. Inbox items of
// an E2E room stay sealed (kind encrypted): the same messages arrive opened
// in Messages() of a client that follows the room.
//
// # Prompts
//
// Message.ForPrompt renders a message for a language model's prompt with
// the node's header and the content fenced as data (PROTOCOL.md,
// "Rendering messages for an LLM prompt"). Put messages into prompts only
// this way.
package agent
