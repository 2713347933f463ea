// Package jsonl stores each room's messages in an append-only JSON Lines
// file, made durable by group commit through a write-ahead log. It
// implements mesh.RoomLog.
//
// # Files
//
// Under the data directory:
//
//	messages/<room>.jsonl          the room's log
//	messages/<room>.idx            its sparse index (derived data)
//	messages/<room>.jsonl.corrupt  bytes set aside by Open after a torn write
//	messages/wal                   the write-ahead log (WAL)
//	messages/wal.old               the previous WAL, while a checkpoint runs
//	messages/wal.corrupt           WAL bytes set aside by Open after a torn write
//
// No room file can clash with the WAL files: room ids have no '.'.
//
// # Log
//
// A log holds one JSON object per line, each ended by '\n', in seq order.
// The line with seq n is the n-th line of the file (seqs start at 1, there
// are no gaps) and its top-level "seq" member, an integer spelled with the
// exact key "seq", equals n. Lines are otherwise opaque: the store checks
// that a line is a single valid JSON object with no raw newline and reads
// only its "seq". A line may not exceed 4 MiB.
//
// Appends are grouped: one committer goroutine takes every queued line
// (a batch), writes each room's lines to its log with one write call and
// no fsync, writes a record of every line, in queue order, to the WAL with
// one write call, fsyncs the WAL, and only then reports the appends done.
// So a batch costs one fsync however many rooms it touches. Reads see
// only committed lines, which they read from the logs.
//
// # WAL
//
// The WAL holds every line committed since the last checkpoint, so that a
// crash cannot lose one that a log had not yet made durable. It is an
// 8-byte header, "MWAL" then version uint32 (1), followed by records, all
// integers big-endian:
//
//	record: length uint32 (of the body) | crc uint32 | body
//	body:   seq uint64 | room length uint8 | room id | line (no '\n')
//
// crc is the CRC-32C (Castagnoli) of the body. A record is whole when its
// length is within bounds, the file holds that many bytes and the
// checksum matches; the first record that is not, and everything after
// it, is a torn tail: the end of a write that a crash cut, never
// acknowledged.
//
// # Checkpoint
//
// A checkpoint makes the logs durable so that the WAL can start again. The
// committer starts one between batches once the WAL holds 64 MiB or its
// first record is 2 seconds old (a timer wakes an idle committer): it
// renames wal to wal.old, creates a new wal (fsyncing it and the
// directory), and goes on committing into it, while a goroutine fsyncs
// the log of every room written since the previous checkpoint began
// (eight at a time), then the directory if a log was created, then
// removes wal.old. If the WAL reaches twice its limit before that ends,
// the committer waits for it. Close makes a last checkpoint in place: it
// fsyncs the logs written since and cuts the WAL back to its header.
//
// Until a checkpoint ends, every line it covers is in wal.old or wal, and
// a log may hold lines not yet in the WAL only when their appends were
// never acknowledged.
//
// # Index
//
// The index lets Read seek instead of scanning and lets Open find a room's
// head without reading its history. It is a 64-byte header followed by
// fixed 16-byte entries, all integers big-endian:
//
//	header: "MIDX" | version uint32 (1) | every uint32 | epoch length uint32
//	        | epoch bytes, zero-padded to 64 bytes in all
//	entry k (from 0): seq uint64 (= k*every+1) | byte offset uint64 of that line
//
// Entry k records where line k*every+1 starts, so Read(after) reads entry
// after/every and skips at most every-1 lines.
//
// Entries are written once the lines they point to are committed; the
// index itself is not fsynced.
//
// The epoch names one life of a log: it is the first 16 hex digits of
// SHA-256 over the room id, a newline and the log's first line. It is made
// when line 1 is committed, so a log lost and started again gets a new
// epoch while a rebuilt index keeps the old one. An empty log has epoch "".
//
// # Open and recovery
//
// Open visits every log. It checks the index header (magic, version, every
// and epoch, recomputed from line 1), skips the entries that point past
// the end of the log (a crash may cut a log back to its last checkpoint),
// and checks the last of the others, newest first: an entry is good when
// its seq is right, its offset starts a line and that line carries its
// seq. Entries after the last good one are cut;
// if none of the last few is good, or the header is wrong, the index is
// rebuilt from the start of the log. Open then scans the log from the last
// good entry to the end, adding the entries it passes. So only the tail is
// read unless the index was lost.
//
// The scan stops at the first line that is not ended by '\n', is not a
// single JSON object, is longer than 4 MiB, or whose seq is not the one
// expected. That line and everything after it are appended to
// <room>.jsonl.corrupt (which is fsynced), the log is truncated to the end
// of the last good line and fsynced, and a warning naming the room, the
// offset and the byte count is logged. Torn bytes are never merged.
//
// Open then replays wal.old, if there is one, and wal, record by record.
// A record whose seq is at or below its room's head is skipped (the log
// has it); one whose seq is head+1 is appended to the log (creating it if
// need be) and its index; one whose seq is higher means lines are missing
// from both the log and the WAL, and Open fails with an error naming the
// room and the seqs (so it does for a checksummed record with a bad room
// id or line, and for a WAL with a foreign header). A torn tail is
// appended to wal.corrupt (which is fsynced), cut from the WAL, and a
// warning naming the file, offset and byte count is logged. Open fsyncs
// every log it extended, and the directory if it created one, removes
// wal.old and starts an empty wal. A WAL that is already empty (as Close
// leaves it) is kept as it is, so a clean Open reads 8 bytes of WAL.
//
// # Failure
//
// If a log write fails, the appends of that room in that batch get the
// error (their lines are left out of the WAL) and the log is truncated
// back to its committed end (best effort); appends of other rooms in the
// batch go on. If the WAL write or fsync fails, every append of the batch
// gets the error and the logs are truncated back. If a checkpoint fails,
// its wal.old is kept. In each case the store then refuses every later
// Append with mesh.EUnavailable, Close makes no checkpoint, and Open
// repairs the logs from the WAL as above.
//
// # Journal
//
// A Journal is a small append-only JSON Lines file (participants.jsonl,
// rooms.jsonl, invites.jsonl) replayed in full at open. Each line is one
// JSON object; every Append is fsynced before it returns. Appends are
// grouped: each queues its line, and a flusher goroutine (started when
// lines wait and none runs, waited for by Close) writes every queued line
// with one write and one fsync, then wakes their Appends. Lines are
// written in the order their Appends were admitted. A torn tail is set
// aside to <path>.corrupt as for room logs.
package jsonl
