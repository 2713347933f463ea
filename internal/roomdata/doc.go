// Package roomdata stores the shared files of rooms on local disk, behind
// GET, PUT and DELETE /api/v1/rooms/{id}/data/{path}. Callers authorize
// requests (data-read, data-write, ingress) before calling a Store; this
// package makes the files themselves safe: it validates paths, never follows
// symbolic links, replaces files atomically and enforces per-room quotas.
//
// # On-disk layout
//
// A room's files live in <dataDir>/data/<room>/<path>, one regular file per
// path (mode 0600), with intermediate directories (mode 0700) created by
// Put and pruned by Delete once empty. A Put writes a temporary file named ".tmp-<random>" in the
// target's directory, fsyncs it, renames it over the target and fsyncs the
// directory (and the parent of any directory it created), so a crash leaves
// the old content or the new, never a mix. Temporary names start with a dot,
// so no API path can reach them; any left over by a crash are removed when
// the room's usage is first computed.
//
// # Path rules
//
// A path is relative and slash-separated, valid UTF-8, at most
// Limits.MaxPathBytes bytes (default 256) and at most Limits.MaxDepth
// segments (default 8). It may not start with "/" or contain a backslash,
// NUL or any control character. Each segment is 1 to 255 bytes long, is not
// "." or "..", does not start with "." (hidden names are reserved, which
// also keeps the temporary files of atomic writes out of reach), and
// consists only of ASCII letters and digits, '.', '-', '_', space, and
// non-ASCII letters, combining marks and digits (marks are allowed because
// many scripts, such as Devanagari, cannot spell words without them). Empty
// segments ("a//b", "a/") are therefore invalid. A path that breaks a rule gets
// an EInvalid error whose message names the rule.
//
// # Symbolic links
//
// Every component of a path, including the room directory, is opened one at
// a time: it is first examined with lstat, refused with EInvalid unless it is
// a real directory (or, for the last component, a regular file), then opened
// through an os.Root of its parent and compared with os.SameFile, so a
// component swapped for a symbolic link between the check and the open is
// refused too. Files are created with O_CREATE|O_EXCL and replaced by
// renameat, neither of which follows links. List skips symbolic links and
// other special files found inside the listed tree.
//
// # Quotas
//
// Limits.MaxFileBytes caps each file, Limits.MaxRoomBytes the total size of
// a room's files and Limits.MaxFiles their number. The usage of a room is
// computed by walking its directory the first time a Put or Delete touches
// it, then maintained in memory. Puts and Deletes on one room are serialized
// by a per-room mutex, so the quotas are enforced, not advisory, as long as
// one Store owns the data directory.
package roomdata
