package mesh

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzProvenanceStatement checks the fast statement writer against the
// long way (encode, decode, write canonically): the bytes a signature
// covers must not depend on which one ran.
func FuzzProvenanceStatement(f *testing.F) {
	f.Add("m_1", "p_a", "alice", "agent", "nemmgynitrhp6kwdh", "The mock-ups are in the room's files.", "", "", "", false, false, int64(1772367600250000000))
	f.Add("m_2", "p_b@nx3b5t7kq2wzm4ha6", "b\u2028<&>\"", "human", "nx3b5t7kq2wzm4ha6", "tab\t nl\n \x01 \xff é 😀", "deploy", "ok\u2029", "m_1", true, true, int64(-62135596800000000))
	f.Add("", "", "", "", "", "", "", "", "", false, true, int64(253402300799999999))
	f.Fuzz(func(t *testing.T, id, from, name, kind, node, text, command, output, ref string, hasOK, ok bool, ts int64) {
		m := Message{ID: id, Kind: MessageChat, From: Sender{ID: ParticipantID(from), Name: name, Kind: Kind(kind), Node: node},
			Body: Body{Text: text, Command: command, Output: output}, Ref: ref, To: ParticipantID(ref)}
		if hasOK {
			m.Body.OK = &ok
		}
		p := Provenance{Node: node, TS: time.Unix(0, ts).UTC()}
		from2 := m.From
		from2.ID = Qualify(from2.ID, from2.Node)
		st := statement{ID: m.ID, Room: "r@n", Kind: m.Kind, From: from2, TS: p.TS, Body: m.Body, To: Qualify(m.To, node), Ref: m.Ref}
		slow, errSlow := st.canonicalSlow()
		fast, okFast := st.canonical()
		if errSlow != nil {
			return // time.Time refuses to encode it; so does the fast path (it falls back)
		}
		if okFast && string(fast) != string(slow) {
			t.Fatalf("fast %s\nslow %s", fast, slow)
		}
		got, err := ProvenanceStatement(&m, "r@n", p, node)
		if err != nil || string(got) != string(slow) {
			t.Fatalf("ProvenanceStatement %s (%v)\nslow %s", got, err, slow)
		}
	})
}

// TestProvenanceStatementFallback: a body with more than text, command,
// ok and output is written the long way.
func TestProvenanceStatementFallback(t *testing.T) {
	st := statement{ID: "m", Room: "r@n", Kind: MessageCommand, TS: time.Unix(0, 0).UTC(), Body: Body{Command: "c", Args: json.RawMessage(`{"b":1,"a":[2]}`)}}
	if _, ok := st.canonical(); ok {
		t.Fatal("a body with args took the fast path")
	}
	got, err := ProvenanceStatement(&Message{ID: "m", Kind: MessageCommand, Body: st.Body}, "r@n", Provenance{TS: st.TS}, "n")
	if err != nil || string(got) != `{"body":{"args":{"a":[2],"b":1},"command":"c"},"from":{"id":"","kind":"","name":"","node":""},"id":"m","kind":"command","room":"r@n","ts":"1970-01-01T00:00:00Z"}` {
		t.Fatalf("got %s (%v)", got, err)
	}
}
