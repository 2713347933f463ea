package mesh_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/federation"
)

func TestAddresses(t *testing.T) {
	for in, want := range map[mesh.RoomID]string{
		"design-review@nx3b5t7kq2wzm4ha6": "design-review nx3b5t7kq2wzm4ha6",
		"design-review":                   "",
		"design-review@":                  "",
		"@nx3b5t7kq2wzm4ha6":              "",
		"Design@nx3b5t7kq2wzm4ha6":        "",
		"design@nx3b5t7kq2wzm4ha1":        "", // 1 is not base32
		"design@rx3b5t7kq2wzm4ha6":        "", // a relay is not a node
		"a@b@nx3b5t7kq2wzm4ha6":           "",
	} {
		room, node, ok := in.Split()
		got := ""
		if ok {
			got = string(room) + " " + node
		}
		if got != want || in.Remote() != ok {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
	const a, b = "nq4c7ha2lmx5tyvbk", "nx3b5t7kq2wzm4ha6"
	for _, tc := range []struct {
		id             mesh.ParticipantID
		writer, viewer string
		want           mesh.ParticipantID
	}{
		{"p_alice", a, b, "p_alice@" + a}, // a's own participant, seen from b
		{"p_alice@" + b, a, b, "p_alice"}, // b's participant as a wrote it
		{"p_carol@nmmmmmmmmmmmmmmmm", a, b, "p_carol@nmmmmmmmmmmmmmmmm"},
		{"", a, b, ""},
	} {
		if got := mesh.ViewParticipant(tc.id, tc.writer, tc.viewer); got != tc.want {
			t.Errorf("ViewParticipant(%q, %s, %s): got %q, want %q", tc.id, tc.writer, tc.viewer, got, tc.want)
		}
	}
}

// TestProvenanceVector verifies the signature in
// envelopes/chat-federated.json: node A's key, over the statement of the
// envelope as its home (node B) stores it.
func TestProvenanceVector(t *testing.T) {
	const (
		keyA  = "w21RnksLDL3lEFSpb53Z/aobLJs082cT/sDhfAoZOIw=" // node nemmgynitrhp6kwdh
		homeB = "nryozb6gvydly5lbj"
		want  = `{"body":{"text":"The mock-ups are in the room's files."},"from":{"id":"p_alicea3kq6tzm2wx@nemmgynitrhp6kwdh","kind":"agent","name":"alice","node":"nemmgynitrhp6kwdh"},"id":"m_fed4kq2wzm7ha3xs","kind":"chat","room":"design-review@nryozb6gvydly5lbj","ts":"2026-03-01T12:20:00.25Z"}`
	)
	raw, err := os.ReadFile("testdata/protocol/envelopes/chat-federated.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Input mesh.Message `json:"input"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	m, p := v.Input, v.Input.Provenance[0]
	stmt, err := mesh.ProvenanceStatement(&m, mesh.RemoteRoom(m.Room, homeB), p, homeB)
	if err != nil {
		t.Fatal(err)
	}
	if string(stmt) != want {
		t.Fatalf("statement:\ngot  %s\nwant %s", stmt, want)
	}
	key, _ := base64.StdEncoding.DecodeString(keyA)
	sig, _ := base64.StdEncoding.DecodeString(p.Sig)
	if !ed25519.Verify(key, stmt, sig) {
		t.Fatal("the vector's provenance signature does not verify")
	}
	// The same statement from the origin's view: alice named bare.
	m.From.ID, m.Room = "p_alicea3kq6tzm2wx", mesh.RemoteRoom("design-review", homeB)
	if again, _ := mesh.ProvenanceStatement(&m, m.Room, p, "nemmgynitrhp6kwdh"); string(again) != want {
		t.Fatalf("statement from the origin's view differs:\n%s", again)
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		`{"b":1,"a":[1.50,"x",null,true],"é":{}}`: `{"a":[1.5,"x",null,true],"b":1,"é":{}}`,
		` 1e21 `: `1e+21`,
	} {
		got, err := mesh.Canonical([]byte(in))
		if err != nil || string(got) != want {
			t.Errorf("Canonical(%s): got %s %v, want %s", in, got, err, want)
		}
	}
	if _, err := mesh.Canonical([]byte(`{"a":`)); err == nil {
		t.Error("Canonical of broken JSON did not fail")
	}
}

// TestProtocolFederation reads the bodies nodes send each other
// (testdata/protocol/federation): each decodes strictly as a FedBody,
// encodes back to the same JSON, comes from the room's home (want.from),
// and names participants of the receiving node (want.to), which reads them
// as want.participants, named as it names them; or is a post from a
// member's node (want.from) to the room's home (want.to), see
// checkPostVector.
func TestProtocolFederation(t *testing.T) {
	forEachVector(t, "federation", func(t *testing.T, v vector) {
		var b mesh.FedBody
		if err := mesh.DecodeStrict(v.Input, &b); err != nil {
			t.Fatalf("decode: %v", err)
		}
		again, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := generic(t, again), generic(t, v.Input); !reflect.DeepEqual(got, want) {
			t.Errorf("re-encoded: got %v, want %v", got, want)
		}
		var want struct {
			Kind         string               `json:"kind"`
			From         string               `json:"from"`
			To           string               `json:"to"`
			Capability   mesh.Capability      `json:"capability"`
			Action       string               `json:"action"`
			Op           string               `json:"op"`
			Code         string               `json:"code"`
			Participants []mesh.ParticipantID `json:"participants"`
		}
		if err := decodeStrict(v.Want, &want); err != nil {
			t.Fatalf("want: %v", err)
		}
		if b.Kind != want.Kind {
			t.Fatalf("got a %s, want a %s", b.Kind, want.Kind)
		}
		if b.Kind == mesh.FedSay || b.Kind == mesh.FedCommand || b.Kind == mesh.FedResult {
			checkPostVector(t, v.Input, &b, want.From, want.To, want.Participants)
			return
		}
		if b.Kind == mesh.FedMove || b.Kind == mesh.FedWorld {
			checkWorldVector(t, &b, want.From, want.To, want.Participants)
			return
		}
		if b.Kind == mesh.FedRequest {
			checkRequestVector(t, &b, want.From, want.To, want.Op, want.Participants)
			return
		}
		if _, home, ok := b.Room.Split(); !ok || home != want.From {
			t.Fatalf("got a %s for %q, want one from its home %s", b.Kind, b.Room, want.From)
		}
		var members []mesh.Participant
		switch b.Kind {
		case mesh.FedAccess:
			if c := mesh.Capability(b.Event); !c.Valid() || c != want.Capability {
				t.Errorf("capability: got %q, want %q", b.Event, want.Capability)
			}
			for _, m := range b.Members {
				members = append(members, m.Participant)
			}
		case mesh.FedLeave:
			if b.Participant == nil || mesh.ValidModeration(b.Event) != nil || b.Event != want.Action {
				t.Fatalf("leave: got participant %v and event %q, want action %q", b.Participant, b.Event, want.Action)
			}
			members = append(members, *b.Participant)
		case mesh.FedReply:
			checkReplyVector(t, &b, want.Op, want.Code)
		default:
			t.Fatalf("kind %q has no check", b.Kind)
		}
		got := []mesh.ParticipantID{}
		for _, p := range members {
			if p.Node != want.To {
				t.Errorf("%s: got node %s, want only participants of %s", p.ID, p.Node, want.To)
			}
			got = append(got, mesh.ViewParticipant(mesh.Qualify(p.ID, p.Node), want.From, want.To))
		}
		if !slices.Equal(got, want.Participants) {
			t.Errorf("participants: got %v, want %v", got, want.Participants)
		}
	})
}

// checkWorldVector checks a move body (a member's node, from, to the room's
// home, to: its own participants' moves, named bare, each with the seq of
// the move frame) or a world body (the home, from, to a member's node, to:
// the avatars that changed at a tick, named as the home names them). The
// receiver names the avatars participants.
func checkWorldVector(t *testing.T, b *mesh.FedBody, from, to string, participants []mesh.ParticipantID) {
	t.Helper()
	home := to
	if b.Kind == mesh.FedWorld {
		home = from
	}
	if _, h, ok := b.Room.Split(); !ok || h != home {
		t.Fatalf("a %s for %q, want one for a room of node %s", b.Kind, b.Room, home)
	}
	if len(b.Moves) == 0 || len(b.Moves) > federation.MaxLossyMoves {
		t.Fatalf("%d avatars, want 1 to %d", len(b.Moves), federation.MaxLossyMoves)
	}
	if b.Kind == mesh.FedWorld && b.Tick == 0 {
		t.Error("a world body without a tick")
	}
	if b.Kind == mesh.FedMove && b.Tick != 0 {
		t.Errorf("a move body with tick %d: only the home ticks", b.Tick)
	}
	got := []mesh.ParticipantID{}
	for _, m := range b.Moves {
		for _, x := range append(m.Pos[:], m.Facing) {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				t.Errorf("%s: pos %v facing %v, want finite numbers", m.ID, m.Pos, m.Facing)
			}
		}
		if b.Kind == mesh.FedMove && (strings.Contains(string(m.ID), "@") || m.Ack == 0) {
			t.Errorf("move of %s with ack %d: want the sender's own participant, bare, and the move's seq", m.ID, m.Ack)
		}
		got = append(got, mesh.ViewParticipant(m.ID, from, to))
	}
	if !slices.Equal(got, participants) {
		t.Errorf("participants: got %v, want %v", got, participants)
	}
}

// checkRequestVector checks a request a member's node (from) sends a
// room's home (to): the actor is a participant of from, and the home names
// it and the moderation target (if any) as participants lists them; a
// payload in one chunk matches its sha256.
func checkRequestVector(t *testing.T, b *mesh.FedBody, from, to, op string, participants []mesh.ParticipantID) {
	t.Helper()
	if _, home, ok := b.Room.Split(); !ok || home != to || b.Participant == nil || b.Participant.Node != from || b.Ref == "" {
		t.Fatalf("a request for %q by %v, want one to home %s by a participant of %s, with a ref", b.Room, b.Participant, to, from)
	}
	if b.Op == nil || b.Op.Name != op {
		t.Fatalf("op: got %v, want %q", b.Op, op)
	}
	got := []mesh.ParticipantID{mesh.ViewParticipant(b.Participant.ID, from, to)}
	if b.Op.Target != "" {
		got = append(got, mesh.ViewParticipant(b.Op.Target, from, to))
	}
	if !slices.Equal(got, participants) {
		t.Errorf("participants: got %v, want %v", got, participants)
	}
	checkPayload(t, b.Op)
}

// checkReplyVector checks a home's reply: the answer to op, or the
// refusal code with its message.
func checkReplyVector(t *testing.T, b *mesh.FedBody, op, code string) {
	t.Helper()
	switch {
	case b.Ref == "":
		t.Fatal("a reply without the ref of its request")
	case code != "":
		if b.Code != code || b.Message == "" || b.Op != nil {
			t.Fatalf("got code %q, message %q and op %v, want code %q with a message and no op", b.Code, b.Message, b.Op, code)
		}
	case b.Op == nil || b.Op.Name != op || b.Code != "":
		t.Fatalf("got op %v, code %q, want op %q", b.Op, b.Code, op)
	default:
		checkPayload(t, b.Op)
		if f := b.Op.File; f != nil && (f.SHA256 != b.Op.SHA256 || f.Size != b.Op.Size) {
			t.Errorf("file %v does not match the payload (%d bytes, sha256 %s)", f, b.Op.Size, b.Op.SHA256)
		}
	}
}

// checkPayload checks a payload (the vectors carry each whole, in one
// chunk): its size and sha256.
func checkPayload(t *testing.T, op *mesh.FedOp) {
	t.Helper()
	if op.SHA256 == "" {
		return
	}
	if op.Offset != 0 || int64(len(op.Data)) != op.Size {
		t.Fatalf("payload: %d bytes at offset %d, want all %d in one chunk", len(op.Data), op.Offset, op.Size)
	}
	if sum := sha256.Sum256(op.Data); hex.EncodeToString(sum[:]) != op.SHA256 {
		t.Errorf("payload: sha256 %x, want %s", sum, op.SHA256)
	}
}

// checkPostVector checks a post a member's node (from) sends a room's home
// (to): the envelope as sent has no seq and no trust (the home assigns
// them), names its author as the sending node does, and carries that
// node's provenance entry, which verifies with that node's key (say.json's
// is the node of TestProvenanceVector). The home names the author participants[0].
func checkPostVector(t *testing.T, input json.RawMessage, b *mesh.FedBody, from, to string, participants []mesh.ParticipantID) {
	t.Helper()
	// The vectors' sending nodes and their keys.
	keys := map[string]string{
		"nemmgynitrhp6kwdh": "w21RnksLDL3lEFSpb53Z/aobLJs082cT/sDhfAoZOIw=",
		"nxskkvhzphpk6ktog": "lJZM0e68K64HqXREX/+Mf5ZQ1/KUt3iY9bt4MP74sOE=", // say-bridged.json
	}
	var raw struct {
		Msg map[string]json.RawMessage `json:"msg"`
	}
	if err := json.Unmarshal(input, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"seq", "trust"} {
		if _, ok := raw.Msg[k]; ok {
			t.Errorf("the post's msg has %q: the home assigns it", k)
		}
	}
	m := b.Msg
	if _, home, ok := b.Room.Split(); !ok || home != to || m == nil || m.Room != b.Room || m.From.Node != from {
		t.Fatalf("a post for %q from node %s, want one to home %s from node %s", b.Room, m.From.Node, to, from)
	}
	if got := mesh.ViewParticipant(mesh.Qualify(m.From.ID, m.From.Node), from, to); len(participants) != 1 || got != participants[0] {
		t.Errorf("the home names the author %s, want %v", got, participants)
	}
	keyA, known := keys[from]
	if len(m.Provenance) != 1 || m.Provenance[0].Node != from || !known {
		t.Fatalf("provenance %v: want one entry, by node %s, one of the vectors' nodes", m.Provenance, from)
	}
	stmt, err := mesh.ProvenanceStatement(m, b.Room, m.Provenance[0], from)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(keyA)
	sig, _ := base64.StdEncoding.DecodeString(m.Provenance[0].Sig)
	if !ed25519.Verify(key, stmt, sig) {
		t.Errorf("the post's provenance does not verify; statement %s", stmt)
	}
}
