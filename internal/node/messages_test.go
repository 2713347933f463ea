package node_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/node"
)

func TestSay(t *testing.T) {
	n := MustOpen(t, "", nil)
	owner := MustOwner(t, n)
	a, _ := MustRegister(t, n, nil, node.Registration{Name: "a"})
	b, _ := MustRegister(t, n, nil, node.Registration{Name: "b"})
	outsider, _ := MustRegister(t, n, nil, node.Registration{Name: "outsider"})
	gone, _ := MustRegister(t, n, nil, node.Registration{Name: "gone"})
	for _, p := range []mesh.Participant{a, b, gone} {
		MustJoin(t, n, p, mesh.Lobby)
	}
	if err := n.Revoke(owner, gone.ID); err != nil {
		t.Fatal(err)
	}
	MustCreateRoom(t, n, outsider, "elsewhere")

	for name, tt := range map[string]struct {
		post node.Post
		code string
		msg  string // the refusal's message, when it matters
	}{
		"OK":              {post: node.Post{Room: mesh.Lobby, Text: "hi"}},
		"ToMember":        {post: node.Post{Room: mesh.Lobby, Text: "hi b", To: b.ID}},
		"ToSelf":          {post: node.Post{Room: mesh.Lobby, Text: "note", To: a.ID}},
		"RefAtLimit":      {post: node.Post{Room: mesh.Lobby, Text: "hi", Ref: strings.Repeat("r", node.MaxRefBytes)}},
		"RefOverLimit":    {post: node.Post{Room: mesh.Lobby, Text: "hi", Ref: strings.Repeat("r", node.MaxRefBytes+1)}, code: mesh.EInvalid},
		"EmptyText":       {post: node.Post{Room: mesh.Lobby}, code: mesh.EInvalid},
		"TextTooLarge":    {post: node.Post{Room: mesh.Lobby, Text: strings.Repeat("x", n.MaxTextBytes()+1)}, code: mesh.ETooLarge},
		"NoRoom":          {post: node.Post{Room: "nope", Text: "hi"}, code: mesh.ENotFound},
		"NotMember":       {post: node.Post{Room: "elsewhere", Text: "hi"}, code: mesh.EForbidden},
		"ToUnknown":       {post: node.Post{Room: mesh.Lobby, Text: "hi", To: "p_nobody"}, code: mesh.EInvalid},
		"ToRevoked":       {post: node.Post{Room: mesh.Lobby, Text: "hi", To: gone.ID}, code: mesh.EInvalid},
		"ToNonMember":     {post: node.Post{Room: mesh.Lobby, Text: "hi", To: outsider.ID}, code: mesh.EInvalid, msg: fmt.Sprintf("Addressee %s is not a member of room lobby.", outsider.ID)},
		"ToRoomCreator":   {post: node.Post{Room: mesh.Lobby, Text: "hi", To: owner.ID}},
		"RefNeverStored":  {post: node.Post{Room: mesh.Lobby, Text: "with ref", Ref: "client-42"}},
		"ToNonMemberElse": {post: node.Post{Room: "elsewhere", Text: "hi", To: a.ID}, code: mesh.EForbidden},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := say(t, n, a, tt.post)
			checkCode(t, err, tt.code)
			if tt.msg != "" && mesh.ErrorMessage(err) != tt.msg {
				t.Errorf("message: got %q, want %q", mesh.ErrorMessage(err), tt.msg)
			}
			if err != nil {
				return
			}
			if m.Ref != "" {
				t.Errorf("message ref: got %q, want %q", m.Ref, "")
			}
			if m.To != tt.post.To || m.Body.Text != tt.post.Text || m.From.ID != a.ID || m.Trust != a.Trust {
				t.Errorf("message: got %+v, want to %v text %q from %v", m, tt.post.To, tt.post.Text, a.ID)
			}
		})
	}

	// The stored lines carry no ref at all.
	lines, err := n.Messages(a, mesh.Lobby, 0, mesh.MaxPageLimit)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(l, &fields); err != nil {
			t.Fatal(err)
		}
		if ref, ok := fields["ref"]; ok {
			t.Errorf("stored message %s: got ref %s, want none", l, ref)
		}
	}
}

func TestMessages(t *testing.T) {
	n := MustOpen(t, "", nil)
	a, _ := MustRegister(t, n, nil, node.Registration{Name: "a"})
	outsider, _ := MustRegister(t, n, nil, node.Registration{Name: "outsider"})
	room := MustCreateRoom(t, n, a, "paged")
	const total = 5
	for i := range total {
		if _, err := say(t, n, a, node.Post{Room: room.ID, Text: fmt.Sprint("m", i+1)}); err != nil {
			t.Fatal(err)
		}
	}

	for name, tt := range map[string]struct {
		actor mesh.Participant
		room  mesh.RoomID
		after uint64
		limit int
		seqs  []uint64
		code  string
	}{
		"FirstPage":   {actor: a, room: room.ID, after: 0, limit: 2, seqs: []uint64{1, 2}},
		"SecondPage":  {actor: a, room: room.ID, after: 2, limit: 2, seqs: []uint64{3, 4}},
		"LastPage":    {actor: a, room: room.ID, after: 4, limit: 2, seqs: []uint64{5}},
		"PastTheEnd":  {actor: a, room: room.ID, after: 5, limit: 2, seqs: []uint64{}},
		"All":         {actor: a, room: room.ID, after: 0, limit: mesh.MaxPageLimit, seqs: []uint64{1, 2, 3, 4, 5}},
		"ZeroLimit":   {actor: a, room: room.ID, limit: 0, code: mesh.EInvalid},
		"HugeLimit":   {actor: a, room: room.ID, limit: mesh.MaxPageLimit + 1, code: mesh.EInvalid},
		"NotMember":   {actor: outsider, room: room.ID, limit: 10, code: mesh.EForbidden},
		"MissingRoom": {actor: a, room: "nope", limit: 10, code: mesh.ENotFound},
		"NotInLobby":  {actor: a, room: mesh.Lobby, limit: 10, code: mesh.EForbidden},
	} {
		t.Run(name, func(t *testing.T) {
			lines, err := n.Messages(tt.actor, tt.room, tt.after, tt.limit)
			checkCode(t, err, tt.code)
			if err != nil {
				return
			}
			got := []uint64{}
			for _, l := range lines {
				var m mesh.Message
				if err := json.Unmarshal(l, &m); err != nil {
					t.Fatal(err)
				}
				if m.Room != tt.room || m.Body.Text != fmt.Sprint("m", m.Seq) {
					t.Errorf("message: got room %v text %q, want %v %q", m.Room, m.Body.Text, tt.room, fmt.Sprint("m", m.Seq))
				}
				got = append(got, m.Seq)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.seqs) {
				t.Errorf("seqs: got %v, want %v", got, tt.seqs)
			}
		})
	}
}
