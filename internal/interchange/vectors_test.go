package interchange

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/the-mesh/mesh"
)

// The handshake vectors (testdata/protocol/interchange), which the
// TypeScript SDK's tests check too: a bridging relay's hello and the
// welcome that proves the dialed relay's identity, and the welcome of a
// relay that is not the one expected. Ed25519 signatures are
// deterministic, so the files are exactly what this code sends.

var update = flag.Bool("update", false, "rewrite testdata/protocol/interchange")

const vectorDir = "../../testdata/protocol/interchange"

type handshakeVector struct {
	Name  string `json:"name"`
	Input struct {
		RelaySeed    string    `json:"relaySeed"`    // the dialed relay's Ed25519 seed, base64
		InstanceSeed string    `json:"instanceSeed"` // the dialing relay's
		Secret       string    `json:"secret"`       // the secret the dialed relay gave the dialing one
		Expected     string    `json:"expected"`     // the relay the dialer expects (--bridge URL#ID)
		Challenge    Challenge `json:"challenge"`
		Hello        Hello     `json:"hello"`
		Welcome      Welcome   `json:"welcome"`
	} `json:"input"`
	Want struct {
		Relay        string `json:"relay"`    // the id of the welcome's key
		Instance     string `json:"instance"` // the id of the hello's key
		Auth         string `json:"auth"`     // what the relay makes of the hello
		HelloProof   string `json:"helloProof"`
		WelcomeProof string `json:"welcomeProof"`
		Error        string `json:"error,omitempty"` // the dialer's refusal of the welcome, if any
	} `json:"want"`
}

func seeded(prefix byte, label string) (Identity, string) {
	seed := sha256.Sum256([]byte(label))
	key := ed25519.NewKeyFromSeed(seed[:])
	return Identity{ID: InstanceID(prefix, key.Public().(ed25519.PublicKey)), Key: key}, base64.StdEncoding.EncodeToString(seed[:])
}

func fixedNonce(label string) string {
	b := sha256.Sum256([]byte(label))
	return base64.StdEncoding.EncodeToString(b[:])
}

// handshake builds the vector of relay (seed relaySeed) answering
// instance, which expects expected.
func handshake(name string, relay Identity, relaySeed string, instance Identity, instanceSeed, expected string) handshakeVector {
	var v handshakeVector
	v.Name = name
	s := sha256.Sum256([]byte("secret"))
	secret := "mis_" + base64.RawURLEncoding.EncodeToString(s[:])
	ch := Challenge{Type: TypeChallenge, Relay: relay.ID, Nonce: fixedNonce("challenge"), Version: Version}
	h := answer(ch, instance, KindRelay, secret, "relay two")
	h.Nonce = fixedNonce("hello nonce")
	w := Welcome{Type: TypeWelcome, Relay: relay.ID, Auth: AuthSecret,
		Limits: Limits{MaxFrameBytes: DefaultMaxFrameBytes, Rate: DefaultRate, Burst: DefaultBurst, MaxBatch: MaxBatch}}
	proveRelay(&w, relay, h.Nonce, h.ID, ch.Nonce)
	v.Input.RelaySeed, v.Input.InstanceSeed, v.Input.Secret, v.Input.Expected = relaySeed, instanceSeed, secret, expected
	v.Input.Challenge, v.Input.Hello, v.Input.Welcome = ch, h, w
	v.Want.Relay, v.Want.Instance, v.Want.Auth = relay.ID, instance.ID, AuthSecret
	v.Want.HelloProof = string(proof(ch.Relay, ch.Nonce, h.ID, h.Kind))
	v.Want.WelcomeProof = string(welcomeProof(relay.ID, h.Nonce, h.ID, ch.Nonce))
	if expected != relay.ID {
		v.Want.Error = mesh.EUnauthorized
	}
	return v
}

func TestHandshakeVectors(t *testing.T) {
	relay, relaySeed := seeded('r', "mesh vector relay one")
	impostor, impostorSeed := seeded('r', "mesh vector impostor")
	bridging, bridgingSeed := seeded('r', "mesh vector relay two")
	files := map[string]handshakeVector{
		"bridge.json": handshake("relay two bridges to relay one over ws://: its hello answers the challenge and challenges relay one in turn (nonce); the welcome answers with relay one's key and signature",
			relay, relaySeed, bridging, bridgingSeed, relay.ID),
		"bridge-impostor.json": handshake("relay two dials relay one's address, and another relay answers: its proof is sound, of another id, so relay two refuses it",
			impostor, impostorSeed, bridging, bridgingSeed, relay.ID),
	}
	for name, v := range files {
		path := filepath.Join(vectorDir, name)
		if *update {
			b, _ := json.MarshalIndent(v, "", "  ")
			if err := os.MkdirAll(vectorDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v: go test ./internal/interchange -run TestHandshakeVectors -update", err)
			}
			var got handshakeVector
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, v) {
				t.Fatalf("%s is not what this code sends (go test -run TestHandshakeVectors -update):\ngot  %+v\nwant %+v", path, got, v)
			}
			// The relay's side: the hello is relay two's, with the secret.
			reg := OpenRegistry(t.TempDir())
			hash := SecretHash(got.Input.Secret)
			if err := reg.append(registryLine{ID: got.Want.Instance, Hash: hex.EncodeToString(hash[:])}); err != nil {
				t.Fatal(err)
			}
			auth, err := verifyHello(&got.Input.Hello, got.Input.Challenge, reg, false)
			if err != nil || auth != got.Want.Auth {
				t.Fatalf("verifyHello: %q, %v", auth, err)
			}
			// The dialer's side.
			err = verifyWelcome(got.Input.Welcome, got.Input.Expected, got.Input.Hello.Nonce, got.Input.Hello.ID, got.Input.Challenge.Nonce)
			if mesh.ErrorCode(err) != got.Want.Error && !(err == nil && got.Want.Error == "") {
				t.Fatalf("verifyWelcome: %v, want %q", err, got.Want.Error)
			}
		})
	}
}
