package node

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
)

// InviteTTL is how long an invite stays valid.
const InviteTTL = 7 * 24 * time.Hour

type invite struct {
	by      mesh.ParticipantID
	expires time.Time
	used    bool
}

type inviteEvent struct {
	Op      string             `json:"op"` // "create" or "use"
	Hash    string             `json:"hash"`
	By      mesh.ParticipantID `json:"by,omitempty"`
	Expires time.Time          `json:"expires,omitzero"`
	TS      time.Time          `json:"ts"`
}

func (n *Node) replayInvite(line []byte) error {
	var ev inviteEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		return fmt.Errorf("invites.jsonl: %w", err)
	}
	var h [32]byte
	if b, err := hex.DecodeString(ev.Hash); err != nil || len(b) != 32 {
		return fmt.Errorf("invites.jsonl: bad hash %q", ev.Hash)
	} else {
		copy(h[:], b)
	}
	switch ev.Op {
	case "create":
		n.invites[h] = &invite{by: ev.By, expires: ev.Expires}
	case "use":
		if inv := n.invites[h]; inv != nil {
			inv.used = true
		}
	default:
		return fmt.Errorf("invites.jsonl: unknown op %q", ev.Op)
	}
	return nil
}

// CreateInvite mints a single-use invite token. Only the owner may.
func (n *Node) CreateInvite(actor mesh.Participant) (string, time.Time, error) {
	tok, exp, err := n.createInvite(actor)
	n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "invite"}, err))
	return tok, exp, err
}

func (n *Node) createInvite(actor mesh.Participant) (string, time.Time, error) {
	if actor.Trust != mesh.TrustOwner {
		return "", time.Time{}, mesh.Errorf(mesh.EForbidden, "Only the owner may create invites.")
	}
	tok, h := newToken("inv_")
	exp := n.now().UTC().Add(InviteTTL)
	ev := inviteEvent{Op: "create", Hash: hex.EncodeToString(h[:]), By: actor.ID, Expires: exp, TS: n.now().UTC()}
	if err := n.invs.Append(ev); err != nil {
		return "", time.Time{}, fmt.Errorf("create invite: %w", err)
	}
	n.mu.Lock()
	n.invites[h] = &invite{by: actor.ID, expires: exp}
	n.mu.Unlock()
	return tok, exp, nil
}

// checkInvite reports whether an invite could be spent now, without
// spending it, and returns who made it. Errors: EUnauthorized.
func (n *Node) checkInvite(tok string) (mesh.ParticipantID, error) {
	h := sha256.Sum256([]byte(tok))
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.inviteUsableLocked(h)
}

// inviteUsableLocked returns who made the invite with hash h, or why it
// cannot be spent. n.mu must be held.
func (n *Node) inviteUsableLocked(h [32]byte) (mesh.ParticipantID, error) {
	inv := n.invites[h]
	switch {
	case inv == nil:
		return "", mesh.Errorf(mesh.EUnauthorized, "The invite is not valid.")
	case inv.used:
		return "", mesh.Errorf(mesh.EUnauthorized, "The invite was already used.")
	case n.now().After(inv.expires):
		return "", mesh.Errorf(mesh.EUnauthorized, "The invite expired on %s.", inv.expires.Format(time.RFC3339))
	}
	return inv.by, nil
}

// useInvite spends an invite and returns who made it. The invite is
// claimed under the node lock, so two registrations cannot share it; if
// its "use" line cannot be written the claim is given back.
// Errors: EUnauthorized, and storage errors.
func (n *Node) useInvite(tok string) (mesh.ParticipantID, error) {
	h := sha256.Sum256([]byte(tok))
	n.mu.Lock()
	by, err := n.inviteUsableLocked(h)
	if err != nil {
		n.mu.Unlock()
		return "", err
	}
	inv := n.invites[h]
	inv.used = true
	n.mu.Unlock()
	if err := n.invs.Append(inviteEvent{Op: "use", Hash: hex.EncodeToString(h[:]), TS: n.now().UTC()}); err != nil {
		n.mu.Lock()
		inv.used = false
		n.mu.Unlock()
		return "", fmt.Errorf("use invite: %w", err)
	}
	return by, nil
}
