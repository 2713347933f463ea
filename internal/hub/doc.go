// Package hub fans room traffic out to connections.
//
// A Conn is the outbound half of one WebSocket: a bounded queue of complete,
// pre-encoded frames and a writer goroutine that exists only while there is
// something to write, so an idle connection costs no goroutine. The writer
// takes everything queued and hands it to the kernel in one writev, so a busy
// connection pays one system call for many frames.
//
// A Room holds its subscribers and the latest messages. Publish encodes a
// message once, as a full WebSocket frame, and queues the same bytes on every
// subscriber: a slow subscriber is disconnected when its queue is full, never
// allowed to stall the room or grow memory without bound.
//
// Lock order: Room.mu, then Conn.mu. Nothing in this package calls out while
// holding Conn.mu.
package hub
