package federation_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/meshtest"
)

// The home of a federated room governs it on every node: a mirror's node
// applies the home's listen and speak decisions and its kicks and bans to
// its own participants (federation_access.go in internal/node).

// govRoom is a federated room "r" on node b, with b's owner in it and
// alice and carol of node a joined to it over the WebSocket.
type govRoom struct {
	r                    *relay
	a, b                 *fedNode
	room                 mesh.RoomID // the address r@b
	alice, carol         *meshtest.Client
	aliceID, carolID     mesh.ParticipantID
	aliceTok, carolTok   string
	remoteAlice, remoteC string // as b names them
}

func startGovRoom(tb testing.TB) *govRoom {
	tb.Helper()
	return startGovRoomOn(tb, startRelay(tb, nil))
}

// startGovRoomOn is startGovRoom on relay r.
func startGovRoomOn(tb testing.TB, r *relay) *govRoom {
	tb.Helper()
	g := &govRoom{r: r, a: startNode(tb, r, "", nil), b: startNode(tb, r, "", nil)}
	g.room = g.b.federatedRoom(tb, "r", map[string]any{"limits": map[string]any{"messagesPerMinute": 0}})
	g.a.waitDirectory(tb, g.room)
	g.aliceID, g.aliceTok = g.a.Register(tb, "alice")
	g.carolID, g.carolTok = g.a.Register(tb, "carol")
	g.remoteAlice, g.remoteC = string(g.aliceID)+"@"+g.a.id, string(g.carolID)+"@"+g.a.id
	g.alice, g.carol = g.a.Hello(tb, g.aliceTok), g.a.Hello(tb, g.carolTok)
	for _, c := range []*meshtest.Client{g.alice, g.carol} {
		c.Send(map[string]any{"type": "join", "room": g.room})
		expect(tb, c, "joined")
	}
	return g
}

// setPolicy replaces the room's policy on its home: federated, no rate
// limit, and revokes.
func (g *govRoom) setPolicy(tb testing.TB, revokes map[string]any) {
	tb.Helper()
	doc := map[string]any{"visibility": "federated", "limits": map[string]any{"messagesPerMinute": 0}}
	if revokes != nil {
		doc["revokes"] = revokes
	}
	if st, body := g.b.Do(tb, "PUT", "/api/v1/rooms/r/policy", g.b.owner, doc); st != 200 {
		tb.Fatalf("set policy: HTTP %d %v", st, body)
	}
}

// moderate has b's owner moderate target in the room.
func (g *govRoom) moderate(tb testing.TB, action, target string) {
	tb.Helper()
	if st, body := g.b.Do(tb, "POST", "/api/v1/rooms/r/moderation", g.b.owner, map[string]any{"action": action, "target": target}); st != 200 {
		tb.Fatalf("%s %s: HTTP %d %v", action, target, st, body)
	}
}

// say posts text in the room as b's owner and returns its seq.
func (g *govRoom) say(tb testing.TB, text string) uint64 {
	tb.Helper()
	st, body := g.b.Do(tb, "POST", "/api/v1/rooms/r/messages", g.b.owner, map[string]any{"text": text})
	if st != 201 {
		tb.Fatalf("say %q: HTTP %d %v", text, st, body)
	}
	return uint64(body["message"].(map[string]any)["seq"].(float64))
}

// read reads the room's mirror on a over REST as token.
func (g *govRoom) read(tb testing.TB, token string, after uint64, wait int) (int, map[string]any) {
	tb.Helper()
	q := url.Values{"after": {fmt.Sprint(after)}}
	if wait > 0 {
		q.Set("wait", fmt.Sprint(wait))
	}
	return g.a.Do(tb, "GET", "/api/v1/rooms/"+string(g.room)+"/messages?"+q.Encode(), token, nil)
}

// untilText reads c's message frames until the chat message text and
// returns every message frame read, that one last.
func untilText(tb testing.TB, c *meshtest.Client, text string) []map[string]any {
	tb.Helper()
	var seen []map[string]any
	for {
		m := expectMessage(tb, c)
		seen = append(seen, m)
		if textOf(m) == text {
			return seen
		}
	}
}

func textOf(m map[string]any) string {
	body, _ := m["body"].(map[string]any)
	s, _ := body["text"].(string)
	return s
}

// texts returns the texts of a REST answer's messages.
func texts(body map[string]any) []string {
	msgs, _ := body["messages"].([]any)
	var out []string
	for _, m := range msgs {
		out = append(out, textOf(m.(map[string]any)))
	}
	return out
}

// forbidden checks a refusal: 403, code forbidden, message containing part.
func forbidden(tb testing.TB, what string, st int, body map[string]any, part string) {
	tb.Helper()
	e, _ := body["error"].(map[string]any)
	if st != 403 || e["code"] != "forbidden" || !strings.Contains(fmt.Sprint(e["message"]), part) {
		tb.Fatalf("%s: got HTTP %d %v, want 403 forbidden containing %q", what, st, body, part)
	}
}

// TestRemoteListenRevoked: the home revokes listen for alice of node A;
// what it stores after that reaches carol of node A and not alice, whose
// reads are forbidden, until the home grants it back.
func TestRemoteListenRevoked(t *testing.T) {
	g := startGovRoom(t)
	before := g.say(t, "before")
	untilText(t, g.alice, "before")
	untilText(t, g.carol, "before")

	g.setPolicy(t, map[string]any{g.remoteAlice: []string{"listen"}})
	secret := g.say(t, "secret")
	second := g.say(t, "second secret")
	if seen := untilText(t, g.carol, "second secret"); len(seen) < 2 || textOf(seen[len(seen)-2]) != "secret" {
		t.Fatalf("carol got %v, want both secrets", seen)
	}
	// REST: alice is refused, with and without wait; carol reads on.
	st, body := g.read(t, g.aliceTok, before, 0)
	forbidden(t, "alice's read", st, body, "may not listen")
	st, body = g.read(t, g.aliceTok, second, 5)
	forbidden(t, "alice's long poll", st, body, "may not listen")
	st, body = g.read(t, g.carolTok, before, 0)
	if got := texts(body); st != 200 || !strings.Contains(fmt.Sprint(got), "secret second secret") {
		t.Fatalf("carol's read: HTTP %d %q", st, got)
	}
	// Both nodes audited the decision.
	g.b.audited(t, "action:federation-access", "remote:node:"+g.a.id, "capability:listen", g.remoteC)
	g.a.audited(t, "action:federated-access", "actor:"+string(g.aliceID), "capability:listen", "allowed:false")

	// Granted back: alice hears what comes next, and never what came while
	// she could not listen.
	g.setPolicy(t, nil)
	g.say(t, "welcome back")
	for _, m := range untilText(t, g.alice, "welcome back") {
		if seq := uint64(m["seq"].(float64)); seq > before && seq <= second {
			t.Fatalf("alice got seq %d (%q) sent while she could not listen (secrets %d, %d)", seq, textOf(m), secret, second)
		}
	}
	st, body = g.read(t, g.aliceTok, second, 0)
	if got := texts(body); st != 200 || !strings.Contains(fmt.Sprint(got), "welcome back") {
		t.Fatalf("alice's read after the grant: HTTP %d %v", st, body)
	}
	g.a.audited(t, "action:federated-access", "actor:"+string(g.aliceID), "capability:listen", "allowed:true")
}

// TestRemoteRevocationOrdering: a revocation followed at once by a
// message never lets the message reach the revoked participant, live or
// by a read made at any moment.
func TestRemoteRevocationOrdering(t *testing.T) {
	g := startGovRoom(t)
	for i := range 5 {
		secret, open := fmt.Sprint("secret ", i), fmt.Sprint("open ", i)
		g.setPolicy(t, map[string]any{g.remoteAlice: []string{"listen"}})
		g.say(t, secret)
		// Whenever this read lands, the mirror holds nothing alice may not
		// see: either it is refused, or the secret has not arrived.
		if st, body := g.read(t, g.aliceTok, 0, 0); st == 200 {
			if got := texts(body); strings.Contains(fmt.Sprint(got), secret) {
				t.Fatalf("round %d: alice read %q", i, got)
			}
		} else {
			forbidden(t, "alice's read", st, body, "may not listen")
		}
		untilText(t, g.carol, secret)
		g.setPolicy(t, nil)
		g.say(t, open)
		for _, m := range untilText(t, g.alice, open) {
			if strings.HasPrefix(textOf(m), "secret") {
				t.Fatalf("round %d: alice got %q", i, textOf(m))
			}
		}
		untilText(t, g.carol, open)
	}
}

// TestRemoteKickAndBan: a kick by the home ends the membership of carol of
// node A in A's mirror and closes her subscription; she may join again. A
// ban does the same and keeps her out.
func TestRemoteKickAndBan(t *testing.T) {
	g := startGovRoom(t)
	g.moderate(t, mesh.ModKick, g.remoteC)
	if f := expect(t, g.carol, "left"); f["room"] != string(g.room) {
		t.Fatalf("left: %v", f)
	}
	st, body := g.read(t, g.carolTok, 0, 0)
	forbidden(t, "carol's read after the kick", st, body, "not a member")
	g.a.audited(t, "action:federated-moderate", "action:kick", "target:"+string(g.carolID))
	g.say(t, "after the kick")
	untilText(t, g.alice, "after the kick")
	g.carol.Send(map[string]any{"type": "ping", "ref": "p"})
	if f := expect(t, g.carol, "pong"); f["ref"] != "p" {
		t.Fatalf("pong: %v", f)
	}
	_, members := g.b.Do(t, "GET", "/api/v1/rooms/r/members", g.b.owner, nil)
	if strings.Contains(fmt.Sprint(members["members"]), g.remoteC) {
		t.Fatalf("carol is still a member at the home: %v", members)
	}

	// A kick is not a ban: she comes back and hears the room again.
	g.carol.Send(map[string]any{"type": "join", "room": g.room})
	expect(t, g.carol, "joined")
	g.say(t, "welcome back carol")
	untilText(t, g.carol, "welcome back carol")

	g.moderate(t, mesh.ModBan, g.remoteC)
	expect(t, g.carol, "left")
	g.a.audited(t, "action:federated-moderate", "action:ban", "target:"+string(g.carolID))
	g.carol.Send(map[string]any{"type": "join", "room": g.room, "ref": "j"})
	if f := g.carol.ExpectError(); f["code"] != "forbidden" || f["ref"] != "j" {
		t.Fatalf("banned carol's join: %v", f)
	}
	st, body = g.a.Do(t, "POST", "/api/v1/rooms/"+string(g.room)+"/join", g.carolTok, nil)
	forbidden(t, "banned carol's REST join", st, body, "")
	st, body = g.read(t, g.carolTok, 0, 0)
	forbidden(t, "banned carol's read", st, body, "not a member")
	g.say(t, "after the ban")
	untilText(t, g.alice, "after the ban")
}

// TestRemoteMuted: a participant the home muted is refused at once by its
// own node, over the WebSocket and REST, with a clear message; unmuted,
// it speaks again.
func TestRemoteMuted(t *testing.T) {
	g := startGovRoom(t)
	g.moderate(t, mesh.ModMute, g.remoteAlice)
	g.a.audited(t, "action:federated-access", "actor:"+string(g.aliceID), "capability:speak", "allowed:false")
	g.alice.Send(map[string]any{"type": "say", "room": g.room, "text": "may I?", "ref": "s"})
	if f := g.alice.ExpectError(); f["code"] != "forbidden" || f["ref"] != "s" || !strings.Contains(fmt.Sprint(f["message"]), "may not speak") {
		t.Fatalf("muted alice's say: %v", f)
	}
	st, body := g.a.Do(t, "POST", "/api/v1/rooms/"+string(g.room)+"/messages", g.aliceTok, map[string]any{"text": "may I?"})
	forbidden(t, "muted alice's REST post", st, body, "may not speak")
	// Muted is not deaf.
	g.say(t, "you are muted")
	untilText(t, g.alice, "you are muted")

	g.moderate(t, mesh.ModUnmute, g.remoteAlice)
	g.a.audited(t, "action:federated-access", "actor:"+string(g.aliceID), "capability:speak", "allowed:true")
	g.alice.Send(map[string]any{"type": "say", "room": g.room, "text": "thanks", "ref": "t"})
	expect(t, g.alice, "ack")
	untilText(t, g.carol, "thanks")
}

// TestRemoteAccessSurvivesRestart: the home's decision is durable on the
// mirror's node: after a restart without a relay, alice is still refused.
func TestRemoteAccessSurvivesRestart(t *testing.T) {
	g := startGovRoom(t)
	g.setPolicy(t, map[string]any{g.remoteAlice: []string{"listen"}})
	g.say(t, "secret")
	untilText(t, g.carol, "secret")
	g.a.Stop()
	dead := startRelay(t, nil)
	dead.hs.Close()
	a := startNode(t, dead, g.a.Dir, nil)
	path := "/api/v1/rooms/" + string(g.room) + "/messages"
	st, body := a.Do(t, "GET", path, g.aliceTok, nil)
	forbidden(t, "alice's read after a restart", st, body, "may not listen")
	st, body = a.Do(t, "GET", path, g.carolTok, nil)
	if got := texts(body); st != 200 || !strings.Contains(fmt.Sprint(got), "secret") {
		t.Fatalf("carol's read after a restart: HTTP %d %v", st, body)
	}
}
