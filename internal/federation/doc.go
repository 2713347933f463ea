// Package federation is a node's side of the Interchange: a client that
// keeps one link to a relay (reconnecting with backoff), sends what the
// node originates through a durable queue, and hands what other nodes send
// to the node once their signature is verified.
//
// # Delivery
//
// Every outbound body goes through federation-queue.jsonl before it
// leaves (Queue). Each destination node has its own stream: entries are
// numbered 1, 2, 3... (N) in the order they were queued, and every frame
// carries its N, the queue's Epoch and Base, the lowest N not yet
// acknowledged. The destination applies a stream strictly in order: it
// applies N only when it expects N, drops a repeat (N below what it
// expects) and drops an early frame (a gap: an earlier one was lost), and
// acknowledges cumulatively ("everything up to Upto is applied") after
// what it applied is durable. A new Epoch, or a Base above what it
// expects, resets what it expects to Base. The sender keeps a window of
// frames in flight; when no acknowledgement moves for its retry timeout it
// goes back to the first unacknowledged entry and sends again, doubling
// the timeout (with jitter) up to RetryMax. An entry that reaches
// MaxAttempts transmissions or MaxAge is moved to dead-letter.jsonl with
// the reason; Replay queues it again. Receivers also drop a body whose
// message id they have already applied (a node that crashed between
// applying and acknowledging), so a retry never doubles a message.
//
// The pump sends what is pending for a destination in batches: one frame
// carries up to 256 bodies of consecutive positions (64 KiB of them at
// most) under one signature. Transmissions are counted in the queue (sent
// lines), so the attempts bound holds across restarts.
//
// # Trust
//
// Each frame is signed by the node that sends it: Ed25519 over
// interchange.SignedBytes(from, to, body), or over the whole bodies array
// of a batch. The receiver checks that the key in the frame is the
// sender's (node ids are derived from keys), pins it on first contact
// (federation-keys.jsonl) and refuses a later frame with another key, and
// verifies the signature. A frame that fails is dropped unacknowledged
// and reported to the node (Handler.Reject), which audits it. The relay
// tells whether the sender authenticated with a secret or came in through
// an open relay (Peer.Auth).
//
// # Receiving
//
// A read goroutine verifies each frame, decodes its bodies and has the
// node Check them (a post's provenance), spread over the CPUs; an apply
// goroutine applies them in each stream's order (Handler.Receive). See
// inbound.go.
package federation

import "encoding/base32"

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
