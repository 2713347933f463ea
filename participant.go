package mesh

import "time"

// ParticipantID identifies a participant on its home node. It is opaque and
// made by the node ("p_" plus random letters).
type ParticipantID string

// Kind says whether a participant is a person or a program.
type Kind string

const (
	KindHuman Kind = "human"
	KindAgent Kind = "agent"
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k == KindHuman || k == KindAgent }

// Trust is the trust level the node attaches to a participant and to every
// message it delivers. Senders never choose it.
type Trust string

const (
	TrustOwner     Trust = "owner"
	TrustLocal     Trust = "local"
	TrustFederated Trust = "federated"
	TrustUntrusted Trust = "untrusted"
)

// Rank orders trust levels: owner 3, local 2, federated 1, untrusted 0, and
// -1 for an unknown level.
func (t Trust) Rank() int {
	switch t {
	case TrustOwner:
		return 3
	case TrustLocal:
		return 2
	case TrustFederated:
		return 1
	case TrustUntrusted:
		return 0
	}
	return -1
}

// Valid reports whether t is a known trust level.
func (t Trust) Valid() bool { return t.Rank() >= 0 }

// Participant is a human or an agent known to a node. The token that
// authenticates it is never part of this struct: the node keeps only its hash.
type Participant struct {
	ID      ParticipantID `json:"id"`
	Name    string        `json:"name"`
	Kind    Kind          `json:"kind"`
	Trust   Trust         `json:"trust"`
	Parent  ParticipantID `json:"parent,omitempty"`
	Webhook string        `json:"webhook,omitempty"`
	Node    string        `json:"node"`
	Created time.Time     `json:"created"`
}

// Public returns p as other participants see it: without its webhook URL.
func (p Participant) Public() Participant {
	p.Webhook = ""
	return p
}

// Sender is how a message names its author.
type Sender struct {
	ID   ParticipantID `json:"id"`
	Name string        `json:"name"`
	Kind Kind          `json:"kind"`
	Node string        `json:"node"`
}

// Sender returns p as a message author.
func (p *Participant) Sender() Sender {
	return Sender{ID: p.ID, Name: p.Name, Kind: p.Kind, Node: p.Node}
}
