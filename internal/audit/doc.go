// Package audit keeps the node's audit log: every accepted and refused
// action, one JSON line each, in a hash chain that makes later edits
// detectable.
//
// # Files
//
// The log lives in the data directory:
//
//	audit.jsonl          the log, append only
//	audit.head           anchor: {"n":N,"hash":"<hex>"} of the last line known fsynced
//	audit.jsonl.corrupt  bytes set aside by Open after a crash tore the last line
//
// # Line format
//
// Each line of audit.jsonl is one JSON object followed by "\n":
//
//	{"n":1,"ts":"2026-01-02T03:04:05.123456789Z","prev":"000…000","action":"say","outcome":"ok",...}
//
// Its keys come in this order:
//
//   - n is the 1-based line number; line k carries n=k.
//   - ts is the time of recording, RFC 3339 with nanoseconds, UTC.
//   - prev is the lowercase hex SHA-256 of the previous line's exact bytes,
//     without its newline; line 1 carries 64 zeros.
//   - The fields of Record follow: actor, action, room, outcome ("ok" or
//     "refused"), code (a mesh error code), remote, detail. Empty ones are
//     left out.
//
// A line is at most MaxLineBytes long; a Detail that would make it longer is
// replaced by a note giving its size.
//
// # What is detected
//
// Changing, removing or inserting a line breaks the chain at that line,
// except for the last line and a cut at the end of the file, which the
// chain alone cannot see: audit.head covers those. It is replaced
// atomically (tmp, fsync, rename) at most every 100 ms and on Close, so it
// may lag the file by a few lines, which Verify accepts. Someone able to
// rewrite both files, recomputing every hash, is not detected: copy heads
// elsewhere (GET /api/v1/audit) to guard against that.
//
// Open reads only the end of the file. A last line without a newline, or
// one that is not a valid line, is moved to audit.jsonl.corrupt, the log is
// cut before it, and an "audit-recovered" line records what was set aside.
// If audit.head names a line the file no longer has, or a different hash,
// Open records an "audit-head-mismatch" line so the evidence stays in the
// chain.
package audit
