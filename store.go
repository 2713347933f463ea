package mesh

// Entry is one message in a room's log: its seq and its encoded envelope
// (one JSON object, no trailing newline).
type Entry struct {
	Seq  uint64
	Line []byte
}

// LogHead is where a room's log stands: the last seq written and an epoch
// that changes if the log was ever lost and started again.
type LogHead struct {
	Seq   uint64 `json:"seq"`
	Epoch string `json:"epoch"`
}

// RoomLog is the durable, gap-free sequence of each room's messages. It is
// the seam a clustered backend replaces (DESIGN.md, "Beyond one machine").
// All methods are safe for concurrent use.
type RoomLog interface {
	// Append assigns the room's next seq, calls encode with it, and
	// persists the returned line. done is called exactly once, after the
	// line is durable (or with the error that kept it from being so), on a
	// goroutine of the log's; it must not block. Lines of one room become
	// durable, and their done calls run, in seq order. If encode fails the
	// seq is not used.
	Append(room RoomID, encode func(seq uint64) ([]byte, error), done func(Entry, error))
	// Read returns up to limit entries with seq > after, in order.
	Read(room RoomID, after uint64, limit int) ([]Entry, error)
	// Head returns the room's last seq; a room never written has seq 0.
	Head(room RoomID) (LogHead, error)
}
