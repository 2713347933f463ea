package mesh_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/governance"
)

// The wire vectors live in testdata/protocol/<area>/<case>.json, each
// {"name", "input" (or "inputBase64"), "want"}. PROTOCOL.md shows them as
// its examples and the TypeScript SDK reads the same files.

// vector is one vector file.
type vector struct {
	Name        string          `json:"name"`
	Input       json.RawMessage `json:"input"`
	InputBase64 string          `json:"inputBase64"`
	Want        json.RawMessage `json:"want"`
}

// protocolAreas are the directories under testdata/protocol. The guard
// area is internal/guard's (TestScanVectors writes and checks it).
var protocolAreas = []string{"client-frames", "server-frames", "envelopes", "policies", "rest", "governance", "prompt", "federation", "guard", "e2e", "interchange"}

// forEachVector runs one subtest per vector file of an area.
func forEachVector(t *testing.T, area string, f func(t *testing.T, v vector)) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "protocol", area, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no vectors in testdata/protocol/%s", area)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			v := mustReadVector(t, file)
			f(t, v)
		})
	}
}

func mustReadVector(tb testing.TB, file string) vector {
	tb.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	var v vector
	if err := decodeStrict(b, &v); err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
	if v.Name == "" || v.Want == nil || (v.Input == nil) == (v.InputBase64 == "") {
		tb.Fatalf("%s: need name, want, and exactly one of input and inputBase64", file)
	}
	return v
}

// decodeStrict decodes exactly one JSON value with unknown fields refused.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return &mesh.Error{Code: mesh.EInvalid, Message: "trailing data"}
	}
	return nil
}

// generic decodes JSON into maps, slices and float64s for comparison.
func generic(tb testing.TB, b []byte) any {
	tb.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("not JSON: %v: %s", err, b)
	}
	return v
}

// wantError is the want of a vector that expects a refusal.
type wantError struct {
	Error    string `json:"error"`
	Contains string `json:"contains"`
	Ref      string `json:"ref"`
}

func checkError(t *testing.T, err error, w wantError) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s containing %q", w.Error, w.Contains)
	}
	if got := mesh.ErrorCode(err); got != w.Error {
		t.Errorf("code: got %v, want %v (%v)", got, w.Error, err)
	}
	if got := mesh.ErrorMessage(err); !strings.Contains(got, w.Contains) {
		t.Errorf("message: got %q, want it to contain %q", got, w.Contains)
	}
}

func TestProtocolClientFrames(t *testing.T) {
	forEachVector(t, "client-frames", func(t *testing.T, v vector) {
		var raw []byte
		if v.InputBase64 != "" {
			b, err := base64.StdEncoding.DecodeString(v.InputBase64)
			if err != nil {
				t.Fatalf("inputBase64: %v", err)
			}
			raw = b
		} else {
			var s string
			if err := json.Unmarshal(v.Input, &s); err != nil {
				t.Fatalf("input must be a JSON string holding the frame text: %v", err)
			}
			raw = []byte(s)
		}
		frame, ref, err := mesh.DecodeClientFrame(raw)
		want := generic(t, v.Want).(map[string]any)
		if _, ok := want["error"]; ok {
			var w wantError
			if err := decodeStrict(v.Want, &w); err != nil {
				t.Fatalf("want: %v", err)
			}
			checkError(t, err, w)
			if ref != w.Ref {
				t.Errorf("ref: got %q, want %q", ref, w.Ref)
			}
			return
		}
		if err != nil {
			t.Fatalf("got error %v, want a %v frame", err, want["type"])
		}
		if _, ok := want["type"]; !ok {
			t.Fatal(`want needs "type" or "error"`)
		}
		enc, err := json.Marshal(frame)
		if err != nil {
			t.Fatal(err)
		}
		got := generic(t, enc).(map[string]any)
		for k, w := range want {
			if !reflect.DeepEqual(got[k], w) {
				t.Errorf("%s: got %v, want %v", k, got[k], w)
			}
		}
		if got, _ := got["ref"].(string); ref != got {
			t.Errorf("returned ref: got %q, want %q", ref, got)
		}
	})
}

// messageFrame is the message server frame; the node builds it from the
// stored line (hub.MessageFrame), so the root package has no type for it.
type messageFrame struct {
	Type    string       `json:"type"`
	Message mesh.Message `json:"message"`
}

// serverFrames maps each server frame type to its Go type.
var serverFrames = map[string]func() any{
	mesh.FrameWelcome:  func() any { return new(mesh.Welcome) },
	mesh.FrameJoined:   func() any { return new(mesh.Joined) },
	mesh.FrameLeft:     func() any { return new(mesh.Left) },
	mesh.FrameMessage:  func() any { return new(messageFrame) },
	mesh.FrameAck:      func() any { return new(mesh.Ack) },
	mesh.FramePresence: func() any { return new(mesh.PresenceFrame) },
	mesh.FrameError:    func() any { return new(mesh.ErrorFrame) },
	mesh.FramePong:     func() any { return new(mesh.Pong) },
	mesh.FrameState:    func() any { return new(mesh.State) },
	// The inbox (inbox.go).
	mesh.FrameInbox:      func() any { return new(mesh.InboxFrame) },
	mesh.FrameInboxAcked: func() any { return new(mesh.InboxAcked) },
	mesh.FrameInboxItem:  func() any { return new(mesh.InboxItemFrame) },
}

// roundTrip decodes input strictly into v, encodes v again and checks the
// result is the same JSON value as input.
func roundTrip(t *testing.T, input []byte, v any) {
	t.Helper()
	if err := decodeStrict(input, v); err != nil {
		t.Fatalf("decode into %T: %v", v, err)
	}
	enc, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := generic(t, enc), generic(t, input); !reflect.DeepEqual(got, want) {
		t.Errorf("round trip through %T:\ngot  %s\nwant %s", v, enc, input)
	}
}

func TestProtocolServerFrames(t *testing.T) {
	seen := map[string]bool{}
	forEachVector(t, "server-frames", func(t *testing.T, v vector) {
		var want struct {
			Type string `json:"type"`
		}
		if err := decodeStrict(v.Want, &want); err != nil {
			t.Fatalf("want: %v", err)
		}
		newFrame, ok := serverFrames[want.Type]
		if !ok {
			t.Fatalf("want.type: got %q, want a server frame type", want.Type)
		}
		seen[want.Type] = true
		frame := newFrame()
		roundTrip(t, v.Input, frame)
		if got := generic(t, v.Input).(map[string]any)["type"]; got != want.Type {
			t.Errorf("type: got %v, want %v", got, want.Type)
		}
		if j, ok := frame.(*mesh.Joined); ok {
			for i, h := range j.History {
				t.Run("history", func(t *testing.T) {
					roundTrip(t, h, new(mesh.Message))
					if i > 0 && generic(t, h).(map[string]any)["seq"].(float64) <= generic(t, j.History[i-1]).(map[string]any)["seq"].(float64) {
						t.Errorf("history[%d] is out of seq order", i)
					}
				})
			}
		}
	})
	for typ := range serverFrames {
		if !seen[typ] {
			t.Errorf("no vector for server frame %q", typ)
		}
	}
}

func TestProtocolEnvelopes(t *testing.T) {
	forEachVector(t, "envelopes", func(t *testing.T, v vector) {
		var want struct {
			Kind mesh.MessageKind `json:"kind"`
		}
		if err := decodeStrict(v.Want, &want); err != nil {
			t.Fatalf("want: %v", err)
		}
		var m mesh.Message
		roundTrip(t, v.Input, &m)
		if m.Kind != want.Kind {
			t.Errorf("kind: got %v, want %v", m.Kind, want.Kind)
		}
		if !m.Trust.Valid() || !m.From.Kind.Valid() || !m.Room.Valid() || m.Seq == 0 {
			t.Errorf("envelope has a bad trust, kind, room or seq: %+v", m)
		}
	})
}

func TestProtocolPolicies(t *testing.T) {
	forEachVector(t, "policies", func(t *testing.T, v vector) {
		p, err := mesh.ParsePolicy(v.Input)
		want := generic(t, v.Want).(map[string]any)
		if _, ok := want["error"]; ok {
			var w wantError
			if err := decodeStrict(v.Want, &w); err != nil {
				t.Fatalf("want: %v", err)
			}
			checkError(t, err, w)
			return
		}
		var w struct {
			Valid  bool            `json:"valid"`
			Policy json.RawMessage `json:"policy"`
		}
		if err := decodeStrict(v.Want, &w); err != nil || !w.Valid {
			t.Fatalf(`want must be {"valid": true[, "policy"]} or an error, got %s`, v.Want)
		}
		if err != nil {
			t.Fatalf("got %v, want a valid policy", err)
		}
		if w.Policy != nil {
			enc, _ := json.Marshal(p)
			if got, want := generic(t, enc), generic(t, w.Policy); !reflect.DeepEqual(got, want) {
				t.Errorf("effective policy:\ngot  %s\nwant %s", enc, w.Policy)
			}
		}
	})
}

// governanceSubject is a subject as a governance vector writes it.
type governanceSubject struct {
	ID        mesh.ParticipantID `json:"id"`
	Trust     mesh.Trust         `json:"trust"`
	Ancestors []struct {
		ID    mesh.ParticipantID `json:"id"`
		Trust mesh.Trust         `json:"trust"`
	} `json:"ancestors"`
}

func (g *governanceSubject) subject() governance.Subject {
	s := governance.Subject{ID: g.ID, Trust: g.Trust}
	for _, a := range g.Ancestors {
		s.Ancestors = append(s.Ancestors, governance.Ancestor{ID: a.ID, Trust: a.Trust})
	}
	return s
}

// TestProtocolGovernance runs the governance decisions. Input is a subject,
// an optional target (for commands), a room (creator, optional
// creatorAncestors, optional policy document) and a check: "command",
// "data-write", "data-read", "capabilities", or any other capability name
// for a plain capability check. Want is {"allowed", "contains"} for a
// decision (contains is required when refused) or {"capabilities"}.
func TestProtocolGovernance(t *testing.T) {
	forEachVector(t, "governance", func(t *testing.T, v vector) {
		var in struct {
			Subject governanceSubject  `json:"subject"`
			Target  *governanceSubject `json:"target"`
			Room    struct {
				Creator          mesh.ParticipantID   `json:"creator"`
				CreatorAncestors []mesh.ParticipantID `json:"creatorAncestors"`
				Policy           json.RawMessage      `json:"policy"`
			} `json:"room"`
			Check string `json:"check"`
		}
		if err := decodeStrict(v.Input, &in); err != nil {
			t.Fatalf("input: %v", err)
		}
		var want struct {
			Allowed      *bool              `json:"allowed"`
			Contains     string             `json:"contains"`
			Capabilities *[]mesh.Capability `json:"capabilities"`
		}
		if err := decodeStrict(v.Want, &want); err != nil {
			t.Fatalf("want: %v", err)
		}
		policy, err := mesh.ParsePolicy(in.Room.Policy)
		if err != nil {
			t.Fatalf("room.policy: %v", err)
		}
		subject := in.Subject.subject()
		room := governance.Room{Creator: in.Room.Creator, CreatorAncestors: in.Room.CreatorAncestors, Policy: &policy}
		if (in.Check == "command") != (in.Target != nil) {
			t.Fatal(`input.target goes with check "command", and only with it`)
		}
		if in.Check == "capabilities" {
			if want.Capabilities == nil || want.Allowed != nil || want.Contains != "" {
				t.Fatalf(`want: check "capabilities" needs {"capabilities": [...]} alone, got %s`, v.Want)
			}
			got := governance.Capabilities(subject, room)
			if !slices.Equal(got.List(), *want.Capabilities) {
				t.Errorf("capabilities: got %v, want %v", got.List(), *want.Capabilities)
			}
			for _, c := range mesh.Capabilities {
				if can := governance.Can(subject, c, room); can != got.Has(c) {
					t.Errorf("Can(%s): got %v, want %v as Capabilities says", c, can, got.Has(c))
				}
			}
			return
		}
		if want.Allowed == nil || want.Capabilities != nil || (!*want.Allowed && want.Contains == "") || (*want.Allowed && want.Contains != "") {
			t.Fatalf(`want: a decision needs {"allowed": true} or {"allowed": false, "contains": "..."}, got %s`, v.Want)
		}
		switch in.Check {
		case "command":
			err = governance.MayCommand(subject, in.Target.subject(), room)
		case string(mesh.CapDataWrite):
			err = governance.MayWriteData(subject, room)
		case string(mesh.CapDataRead):
			err = governance.MayReadData(subject, room)
		default:
			c := mesh.Capability(in.Check)
			if !c.Valid() {
				t.Fatalf("input.check: got %q, want command, capabilities or a capability", in.Check)
			}
			err = governance.Check(subject, c, room)
			if can := governance.Can(subject, c, room); can != (err == nil) {
				t.Errorf("Can: got %v, but Check returned %v", can, err)
			}
		}
		if *want.Allowed {
			if err != nil {
				t.Errorf("got %v, want allowed", err)
			}
			return
		}
		checkError(t, err, wantError{Error: mesh.EForbidden, Contains: want.Contains})
	})
}

// TestProtocolPrompt renders each prompt/ vector's envelope with
// mesh.Message.ForPrompt and compares it with want.text exactly: the SDKs
// render the same vectors and must get the same bytes.
func TestProtocolPrompt(t *testing.T) {
	forEachVector(t, "prompt", func(t *testing.T, v vector) {
		var want struct {
			Text string `json:"text"`
		}
		if err := decodeStrict(v.Want, &want); err != nil || want.Text == "" {
			t.Fatalf(`want must be {"text": "..."} (%v)`, err)
		}
		var m mesh.Message
		roundTrip(t, v.Input, &m)
		if !m.Trust.Valid() || !m.From.Kind.Valid() || !m.Room.Valid() || m.Seq == 0 {
			t.Errorf("input has a bad trust, kind, room or seq: %+v", m)
		}
		if got := m.ForPrompt(); got != want.Text {
			t.Errorf("ForPrompt:\ngot  %q\nwant %q\n\n%s", got, want.Text, got)
		}
	})
}

// restVector is the shape of a rest/ vector.
type restVector struct {
	Name  string `json:"name"`
	Input struct {
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Auth    string            `json:"auth"`
		Headers map[string]string `json:"headers"`
		Body    any               `json:"body"`
	} `json:"input"`
	Want struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    any               `json:"body"`
	} `json:"want"`
}

// statusOf is the HTTP status of each error code, as PROTOCOL.md lists it.
var statusOf = map[string]int{
	mesh.EUnauthorized: http.StatusUnauthorized,
	mesh.EForbidden:    http.StatusForbidden,
	mesh.ENotFound:     http.StatusNotFound,
	mesh.EInvalid:      http.StatusBadRequest,
	mesh.ETooLarge:     http.StatusRequestEntityTooLarge,
	mesh.ERateLimited:  http.StatusTooManyRequests,
	mesh.EBlocked:      http.StatusUnprocessableEntity,
	mesh.EConflict:     http.StatusConflict,
	mesh.EUnavailable:  http.StatusServiceUnavailable,
	mesh.EInternal:     http.StatusInternalServerError,
}

func readRESTVectors(t *testing.T) map[string]restVector {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "protocol", "rest", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rest vectors (%v)", err)
	}
	out := map[string]restVector{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var v restVector
		if err := decodeStrict(b, &v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out[strings.TrimSuffix(filepath.Base(file), ".json")] = v
	}
	return out
}

func TestProtocolREST(t *testing.T) {
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH"}
	auths := []string{"none", "participant", "owner"}
	for name, v := range readRESTVectors(t) {
		t.Run(name, func(t *testing.T) {
			in := v.Input
			if v.Name == "" || !slices.Contains(methods, in.Method) || !strings.HasPrefix(in.Path, "/") || !slices.Contains(auths, in.Auth) {
				t.Fatalf("input: got %s %q auth %q, want a name, a method, a path and auth none|participant|owner", in.Method, in.Path, in.Auth)
			}
			if http.StatusText(v.Want.Status) == "" {
				t.Fatalf("want.status: got %d, want an HTTP status", v.Want.Status)
			}
			body, _ := v.Want.Body.(map[string]any)
			e, isErr := body["error"].(map[string]any)
			if (v.Want.Status >= 400) != isErr {
				t.Fatalf("status %d with body %v: error statuses, and only they, carry {\"error\": ...}", v.Want.Status, v.Want.Body)
			}
			if isErr {
				code, _ := e["code"].(string)
				msg, _ := e["message"].(string)
				if len(e) != 2 || msg == "" {
					t.Errorf("error body: got %v, want exactly code and message", e)
				}
				if got, want := v.Want.Status, statusOf[code]; got != want {
					t.Errorf("status for code %q: got %v, want %v", code, got, want)
				}
			}
		})
	}
}

// TestProtocolRESTCoversRoutes fails when a route registered in
// internal/web/rest.go has no rest/ vector, so no endpoint goes undocumented.
func TestProtocolRESTCoversRoutes(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("internal", "web", "rest.go"))
	if err != nil {
		t.Fatal(err)
	}
	routes := regexp.MustCompile(`m\.HandleFunc\("([A-Z]+) (/[^"]*)"`).FindAllSubmatch(src, -1)
	if len(routes) < 10 {
		t.Fatalf("found %d routes in rest.go, want the whole API; did the registration syntax change?", len(routes))
	}
	vectors := readRESTVectors(t)
	for _, r := range routes {
		method, pattern := string(r[1]), string(r[2])
		t.Run(method+" "+pattern, func(t *testing.T) {
			re := patternRegexp(pattern)
			for _, v := range vectors {
				path, _, _ := strings.Cut(v.Input.Path, "?")
				if v.Input.Method == method && re.MatchString(path) {
					return
				}
			}
			t.Errorf("route %s %s has no vector in testdata/protocol/rest", method, pattern)
		})
	}
}

// patternRegexp turns a net/http ServeMux path pattern into a regexp:
// {name} matches one segment, {name...} the rest, {$} the end.
func patternRegexp(pattern string) *regexp.Regexp {
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		switch {
		case s == "{$}":
			segs[i] = ""
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "...}"):
			segs[i] = ".+"
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			segs[i] = "[^/]+"
		default:
			segs[i] = regexp.QuoteMeta(s)
		}
	}
	return regexp.MustCompile("^" + strings.Join(segs, "/") + "$")
}

// TestProtocolAreas keeps testdata/protocol to the known areas, so a
// misspelled directory is not silently skipped.
func TestProtocolAreas(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "protocol", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !slices.Contains(protocolAreas, filepath.Base(d)) {
			t.Errorf("testdata/protocol/%s: got an unknown area, want one of %v", filepath.Base(d), protocolAreas)
		}
	}
}

// TestProtocolDocExamples checks that every JSON example in PROTOCOL.md is
// part of the vector file named on the line just before it, so the document
// and the tests cannot drift apart.
func TestProtocolDocExamples(t *testing.T) {
	doc, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	ref := regexp.MustCompile(`testdata/protocol/[a-z-]+/[a-z0-9-]+\.json`)
	lines := strings.Split(string(doc), "\n")
	examples := 0
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) == "```text" {
			checkPromptExample(t, lines, i, ref)
			continue
		}
		if strings.TrimSpace(lines[i]) != "```json" {
			continue
		}
		start := i
		var block strings.Builder
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			block.WriteString(lines[i] + "\n")
		}
		examples++
		file := ""
		for j := start - 1; j >= 0 && j >= start-3 && file == ""; j-- {
			file = ref.FindString(lines[j])
		}
		if file == "" {
			t.Errorf("PROTOCOL.md:%d: a JSON example without a vector file named on the line before it", start+1)
			continue
		}
		t.Run(filepath.Base(filepath.Dir(file))+"/"+filepath.Base(file), func(t *testing.T) {
			var got any
			if err := json.Unmarshal([]byte(block.String()), &got); err != nil {
				t.Fatalf("PROTOCOL.md:%d: the example is not JSON: %v", start+1, err)
			}
			if !slices.ContainsFunc(vectorParts(t, file), func(p any) bool { return reflect.DeepEqual(p, got) }) {
				t.Errorf("PROTOCOL.md:%d: got an example that is not in %s (the whole file, input, want, input.body or want.body; a client frame's text)", start+1, file)
			}
		})
	}
	if examples == 0 {
		t.Fatal("PROTOCOL.md has no JSON examples")
	}
	for _, f := range ref.FindAllString(string(doc), -1) {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("PROTOCOL.md names %s: %v", f, err)
		}
	}
}

// checkPromptExample checks a text example of PROTOCOL.md that starts at
// line i: if a prompt/ vector is named on one of the three lines before it,
// the example must be exactly that vector's want.text.
func checkPromptExample(t *testing.T, lines []string, i int, ref *regexp.Regexp) {
	t.Helper()
	file := ""
	for j := i - 1; j >= 0 && j >= i-3 && file == ""; j-- {
		file = ref.FindString(lines[j])
	}
	if !strings.HasPrefix(file, "testdata/protocol/prompt/") {
		return
	}
	var block []string
	for k := i + 1; k < len(lines) && strings.TrimSpace(lines[k]) != "```"; k++ {
		block = append(block, lines[k])
	}
	t.Run("prompt/"+filepath.Base(file), func(t *testing.T) {
		var want struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(mustReadVector(t, file).Want, &want); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(block, "\n"); got != want.Text {
			t.Errorf("PROTOCOL.md:%d: the example is not %s's want.text:\ngot  %q\nwant %q", i+1, file, got, want.Text)
		}
	})
}

// vectorParts returns the JSON values of a vector file that PROTOCOL.md
// may show as an example.
func vectorParts(t *testing.T, file string) []any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	whole := generic(t, b).(map[string]any)
	parts := []any{whole, whole["input"], whole["want"]}
	for _, k := range []string{"input", "want"} {
		if m, ok := whole[k].(map[string]any); ok && m["body"] != nil {
			parts = append(parts, m["body"])
		}
	}
	if s, ok := whole["input"].(string); ok {
		var frame any
		if json.Unmarshal([]byte(s), &frame) == nil {
			parts = append(parts, frame)
		}
	}
	return parts
}
