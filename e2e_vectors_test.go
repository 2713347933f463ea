package mesh_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
)

// The wire vectors of end-to-end encrypted rooms (files named e2e-*, or
// *-e2e-* in client-frames and server-frames) tell one story: room
// "vault" of node nq4c7ha2lmx5tyvbk at epoch 3, whose roster holds a
// device of alice and one of bob; alice posts a keys entry (seq 13) and a
// message to bob (seq 14). Their keys, wraps and signatures are real,
// made by package e2e from fixed seeds, so the checks below verify them
// as a node and a receiving SDK would.
//
// MESH_WRITE_E2E_VECTORS=1 go test -run TestWriteE2EVectors writes the
// files again (the same bytes: every seed is fixed).

const (
	e2eNode  = "nq4c7ha2lmx5tyvbk"
	e2eRoom  = mesh.RoomID("vault")
	e2eAlice = mesh.ParticipantID("p_alicea3kq6tzm2wx")
	e2eBob   = mesh.ParticipantID("p_bobq5nd7wvf4ye2r")
	e2eEpoch = 3
)

var e2eHome = mesh.RemoteRoom(e2eRoom, e2eNode)

// seeded is a deterministic byte stream: SHA-256 of seed and a counter.
type seeded struct {
	seed string
	n    int
	buf  []byte
}

func (r *seeded) Read(p []byte) (int, error) {
	for i := range p {
		if len(r.buf) == 0 {
			h := sha256.Sum256(fmt.Appendf(nil, "%s/%d", r.seed, r.n))
			r.n++
			r.buf = h[:]
		}
		p[i], r.buf = r.buf[0], r.buf[1:]
	}
	return len(p), nil
}

func rnd(seed string) *seeded { return &seeded{seed: "mesh-e2e-vectors/" + seed} }

// e2eStory is the story's keys and stored messages.
type e2eStory struct {
	alice, bob, extra *e2e.Identity
	roster            mesh.Roster // seq 12
	event             mesh.Message
	keys, msg         mesh.Message
	aliceDevice       mesh.Device // as registered
}

func newE2EStory(tb testing.TB) *e2eStory {
	tb.Helper()
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	var s e2eStory
	var err error
	s.alice, err = e2e.NewIdentity(rnd("alice device"))
	must(err)
	s.bob, err = e2e.NewIdentity(rnd("bob device"))
	must(err)
	s.extra, err = e2e.NewIdentity(rnd("another device"))
	must(err)
	s.aliceDevice = s.alice.Device()
	s.aliceDevice.Created = time.Date(2026, 3, 1, 11, 58, 30, 0, time.UTC)
	a, b := s.alice.Device(), s.bob.Device()
	devices := []mesh.Device{
		{ID: a.ID, Participant: e2eAlice, Sign: a.Sign, Box: a.Box},
		{ID: b.ID, Participant: e2eBob, Sign: b.Sign, Box: b.Box},
	}
	if devices[0].ID > devices[1].ID {
		devices[0], devices[1] = devices[1], devices[0]
	}
	s.roster = mesh.Roster{Epoch: e2eEpoch, Room: e2eHome, Devices: devices, Seq: 12}
	ev := s.roster
	ev.Seq = 0
	bobFrom := mesh.Sender{ID: e2eBob, Name: "bob", Kind: mesh.KindHuman, Node: e2eNode}
	aliceFrom := mesh.Sender{ID: e2eAlice, Name: "alice", Kind: mesh.KindAgent, Node: e2eNode}
	s.event = mesh.Message{ID: "m_ep3bq7vx2kd4zn6w", Room: e2eRoom, Seq: 12, Kind: mesh.MessageEvent, From: bobFrom, Trust: mesh.TrustLocal,
		TS: time.Date(2026, 3, 1, 12, 20, 0, 0, time.UTC), Body: mesh.Body{Event: &mesh.Event{Type: mesh.EventE2EEpoch, E2E: &ev, By: e2eBob}}}
	ks, ck0, err := e2e.SealKeys(s.alice, e2eHome, e2eEpoch, s.roster.Devices, rnd("alice keys"))
	must(err)
	s.keys = mesh.Message{ID: "m_k3ys8qz2wx5tn4va", Room: e2eRoom, Seq: 13, Kind: mesh.MessageEncrypted, From: aliceFrom, Trust: mesh.TrustLocal,
		TS: time.Date(2026, 3, 1, 12, 20, 1, 0, time.UTC), Body: mesh.Body{E2E: ks}}
	n, mk, err := e2e.NewChain(ck0).Next()
	must(err)
	plain := e2e.Plain{Kind: mesh.MessageChat, Body: mesh.Body{Text: "The launch code is in the vault."}}
	ms, err := e2e.Seal(s.alice, e2e.Envelope{Room: e2eHome, To: e2eBob, Ref: "r-31"}, e2eEpoch, 13, n, mk, plain, rnd("alice message 1"))
	must(err)
	s.msg = mesh.Message{ID: "m_s3a1ed4qx7wz2kpm", Room: e2eRoom, Seq: 14, Kind: mesh.MessageEncrypted, From: aliceFrom, Trust: mesh.TrustLocal,
		TS: time.Date(2026, 3, 1, 12, 20, 2, 0, time.UTC), Body: mesh.Body{E2E: ms}, To: e2eBob, Ref: "r-31"}
	return &s
}

// Shapes of vector files, with their keys in the order of the other
// vectors.
type (
	vecFile struct {
		Name  string `json:"name"`
		Input any    `json:"input"`
		Want  any    `json:"want"`
	}
	restIn struct {
		Method string `json:"method"`
		Path   string `json:"path"`
		Auth   string `json:"auth"`
		Body   any    `json:"body,omitempty"`
	}
	restWant struct {
		Status int `json:"status"`
		Body   any `json:"body,omitempty"`
	}
	errBody struct {
		Error mesh.Error `json:"error"`
	}
	deviceBody struct {
		Sign []byte `json:"sign"`
		Box  []byte `json:"box"`
		Sig  []byte `json:"sig"`
	}
	postBody struct {
		Kind mesh.MessageKind   `json:"kind,omitempty"`
		Text string             `json:"text,omitempty"`
		Body *mesh.SealedBody   `json:"body,omitempty"`
		To   mesh.ParticipantID `json:"to,omitempty"`
		Ref  string             `json:"ref,omitempty"`
	}
	wantErr struct {
		Error    string `json:"error"`
		Contains string `json:"contains"`
		Ref      string `json:"ref,omitempty"`
	}
	kindWant struct {
		Kind mesh.MessageKind `json:"kind"`
	}
	textWant struct {
		Text string `json:"text"`
	}
	typeWant struct {
		Type string `json:"type"`
	}
)

func refusal(code, format string, args ...any) errBody {
	return errBody{Error: mesh.Error{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// e2eVectors returns every E2E vector file, by path under testdata/protocol.
func e2eVectors(tb testing.TB) map[string]vecFile {
	tb.Helper()
	s := newE2EStory(tb)
	a, b := s.alice.Device(), s.bob.Device()
	out := map[string]vecFile{}
	rest := func(file, name, method, path string, body any, status int, want any) {
		out["rest/"+file+".json"] = vecFile{Name: name, Input: restIn{Method: method, Path: path, Auth: "participant", Body: body}, Want: restWant{Status: status, Body: want}}
	}
	const devices = "/api/v1/participants/me/devices"
	rest("e2e-device-put", "register a device: its Ed25519 and X25519 public keys and the signature binding them; the id is made from the signing key",
		"PUT", devices, deviceBody{a.Sign, a.Box, a.Sig}, 201, map[string]any{"device": s.aliceDevice})
	rest("e2e-device-put-again", "registering the same device again changes nothing: 200 with the first registration",
		"PUT", devices, deviceBody{a.Sign, a.Box, a.Sig}, 200, map[string]any{"device": s.aliceDevice})
	rest("e2e-device-put-bad-signature", "a signature that is not the device's own over its box key",
		"PUT", devices, deviceBody{a.Sign, a.Box, b.Sig}, 400, refusal(mesh.EInvalid, "sig does not verify: it must sign the box key with the device's signing key."))
	rest("e2e-device-put-short-key", "a signing key of the wrong size; the message names the field",
		"PUT", devices, deviceBody{a.Sign[:31], a.Box, a.Sig}, 400, refusal(mesh.EInvalid, "sign must be a 32-byte Ed25519 public key, got 31 bytes."))
	rest("e2e-device-put-bad-base64", "binary values are standard base64 with padding",
		"PUT", devices, map[string]any{"sign": a.Sign, "box": strings.TrimRight(b64(a.Box), "="), "sig": a.Sig}, 400, refusal(mesh.EInvalid, `Field "box" is not standard base64 with padding.`))
	rest("e2e-device-put-taken", "a device id registered by another participant",
		"PUT", devices, deviceBody{a.Sign, a.Box, a.Sig}, 409, refusal(mesh.EConflict, "Device %s is registered to another participant.", a.ID))
	rest("e2e-device-put-too-many", "a participant has at most 8 devices",
		"PUT", devices, deviceBody{b.Sign, b.Box, b.Sig}, 409, refusal(mesh.EConflict, "You have 8 devices, the most a participant may have; delete one first."))
	rest("e2e-device-list", "the participant's devices, in the order they were registered",
		"GET", devices, nil, 200, map[string]any{"devices": []mesh.Device{s.aliceDevice}})
	rest("e2e-device-delete", "delete a device: it leaves the roster of every E2E room its participant is in (a new epoch)",
		"DELETE", devices+"/"+a.ID, nil, 204, nil)
	rest("e2e-device-delete-missing", "a device that is not the participant's",
		"DELETE", devices+"/"+b.ID, nil, 404, refusal(mesh.ENotFound, "You have no device %q.", b.ID))
	rest("e2e-roster", "an E2E room's current roster: its epoch, home address, devices (sorted by id) and the seq of its epoch event",
		"GET", "/api/v1/rooms/vault/e2e", nil, 200, s.roster)
	rest("e2e-roster-plain-room", "a room that is not E2E has no roster",
		"GET", "/api/v1/rooms/lobby/e2e", nil, 400, refusal(mesh.EInvalid, `Room "lobby" is not end-to-end encrypted (its policy has "e2e": false): it has no roster.`))
	rest("e2e-roster-not-member", "only members read the roster",
		"GET", "/api/v1/rooms/vault/e2e", nil, 403, refusal(mesh.EForbidden, `You are not a member of room "vault": join it first.`))
	keysPost := postBody{Kind: mesh.MessageEncrypted, Body: &mesh.SealedBody{E2E: s.keys.Body.E2E}}
	rest("e2e-message-post-keys", "a keys entry: alice's chain key for epoch 3, wrapped to every device of the roster, her own included",
		"POST", "/api/v1/rooms/vault/messages", keysPost, 201, map[string]any{"message": s.keys})
	msgPost := postBody{Kind: mesh.MessageEncrypted, Body: &mesh.SealedBody{E2E: s.msg.Body.E2E}, To: e2eBob, Ref: "r-31"}
	rest("e2e-message-post-msg", "an encrypted message to bob; its ref is bound by the signature, so it is stored in the envelope",
		"POST", "/api/v1/rooms/vault/messages", msgPost, 201, map[string]any{"message": s.msg, "ref": "r-31"})
	rest("e2e-message-post-plain-text", "a chat line in clear in an E2E room",
		"POST", "/api/v1/rooms/vault/messages", postBody{Text: "hello, vault"}, 400,
		refusal(mesh.EInvalid, `Room "vault" is end-to-end encrypted: post kind "encrypted" bodies made by an SDK with E2E (see PROTOCOL.md).`))
	rest("e2e-message-post-plain-room", "kind encrypted in a room that is not E2E",
		"POST", "/api/v1/rooms/lobby/messages", keysPost, 400,
		refusal(mesh.EInvalid, `Room "lobby" is not end-to-end encrypted: kind "encrypted" is only for rooms whose policy has "e2e": true; post "text" here.`))
	rest("e2e-message-post-stale-epoch", "a message sealed for epoch 3 when the room is at epoch 4: read the new roster, re-key and resend",
		"POST", "/api/v1/rooms/vault/messages", msgPost, 409, refusal(mesh.EConflict, "Room vault is at epoch 4, not 3; re-key and resend."))
	forged := *s.msg.Body.E2E
	forged.Sig = bytes.Clone(forged.Sig)
	forged.Sig[0] ^= 1
	rest("e2e-message-post-bad-signature", "a signature that does not verify with the device's signing key (for this room, epoch, to and ref)",
		"POST", "/api/v1/rooms/vault/messages", postBody{Kind: mesh.MessageEncrypted, Body: &mesh.SealedBody{E2E: &forged}, To: e2eBob, Ref: "r-31"}, 400,
		refusal(mesh.EInvalid, `body.e2e.sig does not verify with the signing key of device %s (for room %s, epoch 3, to "%s", ref "r-31").`, a.ID, e2eHome, e2eBob))
	rest("e2e-message-post-not-your-device", "bob posts a body of alice's device",
		"POST", "/api/v1/rooms/vault/messages", msgPost, 403, refusal(mesh.EForbidden, "body.e2e.device: device %s is not yours: it belongs to %s.", a.ID, e2eAlice))
	short, _, err := e2e.SealKeys(s.alice, e2eHome, e2eEpoch, s.roster.Devices[:1], rnd("alice short keys"))
	if err != nil {
		tb.Fatal(err)
	}
	left := s.roster.Devices[1]
	rest("e2e-message-post-missing-wrap", "a keys entry must wrap the chain key to every device of the roster",
		"POST", "/api/v1/rooms/vault/messages", postBody{Kind: mesh.MessageEncrypted, Body: &mesh.SealedBody{E2E: short}}, 400,
		refusal(mesh.EInvalid, "body.e2e.wraps has no wrap for device %s (of %s) in the roster of epoch 3: wrap the chain key to every roster device.", left.ID, left.Participant))
	big := e2e.Plain{Kind: mesh.MessageChat, Body: mesh.Body{Text: strings.Repeat("All work and no play. ", 72)}}
	ck, _ := e2e.MessageKey(bytes.Repeat([]byte{7}, 32), 2)
	bs, err := e2e.Seal(s.alice, e2e.Envelope{Room: e2eHome}, e2eEpoch, 13, 2, ck, big, rnd("alice big"))
	if err != nil {
		tb.Fatal(err)
	}
	rest("e2e-message-post-too-large", "in a room with limits.maxMessageBytes 1024, a plaintext may be 1024 + 512 bytes (the JSON around the text); the ciphertext is 16 bytes longer",
		"POST", "/api/v1/rooms/vault/messages", postBody{Kind: mesh.MessageEncrypted, Body: &mesh.SealedBody{E2E: bs}}, 413,
		refusal(mesh.ETooLarge, "body.e2e.ct holds %d bytes of plaintext; the limit is 1536.", len(bs.CT)-16))
	rest("e2e-policy-off", "an E2E room stays E2E",
		"PUT", "/api/v1/rooms/vault/policy", map[string]any{"e2e": false}, 400,
		refusal(mesh.EInvalid, `policy.e2e: room "vault" is end-to-end encrypted, and an end-to-end encrypted room stays so; create a new room.`))
	rest("e2e-data-refused", "room data is not end-to-end encrypted in v1, so it is refused in E2E rooms",
		"GET", "/api/v1/rooms/vault/data/notes.md", nil, 400,
		refusal(mesh.EInvalid, `Room "vault" is end-to-end encrypted, and room data is not end-to-end encrypted in v1: its /data files are refused.`))
	rest("e2e-join-roster-full", "a join that would take the roster over 256 devices",
		"POST", "/api/v1/rooms/vault/join", nil, 409,
		refusal(mesh.EConflict, "Room vault's roster would hold 257 devices; an end-to-end encrypted room holds at most 256."))

	frame := func(file, name string, f any, want any) {
		b, err := json.Marshal(f)
		if err != nil {
			tb.Fatal(err)
		}
		if want == nil {
			want = f
		}
		out["client-frames/"+file+".json"] = vecFile{Name: name, Input: string(b), Want: want}
	}
	sayKeys := mesh.Say{Type: mesh.FrameSay, Room: e2eRoom, Kind: mesh.MessageEncrypted, Body: &mesh.SealedBody{E2E: s.keys.Body.E2E}, Ref: "k-3"}
	sayMsg := mesh.Say{Type: mesh.FrameSay, Room: e2eRoom, Kind: mesh.MessageEncrypted, Body: &mesh.SealedBody{E2E: s.msg.Body.E2E}, To: e2eBob, Ref: "r-31"}
	frame("say-e2e-keys", "say a keys entry in an E2E room", sayKeys, nil)
	frame("say-e2e-msg", "say an encrypted message, addressed; the ref is bound by the signature and stored", sayMsg, nil)
	withText := sayMsg
	withText.Text = "hello"
	frame("bad-say-e2e-with-text", "kind encrypted carries no text", withText, wantErr{Error: mesh.EInvalid, Contains: `carries "body", not "text"`, Ref: "r-31"})
	noBody := sayMsg
	noBody.Body = nil
	frame("bad-say-e2e-no-body", "kind encrypted needs a body", noBody, wantErr{Error: mesh.EInvalid, Contains: `needs "body": {"e2e": {...}}`, Ref: "r-31"})
	chatBody := sayMsg
	chatBody.Kind, chatBody.Text = mesh.MessageChat, "hello"
	frame("bad-say-e2e-chat-with-body", "a chat line has no body", chatBody, wantErr{Error: mesh.EInvalid, Contains: `say of kind "chat" carries "text", not "body"`, Ref: "r-31"})
	command := sayMsg
	command.Kind = mesh.MessageCommand
	frame("bad-say-e2e-kind-command", "say is chat or encrypted; commands have a frame of their own (and travel sealed in E2E rooms)", command,
		wantErr{Error: mesh.EInvalid, Contains: `say kind must be "chat" or "encrypted", got "command"`, Ref: "r-31"})
	raw, _ := json.Marshal(sayMsg)
	out["client-frames/bad-say-e2e-bad-base64.json"] = vecFile{Name: "a binary field that is not base64 is named",
		Input: strings.Replace(string(raw), b64(s.msg.Body.E2E.Nonce), "not-base64", 1),
		Want:  wantErr{Error: mesh.EInvalid, Contains: `Field "body.e2e.nonce" is not standard base64 with padding.`, Ref: "r-31"}}
	out["client-frames/bad-say-e2e-body-text.json"] = vecFile{Name: "the body of kind encrypted holds only e2e",
		Input: strings.Replace(string(raw), `"body":{`, `"body":{"text":"hello",`, 1),
		Want:  wantErr{Error: mesh.EInvalid, Contains: `Unknown field "body.text".`, Ref: "r-31"}}

	out["envelopes/e2e-epoch.json"] = vecFile{Name: "an e2e.epoch event: epoch 3 began, with this roster", Input: s.event, Want: kindWant{mesh.MessageEvent}}
	out["envelopes/e2e-keys.json"] = vecFile{Name: "a keys entry, stored sealed", Input: s.keys, Want: kindWant{mesh.MessageEncrypted}}
	out["envelopes/e2e-msg.json"] = vecFile{Name: "an encrypted message, stored sealed; to and ref are bound by its signature", Input: s.msg, Want: kindWant{mesh.MessageEncrypted}}

	history := []json.RawMessage{rawJSON(tb, s.event), rawJSON(tb, s.keys), rawJSON(tb, s.msg)}
	members := []mesh.Member{
		{Participant: mesh.Participant{ID: e2eAlice, Name: "alice", Kind: mesh.KindAgent, Trust: mesh.TrustLocal, Node: e2eNode, Created: time.Date(2026, 3, 1, 11, 58, 0, 500000000, time.UTC)}, Online: true},
		{Participant: mesh.Participant{ID: e2eBob, Name: "bob", Kind: mesh.KindHuman, Trust: mesh.TrustLocal, Node: e2eNode, Created: time.Date(2026, 3, 1, 11, 59, 12, 0, time.UTC)}, Online: true},
	}
	roster := s.roster
	out["server-frames/joined-e2e.json"] = vecFile{Name: "joined an E2E room: e2e is the current roster",
		Input: mesh.Joined{Type: mesh.FrameJoined, Room: e2eRoom, Ref: "j-3", Members: members, History: history, Head: 14, E2E: &roster},
		Want:  typeWant{mesh.FrameJoined}}

	out["prompt/e2e-encrypted.json"] = vecFile{Name: "an encrypted message, which the node cannot read", Input: s.msg, Want: textWant{s.msg.ForPrompt()}}
	out["prompt/e2e-epoch.json"] = vecFile{Name: "an e2e.epoch event", Input: s.event, Want: textWant{s.event.ForPrompt()}}
	return out
}

func b64(b []byte) string {
	j, _ := json.Marshal(b)
	return strings.Trim(string(j), `"`)
}

func rawJSON(tb testing.TB, v any) json.RawMessage {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// encodeVector writes a vector file as the others are written: two-space
// indent, no HTML escaping, a final newline.
func encodeVector(tb testing.TB, v vecFile) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteE2EVectors(t *testing.T) {
	if os.Getenv("MESH_WRITE_E2E_VECTORS") == "" {
		t.Skip("set MESH_WRITE_E2E_VECTORS=1 to write the E2E vectors")
	}
	for path, v := range e2eVectors(t) {
		if err := os.WriteFile(filepath.Join("testdata", "protocol", path), encodeVector(t, v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestE2EVectorsCurrent checks the files are what the story makes: the
// same seeds give the same bytes, so no file was edited by hand.
func TestE2EVectorsCurrent(t *testing.T) {
	for path, v := range e2eVectors(t) {
		got, err := os.ReadFile(filepath.Join("testdata", "protocol", path))
		if err != nil {
			t.Fatalf("%s: %v (write the files with MESH_WRITE_E2E_VECTORS=1)", path, err)
		}
		if !bytes.Equal(got, encodeVector(t, v)) {
			t.Errorf("%s is not what the E2E story makes: write the files again with MESH_WRITE_E2E_VECTORS=1", path)
		}
	}
}

// TestProtocolE2E checks the E2E vectors as a node and a receiving SDK
// would: devices verify, the roster is sorted and its ids are its keys',
// the keys entry and the message pass e2e.CheckShape and verify for the
// roster's home address, bob opens the message, and each refusal is the
// one its check gives.
func TestProtocolE2E(t *testing.T) {
	read := func(path string, v any) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("testdata", "protocol", path))
		if err != nil {
			t.Fatal(err)
		}
		if err := decodeStrict(b, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	type restFile[In, Out any] struct {
		Name  string `json:"name"`
		Input struct {
			Method string `json:"method"`
			Path   string `json:"path"`
			Auth   string `json:"auth"`
			Body   In     `json:"body"`
		} `json:"input"`
		Want struct {
			Status int `json:"status"`
			Body   Out `json:"body"`
		} `json:"want"`
	}
	var put restFile[deviceBody, struct{ Device mesh.Device }]
	read("rest/e2e-device-put.json", &put)
	in := put.Input.Body
	dev := put.Want.Body.Device
	if err := e2e.VerifyDevice(mesh.Device{Sign: in.Sign, Box: in.Box, Sig: in.Sig}); err != nil || dev.ID != mesh.DeviceID(in.Sign) {
		t.Fatalf("e2e-device-put: %v; id %s, want %s", err, dev.ID, mesh.DeviceID(in.Sign))
	}
	var bad restFile[deviceBody, errBody]
	read("rest/e2e-device-put-bad-signature.json", &bad)
	if err := e2e.VerifyDevice(mesh.Device{Sign: bad.Input.Body.Sign, Box: bad.Input.Body.Box, Sig: bad.Input.Body.Sig}); err == nil || mesh.ErrorMessage(err) != bad.Want.Body.Error.Message {
		t.Fatalf("e2e-device-put-bad-signature: VerifyDevice gives %v, want %q", err, bad.Want.Body.Error.Message)
	}
	read("rest/e2e-device-put-short-key.json", &bad)
	if err := e2e.VerifyDevice(mesh.Device{Sign: bad.Input.Body.Sign, Box: bad.Input.Body.Box, Sig: bad.Input.Body.Sig}); mesh.ErrorMessage(err) != bad.Want.Body.Error.Message {
		t.Fatalf("e2e-device-put-short-key: VerifyDevice gives %v, want %q", err, bad.Want.Body.Error.Message)
	}
	var rawBad restFile[json.RawMessage, errBody]
	read("rest/e2e-device-put-bad-base64.json", &rawBad)
	var db deviceBody
	if err := mesh.DecodeStrict(rawBad.Input.Body, &db); mesh.ErrorMessage(err) != rawBad.Want.Body.Error.Message {
		t.Fatalf("e2e-device-put-bad-base64: DecodeStrict gives %v, want %q", err, rawBad.Want.Body.Error.Message)
	}

	var rf restFile[json.RawMessage, mesh.Roster]
	read("rest/e2e-roster.json", &rf)
	roster := rf.Want.Body
	if room, node, ok := roster.Room.Split(); !ok || !room.Valid() || !mesh.ValidNodeID(node) || roster.Epoch == 0 || roster.Seq == 0 {
		t.Fatalf("roster %+v: want a home address room@node, an epoch and a seq", roster)
	}
	for i, d := range roster.Devices {
		if d.ID != mesh.DeviceID(d.Sign) || len(d.Box) != 32 || d.Participant == "" || d.Sig != nil || !d.Created.IsZero() {
			t.Errorf("roster device %d: %+v: want its id from its key, a box key, a participant, no sig or created", i, d)
		}
		if i > 0 && d.ID <= roster.Devices[i-1].ID {
			t.Errorf("roster devices are not sorted by id at %d", i)
		}
	}
	sign := func(id string) []byte {
		for _, d := range roster.Devices {
			if d.ID == id {
				return d.Sign
			}
		}
		t.Fatalf("device %s is not in the roster", id)
		return nil
	}
	type messageOut struct {
		Message mesh.Message `json:"message"`
		Ref     string       `json:"ref,omitempty"`
	}
	maxPlain := 8192 + 512
	var keys restFile[postBody, messageOut]
	read("rest/e2e-message-post-keys.json", &keys)
	ks := keys.Input.Body.Body.E2E
	if err := e2e.CheckShape(ks, maxPlain); err != nil {
		t.Fatalf("keys entry: %v", err)
	}
	if err := e2e.Verify(ks, e2e.Envelope{Room: roster.Room}, sign(ks.Device)); err != nil || ks.Epoch != roster.Epoch || len(ks.Wraps) != len(roster.Devices) {
		t.Fatalf("keys entry: %v; epoch %d with %d wraps, want the roster's", err, ks.Epoch, len(ks.Wraps))
	}
	var msg restFile[postBody, messageOut]
	read("rest/e2e-message-post-msg.json", &msg)
	ms, stored := msg.Input.Body.Body.E2E, msg.Want.Body.Message
	env := e2e.Envelope{Room: roster.Room, To: msg.Input.Body.To, Ref: msg.Input.Body.Ref}
	if err := e2e.CheckShape(ms, maxPlain); err != nil {
		t.Fatalf("message: %v", err)
	}
	if err := e2e.Verify(ms, env, sign(ms.Device)); err != nil {
		t.Fatalf("message: %v", err)
	}
	if stored.To != env.To || stored.Ref != env.Ref || stored.Kind != mesh.MessageEncrypted || ms.Keys != keys.Want.Body.Message.Seq || ms.Keys <= roster.Seq {
		t.Fatalf("stored message %+v: want kind encrypted, the posted to and ref, keys = the keys entry's seq", stored)
	}
	// Bob opens it, as his SDK would, with the keys the story seeds.
	s := newE2EStory(t)
	ck0, err := e2e.OpenKeys(s.bob, roster.Room, ks)
	if err != nil {
		t.Fatal(err)
	}
	mk, _ := e2e.MessageKey(ck0, ms.N)
	if p, err := e2e.Open(ms, env, mk); err != nil || p.Body.Text == "" {
		t.Fatalf("bob opens the message: %+v %v", p, err)
	}

	var forged restFile[postBody, errBody]
	read("rest/e2e-message-post-bad-signature.json", &forged)
	if err := e2e.Verify(forged.Input.Body.Body.E2E, env, sign(ms.Device)); err == nil {
		t.Fatal("e2e-message-post-bad-signature verifies")
	}
	forged = restFile[postBody, errBody]{}
	read("rest/e2e-message-post-missing-wrap.json", &forged)
	if w := forged.Input.Body.Body.E2E.Wraps; len(w) >= len(roster.Devices) || !strings.Contains(forged.Want.Body.Error.Message, "no wrap for device") {
		t.Fatalf("e2e-message-post-missing-wrap has %d wraps for a roster of %d", len(w), len(roster.Devices))
	}
	forged = restFile[postBody, errBody]{}
	read("rest/e2e-message-post-too-large.json", &forged)
	if err := e2e.CheckShape(forged.Input.Body.Body.E2E, 1024+512); mesh.ErrorCode(err) != mesh.ETooLarge || mesh.ErrorMessage(err) != forged.Want.Body.Error.Message {
		t.Fatalf("e2e-message-post-too-large: CheckShape gives %v, want %q", err, forged.Want.Body.Error.Message)
	}
	forged = restFile[postBody, errBody]{}
	read("rest/e2e-message-post-stale-epoch.json", &forged)
	if e := forged.Input.Body.Body.E2E.Epoch; !strings.Contains(forged.Want.Body.Error.Message, fmt.Sprintf("not %d", e)) {
		t.Fatalf("e2e-message-post-stale-epoch: the body's epoch %d is not the one refused", e)
	}

	// The stored envelopes verify too, against the epoch event's roster.
	var epoch, keysEnv, msgEnv struct {
		Name  string       `json:"name"`
		Input mesh.Message `json:"input"`
		Want  kindWant     `json:"want"`
	}
	read("envelopes/e2e-epoch.json", &epoch)
	read("envelopes/e2e-keys.json", &keysEnv)
	read("envelopes/e2e-msg.json", &msgEnv)
	ev := epoch.Input.Body.Event
	if ev == nil || ev.Type != mesh.EventE2EEpoch || ev.E2E == nil || ev.E2E.Seq != 0 || ev.E2E.Epoch != roster.Epoch || epoch.Input.Seq != roster.Seq {
		t.Fatalf("e2e-epoch: %+v: want an e2e.epoch event of the roster's epoch at its seq, without a seq of its own", epoch.Input)
	}
	m := msgEnv.Input
	if err := e2e.Verify(m.Body.E2E, e2e.Envelope{Room: ev.E2E.Room, To: m.To, Ref: m.Ref}, sign(m.Body.E2E.Device)); err != nil {
		t.Fatalf("e2e-msg: %v", err)
	}
	if err := e2e.Verify(keysEnv.Input.Body.E2E, e2e.Envelope{Room: ev.E2E.Room}, sign(keysEnv.Input.Body.E2E.Device)); err != nil {
		t.Fatalf("e2e-keys: %v", err)
	}
}
