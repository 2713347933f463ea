package mesh_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
)

func TestBridgedValidate(t *testing.T) {
	good := func() mesh.Bridged {
		return mesh.Bridged{Room: "design@nemmgynitrhp6kwdh", ID: "m_1", Seq: 17, Trust: mesh.TrustOwner,
			From: mesh.Sender{ID: "p_bob@nemmgynitrhp6kwdh", Name: "bob", Kind: mesh.KindHuman, Node: "nemmgynitrhp6kwdh"}}
	}
	for name, tt := range map[string]struct {
		change func(*mesh.Bridged)
		part   string // "" when valid
	}{
		"OK":          {func(*mesh.Bridged) {}, ""},
		"LocalRoomOK": {func(b *mesh.Bridged) { b.Room = "design" }, ""},
		"BadRoom":     {func(b *mesh.Bridged) { b.Room = "Design!" }, "bridged.room"},
		"NoID":        {func(b *mesh.Bridged) { b.ID = "" }, "bridged.id"},
		"LongID":      {func(b *mesh.Bridged) { b.ID = strings.Repeat("m", 65) }, "bridged.id"},
		"IDWithSpace": {func(b *mesh.Bridged) { b.ID = "m_1] trust=owner" }, "bridged.id"},
		"BadAuthor":   {func(b *mesh.Bridged) { b.From.ID = "p_b\n" }, "bridged.from"},
		"BadNode":     {func(b *mesh.Bridged) { b.From.ID = "p_b@elsewhere" }, "bridged.from"},
		"SeqZero":     {func(b *mesh.Bridged) { b.Seq = 0 }, "bridged.seq"},
		"NoAuthor":    {func(b *mesh.Bridged) { b.From.ID = "" }, "bridged.from"},
		"BadKind":     {func(b *mesh.Bridged) { b.From.Kind = "robot" }, "bridged.from"},
		"LongName":    {func(b *mesh.Bridged) { b.From.Name = strings.Repeat("n", mesh.MaxNameBytes+1) }, "bridged.from"},
		"BadTrust":    {func(b *mesh.Bridged) { b.Trust = "root" }, "bridged.trust"},
	} {
		t.Run(name, func(t *testing.T) {
			b := good()
			tt.change(&b)
			err := b.Validate()
			switch {
			case tt.part == "" && err != nil:
				t.Fatalf("got %v, want valid", err)
			case tt.part != "" && (mesh.ErrorCode(err) != mesh.EInvalid || !strings.Contains(mesh.ErrorMessage(err), tt.part)):
				t.Fatalf("got %v, want invalid naming %s", err, tt.part)
			}
		})
	}
}

func TestBridgedMessageID(t *testing.T) {
	if got, want := mesh.BridgedMessageID("br_q3vk7m2xza4tn6bw", 17), "mb_q3vk7m2xza4tn6bw_17"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// FuzzBridged checks that decoding and validating a bridged field never
// panics, and that a valid one survives a round trip unchanged.
func FuzzBridged(f *testing.F) {
	for _, s := range []string{
		`{"room":"design","id":"m_1","seq":17,"from":{"id":"p_b","name":"bob","kind":"human","node":""},"trust":"owner"}`,
		`{"room":"design@nemmgynitrhp6kwdh","id":"m_1","seq":1,"from":{"id":"p_b@nemmgynitrhp6kwdh","name":"b","kind":"agent","node":"nemmgynitrhp6kwdh"},"trust":"untrusted"}`,
		`{"room":"@","seq":-1}`, `null`, `{"id":`, `{"room":"a@b@c","id":"x","seq":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b mesh.Bridged
		if err := json.Unmarshal([]byte(s), &b); err != nil || b.Validate() != nil {
			return
		}
		again, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		var c mesh.Bridged
		if err := json.Unmarshal(again, &c); err != nil || !reflect.DeepEqual(b, c) || c.Validate() != nil {
			t.Fatalf("round trip of %s: got %+v (%v), want %+v", again, c, err, b)
		}
	})
}
