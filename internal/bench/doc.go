// Package bench is the load generator behind `mesh bench`: it drives a node
// over its WebSocket and REST APIs with a workload (fanout, rooms, idle,
// startup) and measures delivered messages per second, loss, end-to-end
// latency, and the node's memory and CPU.
//
// The generator shares the machine with the node it measures, so its hot
// path is lean: one goroutine per connection reads frames with ws.ReadHeader
// into a reused buffer, message frames are scanned for their seq, room and
// send time with bytes.Index instead of being decoded (see ScanMessage), and
// latencies go into a fixed-bucket histogram that is safe for concurrent use.
//
// A publisher puts its send time in the text of each message: the decimal
// UnixNano, a space, then padding to the requested size. Receivers parse it
// straight out of the raw frame.
package bench
