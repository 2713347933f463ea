package federation_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/interchange"
)

// Moderation, policy and room data of a remote room: the member's node
// sends each operation to the room's home, which decides with its
// ordinary governance, acts, audits it with the remote actor, and answers
// (federation_ops*.go in internal/node).

// grant replaces the room's policy on its home: federated, no rate limit,
// alice of node A granted caps, and federated trust in data.ingress.
func (g *govRoom) grant(tb testing.TB, caps ...string) {
	tb.Helper()
	doc := map[string]any{"visibility": "federated", "limits": map[string]any{"messagesPerMinute": 0},
		"grants": map[string]any{g.remoteAlice: caps},
		"data":   map[string]any{"ingress": []string{"owner", "local", "federated"}, "egress": "deny"}}
	if st, body := g.b.Do(tb, "PUT", "/api/v1/rooms/r/policy", g.b.owner, doc); st != 200 {
		tb.Fatalf("grant %v: HTTP %d %v", caps, st, body)
	}
}

// path is the REST path of the room on node A, with rest appended.
func (g *govRoom) path(rest string) string { return "/api/v1/rooms/" + string(g.room) + rest }

// refusedWith checks a REST refusal and returns its message.
func refusedWith(tb testing.TB, what string, st int, body map[string]any, wantStatus int, code, part string) string {
	tb.Helper()
	e, _ := body["error"].(map[string]any)
	msg := fmt.Sprint(e["message"])
	if st != wantStatus || e["code"] != code || !strings.Contains(msg, part) {
		tb.Fatalf("%s: got HTTP %d %v, want %d %s containing %q", what, st, body, wantStatus, code, part)
	}
	return msg
}

// getRaw reads a room file over REST: status, bytes and ETag.
func getRaw(tb testing.TB, n *fedNode, path, token string) (int, []byte, string) {
	tb.Helper()
	req, _ := http.NewRequest("GET", n.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, b, resp.Header.Get("ETag")
}

// TestRemoteOpsRefusedByDefault: the default policy gives federated trust
// neither moderate nor data-read nor data-write, so the home refuses each
// operation of alice of node A with its own forbidden, and audits it with
// her as the actor; a participant of A that is not a member is refused by
// its own node.
func TestRemoteOpsRefusedByDefault(t *testing.T) {
	g := startGovRoom(t)
	st, body := g.a.Do(t, "POST", g.path("/moderation"), g.aliceTok, map[string]any{"action": "mute", "target": g.carolID})
	refusedWith(t, "moderate", st, body, 403, "forbidden", `lack "moderate"`)
	st, body = g.a.Do(t, "PUT", g.path("/policy"), g.aliceTok, map[string]any{"visibility": "federated"})
	refusedWith(t, "set policy", st, body, 403, "forbidden", `lack "moderate"`)
	st, body = g.a.Do(t, "GET", g.path("/data/"), g.aliceTok, nil)
	refusedWith(t, "list data", st, body, 403, "forbidden", `lack "data-read"`)
	st, body = g.a.Do(t, "GET", g.path("/data/notes.txt"), g.aliceTok, nil)
	refusedWith(t, "read data", st, body, 403, "forbidden", `lack "data-read"`)
	st, body = g.a.Do(t, "PUT", g.path("/data/notes.txt"), g.aliceTok, []byte("hello"))
	refusedWith(t, "write data", st, body, 403, "forbidden", `lack "data-write"`)
	st, body = g.a.Do(t, "DELETE", g.path("/data/notes.txt"), g.aliceTok, nil)
	refusedWith(t, "delete data", st, body, 403, "forbidden", `lack "data-write"`)
	for _, action := range []string{"moderate", "set-policy", "data-read", "data-write", "data-delete"} {
		g.b.audited(t, "actor:"+g.remoteAlice, "action:"+action+" ", "outcome:refused")
	}
	g.a.audited(t, "actor:"+string(g.aliceID), "action:remote-moderate", "outcome:refused")

	// The node's owner has no say in another node's room: not a member,
	// its node refuses; a member, the home gives it federated trust.
	st, body = g.a.Do(t, "POST", g.path("/moderation"), g.a.owner, map[string]any{"action": "mute", "target": g.aliceID})
	refusedWith(t, "A's owner moderates", st, body, 403, "forbidden", "not a member")
	if st, body = g.a.Do(t, "POST", g.path("/join"), g.a.owner, nil); st != 200 {
		t.Fatalf("A's owner joins: HTTP %d %v", st, body)
	}
	st, body = g.a.Do(t, "POST", g.path("/moderation"), g.a.owner, map[string]any{"action": "mute", "target": g.aliceID})
	refusedWith(t, "A's owner, a member, moderates", st, body, 403, "forbidden", `lack "moderate" in this room: trust federated`)
	_, daveTok := g.a.Register(t, "dave")
	st, body = g.a.Do(t, "GET", g.path("/data/"), daveTok, nil)
	refusedWith(t, "a non-member lists", st, body, 403, "forbidden", "not a member")
}

// TestRemoteModerator: alice of node A, granted moderate by the home,
// mutes, kicks and bans a participant of the home and one of her own
// node, over REST and the WebSocket; each takes effect on the home and
// reaches node A, and the home's audit names her. Her policy changes are
// applied, and an invalid one gets the home's invalid message.
func TestRemoteModerator(t *testing.T) {
	g := startGovRoom(t)
	bobID, bobTok := g.b.Register(t, "bob")
	bob := g.b.Hello(t, bobTok)
	bob.Send(map[string]any{"type": "join", "room": "r"})
	expect(t, bob, "joined")
	remoteBob := string(bobID) + "@" + g.b.id // as node A names him
	g.grant(t, "moderate")
	moderate := func(action string, target any) {
		t.Helper()
		st, body := g.a.Do(t, "POST", g.path("/moderation"), g.aliceTok, map[string]any{"action": action, "target": target})
		if room, _ := body["room"].(map[string]any); st != 200 || room["id"] != string(g.room) {
			t.Fatalf("%s %v: HTTP %d %v", action, target, st, body)
		}
	}

	// Mute bob, of the home: his posts there are refused.
	moderate(mesh.ModMute, remoteBob)
	st, body := g.b.Do(t, "POST", "/api/v1/rooms/r/messages", bobTok, map[string]any{"text": "may I?"})
	refusedWith(t, "muted bob's post", st, body, 403, "forbidden", "speak")
	g.b.audited(t, "action:moderate ", "actor:"+g.remoteAlice, "action:mute", "target:"+string(bobID), "outcome:ok")

	// Mute carol, of node A (named as A names her): A refuses her posts.
	moderate(mesh.ModMute, g.carolID)
	g.a.audited(t, "action:federated-access", "actor:"+string(g.carolID), "capability:speak", "allowed:false")
	g.carol.Send(map[string]any{"type": "say", "room": g.room, "text": "may I?", "ref": "s"})
	if f := g.carol.ExpectError(); f["code"] != "forbidden" || !strings.Contains(fmt.Sprint(f["message"]), "may not speak") {
		t.Fatalf("muted carol's say: %v", f)
	}
	g.b.audited(t, "action:moderate ", "actor:"+g.remoteAlice, "action:mute", "target:"+g.remoteC, "outcome:ok")

	// Kick carol: she leaves the room on both nodes.
	moderate(mesh.ModKick, g.carolID)
	if f := expect(t, g.carol, "left"); f["room"] != string(g.room) {
		t.Fatalf("left: %v", f)
	}
	g.b.audited(t, "action:moderate ", "actor:"+g.remoteAlice, "action:kick", "target:"+g.remoteC, "outcome:ok")

	// Ban bob with the WebSocket moderate frame: answered with ack; he is
	// out and cannot come back.
	g.alice.Send(map[string]any{"type": "moderate", "room": g.room, "action": "ban", "target": remoteBob, "ref": "m1"})
	if f := expect(t, g.alice, "ack"); f["ref"] != "m1" {
		t.Fatalf("ack: %v", f)
	}
	expect(t, bob, "left")
	bob.Send(map[string]any{"type": "join", "room": "r", "ref": "j"})
	if f := bob.ExpectError(); f["code"] != "forbidden" || f["ref"] != "j" {
		t.Fatalf("banned bob's join: %v", f)
	}
	g.b.audited(t, "action:moderate ", "actor:"+g.remoteAlice, "action:ban", "target:"+string(bobID), "outcome:ok")
	g.a.audited(t, "action:remote-moderate", "actor:"+string(g.aliceID), "action:ban", "outcome:ok")

	// The home's refusal reads the same over REST and the WebSocket: the
	// room's creator cannot be moderated.
	_, me := g.b.Do(t, "GET", "/api/v1/participants/me", g.b.owner, nil)
	ownerID := fmt.Sprint(me["participant"].(map[string]any)["id"]) + "@" + g.b.id
	st, body = g.a.Do(t, "POST", g.path("/moderation"), g.aliceTok, map[string]any{"action": "mute", "target": ownerID})
	msg := refusedWith(t, "mute the creator", st, body, 403, "forbidden", "cannot be moderated")
	g.alice.Send(map[string]any{"type": "moderate", "room": g.room, "action": "mute", "target": ownerID, "ref": "m2"})
	if f := g.alice.ExpectError(); f["code"] != "forbidden" || f["ref"] != "m2" || f["message"] != msg {
		t.Fatalf("mute the creator over the WebSocket: %v, want forbidden %q", f, msg)
	}

	// Policy: applied on the home, answered with the room as it is now.
	doc := map[string]any{"visibility": "federated", "limits": map[string]any{"messagesPerMinute": 0},
		"grants": map[string]any{g.remoteAlice: []string{"moderate"}}, "agents": map[string]any{"reply": "mention-only"}}
	st, body = g.a.Do(t, "PUT", g.path("/policy"), g.aliceTok, doc)
	room, _ := body["room"].(map[string]any)
	if st != 200 || room["id"] != string(g.room) || !strings.Contains(fmt.Sprint(room["policy"]), "reply:mention-only") {
		t.Fatalf("set policy: HTTP %d %v", st, body)
	}
	_, home := g.b.Do(t, "GET", "/api/v1/rooms/r", g.b.owner, nil)
	if fmt.Sprint(home["room"].(map[string]any)["revision"]) != fmt.Sprint(room["revision"]) ||
		!strings.Contains(fmt.Sprint(home["room"]), "reply:mention-only") {
		t.Fatalf("the home's room %v, want %v", home, room)
	}
	g.b.audited(t, "action:set-policy", "actor:"+g.remoteAlice, "outcome:ok")

	// An invalid policy: the home's own message, as its owner gets it.
	bad := map[string]any{"visibility": "sideways"}
	st, body = g.a.Do(t, "PUT", g.path("/policy"), g.aliceTok, bad)
	msg = refusedWith(t, "an invalid policy", st, body, 400, "invalid", "visibility")
	st, body = g.b.Do(t, "PUT", "/api/v1/rooms/r/policy", g.b.owner, bad)
	if local := refusedWith(t, "the owner's invalid policy", st, body, 400, "invalid", "visibility"); local != msg {
		t.Fatalf("the remote moderator got %q, the home's owner %q", msg, local)
	}
}

// TestRemoteRoomData: alice of node A, granted data-read and data-write,
// writes, reads, lists and deletes the room's files; a 1 MiB file makes
// the round trip with its SHA-256; errors name the problem.
func TestRemoteRoomData(t *testing.T) {
	g := startGovRoom(t)
	g.grant(t, "data-read", "data-write")
	file := make([]byte, 1<<20)
	rand.Read(file)
	sum := sha256.Sum256(file)
	sha := hex.EncodeToString(sum[:])

	st, body := g.a.Do(t, "PUT", g.path("/data/docs/big.bin"), g.aliceTok, file)
	info, _ := body["file"].(map[string]any)
	if st != 200 || info["sha256"] != sha || info["size"] != float64(len(file)) || info["path"] != "docs/big.bin" {
		t.Fatalf("put 1 MiB: HTTP %d %v", st, body)
	}
	if st, got, _ := getRaw(t, g.b, "/api/v1/rooms/r/data/docs/big.bin", g.b.owner); st != 200 || !bytes.Equal(got, file) {
		t.Fatalf("the home's copy: HTTP %d, %d bytes", st, len(got))
	}
	st, got, etag := getRaw(t, g.a, g.path("/data/docs/big.bin"), g.aliceTok)
	if st != 200 || !bytes.Equal(got, file) || etag != `"`+sha+`"` {
		t.Fatalf("read back: HTTP %d, %d bytes, ETag %s, want %d bytes and %s", st, len(got), etag, len(file), sha)
	}
	for _, dir := range []string{"/data/", "/data/docs/", "/data/docs"} {
		st, body = g.a.Do(t, "GET", g.path(dir), g.aliceTok, nil)
		files, _ := body["files"].([]any)
		if st != 200 || len(files) != 1 || files[0].(map[string]any)["sha256"] != sha {
			t.Fatalf("list %s: HTTP %d %v", dir, st, body)
		}
	}
	g.b.audited(t, "action:data-write", "actor:"+g.remoteAlice, "outcome:ok", sha)
	g.a.audited(t, "action:remote-data-write", "actor:"+string(g.aliceID), "outcome:ok", sha)

	// A small file, deleted: then it is not found, by name.
	if st, body = g.a.Do(t, "PUT", g.path("/data/notes.txt"), g.aliceTok, []byte("hello")); st != 200 {
		t.Fatalf("put notes.txt: HTTP %d %v", st, body)
	}
	if st, body = g.a.Do(t, "DELETE", g.path("/data/notes.txt"), g.aliceTok, nil); st != 204 {
		t.Fatalf("delete notes.txt: HTTP %d %v", st, body)
	}
	st, body = g.a.Do(t, "GET", g.path("/data/notes.txt"), g.aliceTok, nil)
	refusedWith(t, "read a deleted file", st, body, 404, "not_found", `"notes.txt"`)
	st, body = g.a.Do(t, "DELETE", g.path("/data/notes.txt"), g.aliceTok, nil)
	refusedWith(t, "delete it again", st, body, 404, "not_found", `"notes.txt"`)
	g.b.audited(t, "action:data-delete", "actor:"+g.remoteAlice, "outcome:ok")

	// Path errors and sizes, named.
	st, body = g.a.Do(t, "PUT", g.path("/data/docs/.hidden"), g.aliceTok, []byte("x"))
	refusedWith(t, "a hidden name", st, body, 400, "invalid", `"docs/.hidden"`)
	st, body = g.a.Do(t, "GET", g.path("/data/a%5Cb"), g.aliceTok, nil)
	refusedWith(t, "a backslash", st, body, 400, "invalid", "backslash")
	st, body = g.a.Do(t, "PUT", g.path("/data/huge.bin"), g.aliceTok, make([]byte, 1<<20+1))
	refusedWith(t, "over 1 MiB", st, body, 413, "too_large", "at most")

	// Carol has no grant: the home refuses her.
	st, body = g.a.Do(t, "GET", g.path("/data/docs/big.bin"), g.carolTok, nil)
	refusedWith(t, "carol reads", st, body, 403, "forbidden", `lack "data-read"`)
}

// TestRemoteRoomDataHomeDown: with the home stopped, a read is answered
// unavailable within the timeout, and a write too, saying it stays
// queued; the home holds no part of the file, and when it is back the
// file arrives whole.
func TestRemoteRoomDataHomeDown(t *testing.T) {
	g := startGovRoom(t)
	g.grant(t, "data-read", "data-write")
	if st, body := g.a.Do(t, "PUT", g.path("/data/before.txt"), g.aliceTok, []byte("before")); st != 200 {
		t.Fatalf("put before.txt: HTTP %d %v", st, body)
	}
	g.b.Stop()
	file := make([]byte, 1<<20)
	rand.Read(file)
	sum := sha256.Sum256(file)

	start := time.Now()
	var wg sync.WaitGroup
	var readSt, writeSt int
	var readBody, writeBody map[string]any
	wg.Go(func() { readSt, readBody = g.a.Do(t, "GET", g.path("/data/before.txt"), g.aliceTok, nil) })
	wg.Go(func() { writeSt, writeBody = g.a.Do(t, "PUT", g.path("/data/big.bin"), g.aliceTok, file) })
	wg.Wait()
	refusedWith(t, "read with the home down", readSt, readBody, 503, "unavailable", "nothing was read")
	refusedWith(t, "write with the home down", writeSt, writeBody, 503, "unavailable", "never in part")
	// The bound is the node's RemoteTimeout (10 s); the slack is for a loaded machine.
	if d := time.Since(start); d > 40*time.Second {
		t.Fatalf("the answers took %v", d)
	}
	var files []string
	filepath.WalkDir(filepath.Join(g.b.Dir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, filepath.Base(p))
		}
		return nil
	})
	if fmt.Sprint(files) != "[before.txt]" {
		t.Fatalf("the stopped home holds %v, want only before.txt", files)
	}

	// Back, it gets the queued file, all of it.
	b := startNode(t, g.r, g.b.Dir, nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, got, _ := getRaw(t, b, "/api/v1/rooms/r/data/big.bin", b.owner)
		if st == 200 {
			if sha256.Sum256(got) != sum {
				t.Fatalf("the home wrote %d bytes that do not match the file sent", len(got))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queued file never reached the home: HTTP %d", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRemoteUploadChecks: a node that sends a file's chunks wrong (a
// middle without its start, bytes that are not the announced SHA-256,
// more files at once than the bound, a size over the limit) gets nothing
// of that file written on the home, which audits each refusal once,
// naming the problem; the files it kept coming are written whole.
func TestRemoteUploadChecks(t *testing.T) {
	r := startRelay(t, nil)
	b := startNode(t, r, "", nil)
	room := b.federatedRoom(t, "design", nil)
	f := newFakeNode(t, r)
	f.join(b.id, room)
	mallory := "p_mallory@" + f.id.ID
	b.audited(t, "action:join", mallory, "outcome:ok")
	doc := map[string]any{"visibility": "federated", "grants": map[string]any{mallory: []string{"data-read", "data-write"}},
		"data": map[string]any{"ingress": []string{"owner", "local", "federated"}, "egress": "deny"}}
	if st, body := b.Do(t, "PUT", "/api/v1/rooms/design/policy", b.owner, doc); st != 200 {
		t.Fatalf("grant: HTTP %d %v", st, body)
	}
	p := &mesh.Participant{ID: "p_mallory", Name: "mallory", Kind: mesh.KindAgent, Trust: mesh.TrustLocal, Node: f.id.ID}
	file := bytes.Repeat([]byte("0123456789"), 10)
	sum := sha256.Sum256(file)
	sha := hex.EncodeToString(sum[:])
	put := func(ref, path string, size int64, off int64, data []byte) {
		f.send(b.id, &mesh.FedBody{Kind: mesh.FedRequest, Room: room, Participant: p, Ref: ref,
			Op: &mesh.FedOp{Name: mesh.OpDataPut, Path: path, Size: size, SHA256: sha, Offset: off, Data: data}}, nil)
	}
	refused := func(parts ...string) {
		t.Helper()
		b.audited(t, append([]string{"action:data-write", "actor:" + mallory, "outcome:refused", "remote:node:" + f.id.ID}, parts...)...)
	}

	put("q1", "lost.txt", 100, 50, file[50:])
	refused(`"lost.txt"`, "incomplete")
	damaged := bytes.Clone(file[50:])
	damaged[0] ^= 1
	put("q2", "bad.txt", 100, 0, file[:50])
	put("q2", "bad.txt", 100, 50, damaged)
	refused(`"bad.txt"`, "does not match its SHA-256")
	for i := range 5 { // one more than a node may send at once: the first is dropped
		put(fmt.Sprint("s", i), fmt.Sprint("f", i, ".txt"), 100, 0, file[:50])
	}
	put("s0", "f0.txt", 100, 50, file[50:])
	refused(`"f0.txt"`, "incomplete")
	for i := 1; i < 5; i++ { // the others were kept
		put(fmt.Sprint("s", i), fmt.Sprint("f", i, ".txt"), 100, 50, file[50:])
	}
	// Refused at its first chunk: refused once, its other chunks dropped.
	put("q3", "huge.bin", 2<<20, 0, file)
	put("q3", "huge.bin", 2<<20, 100, file)
	refused("too_large", "at most")
	put("s5", "f5.txt", 100, 0, file) // whole in one chunk, after all the others

	want := "[f1.txt f2.txt f3.txt f4.txt f5.txt]"
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := b.Do(t, "GET", "/api/v1/rooms/design/data/", b.owner, nil)
		var got []string
		for _, f := range body["files"].([]any) {
			if fi := f.(map[string]any); fi["sha256"] == sha {
				got = append(got, fi["path"].(string))
			}
		}
		if fmt.Sprint(got) == want && len(body["files"].([]any)) == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the home holds %v, want %s, each whole", body, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, body := b.Do(t, "GET", "/api/v1/audit?limit=1000", b.owner, nil)
	if n := strings.Count(fmt.Sprint(body), "this one is 2097152"); n != 1 {
		t.Fatalf("the too large file was refused %d times, want once", n)
	}
}

// TestRemoteRoomDataSmallFrames: on a relay that takes frames of at most
// 32 KiB, a file still crosses both ways, in chunks that fit them; a
// policy too big for them is refused at once.
func TestRemoteRoomDataSmallFrames(t *testing.T) {
	g := startGovRoomOn(t, startRelay(t, func(c *interchange.Config) { c.MaxFrameBytes = 32 << 10 }))
	g.grant(t, "data-read", "data-write")
	file := make([]byte, 200<<10)
	rand.Read(file)
	if st, body := g.a.Do(t, "PUT", g.path("/data/mid.bin"), g.aliceTok, file); st != 200 {
		t.Fatalf("put 200 KiB: HTTP %d %v", st, body)
	}
	if st, got, _ := getRaw(t, g.a, g.path("/data/mid.bin"), g.aliceTok); st != 200 || !bytes.Equal(got, file) {
		t.Fatalf("read back: HTTP %d, %d bytes", st, len(got))
	}
	// What no frame of this relay carries is refused before it is queued.
	grants := map[string]any{}
	for i := range 600 { // about 39 KB
		grants[fmt.Sprintf("p_%032d@%s", i, g.a.id)] = []string{"speak"}
	}
	st, body := g.a.Do(t, "PUT", g.path("/policy"), g.aliceTok, map[string]any{"visibility": "federated", "grants": grants})
	refusedWith(t, "a policy over the relay's frames", st, body, 413, "too_large", "the relay carries at most")
}

// bearer adds a participant's token to every request.
type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

// TestRemoteRoomDataOverMCP: MCP's read_data and write_data work on a
// remote room through its address, as the REST paths they use do; the
// home's refusal reaches the tool with its code.
func TestRemoteRoomDataOverMCP(t *testing.T) {
	g := startGovRoom(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	session := func(token string) *mcp.ClientSession {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx,
			&mcp.StreamableClientTransport{Endpoint: g.a.URL + "/mcp", HTTPClient: &http.Client{Transport: bearer(token)}, MaxRetries: -1}, nil)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		t.Cleanup(func() { cs.Close() })
		return cs
	}
	call := func(cs *mcp.ClientSession, tool string, args map[string]any) (string, bool) {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		if res.IsError {
			return res.Content[0].(*mcp.TextContent).Text, false
		}
		out, _ := json.Marshal(res.StructuredContent)
		return string(out), true
	}
	alice := session(g.aliceTok)
	args := map[string]any{"room": string(g.room), "path": "notes.md", "content": "from node A"}
	if out, ok := call(alice, "write_data", args); ok || !strings.HasPrefix(out, `forbidden: You lack "data-write"`) {
		t.Fatalf("write_data without the grant: %s", out)
	}
	g.grant(t, "data-read", "data-write")
	if out, ok := call(alice, "write_data", args); !ok || !strings.Contains(out, `"path":"notes.md"`) {
		t.Fatalf("write_data: %s", out)
	}
	if out, ok := call(alice, "read_data", map[string]any{"room": string(g.room), "path": "notes.md"}); !ok || !strings.Contains(out, `"content":"from node A"`) {
		t.Fatalf("read_data: %s", out)
	}
	if out, ok := call(alice, "read_data", map[string]any{"room": string(g.room), "path": "/"}); !ok || !strings.Contains(out, `"path":"notes.md"`) {
		t.Fatalf("read_data of the root: %s", out)
	}
}

// TestRemoteModeratorThirdNode: alice of node A mutes dave of node C in a
// room of node B, naming him as A does (p_dave@C): B applies it, and C,
// told by B, refuses his posts.
func TestRemoteModeratorThirdNode(t *testing.T) {
	g := startGovRoom(t)
	c := startNode(t, g.r, "", nil)
	c.waitDirectory(t, g.room)
	dave, daveID := c.agent(t, "dave")
	dave.Send(map[string]any{"type": "join", "room": g.room})
	expect(t, dave, "joined")
	g.grant(t, "moderate")
	target := string(daveID) + "@" + c.id
	if st, body := g.a.Do(t, "POST", g.path("/moderation"), g.aliceTok, map[string]any{"action": "mute", "target": target}); st != 200 {
		t.Fatalf("mute dave: HTTP %d %v", st, body)
	}
	g.b.audited(t, "action:moderate ", "actor:"+g.remoteAlice, "action:mute", "target:"+target, "outcome:ok")
	c.audited(t, "action:federated-access", "actor:"+string(daveID), "capability:speak", "allowed:false")
	dave.Send(map[string]any{"type": "say", "room": g.room, "text": "may I?", "ref": "s"})
	if f := dave.ExpectError(); f["code"] != "forbidden" || !strings.Contains(fmt.Sprint(f["message"]), "may not speak") {
		t.Fatalf("muted dave's say: %v", f)
	}
}

// BenchmarkRemoteFile writes and reads back a 1 MiB file of a remote room
// (through the relay, in chunks, the write queued): one round of both per
// op.
func BenchmarkRemoteFile(b *testing.B) {
	g := startGovRoom(b)
	g.grant(b, "data-read", "data-write")
	file := make([]byte, 1<<20)
	rand.Read(file)
	b.SetBytes(2 << 20)
	for b.Loop() {
		if st, body := g.a.Do(b, "PUT", g.path("/data/bench.bin"), g.aliceTok, file); st != 200 {
			b.Fatalf("put: HTTP %d %v", st, body)
		}
		if st, got, _ := getRaw(b, g.a, g.path("/data/bench.bin"), g.aliceTok); st != 200 || len(got) != len(file) {
			b.Fatalf("get: HTTP %d, %d bytes", st, len(got))
		}
	}
}
