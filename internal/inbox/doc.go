// Package inbox keeps each participant's durable inbox: references to the
// stored messages that address it, kept until it acknowledges them. It
// stores references only; the envelopes stay in the room logs, which are
// the truth the inbox is derived from.
//
// # Files
//
// Under its directory (<data>/inbox):
//
//	<participant>.jsonl          one participant's inbox (JSON Lines)
//	<participant>.jsonl.corrupt  bytes set aside by a load after a torn write
//	marks.json                   the checkpoint: how far each room was routed
//
// # Inbox file
//
// Each line is one JSON object with an "op":
//
//	{"op":"item","n":7,"room":"lobby","seq":42,"id":"m_…","reason":"to","pushed":true}
//	{"op":"item","n":8,"room":"design@n…","seq":9,"id":"m_…","reason":"command"}
//	{"op":"ack","upTo":7}
//	{"op":"hook","upTo":7}
//	{"op":"state","last":9,"ack":7,"hook":7,"seen":{"lobby":42}}
//
// item adds the reference n (n counts up from 1 per participant, never
// reused) to message id, seq of room; pushed says it reached a live
// connection when it arrived, so the webhook leaves it. ack moves the
// acknowledgement cursor: items with n <= upTo are gone. hook moves the
// webhook cursor. state, written after the live items when a file is
// compacted, carries what the dropped lines said: the newest n, both cursors and, per room, the
// highest seq that ever entered (seen).
//
// Item lines are written without fsync: they can be made again from the
// room logs (see Checkpoint). ack and hook lines are fsynced before the
// call that writes them returns, which also makes every earlier line of
// the file durable.
//
// A file is compacted (tmp, fsync, rename, fsync of the directory) once
// it holds over twice as many lines as live items plus 1024: the new file
// is the live items and a state line.
//
// # Bound
//
// A participant keeps at most Options.Max unacknowledged items. Adding
// one more drops the oldest; a reader learns how many it missed from the
// gap between its cursor and the oldest item kept. A load applies the
// bound again, so a lower bound takes effect at the next start.
//
// # Checkpoint
//
// marks.json is {"rooms": {"<room>": seq}, "remote": true}: every item for
// a message of that room with a seq at or below the mark is in its inbox
// file and durable. A room is a local room id or a remote room's address
// room@node (its mirror, numbered with the home's seqs). "remote" says the
// node routes remote rooms, so one without a mark was routed from its
// start; without it (a new store, or one from before remote rooms were
// routed) the node marks each remote room at its head instead. Every two seconds, if anything changed, the store fsyncs the
// inbox files written since the last checkpoint and then replaces
// marks.json (tmp, fsync, rename, fsync of the directory); Close makes a
// last one. After a crash the node routes each room's messages after its
// mark again (the tail written since the last checkpoint), and Add skips
// a reference whose seq is at or below the highest one its participant
// has seen in that room, so nothing is lost and nothing is added twice.
//
// # Load and torn tails
//
// A participant's file is read on first use. The read stops at the first
// line that is not ended by '\n' or is not a valid line; that line and
// everything after it are appended to <participant>.jsonl.corrupt (which
// is fsynced), the file is cut back, and a warning is logged. Torn bytes
// are never merged.
package inbox
