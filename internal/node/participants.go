package node

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
)

type participant struct {
	mesh.Participant
	tokenHash [32]byte
	revoked   bool
	devices   []mesh.Device // E2E devices, in registration order (devices.go)
}

// participantEvent is one line of participants.jsonl.
type participantEvent struct {
	Op          string             `json:"op"` // "create", "revoke", "device" or "device-delete"
	Participant *mesh.Participant  `json:"participant,omitempty"`
	ID          mesh.ParticipantID `json:"id,omitempty"`
	TokenHash   string             `json:"tokenHash,omitempty"`
	Device      *mesh.Device       `json:"device,omitempty"`   // device: the device registered by ID
	DeviceID    string             `json:"deviceId,omitempty"` // device-delete: the device ID deleted
	TS          time.Time          `json:"ts"`
}

func (n *Node) replayParticipant(line []byte) error {
	var ev participantEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		return fmt.Errorf("participants.jsonl: %w", err)
	}
	switch ev.Op {
	case "create":
		if ev.Participant == nil {
			return fmt.Errorf("participants.jsonl: create without participant")
		}
		var h [32]byte
		if b, err := hex.DecodeString(ev.TokenHash); err != nil || len(b) != 32 {
			return fmt.Errorf("participants.jsonl: participant %s has a bad token hash", ev.Participant.ID)
		} else {
			copy(h[:], b)
		}
		n.participants[ev.Participant.ID] = &participant{Participant: *ev.Participant, tokenHash: h}
		n.tokens[h] = ev.Participant.ID
		if ev.Participant.Trust == mesh.TrustOwner && ev.Participant.Parent == "" && n.owner == "" {
			n.owner = ev.Participant.ID
		}
	case "revoke":
		if p := n.participants[ev.ID]; p != nil {
			p.revoked = true
			delete(n.tokens, p.tokenHash)
		}
	case "device", "device-delete":
		return n.replayDevice(ev)
	default:
		return fmt.Errorf("participants.jsonl: unknown op %q", ev.Op)
	}
	return nil
}

// Authenticate returns the participant a bearer token belongs to.
// Errors: EUnauthorized for a missing, unknown or revoked token.
func (n *Node) Authenticate(token string) (mesh.Participant, error) {
	if token == "" {
		return mesh.Participant{}, mesh.Errorf(mesh.EUnauthorized, "A token is required: send Authorization: Bearer <token> (or hello.token on a WebSocket).")
	}
	h := sha256.Sum256([]byte(token))
	n.mu.RLock()
	defer n.mu.RUnlock()
	p := n.participants[n.tokens[h]]
	if p == nil || p.revoked || subtle.ConstantTimeCompare(h[:], p.tokenHash[:]) != 1 {
		return mesh.Participant{}, mesh.Errorf(mesh.EUnauthorized, "The token is not valid: it is unknown or was revoked.")
	}
	return p.Participant, nil
}

// Participant returns a participant by id.
func (n *Node) Participant(id mesh.ParticipantID) (mesh.Participant, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	p := n.participants[id]
	if p == nil {
		return mesh.Participant{}, false
	}
	return p.Participant, true
}

// Registration is a request to register a participant.
type Registration struct {
	Name    string             `json:"name"`
	Kind    mesh.Kind          `json:"kind"`
	Parent  mesh.ParticipantID `json:"parent,omitempty"`
	Webhook string             `json:"webhook,omitempty"`
	Trust   mesh.Trust         `json:"trust,omitempty"`
	Invite  string             `json:"invite,omitempty"`
}

type registration = Registration

// Register creates a participant and returns it with its token.
// actor is the authenticated caller (nil for none); loopback says the
// request came from this machine. Rules: without an actor, loopback
// registers at trust local, any other address needs a valid invite; with
// an actor, the new participant's parent is the actor (or, for the owner,
// any unrevoked parent it names) and its trust never exceeds its parent's.
// An invite is spent only once every other check has passed, so a refused
// request leaves it usable; of concurrent registrations with one invite,
// exactly one succeeds. Errors: EInvalid (fields), EUnauthorized (no way
// in, a bad or spent invite, a revoked actor), EForbidden (trust above the
// ceiling, a revoked parent, another parent named by a non-owner),
// ENotFound (parent).
func (n *Node) Register(actor *mesh.Participant, loopback bool, remote string, r Registration) (mesh.Participant, string, error) {
	p, tok, err := n.register(actor, loopback, r)
	rec := audit.Record{Action: "register", Outcome: audit.OK, Remote: remote}
	if actor != nil {
		rec.Actor = actor.ID
	}
	if err != nil {
		rec.Outcome, rec.Code, rec.Detail = audit.Refused, mesh.ErrorCode(err), mesh.ErrorMessage(err)
	} else {
		rec.Detail = map[string]any{"id": p.ID, "kind": p.Kind, "trust": p.Trust, "parent": p.Parent}
	}
	n.Audit.Record(rec)
	return p, tok, err
}

func (n *Node) register(actor *mesh.Participant, loopback bool, r Registration) (mesh.Participant, string, error) {
	// Every check that can refuse comes before the invite is spent, so a
	// bad request never burns one.
	if err := validateRegistration(&r); err != nil {
		return mesh.Participant{}, "", err
	}
	var parent mesh.ParticipantID
	ceiling := mesh.TrustLocal
	switch {
	case actor != nil:
		parent, ceiling = actor.ID, actor.Trust
		if r.Parent != "" && r.Parent != actor.ID {
			pp, ok := n.Participant(r.Parent)
			if !ok {
				return mesh.Participant{}, "", mesh.Errorf(mesh.ENotFound, "Parent %q does not exist.", r.Parent)
			}
			if actor.Trust != mesh.TrustOwner {
				return mesh.Participant{}, "", mesh.Errorf(mesh.EForbidden, "Only the owner may register a participant under another parent.")
			}
			parent, ceiling = pp.ID, pp.Trust
		}
	case r.Invite != "":
		inviter, err := n.checkInvite(r.Invite)
		if err != nil {
			return mesh.Participant{}, "", err
		}
		parent = inviter
	case loopback:
	default:
		return mesh.Participant{}, "", mesh.Errorf(mesh.EUnauthorized, "Registering from another machine needs an invite (\"invite\" field) or a participant's token (the new participant becomes its child).")
	}
	if r.Parent != "" && actor == nil {
		return mesh.Participant{}, "", mesh.Errorf(mesh.EUnauthorized, "Naming a parent needs that parent's token.")
	}
	trust := r.Trust
	if trust == "" {
		trust = mesh.TrustLocal
		if ceiling.Rank() < trust.Rank() {
			trust = ceiling
		}
	}
	if trust.Rank() > ceiling.Rank() {
		return mesh.Participant{}, "", mesh.Errorf(mesh.EForbidden, "Trust %q is above the parent's trust %q.", trust, ceiling)
	}

	// treeMu keeps a revocation from missing a child registered while its
	// cascade runs: the parent is checked and the child written under it.
	n.treeMu.Lock()
	defer n.treeMu.Unlock()
	if parent != "" && n.Revoked(parent) {
		if actor != nil && parent == actor.ID {
			return mesh.Participant{}, "", mesh.Errorf(mesh.EUnauthorized, "The token is not valid: it is unknown or was revoked.")
		}
		return mesh.Participant{}, "", mesh.Errorf(mesh.EForbidden, "Parent %q was revoked.", parent)
	}
	if actor == nil && r.Invite != "" {
		// useInvite claims the invite under the node lock, so of two
		// registrations with one invite exactly one gets past here.
		if _, err := n.useInvite(r.Invite); err != nil {
			return mesh.Participant{}, "", err
		}
	}
	return n.createParticipant(r, trust, parent)
}

func validateRegistration(r *Registration) error {
	if err := validateName("name", r.Name); err != nil {
		return err
	}
	if r.Kind == "" {
		r.Kind = mesh.KindAgent
	}
	if !r.Kind.Valid() {
		return mesh.Errorf(mesh.EInvalid, "kind must be \"human\" or \"agent\", got %q.", r.Kind)
	}
	if r.Trust != "" && !r.Trust.Valid() {
		return mesh.Errorf(mesh.EInvalid, "trust must be one of owner, local, federated, untrusted; got %q.", r.Trust)
	}
	return validateWebhook(r.Webhook)
}

// MaxWebhookBytes is the longest webhook URL a participant may register.
const MaxWebhookBytes = 2048

// validateWebhook checks an optional webhook URL: absolute http or https,
// at most MaxWebhookBytes, and with no user:password@ part (a credential
// in a URL ends up in logs and lists).
func validateWebhook(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > MaxWebhookBytes {
		return mesh.Errorf(mesh.EInvalid, "webhook is %d bytes; the limit is %d.", len(s), MaxWebhookBytes)
	}
	u, err := url.Parse(s)
	if err == nil && u.User != nil {
		// Checked first, and the URL is not echoed: it holds a credential.
		return mesh.Errorf(mesh.EInvalid, "webhook must not carry credentials (user:password@).")
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return mesh.Errorf(mesh.EInvalid, "webhook must be an absolute http or https URL, got %q.", s)
	}
	return nil
}

// validateName checks a display name: 1 to 64 bytes of printable text.
func validateName(field, s string) error {
	if strings.TrimSpace(s) == "" {
		return mesh.Errorf(mesh.EInvalid, "%s is required.", field)
	}
	return validateLine(field, s, mesh.MaxNameBytes)
}

// validateLine checks one line of text of at most max bytes: valid UTF-8
// with no control or invisible characters (so no newlines either). An
// empty s passes.
func validateLine(field, s string, max int) error {
	if len(s) > max {
		return mesh.Errorf(mesh.EInvalid, "%s is %d bytes; the limit is %d.", field, len(s), max)
	}
	if !utf8.ValidString(s) {
		return mesh.Errorf(mesh.EInvalid, "%s is not valid UTF-8.", field)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return mesh.Errorf(mesh.EInvalid, "%s contains a control or invisible character (U+%04X).", field, r)
		}
	}
	return nil
}

func (n *Node) createParticipant(r Registration, trust mesh.Trust, parent mesh.ParticipantID) (mesh.Participant, string, error) {
	tok, hash := newToken("mesh_")
	p := mesh.Participant{
		ID: mesh.ParticipantID(newID("p_")), Name: strings.TrimSpace(r.Name), Kind: r.Kind, Trust: trust,
		Parent: parent, Webhook: r.Webhook, Node: n.info.ID, Created: n.now().UTC(),
	}
	ev := participantEvent{Op: "create", Participant: &p, TokenHash: hex.EncodeToString(hash[:]), TS: p.Created}
	if err := n.people.Append(ev); err != nil {
		return mesh.Participant{}, "", fmt.Errorf("register %s: %w", p.ID, err)
	}
	n.mu.Lock()
	n.participants[p.ID] = &participant{Participant: p, tokenHash: hash}
	n.tokens[hash] = p.ID
	if trust == mesh.TrustOwner && parent == "" && n.owner == "" {
		n.owner = p.ID
	}
	n.mu.Unlock()
	return p, tok, nil
}

// Revoke is RevokeTree without the list of revoked ids.
func (n *Node) Revoke(actor mesh.Participant, id mesh.ParticipantID) error {
	_, err := n.RevokeTree(actor, id)
	return err
}

// RevokeTree invalidates the token of participant id and of every
// descendant it has (the participants registered with its token, theirs,
// and so on), and returns the ids it revoked, parents before children (id
// first unless it was revoked before); ids already revoked are skipped. The participant itself, its parent and the owner
// may revoke; the owner cannot be revoked. Each revoked id gets a "revoke"
// line in participants.jsonl and an audit record. The caller closes the
// revoked participants' connections; if a write fails part way, the ids
// revoked so far are returned with the error.
// Errors: ENotFound, EForbidden, and storage errors.
func (n *Node) RevokeTree(actor mesh.Participant, id mesh.ParticipantID) ([]mesh.ParticipantID, error) {
	revoked, err := n.revokeTree(actor, id)
	n.rekeyMembers(actor, revoked) // their devices leave every roster
	n.wakeBridges()                // theirs are suspended
	for _, pid := range revoked {
		n.Audit.Record(audit.Record{Actor: actor.ID, Action: "revoke", Outcome: audit.OK,
			Detail: map[string]any{"id": pid, "root": id}})
	}
	if err != nil {
		n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "revoke",
			Detail: map[string]any{"id": id, "error": mesh.ErrorMessage(err)}}, err))
	}
	return revoked, err
}

func (n *Node) revokeTree(actor mesh.Participant, id mesh.ParticipantID) ([]mesh.ParticipantID, error) {
	p, ok := n.Participant(id)
	if !ok {
		return nil, mesh.Errorf(mesh.ENotFound, "Participant %q does not exist.", id)
	}
	if actor.ID != id && actor.ID != p.Parent && actor.Trust != mesh.TrustOwner {
		return nil, mesh.Errorf(mesh.EForbidden, "Only the participant, its parent or the owner may revoke it.")
	}
	if id == n.owner {
		return nil, mesh.Errorf(mesh.EForbidden, "The owner cannot be revoked.")
	}
	// treeMu holds registrations off while the tree is walked and revoked,
	// so no child can be added under a parent that is being revoked.
	n.treeMu.Lock()
	defer n.treeMu.Unlock()
	var revoked []mesh.ParticipantID
	for _, pid := range n.subtree(id) {
		if err := n.people.Append(participantEvent{Op: "revoke", ID: pid, TS: n.now().UTC()}); err != nil {
			return revoked, fmt.Errorf("revoke %s: %w", pid, err)
		}
		n.mu.Lock()
		if pp := n.participants[pid]; pp != nil {
			pp.revoked = true
			delete(n.tokens, pp.tokenHash)
		}
		n.mu.Unlock()
		revoked = append(revoked, pid)
	}
	return revoked, nil
}

// subtree returns id and its descendants that are not revoked yet, parents
// before children. It walks through revoked participants, so a child left
// unrevoked by an older node is still found. The owner is never listed.
func (n *Node) subtree(id mesh.ParticipantID) []mesh.ParticipantID {
	n.mu.RLock()
	defer n.mu.RUnlock()
	children := map[mesh.ParticipantID][]mesh.ParticipantID{}
	for pid, p := range n.participants {
		if p.Parent != "" {
			children[p.Parent] = append(children[p.Parent], pid)
		}
	}
	var out []mesh.ParticipantID
	seen := map[mesh.ParticipantID]bool{id: true}
	for queue := []mesh.ParticipantID{id}; len(queue) > 0; queue = queue[1:] {
		pid := queue[0]
		if p := n.participants[pid]; p != nil && !p.revoked && pid != n.owner {
			out = append(out, pid)
		}
		kids := children[pid]
		slices.Sort(kids) // a stable order for the journal and the audit log
		for _, c := range kids {
			if !seen[c] {
				seen[c] = true
				queue = append(queue, c)
			}
		}
	}
	return out
}

// Revoked reports whether a participant's token was revoked.
func (n *Node) Revoked(id mesh.ParticipantID) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	p := n.participants[id]
	return p == nil || p.revoked
}

// outcome fills a record's outcome from err.
func outcome(r audit.Record, err error) audit.Record {
	r.Outcome = audit.OK
	if err != nil {
		r.Outcome, r.Code = audit.Refused, mesh.ErrorCode(err)
		if r.Detail == nil {
			r.Detail = mesh.ErrorMessage(err)
		}
	}
	return r
}
