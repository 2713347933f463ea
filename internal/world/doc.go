// Package world keeps the positions of a room's avatars and decides moves:
// the node is the authority, so a move out of bounds is clamped to the
// floor and one faster than the room's speed is cut short. A Space is not
// safe for concurrent use; the hub guards each room's Space with the
// room's lock.
package world
