package mesh_test

import (
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
)

// FuzzDecodeClientFrame checks the decoder never panics, and that what it
// accepts is a known frame with the fields it promises.
func FuzzDecodeClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","token":"mesh_x","resume":{"lobby":3}}`,
		`{"type":"join","room":"lobby","ref":"1"}`,
		`{"type":"say","room":"lobby","text":"hi","to":"p_a","ref":"r"}`,
		`{"type":"ping"}`, `{"type":"leave","room":"x"}`,
		`{"type":"inbox","after":3,"limit":20,"ref":"i"}`, `{"type":"inbox.ack","upTo":3}`, `{"type":"inbox.ack","upTo":null}`,
		`{"type":"say",`, `[]`, `null`, `{"type":1}`, "{\"type\":\"say\",\"text\":\"\xff\"}",
		// Encrypted bodies of E2E rooms: a keys entry, a message, and the
		// shapes the decoder refuses.
		`{"type":"say","room":"vault","kind":"encrypted","body":{"e2e":{"v":1,"type":"keys","epoch":3,"device":"djyaplq5rdl427hb4",` +
			`"eph":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","wraps":[{"to":"dzw7jmsc5lhwj3yxp","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",` +
			`"ct":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}],"sig":"AAAA"}},"ref":"k"}`,
		`{"type":"say","room":"vault","kind":"encrypted","body":{"e2e":{"v":1,"type":"msg","epoch":3,"device":"djyaplq5rdl427hb4","keys":13,"n":1,` +
			`"nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","ct":"AAAAAAAAAAAAAAAAAAAAAA==","sig":"AAAA"}},"to":"p_b","ref":"r"}`,
		`{"type":"say","room":"vault","kind":"encrypted","text":"x","body":{"e2e":{}}}`,
		`{"type":"say","room":"vault","kind":"encrypted","body":{"e2e":{"ct":"not base64"}}}`,
		`{"type":"say","room":"vault","kind":"encrypted","body":{"text":"x"}}`,
		`{"type":"say","room":"vault","kind":"encrypted","body":null}`,
		`{"type":"say","room":"vault","kind":"chat","text":"x","body":{"e2e":{}}}`,
		`{"type":"say","room":"vault","kind":"command","text":"x"}`,
	} {
		f.Add([]byte(s))
		f.Add([]byte(s[:len(s)/2])) // a frame cut in half, as a partial read leaves it
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frame, _, err := mesh.DecodeClientFrame(data)
		if err != nil {
			if mesh.ErrorCode(err) != mesh.EInvalid {
				t.Fatalf("refusal with code %s, want invalid", mesh.ErrorCode(err))
			}
			return
		}
		switch fr := frame.(type) {
		case *mesh.Hello:
			if fr.Token == "" {
				t.Fatal("hello accepted without a token")
			}
		case *mesh.Say:
			switch {
			case fr.Room == "":
				t.Fatal("say accepted without a room")
			case fr.Kind == mesh.MessageEncrypted && (fr.Text != "" || fr.Body == nil || fr.Body.E2E == nil):
				t.Fatal("encrypted say accepted with text or without body.e2e")
			case fr.Kind != mesh.MessageEncrypted && (fr.Kind != "" && fr.Kind != mesh.MessageChat || fr.Text == "" || fr.Body != nil):
				t.Fatalf("say of kind %q accepted with text %q and body %v", fr.Kind, fr.Text, fr.Body)
			}
			if fr.Body != nil {
				// What the node does next with a sealed body must not
				// panic on anything the decoder lets through.
				if e2e.CheckShape(fr.Body.E2E, 1024) == nil {
					e2e.Verify(fr.Body.E2E, e2e.Envelope{Room: "vault@nabcdefghijklmnop", To: fr.To, Ref: fr.Ref}, make([]byte, 32))
				}
			}
		case *mesh.Join:
			if fr.Room == "" {
				t.Fatal("join accepted without a room")
			}
		case *mesh.InboxAck:
			if fr.UpTo == nil {
				t.Fatal("inbox.ack accepted without upTo")
			}
		case *mesh.InboxRead:
			if fr.Limit < 0 || fr.Limit > mesh.MaxPageLimit {
				t.Fatalf("inbox accepted with limit %d", fr.Limit)
			}
		case *mesh.Leave, *mesh.Ping, *mesh.Command, *mesh.Result, *mesh.Moderate:
		default:
			t.Fatalf("unexpected frame %T", frame)
		}
	})
}
