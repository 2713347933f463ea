package node

import (
	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
	"github.com/the-mesh/mesh/internal/governance"
)

// SealedFraming is what an encrypted message's plaintext may hold beyond
// the room's text limit: the JSON around the text ({"kind": ..., "body":
// {...}}). The plaintext limit is the smaller of the node's text limit
// and the room's limits.maxMessageBytes (when set), plus SealedFraming.
const SealedFraming = 512

// maxPlain is the largest plaintext of an encrypted message in a room
// with policy pol.
func (n *Node) maxPlain(pol *mesh.Policy) int {
	limit := n.cfg.MaxTextBytes
	if m := pol.Limits.MaxMessageBytes; m > 0 && m < limit {
		limit = m
	}
	return limit + SealedFraming
}

// sealed checks an encrypted post and builds its message. The node cannot
// read the body, so there is no sanitising, format check, injection scan
// or command check; what it checks, in order: the room exists, actor is a
// member, the room is E2E, the addressee, speak, the body's shape and
// sizes (e2e.CheckShape), the rate limit, the epoch, the device (in the
// roster and actor's), a keys entry's wraps (exactly the roster), a
// message's keys seq, mention-only (messages, not keys entries), and the
// signature. check is what must still hold when the message takes its
// seq: the room is still at the epoch the body was sealed for.
// Refusals: ENotFound, EForbidden, EInvalid, ETooLarge, ERateLimited,
// EConflict (another epoch), EUnavailable (no epoch yet).
func (n *Node) sealed(actor mesh.Participant, post Post) (m *mesh.Message, check func(uint64) error, err error) {
	sb := post.Sealed
	switch {
	case sb == nil:
		return nil, nil, mesh.Errorf(mesh.EInvalid, `A message of kind "encrypted" needs "body": {"e2e": {...}}.`)
	case len(post.Ref) > MaxRefBytes:
		return nil, nil, mesh.Errorf(mesh.EInvalid, "ref is %d bytes; the limit is %d.", len(post.Ref), MaxRefBytes)
	case post.Room.Remote():
		return nil, nil, mesh.Errorf(mesh.EInvalid, "Room %s is another node's: encrypted messages go only to this node's rooms (v1).", post.Room)
	}
	n.mu.RLock()
	r := n.rooms[post.Room]
	switch {
	case r == nil:
		err = notFound(post.Room)
	case !r.members[actor.ID]:
		err = mesh.Errorf(mesh.EForbidden, "You are not a member of room %q: join it first.", post.Room)
	case !r.Policy.E2E:
		err = mesh.Errorf(mesh.EInvalid, "Room %q is not end-to-end encrypted: kind \"encrypted\" is only for rooms whose policy has \"e2e\": true; post \"text\" here.", post.Room)
	default:
		err = n.checkAddresseeLocked(r, post.To)
	}
	n.mu.RUnlock()
	if err != nil {
		return nil, nil, err
	}
	subject, gr, _, err := n.govern(actor.ID, post.Room)
	if err != nil {
		return nil, nil, err
	}
	if err := governance.Check(subject, mesh.CapSpeak, gr); err != nil {
		return nil, nil, err
	}
	pol := gr.Policy
	if err := e2e.CheckShape(sb, n.maxPlain(pol)); err != nil {
		return nil, nil, err
	}
	if !n.limits.allow(post.Room, actor.ID, pol.Limits) {
		return nil, nil, mesh.Errorf(mesh.ERateLimited, "Room %s allows %d messages a minute (bursts of %d) per participant. Slow down.",
			post.Room, pol.Limits.MessagesPerMinute, max(pol.Limits.Burst, 1))
	}
	roster := r.roster.Load()
	if roster == nil {
		return nil, nil, mesh.Errorf(mesh.EUnavailable, "Room %q has no epoch yet; try again.", post.Room)
	}
	if sb.Epoch != roster.Epoch {
		return nil, nil, staleEpoch(post.Room, roster.Epoch, sb.Epoch)
	}
	dev, ok := findDevice(roster, sb.Device)
	switch {
	case !ok:
		return nil, nil, mesh.Errorf(mesh.EForbidden, "body.e2e.device: device %s is not in room %s's roster at epoch %d.", sb.Device, post.Room, roster.Epoch)
	case dev.Participant != actor.ID:
		return nil, nil, mesh.Errorf(mesh.EForbidden, "body.e2e.device: device %s is not yours: it belongs to %s.", sb.Device, dev.Participant)
	}
	switch sb.Type {
	case mesh.SealedKeys:
		if err := checkWraps(sb, roster); err != nil {
			return nil, nil, err
		}
	case mesh.SealedMsg:
		if sb.Keys <= roster.Seq {
			return nil, nil, mesh.Errorf(mesh.EInvalid, "body.e2e.keys: seq %d is not after epoch %d's event (seq %d), so it is no keys entry of this epoch.", sb.Keys, roster.Epoch, roster.Seq)
		}
		if actor.Kind == mesh.KindAgent && pol.Agents.Reply == "mention-only" && mentioned(post.To) == "" {
			return nil, nil, mesh.Errorf(mesh.EForbidden, "In room %s agents may only post messages addressed to someone: set \"to\".", post.Room)
		}
	}
	env := e2e.Envelope{Room: roster.Room, To: post.To, Ref: post.Ref}
	if err := e2e.Verify(sb, env, dev.Sign); err != nil {
		return nil, nil, mesh.Errorf(mesh.EInvalid, "body.e2e.sig does not verify with the signing key of device %s (for room %s, epoch %d, to %q, ref %q).",
			sb.Device, roster.Room, sb.Epoch, post.To, post.Ref)
	}
	m = &mesh.Message{
		ID: newID("m_"), Room: post.Room, Kind: mesh.MessageEncrypted, From: actor.Sender(),
		Trust: governance.EffectiveTrust(subject), TS: n.now().UTC(), Body: mesh.Body{E2E: sb},
		To: post.To, Ref: post.Ref,
	}
	check = func(uint64) error {
		if cur := r.roster.Load(); cur.Epoch != sb.Epoch {
			return staleEpoch(post.Room, cur.Epoch, sb.Epoch)
		}
		return nil
	}
	return m, check, nil
}

func staleEpoch(room mesh.RoomID, current, got uint64) error {
	return mesh.Errorf(mesh.EConflict, "Room %s is at epoch %d, not %d; re-key and resend.", room, current, got)
}

// checkWraps checks that a keys entry wraps its chain key to every device
// of the roster, once each, and to no other.
func checkWraps(s *mesh.Sealed, roster *mesh.Roster) error {
	seen := make(map[string]bool, len(s.Wraps))
	for i, w := range s.Wraps {
		if _, ok := findDevice(roster, w.To); !ok {
			return mesh.Errorf(mesh.EInvalid, "body.e2e.wraps[%d].to: device %s is not in the roster of epoch %d.", i, w.To, roster.Epoch)
		}
		if seen[w.To] {
			return mesh.Errorf(mesh.EInvalid, "body.e2e.wraps[%d].to: device %s has a wrap already; each roster device gets one.", i, w.To)
		}
		seen[w.To] = true
	}
	for _, d := range roster.Devices {
		if !seen[d.ID] {
			return mesh.Errorf(mesh.EInvalid, "body.e2e.wraps has no wrap for device %s (of %s) in the roster of epoch %d: wrap the chain key to every roster device.", d.ID, d.Participant, roster.Epoch)
		}
	}
	return nil
}
