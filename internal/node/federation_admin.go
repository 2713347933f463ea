package node

import (
	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
	"github.com/the-mesh/mesh/internal/federation"
)

// DirectoryRoom is a federated room in GET /api/v1/directory.
type DirectoryRoom struct {
	Address  mesh.RoomID `json:"address"` // room@node: what join takes
	ID       mesh.RoomID `json:"id"`
	Name     string      `json:"name"`
	Topic    string      `json:"topic,omitempty"`
	Node     string      `json:"node"`
	NodeName string      `json:"nodeName,omitempty"`
	Auth     string      `json:"auth"` // how the node came in: secret, or open (its participants are untrusted)
	Hops     int         `json:"hops"` // bridges between this node's relay and it
	Local    bool        `json:"local,omitempty"`
}

// Directory is the answer of GET /api/v1/directory.
type Directory struct {
	Federated bool            `json:"federated"`
	Linked    bool            `json:"linked"`
	Relay     string          `json:"relay,omitempty"`
	Rooms     []DirectoryRoom `json:"rooms"`
}

// Directory lists the federated rooms reachable through the node's relay,
// this node's own included, by node then room.
func (n *Node) Directory() Directory {
	d := Directory{Rooms: []DirectoryRoom{}}
	f, err := n.federation()
	if err != nil {
		return d
	}
	d.Federated = true
	dir := f.c.Directory()
	d.Linked, d.Relay = dir.Relay != "", dir.Relay
	for _, e := range dir.Nodes {
		for _, r := range e.Rooms {
			d.Rooms = append(d.Rooms, DirectoryRoom{Address: mesh.RemoteRoom(r.ID, e.ID), ID: r.ID, Name: r.Name, Topic: r.Topic,
				Node: e.ID, NodeName: e.Name, Auth: e.Auth, Hops: e.Hops, Local: e.ID == n.info.ID})
		}
	}
	return d
}

// FederationStatus reports the link, the queue and the streams.
// Errors: EUnavailable (not federated).
func (n *Node) FederationStatus() (federation.Status, error) {
	f, err := n.federation()
	if err != nil {
		return federation.Status{}, err
	}
	return f.c.Status(), nil
}

// DeadLetters lists the dead letters not replayed yet.
func (n *Node) DeadLetters() ([]federation.DeadLetter, error) {
	f, err := n.federation()
	if err != nil {
		return nil, err
	}
	dls, err := f.c.DeadLetters()
	if dls == nil {
		dls = []federation.DeadLetter{}
	}
	return dls, err
}

// ReplayDeadLetters queues dead letters again (all when ids is empty) and
// returns how many. Errors: EUnavailable, ENotFound (an id that is not a
// dead letter).
func (n *Node) ReplayDeadLetters(actor mesh.Participant, ids []string) (int, error) {
	f, err := n.federation()
	k := 0
	if err == nil {
		k, err = f.c.Replay(ids)
	}
	n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "replay-dead-letters",
		Detail: map[string]any{"ids": ids, "replayed": k}}, err))
	return k, err
}
