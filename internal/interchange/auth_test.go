package interchange

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
)

func testIdentity(t *testing.T, prefix byte) Identity {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Identity{ID: InstanceID(prefix, priv.Public().(ed25519.PublicKey)), Key: priv}
}

// TestVerifyWelcome: the dialer's check of the relay's answer to its
// nonce.
func TestVerifyWelcome(t *testing.T) {
	relay, other, node := testIdentity(t, 'r'), testIdentity(t, 'r'), testIdentity(t, 'n')
	helloNonce, nonce := newNonce(), newNonce()
	proven := func(id Identity, helloNonce, instance, nonce string) Welcome {
		w := Welcome{Type: TypeWelcome, Relay: id.ID}
		proveRelay(&w, id, helloNonce, instance, nonce)
		return w
	}
	good := proven(relay, helloNonce, node.ID, nonce)
	claims := proven(other, helloNonce, node.ID, nonce)
	claims.Relay = relay.ID // another relay's key, calling itself relay
	for _, tc := range []struct {
		name, want, err string
		w               Welcome
	}{
		{"expected", relay.ID, "", good},
		{"pinned on first contact", "", "", good},
		{"another relay", other.ID, "is " + relay.ID + ", not " + other.ID, good},
		{"old relay: no proof", relay.ID, "did not prove", Welcome{Type: TypeWelcome, Relay: relay.ID}},
		{"key of another relay", relay.ID, "its key is relay " + other.ID, claims},
		{"answer to another nonce", relay.ID, "does not verify", proven(relay, newNonce(), node.ID, nonce)},
		{"answer on another link", relay.ID, "does not verify", proven(relay, helloNonce, node.ID, newNonce())},
		{"answer to another instance", relay.ID, "does not verify", proven(relay, helloNonce, testIdentity(t, 'n').ID, nonce)},
		{"bad key", relay.ID, "not a base64 Ed25519", Welcome{Relay: relay.ID, Key: "AAAA", Sig: good.Sig}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := verifyWelcome(tc.w, tc.want, helloNonce, node.ID, nonce)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (mesh.ErrorCode(err) != mesh.EUnauthorized || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("got %v, want unauthorized with %q", err, tc.err)
			}
		})
	}
}

// TestHelloNonce: a hello's nonce must be 32 bytes of base64.
func TestHelloNonce(t *testing.T) {
	node := testIdentity(t, 'n')
	ch := Challenge{Type: TypeChallenge, Relay: "raaaaaaaaaaaaaaaa", Nonce: newNonce(), Version: Version}
	for _, tc := range []struct {
		nonce string
		ok    bool
	}{{"", true}, {newNonce(), true}, {"AAAA", false}, {"not base64!", false}} {
		h := answer(ch, node, KindNode, "", "")
		h.Nonce = tc.nonce
		_, err := verifyHello(&h, ch, &Registry{entries: map[string][32]byte{}}, true)
		if (err == nil) != tc.ok || (err != nil && mesh.ErrorCode(err) != mesh.EInvalid) {
			t.Errorf("nonce %q: %v", tc.nonce, err)
		}
	}
}
