package node_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/node"
)

var generatedRoomID = regexp.MustCompile(`^room-[a-z2-7]{8}$`)

func TestCreateRoom(t *testing.T) {
	n := MustOpen(t, "", nil)
	owner := MustOwner(t, n)
	local, _ := MustRegister(t, n, nil, node.Registration{Name: "local"})
	fed, _ := MustRegister(t, n, &owner, node.Registration{Name: "fed", Trust: mesh.TrustFederated})
	guest, _ := MustRegister(t, n, &owner, node.Registration{Name: "guest", Trust: mesh.TrustUntrusted})

	for name, tt := range map[string]struct {
		actor mesh.Participant
		req   node.NewRoom
		id    mesh.RoomID // "" with no code: a generated id
		code  string
	}{
		"Local":              {actor: local, req: node.NewRoom{Name: "Design Review"}, id: "design-review"},
		"Owner":              {actor: owner, req: node.NewRoom{Name: "  Ops  "}, id: "ops"},
		"Federated":          {actor: fed, req: node.NewRoom{Name: "fed room"}, code: mesh.EForbidden},
		"Untrusted":          {actor: guest, req: node.NewRoom{Name: "guest room"}, code: mesh.EForbidden},
		"Conflict":           {actor: local, req: node.NewRoom{Name: "LOBBY"}, code: mesh.EConflict},
		"Punctuation":        {actor: local, req: node.NewRoom{Name: "Q3 / plans!"}, id: "q3-plans"},
		"NonASCII":           {actor: local, req: node.NewRoom{Name: "設計"}},
		"NonASCIIAgain":      {actor: local, req: node.NewRoom{Name: "設計"}},
		"MixedNonASCII":      {actor: local, req: node.NewRoom{Name: "設計 v2"}, id: "v2"},
		"OnlyPunctuation":    {actor: local, req: node.NewRoom{Name: "!!!"}},
		"EmptyName":          {actor: local, req: node.NewRoom{Name: ""}, code: mesh.EInvalid},
		"BlankName":          {actor: local, req: node.NewRoom{Name: "   "}, code: mesh.EInvalid},
		"NameWithTab":        {actor: local, req: node.NewRoom{Name: "a\tb"}, code: mesh.EInvalid},
		"InvisibleName":      {actor: local, req: node.NewRoom{Name: "\u2066設計"}, code: mesh.EInvalid},
		"Topic":              {actor: local, req: node.NewRoom{Name: "topical", Topic: "Plans für 2026 — 設計"}, id: "topical"},
		"TopicNewline":       {actor: local, req: node.NewRoom{Name: "t1", Topic: "line one\nline two"}, code: mesh.EInvalid},
		"TopicControl":       {actor: local, req: node.NewRoom{Name: "t2", Topic: "bell\a"}, code: mesh.EInvalid},
		"TopicZeroWidth":     {actor: local, req: node.NewRoom{Name: "t3", Topic: "a\u200bb"}, code: mesh.EInvalid},
		"TopicBidiOverride":  {actor: local, req: node.NewRoom{Name: "t4", Topic: "abc\u202edef"}, code: mesh.EInvalid},
		"TopicNotUTF8":       {actor: local, req: node.NewRoom{Name: "t5", Topic: "a\xffb"}, code: mesh.EInvalid},
		"TopicTooLong":       {actor: local, req: node.NewRoom{Name: "t6", Topic: strings.Repeat("a", mesh.MaxTopicBytes+1)}, code: mesh.EInvalid},
		"TopicAtLimit":       {actor: local, req: node.NewRoom{Name: "t7", Topic: strings.Repeat("a", mesh.MaxTopicBytes)}, id: "t7"},
		"BadPolicy":          {actor: local, req: node.NewRoom{Name: "p1", Policy: json.RawMessage(`{"visibility":"public"}`)}, code: mesh.EInvalid},
		"UnknownPolicyField": {actor: local, req: node.NewRoom{Name: "p2", Policy: json.RawMessage(`{"nope":1}`)}, code: mesh.EInvalid},
		"Policy":             {actor: local, req: node.NewRoom{Name: "p3", Policy: json.RawMessage(`{"visibility":"federated"}`)}, id: "p3"},
	} {
		t.Run(name, func(t *testing.T) {
			r, err := n.CreateRoom(tt.actor, tt.req)
			checkCode(t, err, tt.code)
			if tt.code != "" {
				return
			}
			if tt.id != "" && r.ID != tt.id {
				t.Errorf("id: got %v, want %v", r.ID, tt.id)
			} else if tt.id == "" && !generatedRoomID.MatchString(string(r.ID)) {
				t.Errorf("id: got %v, want %v", r.ID, generatedRoomID)
			}
			if want := strings.TrimSpace(tt.req.Name); r.Name != want {
				t.Errorf("name: got %q, want %q", r.Name, want)
			}
			if r.Creator != tt.actor.ID || r.Revision != 1 || r.Topic != tt.req.Topic {
				t.Errorf("room: got creator %v revision %v topic %q, want %v 1 %q",
					r.Creator, r.Revision, r.Topic, tt.actor.ID, tt.req.Topic)
			}
			if !n.IsMember(r.ID, tt.actor.ID) {
				t.Errorf("creator is member: got false, want true")
			}
			got, err := n.Room(r.ID)
			if err != nil || got.ID != r.ID || got.Name != r.Name {
				t.Errorf("Room(%v): got %v, %v, want %v", r.ID, got.ID, err, r.ID)
			}
		})
	}

	rooms := n.Rooms()
	if !slices.IsSortedFunc(rooms, func(a, b mesh.Room) int { return strings.Compare(string(a.ID), string(b.ID)) }) {
		t.Errorf("Rooms: got %v, want sorted by id", roomIDs(rooms))
	}
	generated := 0
	for _, r := range rooms {
		if generatedRoomID.MatchString(string(r.ID)) {
			generated++
		}
	}
	if generated != 3 {
		t.Errorf("rooms with generated ids: got %v, want %v (ids %v)", generated, 3, roomIDs(rooms))
	}
	p3, _ := n.Room("p3")
	if p3.Policy.Visibility != "federated" {
		t.Errorf("p3 visibility: got %v, want %v", p3.Policy.Visibility, "federated")
	}
}

func TestRoomNotFound(t *testing.T) {
	n := MustOpen(t, "", nil)
	_, err := n.Room("nope")
	checkCode(t, err, mesh.ENotFound)
	_, err = n.Members("nope", func(mesh.ParticipantID) bool { return false })
	checkCode(t, err, mesh.ENotFound)
	if rooms := roomIDs(n.Rooms()); !slices.Equal(rooms, []mesh.RoomID{mesh.Lobby}) {
		t.Errorf("rooms of a new node: got %v, want %v", rooms, []mesh.RoomID{mesh.Lobby})
	}
}

func TestMembership(t *testing.T) {
	dir := t.TempDir()
	n := MustOpen(t, dir, nil)
	owner := MustOwner(t, n)
	a, _ := MustRegister(t, n, nil, node.Registration{Name: "a"})
	b, _ := MustRegister(t, n, nil, node.Registration{Name: "b"})
	room := MustCreateRoom(t, n, a, "den")

	MustJoin(t, n, b, room.ID)
	MustJoin(t, n, b, room.ID) // a no-op
	MustJoin(t, n, owner, mesh.Lobby)
	MustJoin(t, n, a, mesh.Lobby)
	if err := n.RemoveMember(a, mesh.Lobby, ""); err != nil {
		t.Fatal(err)
	}
	if err := n.RemoveMember(a, mesh.Lobby, ""); err != nil { // a no-op
		t.Fatal(err)
	}
	checkCode(t, n.AddMember(a, "nope", ""), mesh.ENotFound)
	checkCode(t, n.RemoveMember(a, "nope", ""), mesh.ENotFound)

	check := func(t *testing.T, n *node.Node) {
		t.Helper()
		for _, tt := range []struct {
			room mesh.RoomID
			p    mesh.ParticipantID
			want bool
		}{
			{room.ID, a.ID, true},
			{room.ID, b.ID, true},
			{room.ID, owner.ID, false},
			{mesh.Lobby, owner.ID, true},
			{mesh.Lobby, a.ID, false},
			{mesh.Lobby, b.ID, false},
		} {
			if got := n.IsMember(tt.room, tt.p); got != tt.want {
				t.Errorf("IsMember(%v, %v): got %v, want %v", tt.room, tt.p, got, tt.want)
			}
		}
		ms, err := n.Members(room.ID, func(id mesh.ParticipantID) bool { return id == b.ID })
		if err != nil {
			t.Fatal(err)
		}
		want := []mesh.ParticipantID{a.ID, b.ID}
		slices.Sort(want)
		var got []mesh.ParticipantID
		for _, m := range ms {
			got = append(got, m.ID)
			if m.Online != (m.ID == b.ID) {
				t.Errorf("%v online: got %v, want %v", m.ID, m.Online, m.ID == b.ID)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("members: got %v, want %v", got, want)
		}
	}
	check(t, n)
	n = MustReopen(t, n, dir, nil)
	check(t, n)
}

func TestMembersHidesWebhookAndRevoked(t *testing.T) {
	n := MustOpen(t, "", nil)
	owner := MustOwner(t, n)
	hooked, _ := MustRegister(t, n, nil, node.Registration{Name: "hooked", Webhook: "https://example.com/hook?key=secret"})
	gone, _ := MustRegister(t, n, nil, node.Registration{Name: "gone"})
	MustJoin(t, n, hooked, mesh.Lobby)
	MustJoin(t, n, gone, mesh.Lobby)
	if err := n.Revoke(owner, gone.ID); err != nil {
		t.Fatal(err)
	}
	ms, err := n.Members(mesh.Lobby, func(mesh.ParticipantID) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	var ids []mesh.ParticipantID
	for _, m := range ms {
		ids = append(ids, m.ID)
		if m.Webhook != "" {
			t.Errorf("%v webhook: got %q, want %q", m.ID, m.Webhook, "")
		}
	}
	if want := []mesh.ParticipantID{owner.ID, hooked.ID}; !sameIDs(ids, want) {
		t.Errorf("members: got %v, want %v", ids, want)
	}
	// The participant itself keeps its webhook.
	if p, _ := n.Participant(hooked.ID); p.Webhook == "" {
		t.Errorf("stored webhook: got %q, want it kept", p.Webhook)
	}
}

func TestSetPolicy(t *testing.T) {
	n := MustOpen(t, "", nil)
	owner := MustOwner(t, n)
	creator, _ := MustRegister(t, n, nil, node.Registration{Name: "creator"})
	other, _ := MustRegister(t, n, nil, node.Registration{Name: "other"})
	room := MustCreateRoom(t, n, creator, "governed")
	good := []byte(`{"visibility":"federated"}`)
	bad := []byte(`{"visibility":"public"}`)

	revision := room.Revision
	for _, tt := range []struct {
		name  string
		actor mesh.Participant
		room  mesh.RoomID
		doc   []byte
		code  string
	}{
		{"MissingRoom", owner, "nope", good, mesh.ENotFound},
		{"MissingRoomBadPolicy", owner, "nope", bad, mesh.ENotFound},
		{"NotCreatorBadPolicy", other, room.ID, bad, mesh.EForbidden},
		{"NotCreator", other, room.ID, good, mesh.EForbidden},
		{"CreatorBadPolicy", creator, room.ID, bad, mesh.EInvalid},
		{"CreatorNotJSON", creator, room.ID, []byte(`{`), mesh.EInvalid},
		{"Creator", creator, room.ID, good, ""},
		{"Owner", owner, room.ID, []byte(`{"format":{"kind":"json"}}`), ""},
		{"EmptyIsDefaults", creator, room.ID, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := n.Room(room.ID)
			r, err := n.SetPolicy(tt.actor, tt.room, tt.doc)
			checkCode(t, err, tt.code)
			after, _ := n.Room(room.ID)
			if tt.code != "" {
				if after.Revision != before.Revision {
					t.Errorf("revision after refusal: got %v, want %v", after.Revision, before.Revision)
				}
				return
			}
			revision++
			want, _ := mesh.ParsePolicy(tt.doc)
			if r.Revision != revision || after.Revision != revision {
				t.Errorf("revision: got %v (stored %v), want %v", r.Revision, after.Revision, revision)
			}
			if r.Policy.Visibility != want.Visibility || r.Policy.Format.Kind != want.Format.Kind {
				t.Errorf("policy: got %+v, want %+v", r.Policy, want)
			}
		})
	}

	var ok, refused int
	for _, r := range auditRecords(t, n, "set-policy") {
		var d map[string]json.RawMessage
		if r.Detail[0] == '{' {
			json.Unmarshal(r.Detail, &d)
		}
		switch r.Outcome {
		case "ok":
			ok++
			if d["before"] == nil || d["after"] == nil {
				t.Errorf("ok record detail: got %s, want before and after", r.Detail)
			}
		default:
			refused++
			if r.Code == "" || d["after"] != nil || d["before"] != nil {
				t.Errorf("refused record: got code %q detail %s, want a code and the refusal only", r.Code, r.Detail)
			}
		}
	}
	if ok != 3 || refused != 6 {
		t.Errorf("set-policy records: got %v ok %v refused, want 3 ok 6 refused", ok, refused)
	}
}

func roomIDs(rooms []mesh.Room) []mesh.RoomID {
	out := make([]mesh.RoomID, len(rooms))
	for i, r := range rooms {
		out[i] = r.ID
	}
	return out
}
