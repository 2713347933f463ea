// Package e2e is the cryptography of end-to-end encrypted rooms: device
// identities, sender chain keys wrapped to each device of a room's roster,
// and messages sealed under a per-message key of a sender's chain.
//
// The scheme (PROTOCOL.md, "End-to-end encrypted rooms") is sender keys:
// Ed25519 signs, X25519 and HKDF-SHA256 wrap a sender's 32-byte chain key to
// each device, an HKDF ratchet derives a key per message, and
// XChaCha20-Poly1305 seals it with the room, epoch, sender device, counter,
// addressee and reference as associated data. The node uses this package
// only to verify shapes and signatures; it never holds a private key.
package e2e
