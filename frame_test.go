package mesh_test

import (
	"testing"

	"github.com/the-mesh/mesh"
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
			if fr.Text == "" || fr.Room == "" {
				t.Fatal("say accepted without text or room")
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

func BenchmarkDecodeSay(b *testing.B) {
	data := []byte(`{"type":"say","room":"lobby","text":"a message of some ordinary length, about as long as a chat line","ref":"r-123"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := mesh.DecodeClientFrame(data); err != nil {
			b.Fatal(err)
		}
	}
}
