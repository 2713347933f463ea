package node_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/node"
)

// TestReplay changes every journal, reopens the node on the same
// directory, and checks that the state read back is the state written.
func TestReplay(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	n := MustOpen(t, dir, clk.Now)
	owner := MustOwner(t, n)
	info := n.Info()

	// participants.jsonl
	a, aTok := MustRegister(t, n, nil, node.Registration{Name: "a", Kind: mesh.KindHuman, Webhook: "https://example.com/a"})
	b, bTok := MustRegister(t, n, &a, node.Registration{Name: "b", Trust: mesh.TrustFederated})
	c, cTok := MustRegister(t, n, &b, node.Registration{Name: "c"})
	if _, err := n.RevokeTree(owner, b.ID); err != nil {
		t.Fatal(err)
	}

	// invites.jsonl
	used, _, err := n.CreateInvite(owner)
	if err != nil {
		t.Fatal(err)
	}
	guest, _, err := n.Register(nil, false, "192.0.2.1", node.Registration{Name: "guest", Invite: used})
	if err != nil {
		t.Fatal(err)
	}
	fresh, _, err := n.CreateInvite(owner)
	if err != nil {
		t.Fatal(err)
	}

	// rooms.jsonl
	room := MustCreateRoom(t, n, a, "設計")
	MustJoin(t, n, guest, room.ID)
	MustJoin(t, n, owner, room.ID)
	if err := n.RemoveMember(owner, room.ID, ""); err != nil {
		t.Fatal(err)
	}
	MustJoin(t, n, a, mesh.Lobby)
	if _, err := n.SetPolicy(a, room.ID, []byte(`{"visibility":"federated","grants":{"p_x":["execute"]}}`)); err != nil {
		t.Fatal(err)
	}
	room, err = n.SetPolicy(a, room.ID, []byte(`{"limits":{"messagesPerMinute":5}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := say(t, n, a, node.Post{Room: room.ID, Text: "kept"}); err != nil {
		t.Fatal(err)
	}

	wantRooms := n.Rooms()
	wantMembers := map[mesh.RoomID][]mesh.Member{}
	for _, r := range wantRooms {
		wantMembers[r.ID], _ = n.Members(r.ID, func(mesh.ParticipantID) bool { return false })
	}

	n = MustReopen(t, n, dir, clk.Now)

	if got := n.Info(); got != info {
		t.Errorf("node info: got %+v, want %+v", got, info)
	}
	if got := MustOwner(t, n); got != owner {
		t.Errorf("owner: got %+v, want %+v", got, owner)
	}
	for name, tt := range map[string]struct {
		token string
		want  mesh.Participant
		code  string
	}{
		"Live":          {token: aTok, want: a},
		"Revoked":       {token: bTok, code: mesh.EUnauthorized},
		"RevokedByCasc": {token: cTok, code: mesh.EUnauthorized},
	} {
		t.Run("Participant"+name, func(t *testing.T) {
			got, err := n.Authenticate(tt.token)
			checkCode(t, err, tt.code)
			if err == nil && got != tt.want {
				t.Errorf("participant: got %+v, want %+v", got, tt.want)
			}
		})
	}
	for _, id := range []mesh.ParticipantID{b.ID, c.ID} {
		p, ok := n.Participant(id)
		if !ok || !n.Revoked(id) {
			t.Errorf("%v: got known %v revoked %v, want true true", id, ok, n.Revoked(id))
		}
		if id == b.ID && (p.Parent != a.ID || p.Trust != mesh.TrustFederated) {
			t.Errorf("b: got parent %v trust %v, want %v %v", p.Parent, p.Trust, a.ID, mesh.TrustFederated)
		}
	}
	if p, ok := n.Participant(guest.ID); !ok || p != guest {
		t.Errorf("guest: got %+v, want %+v", p, guest)
	}

	t.Run("InviteUsed", func(t *testing.T) {
		_, _, err := n.Register(nil, false, "192.0.2.1", node.Registration{Name: "again", Invite: used})
		checkCode(t, err, mesh.EUnauthorized)
	})
	t.Run("InviteFresh", func(t *testing.T) {
		_, _, err := n.Register(nil, false, "192.0.2.1", node.Registration{Name: "new", Invite: fresh})
		checkCode(t, err, "")
	})

	t.Run("Rooms", func(t *testing.T) {
		gotRooms := n.Rooms()
		if !jsonEqual(t, gotRooms, wantRooms) {
			t.Errorf("rooms: got %s, want %s", mustJSON(t, gotRooms), mustJSON(t, wantRooms))
		}
		got, err := n.Room(room.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Revision != 3 || got.Policy.Limits.MessagesPerMinute != 5 || got.Policy.Visibility != "private" {
			t.Errorf("policy: got revision %v %+v, want revision 3 with the last document", got.Revision, got.Policy)
		}
		if !generatedRoomID.MatchString(string(got.ID)) || got.Name != "設計" {
			t.Errorf("room: got id %v name %q, want a generated id and %q", got.ID, got.Name, "設計")
		}
	})
	t.Run("Members", func(t *testing.T) {
		for id, want := range wantMembers {
			got, err := n.Members(id, func(mesh.ParticipantID) bool { return false })
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("members of %v: got %v, want %v", id, got, want)
			}
		}
		if n.IsMember(room.ID, owner.ID) {
			t.Errorf("owner left %v: got member, want not", room.ID)
		}
	})
	t.Run("Messages", func(t *testing.T) {
		lines, err := n.Messages(a, room.ID, 0, 10)
		chats := 0
		for _, l := range lines {
			if strings.Contains(string(l), `"kind":"chat"`) {
				chats++
			}
		}
		if err != nil || chats != 1 {
			t.Fatalf("messages: got %d chat messages of %d, %v; want 1 (the rest are policy events)", chats, len(lines), err)
		}
	})
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// jsonEqual compares a and b by their JSON encodings (times and nil maps
// compare as they would on the wire).
func jsonEqual(tb testing.TB, a, b any) bool {
	tb.Helper()
	return string(mustJSON(tb, a)) == string(mustJSON(tb, b))
}
