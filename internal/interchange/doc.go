// Package interchange is the Interchange: a relay that federates nodes. It
// stores no message. It authenticates each instance (a node, or another
// relay it is bridged with), routes the frames nodes send each other by
// destination node, keeps a directory of connected nodes and their
// federated rooms, limits each instance's frame size and rate, and passes
// only whitelisted fields. The same package holds the client side of the
// protocol (Dial), used by nodes and by bridges.
//
// # Protocol
//
// An instance dials GET /interchange/v1 (WebSocket, TLS outside loopback).
// Every frame is one JSON object in a text frame, at most MaxFrameBytes.
//
//	relay    -> {"type":"challenge","relay":RELAY,"nonce":B64,"version":1}
//	instance -> {"type":"hello","id":ID,"kind":"node"|"relay","key":B64,"sig":B64,"mac":HEX,"name":NAME,"nonce":B64}
//	relay    -> {"type":"welcome","relay":RELAY,"auth":"secret"|"open","limits":{...},"key":B64,"sig":B64}
//
// The hello proves two things about the same bytes, the proof string
// "mesh-interchange-v1\nhello\n" RELAY "\n" NONCE "\n" ID "\n" KIND: sig is
// the instance's Ed25519 signature of it (the id is derived from the key,
// so nobody can claim another instance's id), and mac is HMAC-SHA256 of it
// keyed with SHA-256 of the instance's shared secret. The relay's registry
// holds only that hash, so the secret never crosses the wire and is not on
// the relay's disk. An instance in the registry must give the right mac; one
// that is not is refused, unless the relay runs in open mode, where it is
// let in with auth "open" (its traffic is tagged so, and nodes treat it as
// untrusted).
//
// The hello's optional nonce challenges the relay in turn: the welcome
// then carries the relay's key and its signature of the proof
// "mesh-interchange-v1\nwelcome\n" RELAY "\n" HELLO-NONCE "\n" ID "\n"
// NONCE (NONCE: the challenge's). Bridges always
// ask, and refuse a relay that is not the one expected (Bridge.RelayID, or
// the id pinned on first contact).
//
// After the welcome:
//
//	node  -> {"type":"announce","name":NAME,"rooms":[{"id","name","topic"}]}
//	node  -> {"type":"send","to":NODE,"id":FID,"n":N,"base":B,"epoch":E,"key":B64,"sig":B64,"body":{...}}
//	node  -> {"type":"send",...,"bodies":[{...},{...}]}   (a batch: one signature, positions N, N+1...)
//	relay -> {"type":"deliver","from":NODE,"auth":AUTH,"to":...}   (the send's members from "to" on)
//	relay -> {"type":"directory","relay":RELAY,"nodes":[...]}
//	relay -> {"type":"unreachable","to":NODE,"id":FID}
//	relay -> {"type":"error","id":FID,"code":CODE,"message":TEXT}
//	relay <-> relay: {"type":"routes","nodes":[...]}, {"type":"forward","hop":H,"from":NODE,"auth":AUTH,"to":...}
//
// The relay parses only the members it routes by and checks the names of
// the others against whitelists (send members, body members, and the
// members of body.msg, the message envelope; each body of a batch alike); a frame with any other
// member, a member given twice or malformed JSON is refused with an error
// frame and goes nowhere. "from" and "auth" are set by the relay from the
// authenticated link, never by the sender. Bridged relays forward a frame
// with a hop count (at most MaxHops, minus one per relay) and drop a frame
// whose hop count is spent or whose (from, id) they have seen recently, so
// a loop in the bridges cannot make a frame circle.
package interchange
