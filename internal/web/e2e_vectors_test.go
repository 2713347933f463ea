package web_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
	"github.com/the-mesh/mesh/internal/meshtest"
)

// TestE2EVectorsReplay sends the E2E REST vectors whose answers name no
// participant or node id to a real node, set up as each vector's story
// says, and checks the node answers exactly the vector's status and error:
// the messages in testdata/protocol (and PROTOCOL.md) are the node's own.
func TestE2EVectorsReplay(t *testing.T) {
	n := meshtest.Start(t, "")
	newMember(t, n, "keeper").createRoom("vault", nil) // the vectors' E2E room
	for name, setup := range map[string]func(tb testing.TB, m *member){
		"e2e-device-put-bad-signature": nil,
		"e2e-device-put-short-key":     nil,
		"e2e-device-put-bad-base64":    nil,
		"e2e-device-put-taken": func(tb testing.TB, _ *member) {
			other := newMember(tb, n, "other")
			var v restFile
			readVector(tb, "e2e-device-put", &v)
			if st, e := doJSON(tb, n, "PUT", v.Input.Path, other.tok, v.Input.Body, nil); st != 201 {
				tb.Fatalf("the other registers the device first: HTTP %d %v", st, e)
			}
		},
		"e2e-device-put-too-many": func(tb testing.TB, m *member) {
			for range mesh.MaxDevices - 1 {
				m.addDevice()
			}
		},
		"e2e-device-delete-missing":   nil,
		"e2e-roster-plain-room":       nil,
		"e2e-roster-not-member":       nil,
		"e2e-message-post-plain-text": func(tb testing.TB, m *member) { m.join("vault") },
		"e2e-message-post-plain-room": func(tb testing.TB, m *member) { m.join("lobby") },
		"e2e-data-refused":            func(tb testing.TB, m *member) { m.join("vault") },
		"e2e-policy-off":              nil, // asked by the node's owner: see below
	} {
		t.Run(name, func(t *testing.T) {
			var v restFile
			readVector(t, name, &v)
			m := newMember(t, n, "asker")
			tok := m.tok
			if setup != nil {
				setup(t, m)
			}
			if name == "e2e-policy-off" {
				tok = n.Node.OwnerToken() // the owner may moderate every room
			}
			var body any
			if len(v.Input.Body) > 0 {
				body = v.Input.Body
			}
			st, e := doJSON(t, n, v.Input.Method, v.Input.Path, tok, body, nil)
			if st != v.Want.Status || e == nil || *e != v.Want.Body.Error {
				t.Fatalf("got HTTP %d %+v, want %d %+v", st, e, v.Want.Status, v.Want.Body.Error)
			}
		})
	}
	// On a node of its own, the vectors' device registers as they say.
	n2 := meshtest.Start(t, "")
	id, tok := n2.Register(t, "alice")
	var put restFile
	readVector(t, "e2e-device-put", &put)
	var got, want struct {
		Device mesh.Device `json:"device"`
	}
	json.Unmarshal(put.Want.Raw, &want)
	for _, status := range []int{201, 200} { // e2e-device-put, e2e-device-put-again
		if st, e := doJSON(t, n2, "PUT", put.Input.Path, tok, put.Input.Body, &got); st != status {
			t.Fatalf("register the vectors' device: HTTP %d %v, want %d", st, e, status)
		}
		d := got.Device
		if d.ID != want.Device.ID || string(d.Box) != string(want.Device.Box) || string(d.Sig) != string(want.Device.Sig) || e2e.VerifyDevice(d) != nil {
			t.Fatalf("%s registered %+v, want %+v", id, d, want.Device)
		}
	}
}

// restFile is a rest/ vector.
type restFile struct {
	Input struct {
		Method string          `json:"method"`
		Path   string          `json:"path"`
		Body   json.RawMessage `json:"body"`
	} `json:"input"`
	Want struct {
		Status int `json:"status"`
		Body   struct {
			Error mesh.Error `json:"error"`
		} `json:"body"`
		Raw json.RawMessage `json:"-"`
	} `json:"want"`
}

func readVector(tb testing.TB, name string, v *restFile) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "protocol", "rest", name+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	var raw struct {
		Want struct {
			Body json.RawMessage `json:"body"`
		} `json:"want"`
	}
	json.Unmarshal(b, &raw)
	v.Want.Raw = raw.Want.Body
}
