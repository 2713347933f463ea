package node

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/webhook"
)

// WebhookSecret returns the secret that signs participant p's webhook
// deliveries: "whsec_" and the unpadded base64url HMAC-SHA256, keyed with
// the node's Ed25519 seed, of "mesh webhook secret v1\n" and p. It is made
// again whenever needed, so nothing is stored; a new node key changes it.
func (n *Node) WebhookSecret(p mesh.ParticipantID) string {
	mac := hmac.New(sha256.New, n.key.Seed())
	mac.Write([]byte("mesh webhook secret v1\n" + string(p)))
	return "whsec_" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// hookSource is the node as the webhook dispatcher's source.
type hookSource struct{ n *Node }

var _ webhook.Source = hookSource{}

func (h hookSource) Target(p mesh.ParticipantID) (string, string, bool) {
	pp, ok := h.n.Participant(p)
	if !ok || pp.Webhook == "" || h.n.Revoked(p) {
		return "", "", false
	}
	return pp.Webhook, h.n.WebhookSecret(p), true
}

// Next returns p's first readable item after `after` that did not reach a
// live connection when it arrived.
func (h hookSource) Next(p mesh.ParticipantID, after uint64) (mesh.InboxItem, bool, error) {
	for {
		pg, err := h.n.inbox.Page(p, after, 64)
		if err != nil || len(pg.Refs) == 0 {
			return mesh.InboxItem{}, false, err
		}
		for _, r := range pg.Refs {
			after = r.N
			if r.Pushed {
				continue
			}
			if item, ok, err := h.n.inboxItem(p, r); err != nil || ok {
				return item, ok, err
			}
		}
	}
}

func (h hookSource) Cursor(p mesh.ParticipantID) (uint64, error) { return h.n.inbox.Hook(p) }

func (h hookSource) SetCursor(p mesh.ParticipantID, n uint64) error {
	return h.n.inbox.SetHook(p, n, true)
}

func (h hookSource) Online(p mesh.ParticipantID) bool { return h.n.live.online(p) }
