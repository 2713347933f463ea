package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
	"github.com/the-mesh/mesh/internal/meshtest"
)

// The E2E tests drive a real node over real sockets with the e2e package
// acting as each participant's client: it holds the private keys, the
// node sees only what goes over the wire.

// doJSON sends a REST request with body (JSON-encoded unless nil) and
// decodes a 2xx answer into out (if not nil). It returns the status and,
// for an error answer, the error.
func doJSON(tb testing.TB, n *meshtest.Node, method, path, token string, body, out any) (int, *mesh.Error) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		var e struct {
			Error mesh.Error `json:"error"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.Error.Code == "" {
			tb.Fatalf("%s %s: HTTP %d with no error body: %s", method, path, resp.StatusCode, raw)
		}
		return resp.StatusCode, &e.Error
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			tb.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, nil
}

// member is one participant with one device: its token and its keys.
type member struct {
	tb  testing.TB
	n   *meshtest.Node
	id  mesh.ParticipantID
	tok string
	dev *e2e.Identity
	// The sender's chain for the epoch it last keyed.
	epoch uint64
	keys  uint64 // seq of its keys entry
	chain *e2e.Chain
}

// newMember registers name and one device for it.
func newMember(tb testing.TB, n *meshtest.Node, name string) *member {
	tb.Helper()
	id, tok := n.Register(tb, name)
	m := &member{tb: tb, n: n, id: id, tok: tok}
	m.dev = m.addDevice()
	return m
}

// addDevice registers a new device of m and returns its keys.
func (m *member) addDevice() *e2e.Identity {
	m.tb.Helper()
	dev, err := e2e.NewIdentity(nil)
	if err != nil {
		m.tb.Fatal(err)
	}
	d := dev.Device()
	if st, e := doJSON(m.tb, m.n, "PUT", "/api/v1/participants/me/devices", m.tok, map[string]any{"sign": d.Sign, "box": d.Box, "sig": d.Sig}, nil); st != 201 {
		m.tb.Fatalf("register device: HTTP %d %v", st, e)
	}
	return dev
}

// createRoom creates an E2E room (policy with e2e and no rate limit, plus
// extra keys) as m.
func (m *member) createRoom(name string, extra map[string]any) mesh.RoomID {
	m.tb.Helper()
	policy := map[string]any{"e2e": true, "limits": map[string]any{"messagesPerMinute": 0}}
	for k, v := range extra {
		policy[k] = v
	}
	var out struct {
		Room mesh.Room `json:"room"`
	}
	if st, e := doJSON(m.tb, m.n, "POST", "/api/v1/rooms", m.tok, map[string]any{"name": name, "policy": policy}, &out); st != 201 {
		m.tb.Fatalf("create room: HTTP %d %v", st, e)
	}
	return out.Room.ID
}

func (m *member) join(room mesh.RoomID) {
	m.tb.Helper()
	if st, e := doJSON(m.tb, m.n, "POST", "/api/v1/rooms/"+string(room)+"/join", m.tok, nil, nil); st != 200 {
		m.tb.Fatalf("join: HTTP %d %v", st, e)
	}
}

// roster returns the room's current roster.
func (m *member) roster(room mesh.RoomID) mesh.Roster {
	m.tb.Helper()
	var r mesh.Roster
	if st, e := doJSON(m.tb, m.n, "GET", "/api/v1/rooms/"+string(room)+"/e2e", m.tok, nil, &r); st != 200 {
		m.tb.Fatalf("roster: HTTP %d %v", st, e)
	}
	return r
}

// post posts a body of kind encrypted with to and ref over REST.
func (m *member) post(room mesh.RoomID, s *mesh.Sealed, to mesh.ParticipantID, ref string) (mesh.Message, *mesh.Error) {
	m.tb.Helper()
	body := map[string]any{"kind": "encrypted", "body": map[string]any{"e2e": s}}
	if to != "" {
		body["to"] = to
	}
	if ref != "" {
		body["ref"] = ref
	}
	var out struct {
		Message mesh.Message `json:"message"`
	}
	_, e := doJSON(m.tb, m.n, "POST", "/api/v1/rooms/"+string(room)+"/messages", m.tok, body, &out)
	return out.Message, e
}

// rekey posts a keys entry of m's device for roster and starts m's chain.
func (m *member) rekey(room mesh.RoomID, roster mesh.Roster) mesh.Message {
	m.tb.Helper()
	s, ck0, err := e2e.SealKeys(m.dev, roster.Room, roster.Epoch, roster.Devices, nil)
	if err != nil {
		m.tb.Fatal(err)
	}
	msg, e := m.post(room, s, "", "")
	if e != nil {
		m.tb.Fatalf("keys entry: %v", e)
	}
	m.epoch, m.keys, m.chain = roster.Epoch, msg.Seq, e2e.NewChain(ck0)
	return msg
}

// seal seals p as m's next message of its chain, for room (its home
// address), to and ref.
func (m *member) seal(home mesh.RoomID, p e2e.Plain, to mesh.ParticipantID, ref string) *mesh.Sealed {
	m.tb.Helper()
	k, mk, err := m.chain.Next()
	if err != nil {
		m.tb.Fatal(err)
	}
	s, err := e2e.Seal(m.dev, e2e.Envelope{Room: home, To: to, Ref: ref}, m.epoch, m.keys, k, mk, p, nil)
	if err != nil {
		m.tb.Fatal(err)
	}
	return s
}

// say seals a chat text and posts it; it fails the test on a refusal.
func (m *member) say(room mesh.RoomID, home mesh.RoomID, text string) mesh.Message {
	m.tb.Helper()
	msg, e := m.post(room, m.seal(home, chat(text), "", ""), "", "")
	if e != nil {
		m.tb.Fatalf("say %q: %v", text, e)
	}
	return msg
}

func chat(text string) e2e.Plain {
	return e2e.Plain{Kind: mesh.MessageChat, Body: mesh.Body{Text: text}}
}

// messages reads every stored message of room after seq after.
func (m *member) messages(room mesh.RoomID, after uint64) []mesh.Message {
	m.tb.Helper()
	var out struct {
		Messages []mesh.Message `json:"messages"`
	}
	path := fmt.Sprintf("/api/v1/rooms/%s/messages?after=%d&limit=500", room, after)
	if st, e := doJSON(m.tb, m.n, "GET", path, m.tok, nil, &out); st != 200 {
		m.tb.Fatalf("messages: HTTP %d %v", st, e)
	}
	return out.Messages
}

// message reads the message at seq, waiting (a long poll) for it to be
// stored.
func (m *member) message(room mesh.RoomID, seq uint64) mesh.Message {
	m.tb.Helper()
	var out struct {
		Messages []mesh.Message `json:"messages"`
	}
	path := fmt.Sprintf("/api/v1/rooms/%s/messages?after=%d&limit=1&wait=10", room, seq-1)
	if st, e := doJSON(m.tb, m.n, "GET", path, m.tok, nil, &out); st != 200 || len(out.Messages) != 1 || out.Messages[0].Seq != seq {
		m.tb.Fatalf("message %d of %s: HTTP %d %v %+v", seq, room, st, e, out.Messages)
	}
	return out.Messages[0]
}

// open decrypts message msg as m's device does: it reads the keys entry
// msg names, unwraps m's key and opens the message.
func (m *member) open(room mesh.RoomID, home mesh.RoomID, msg mesh.Message, sign []byte) (e2e.Plain, error) {
	m.tb.Helper()
	s := msg.Body.E2E
	env := e2e.Envelope{Room: home, To: msg.To, Ref: msg.Ref}
	if err := e2e.Verify(s, env, sign); err != nil {
		return e2e.Plain{}, err
	}
	keys := m.message(room, s.Keys)
	ks := keys.Body.E2E
	if ks == nil || ks.Type != mesh.SealedKeys || ks.Device != s.Device || ks.Epoch != s.Epoch {
		m.tb.Fatalf("seq %d is not the keys entry of %s at epoch %d: %+v", s.Keys, s.Device, s.Epoch, keys)
	}
	if err := e2e.Verify(ks, e2e.Envelope{Room: home}, sign); err != nil {
		return e2e.Plain{}, err
	}
	ck0, err := e2e.OpenKeys(m.dev, home, ks)
	if err != nil {
		return e2e.Plain{}, err
	}
	mk, err := e2e.MessageKey(ck0, s.N)
	if err != nil {
		return e2e.Plain{}, err
	}
	return e2e.Open(s, env, mk)
}

// epochEvents returns the e2e.epoch events of room's log, in order.
func (m *member) epochEvents(room mesh.RoomID) []mesh.Roster {
	m.tb.Helper()
	var out []mesh.Roster
	for _, msg := range m.messages(room, 0) {
		if ev := msg.Body.Event; ev != nil && ev.Type == mesh.EventE2EEpoch {
			r := *ev.E2E
			r.Seq = msg.Seq
			out = append(out, r)
		}
	}
	return out
}

// waitEpoch waits until room's log holds the event of epoch (the roster
// is current as soon as the event has its seq; it is readable once on
// disk) and returns the room's epoch events.
func (m *member) waitEpoch(room mesh.RoomID, epoch uint64) []mesh.Roster {
	m.tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs := m.epochEvents(room)
		if len(evs) > 0 && evs[len(evs)-1].Epoch >= epoch {
			return evs
		}
		if time.Now().After(deadline) {
			m.tb.Fatalf("room %s: no event of epoch %d; have %v", room, epoch, evs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// deviceIDs lists a roster's device ids with their participants.
func deviceIDs(r mesh.Roster) []string {
	out := []string{}
	for _, d := range r.Devices {
		out = append(out, d.ID+"/"+string(d.Participant))
	}
	return out
}
