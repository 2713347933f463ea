package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/the-mesh/mesh/internal/meshtest"
	"github.com/the-mesh/mesh/internal/node"
)

func TestRegister(t *testing.T) {
	n := meshtest.Start(t, "")
	owner := n.Node.OwnerToken()
	_, local := n.Register(t, "parent")
	for name, tt := range map[string]struct {
		token  string
		body   any
		status int
		want   string // trust on success, error code otherwise
	}{
		"loopback is open":          {"", map[string]any{"name": "a", "kind": "agent"}, 201, "local"},
		"kind defaults to agent":    {"", map[string]any{"name": "a"}, 201, "local"},
		"owner may grant owner":     {owner, map[string]any{"name": "a", "trust": "owner"}, 201, "owner"},
		"child below its parent":    {local, map[string]any{"name": "a", "trust": "untrusted"}, 201, "untrusted"},
		"child above its parent":    {local, map[string]any{"name": "a", "trust": "owner"}, 403, "forbidden"},
		"anonymous asks for owner":  {"", map[string]any{"name": "a", "trust": "owner"}, 403, "forbidden"},
		"no name":                   {"", map[string]any{"kind": "agent"}, 400, "invalid"},
		"name too long":             {"", map[string]any{"name": strings.Repeat("n", 65)}, 400, "invalid"},
		"control character in name": {"", map[string]any{"name": "a\u202eb"}, 400, "invalid"},
		"bad kind":                  {"", map[string]any{"name": "a", "kind": "robot"}, 400, "invalid"},
		"bad trust":                 {"", map[string]any{"name": "a", "trust": "god"}, 400, "invalid"},
		"webhook not http":          {"", map[string]any{"name": "a", "webhook": "file:///etc/passwd"}, 400, "invalid"},
		"unknown field":             {"", map[string]any{"name": "a", "admin": true}, 400, "invalid"},
		"wrong type":                {"", map[string]any{"name": 7}, 400, "invalid"},
		"malformed JSON":            {"", `{"name":`, 400, "invalid"},
		"empty body":                {"", "", 400, "invalid"},
		"body over the limit":       {"", `{"name":"` + strings.Repeat("x", 70000) + `"}`, 413, "too_large"},
		"forged bearer":             {"mesh_forged", map[string]any{"name": "a"}, 401, "unauthorized"},
		"bad invite":                {"", map[string]any{"name": "a", "invite": "inv_nope"}, 401, "unauthorized"},
	} {
		t.Run(name, func(t *testing.T) {
			st, body := n.Do(t, "POST", "/api/v1/participants", tt.token, tt.body)
			if st != tt.status {
				t.Fatalf("HTTP %d %v, want %d", st, body, tt.status)
			}
			if st == 201 {
				if got := body["participant"].(map[string]any)["trust"]; got != tt.want {
					t.Fatalf("trust %v, want %s", got, tt.want)
				}
				if tok := body["token"].(string); len(tok) < 43 {
					t.Fatalf("token %q is shorter than 32 random bytes", tok)
				}
				return
			}
			e := body["error"].(map[string]any)
			if e["code"] != tt.want || e["message"] == "" {
				t.Fatalf("error %v, want code %s with a message", e, tt.want)
			}
		})
	}
}

func TestRooms(t *testing.T) {
	n := meshtest.Start(t, "")
	_, tok := n.Register(t, "creator")
	_, other := n.Register(t, "other")

	st, body := n.Do(t, "POST", "/api/v1/rooms", tok, map[string]any{"name": "Design Review", "topic": "v1",
		"policy": map[string]any{"limits": map[string]any{"messagesPerMinute": 600}}})
	if st != 201 {
		t.Fatalf("create: HTTP %d %v", st, body)
	}
	room := body["room"].(map[string]any)
	if room["id"] != "design-review" || room["policy"].(map[string]any)["limits"].(map[string]any)["burst"] != 10.0 {
		t.Fatalf("room %v: want id design-review and default burst 10 kept beside the given limit", room)
	}
	for name, tt := range map[string]struct {
		body   any
		status int
		in     string
	}{
		"same id":             {map[string]any{"name": "design  review!"}, 409, "design-review"},
		"blank name":          {map[string]any{"name": "   "}, 400, "name"},
		"unknown policy key":  {map[string]any{"name": "x", "policy": map[string]any{"colour": "red"}}, 400, "colour"},
		"unknown capability":  {map[string]any{"name": "x", "policy": map[string]any{"capabilities": map[string]any{"local": []string{"speak", "fly"}}}}, 400, "policy.capabilities.local[1]"},
		"unknown trust level": {map[string]any{"name": "x", "policy": map[string]any{"execute": map[string]any{"from": []string{"root"}}}}, 400, "policy.execute.from[0]"},
		"topic too long":      {map[string]any{"name": "x", "topic": strings.Repeat("t", 600)}, 400, "topic"},
	} {
		t.Run(name, func(t *testing.T) {
			st, body := n.Do(t, "POST", "/api/v1/rooms", tok, tt.body)
			if st != tt.status || !strings.Contains(fmt.Sprint(body), tt.in) {
				t.Fatalf("HTTP %d %v, want %d naming %q", st, body, tt.status, tt.in)
			}
		})
	}

	_, body = n.Do(t, "GET", "/api/v1/rooms", other, nil)
	if got := len(body["rooms"].([]any)); got != 2 {
		t.Fatalf("%d rooms listed, want lobby and design-review", got)
	}
	if st, _ := n.Do(t, "GET", "/api/v1/rooms/nowhere", other, nil); st != 404 {
		t.Fatalf("missing room: HTTP %d, want 404", st)
	}
	if st, _ := n.Do(t, "GET", "/api/v1/rooms", "", nil); st != 401 {
		t.Fatalf("rooms without a token: HTTP %d, want 401", st)
	}

	// Only members read and post; joining over REST makes one.
	if st, _ := n.Do(t, "GET", "/api/v1/rooms/design-review/messages", other, nil); st != 403 {
		t.Fatalf("non-member reads: HTTP %d, want 403", st)
	}
	if st, _ := n.Do(t, "POST", "/api/v1/rooms/design-review/messages", other, map[string]any{"text": "hi"}); st != 403 {
		t.Fatalf("non-member posts: HTTP %d, want 403", st)
	}
	n.Do(t, "POST", "/api/v1/rooms/design-review/join", other, nil)
	_, body = n.Do(t, "GET", "/api/v1/rooms/design-review/members", other, nil)
	if got := len(body["members"].([]any)); got != 2 {
		t.Fatalf("%d members, want 2", got)
	}

	// Policy changes: only the creator (or owner), validated.
	if st, _ := n.Do(t, "PUT", "/api/v1/rooms/design-review/policy", other, map[string]any{}); st != 403 {
		t.Fatalf("policy by a non-creator: HTTP %d, want 403", st)
	}
	st, body = n.Do(t, "PUT", "/api/v1/rooms/design-review/policy", tok, map[string]any{"visibility": "federated"})
	if st != 200 || body["room"].(map[string]any)["revision"] != 2.0 {
		t.Fatalf("policy by the creator: HTTP %d %v, want revision 2", st, body)
	}
	if st, body := n.Do(t, "PUT", "/api/v1/rooms/design-review/policy", tok, map[string]any{"visibility": "public"}); st != 400 ||
		!strings.Contains(fmt.Sprint(body), "policy.visibility") {
		t.Fatalf("bad policy: HTTP %d %v", st, body)
	}
}

func TestMessagesPaging(t *testing.T) {
	n := meshtest.Start(t, "")
	room := n.UnlimitedRoom(t, "paging")
	_, tok := n.Register(t, "w")
	n.Do(t, "POST", "/api/v1/rooms/"+room+"/join", tok, nil)
	for i := range 25 {
		if st, body := n.Do(t, "POST", "/api/v1/rooms/"+room+"/messages", tok, map[string]any{"text": fmt.Sprint(i), "ref": fmt.Sprint("r", i)}); st != 201 {
			t.Fatalf("post: HTTP %d %v", st, body)
		}
	}
	for name, tt := range map[string]struct {
		query      string
		status     int
		first, got int
	}{
		"first page":   {"?limit=10", 200, 1, 10},
		"middle page":  {"?after=10&limit=10", 200, 11, 10},
		"last page":    {"?after=20&limit=10", 200, 21, 5},
		"past the end": {"?after=25", 200, 0, 0},
		"default":      {"", 200, 1, 25},
		"bad after":    {"?after=-1", 400, 0, 0},
		"zero limit":   {"?limit=0", 400, 0, 0},
		"huge limit":   {"?limit=100000", 400, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			st, body := n.Do(t, "GET", "/api/v1/rooms/"+room+"/messages"+tt.query, tok, nil)
			if st != tt.status {
				t.Fatalf("HTTP %d %v, want %d", st, body, tt.status)
			}
			if st != 200 {
				return
			}
			msgs := body["messages"].([]any)
			if len(msgs) != tt.got {
				t.Fatalf("got %d messages, want %d", len(msgs), tt.got)
			}
			if tt.got > 0 && msgs[0].(map[string]any)["seq"] != float64(tt.first) {
				t.Fatalf("first seq %v, want %d", msgs[0].(map[string]any)["seq"], tt.first)
			}
		})
	}
}

func TestAuditEndpoint(t *testing.T) {
	n := meshtest.Start(t, "")
	_, tok := n.Register(t, "w")
	if st, _ := n.Do(t, "GET", "/api/v1/audit", tok, nil); st != 403 {
		t.Fatalf("audit by a non-owner: HTTP %d, want 403", st)
	}
	n.Node.Audit.Sync(t.Context())
	st, body := n.Do(t, "GET", "/api/v1/audit?after=0&limit=100", n.Node.OwnerToken(), nil)
	if st != 200 || !strings.Contains(fmt.Sprint(body), "register") {
		t.Fatalf("audit by the owner: HTTP %d %v, want the registration", st, body)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	n := meshtest.Start(t, "")
	if st, _ := n.Do(t, "GET", "/healthz", "", nil); st != 200 {
		t.Fatalf("healthz: HTTP %d", st)
	}
	resp, err := httpGet(n.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"mesh_connections ", "mesh_rooms ", "mesh_messages_in_total ", "mesh_messages_out_total ",
		"mesh_slow_consumers_total ", "mesh_fsync_seconds_bucket{le=", "process_cpu_seconds_total ", "process_resident_memory_bytes "} {
		if !strings.Contains(resp, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

var _ = node.Registration{}

// TestMessagesLongPoll: ?wait= answers at once when there is something
// after the cursor, waits for the next message otherwise, and returns an
// empty page when the wait ends.
func TestMessagesLongPoll(t *testing.T) {
	n := meshtest.Start(t, "")
	_, tok := n.Register(t, "w")
	n.Do(t, "POST", "/api/v1/rooms/lobby/join", tok, nil)
	n.Do(t, "POST", "/api/v1/rooms/lobby/messages", tok, map[string]any{"text": "first"})
	if _, body := n.Do(t, "GET", "/api/v1/rooms/lobby/messages?after=0&wait=30", tok, nil); len(body["messages"].([]any)) != 1 {
		t.Fatalf("wait with a message pending: %v, want it at once", body)
	}
	got := make(chan map[string]any, 1)
	go func() {
		_, body := n.Do(t, "GET", "/api/v1/rooms/lobby/messages?after=1&wait=30", tok, nil)
		got <- body
	}()
	time.Sleep(100 * time.Millisecond) // let the poll start waiting; correctness does not depend on it
	n.Do(t, "POST", "/api/v1/rooms/lobby/messages", tok, map[string]any{"text": "second"})
	select {
	case body := <-got:
		msgs := body["messages"].([]any)
		if len(msgs) != 1 || msgs[0].(map[string]any)["body"].(map[string]any)["text"] != "second" {
			t.Fatalf("long poll returned %v, want the second message", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll did not return after a message was posted")
	}
	if _, body := n.Do(t, "GET", "/api/v1/rooms/lobby/messages?after=2&wait=1", tok, nil); len(body["messages"].([]any)) != 0 {
		t.Fatalf("expired wait: %v, want an empty page", body)
	}
	if st, _ := n.Do(t, "GET", "/api/v1/rooms/lobby/messages?wait=99", tok, nil); st != 400 {
		t.Fatalf("wait=99: HTTP %d, want 400", st)
	}
}
