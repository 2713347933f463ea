package federation_test

import (
	"fmt"
	"testing"
	"time"
)

func TestTmpThroughput(t *testing.T) {
	r := startRelay(t, nil)
	a, b, c := startNode(t, r, "", nil), startNode(t, r, "", nil), startNode(t, r, "", nil)
	room := b.federatedRoom(t, "design", map[string]any{"limits": map[string]any{"messagesPerMinute": 0}})
	a.waitDirectory(t, room)
	c.waitDirectory(t, room)
	alice, _ := a.agent(t, "alice")
	carol, _ := c.agent(t, "carol")
	alice.Send(map[string]any{"type": "join", "room": room})
	expect(t, alice, "joined")
	carol.Send(map[string]any{"type": "join", "room": room})
	expect(t, carol, "joined")
	start := time.Now()
	go func() {
		for i := range 1000 {
			alice.Send(map[string]any{"type": "say", "room": room, "text": fmt.Sprintf("m%04d", i)})
		}
	}()
	for i := 0; i < 1000; {
		f := carol.Next(20 * time.Second)
		if f.Type() == "message" {
			i++
			if i%100 == 0 {
				_, body := b.Do(t, "GET", "/api/v1/rooms/design/messages?after=0&limit=500", b.owner, nil)
				_, body2 := b.Do(t, "GET", "/api/v1/rooms/design/messages?after=500&limit=500", b.owner, nil)
				sa, _ := a.Node.Node.FederationStatus()
				t.Logf("%d after %v; B has %d; A pending %+v", i, time.Since(start), len(body["messages"].([]any))+len(body2["messages"].([]any)), sa.Outbound)
			}
		}
	}
	st, _ := a.Node.Node.FederationStatus()
	t.Logf("A: %+v", st)
	st, _ = b.Node.Node.FederationStatus()
	t.Logf("B: %+v", st)
}
