// Package mesh holds the vocabulary of The Mesh: participants, rooms,
// messages, the wire frames that carry them and the error codes that refuse
// them. It does no I/O; every other package imports it, and it imports none
// of them.
//
// A node is one process. Every inbound frame takes the same road: size
// limit, strict JSON decode, authentication, rate limit, policy, persist,
// fan out. A room's messages live in an append-only log (see package
// internal/store/jsonl); seq is assigned by the log, is gap-free per room,
// and a message is acknowledged only after its line is on disk. Fan-out
// encodes a message once and hands the same bytes to every member's bounded
// send queue (see package internal/hub). Every accepted and refused action
// goes to a hash-chained audit log (see package internal/audit).
//
// PROTOCOL.md at the repository root is the wire contract; the JSON files
// under testdata/protocol are its examples, read by the tests.
package mesh
