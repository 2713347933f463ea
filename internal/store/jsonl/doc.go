// Package jsonl stores each room's messages in an append-only JSON Lines
// file, made durable by group commit. It implements mesh.RoomLog.
//
// # Files
//
// Under the data directory:
//
//	messages/<room>.jsonl          the room's log
//	messages/<room>.idx            its sparse index (derived data)
//	messages/<room>.jsonl.corrupt  bytes set aside by Open after a torn write
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
// Appends are grouped: one committer goroutine takes every queued line,
// writes each room's lines with one write call, fsyncs every file written
// (several at once), fsyncs the messages directory when a log was created,
// and only then reports the appends done. Reads see only committed lines.
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
// after/every and skips at most every-1 lines. Entries are written after
// the log lines they point to are fsynced; the index itself is not fsynced.
//
// The epoch names one life of a log: it is the first 16 hex digits of
// SHA-256 over the room id, a newline and the log's first line. It is made
// when line 1 is committed, so a log lost and started again gets a new
// epoch while a rebuilt index keeps the old one. An empty log has epoch "".
//
// # Open and recovery
//
// Open visits every log. It checks the index header (magic, version, every
// and epoch, recomputed from line 1) and then the last entries, newest
// first: an entry is good when its seq is right, its offset starts a line
// and that line carries its seq. Entries after the last good one are cut;
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
// # Failure
//
// If a write or fsync fails, the appends of that room in that batch get
// the error, the log is truncated back to its committed end (best effort),
// and the store refuses every later Append with mesh.EUnavailable until it
// is closed and opened again, which repairs the log as above. Appends of
// other rooms in the same batch that were fsynced succeed.
//
// # Journal
//
// A Journal is a small append-only JSON Lines file (participants.jsonl,
// rooms.jsonl, invites.jsonl) replayed in full at open. Each line is one
// JSON object; every Append is fsynced before it returns. A torn tail is
// set aside to <path>.corrupt as for room logs.
package jsonl
