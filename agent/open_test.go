package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"testing"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
)

// cryptoVectors is the part of testdata/protocol/e2e/crypto.json read here
// (e2e/vectors_test.go has the whole shape).
type cryptoVectors struct {
	Devices []struct {
		Name   string      `json:"name"`
		Random []byte      `json:"random"`
		Device mesh.Device `json:"device"`
	} `json:"devices"`
	Keys struct {
		Room   mesh.RoomID  `json:"room"`
		Epoch  uint64       `json:"epoch"`
		Roster []string     `json:"roster"`
		Sealed *mesh.Sealed `json:"sealed"`
	} `json:"keys"`
	Msgs []struct {
		To     mesh.ParticipantID `json:"to"`
		Ref    string             `json:"ref"`
		Keys   uint64             `json:"keys"`
		Plain  json.RawMessage    `json:"plain"`
		Sealed *mesh.Sealed       `json:"sealed"`
	} `json:"msgs"`
	Refused []struct {
		Note   string       `json:"note"`
		Reader string       `json:"reader"`
		Room   mesh.RoomID  `json:"room"`
		Keys   *mesh.Sealed `json:"keys"`
		Msg    *mesh.Sealed `json:"msg"`
		To     string       `json:"to"`
		Ref    string       `json:"ref"`
		Reason string       `json:"reason"`
	} `json:"refused"`
}

// vectorReader is a client that reads the vectors' room as device name,
// with the vectors' roster (device names as participant ids p_<name>).
func vectorReader(t *testing.T, v *cryptoVectors, name string, home mesh.RoomID) (*Client, *e2eRoom) {
	t.Helper()
	keys := MemoryKeys()
	roster := mesh.Roster{Epoch: v.Keys.Epoch, Room: home}
	for _, d := range v.Devices {
		if d.Name == name {
			keys.Save(KeyRecord{V: keyRecordVersion, Sign: d.Random[:32], Box: d.Random[32:]})
		}
		for _, r := range v.Keys.Roster {
			if r == d.Name {
				dev := d.Device
				dev.Participant, dev.Sig = mesh.ParticipantID("p_"+d.Name), nil
				roster.Devices = append(roster.Devices, dev)
			}
		}
	}
	c := &Client{log: slog.New(slog.DiscardHandler), keys: &keyring{store: keys}}
	er := newE2ERoom(roster)
	er.finish(nil)
	return c, er
}

func sealedMessage(seq uint64, from mesh.ParticipantID, s *mesh.Sealed, to mesh.ParticipantID, ref string) mesh.Message {
	return mesh.Message{ID: "m_" + string(rune('a'+seq%26)), Room: "team", Seq: seq, Kind: mesh.MessageEncrypted,
		From: mesh.Sender{ID: from}, Trust: mesh.TrustLocal, To: to, Ref: ref, Body: mesh.Body{E2E: s}}
}

// TestOpenVectors runs the shared crypto vectors through the client's
// receiving path: every roster device opens every message, and each
// refusal gets its reason.
func TestOpenVectors(t *testing.T) {
	raw, err := os.ReadFile("../testdata/protocol/e2e/crypto.json")
	if err != nil {
		t.Fatal(err)
	}
	var v cryptoVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const keysSeq = 41
	for _, reader := range v.Keys.Roster {
		c, er := vectorReader(t, &v, reader, v.Keys.Room)
		if _, deliver := c.openIn(ctx, er, sealedMessage(keysSeq, "p_alice", v.Keys.Sealed, "", ""), true); deliver {
			t.Fatal("a keys entry was delivered")
		}
		for i, m := range v.Msgs {
			got, _ := c.openIn(ctx, er, sealedMessage(keysSeq+1+uint64(i), "p_alice", m.Sealed, m.To, m.Ref), true)
			want := struct {
				Kind mesh.MessageKind `json:"kind"`
				Body mesh.Body        `json:"body"`
			}{}
			json.Unmarshal(m.Plain, &want)
			gb, _ := json.Marshal(got.Body)
			wb, _ := json.Marshal(want.Body)
			if !got.E2E || got.Kind != want.Kind || string(gb) != string(wb) || got.Undecryptable != "" {
				t.Errorf("%s msg %d: got %s %s (undecryptable %q), want %s %s", reader, i, got.Kind, gb, got.Undecryptable, want.Kind, wb)
			}
		}
	}
	for _, r := range v.Refused {
		home, to, ref := r.Room, mesh.ParticipantID(r.To), r.Ref
		if home == "" {
			home = v.Keys.Room
		}
		if to == "" {
			to = v.Msgs[0].To
		}
		if ref == "" {
			ref = v.Msgs[0].Ref
		}
		c, er := vectorReader(t, &v, r.Reader, home)
		c.openIn(ctx, er, sealedMessage(keysSeq, "p_alice", r.Keys, "", ""), true)
		got, deliver := c.openIn(ctx, er, sealedMessage(keysSeq+1, "p_alice", r.Msg, to, ref), true)
		if !deliver || got.Undecryptable != r.Reason || got.E2E || got.Kind != mesh.MessageEncrypted {
			t.Errorf("%s: got %q (delivered %t, kind %s), want %q", r.Note, got.Undecryptable, deliver, got.Kind, r.Reason)
		}
	}
	// A sender whose device is not its own: not_member.
	c, er := vectorReader(t, &v, "bob", v.Keys.Room)
	c.openIn(ctx, er, sealedMessage(keysSeq, "p_alice", v.Keys.Sealed, "", ""), true)
	if got, _ := c.openIn(ctx, er, sealedMessage(keysSeq+1, "p_mallory", v.Msgs[0].Sealed, v.Msgs[0].To, ""), true); got.Undecryptable != "not_member" {
		t.Errorf("a device sent as someone else: got %q, want not_member", got.Undecryptable)
	}
	if s := c.E2EStats(); s.KeysEntries != 1 || s.Undecryptable != 1 {
		t.Errorf("stats: got %+v, want 1 keys entry and 1 undecryptable", s)
	}
}

// TestMessageKeyAnyOrder: message keys read in any order, and again, are
// the chain's, with the kept keys bounded.
func TestMessageKeyAnyOrder(t *testing.T) {
	ck0 := make([]byte, 32)
	rand.Read(ck0)
	er := newE2ERoom(mesh.Roster{Epoch: 1})
	ke := &keysEntry{ck0: ck0}
	wants := [][]byte{nil}
	for c := e2e.NewChain(ck0); len(wants) <= 3000; {
		_, mk, _ := c.Next()
		wants = append(wants, mk)
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	order := r.Perm(3000)
	order = append(order, r.Perm(600)...) // read again: the kept keys were used
	for _, i := range order {
		n := uint64(i + 1)
		got, err := er.messageKey(ke, n)
		if want := wants[n]; err != nil || !bytes.Equal(got, want) {
			t.Fatalf("message %d: got %x, %v; want %x", n, got, err, wants[n])
		}
		if len(ke.skipped) > maxSkipped {
			t.Fatalf("%d keys kept, want at most %d", len(ke.skipped), maxSkipped)
		}
	}
	if _, err := er.messageKey(ke, 3000+maxStep+2); e2e.Reason(err) != "corrupt" {
		t.Fatalf("a counter too far ahead: got %v, want corrupt", err)
	}
}
