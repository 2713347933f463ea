package mesh

// Capability is one thing a participant may do in a room.
type Capability string

const (
	CapSpeak     Capability = "speak"
	CapListen    Capability = "listen"
	CapExecute   Capability = "execute"
	CapModerate  Capability = "moderate"
	CapBridge    Capability = "bridge"
	CapDataRead  Capability = "data-read"
	CapDataWrite Capability = "data-write"
)

// Capabilities lists every capability, in the order the design names them.
var Capabilities = []Capability{CapSpeak, CapListen, CapExecute, CapModerate, CapBridge, CapDataRead, CapDataWrite}

// Valid reports whether c is a known capability.
func (c Capability) Valid() bool {
	for _, k := range Capabilities {
		if c == k {
			return true
		}
	}
	return false
}

// Policy is a room's governance document. Every field is optional in JSON;
// DefaultPolicy gives the values an omitted key takes. Enforcement beyond
// the limits lives in the governance package.
type Policy struct {
	Visibility   string                         `json:"visibility"`
	Capabilities map[Trust][]Capability         `json:"capabilities"`
	Grants       map[ParticipantID][]Capability `json:"grants"`
	Revokes      map[ParticipantID][]Capability `json:"revokes"`
	Execute      PolicyExecute                  `json:"execute"`
	Limits       PolicyLimits                   `json:"limits"`
	Format       PolicyFormat                   `json:"format"`
	Agents       PolicyAgents                   `json:"agents"`
	Data         PolicyData                     `json:"data"`
	Scan         map[Trust]string               `json:"scan"`
	E2E          bool                           `json:"e2e"`
}

// PolicyExecute says whose commands may run.
type PolicyExecute struct {
	From []Trust `json:"from"`
}

// PolicyLimits are per-room limits, enforced on top of the wire limits.
type PolicyLimits struct {
	MessagesPerMinute int `json:"messagesPerMinute"`
	Burst             int `json:"burst"`
	MaxMessageBytes   int `json:"maxMessageBytes"`
}

// PolicyFormat constrains message bodies: kind "text" or "json".
type PolicyFormat struct {
	Kind   string         `json:"kind"`
	Schema map[string]any `json:"schema,omitempty"`
}

// PolicyAgents constrains agents' replies: "any" or "mention-only".
type PolicyAgents struct {
	Reply string `json:"reply"`
}

// PolicyData says who may write room data and whether it may leave the room.
type PolicyData struct {
	Ingress []Trust `json:"ingress"`
	Egress  string  `json:"egress"`
}

// DefaultPolicy returns the policy a room gets when its document omits every key.
func DefaultPolicy() Policy {
	return Policy{
		Visibility: "private",
		Capabilities: map[Trust][]Capability{
			TrustOwner:     append([]Capability(nil), Capabilities...),
			TrustLocal:     {CapSpeak, CapListen, CapDataRead},
			TrustFederated: {CapSpeak, CapListen},
			TrustUntrusted: {CapListen},
		},
		Grants:  map[ParticipantID][]Capability{},
		Revokes: map[ParticipantID][]Capability{},
		Execute: PolicyExecute{From: []Trust{TrustOwner, TrustLocal}},
		Limits:  PolicyLimits{MessagesPerMinute: 60, Burst: 10, MaxMessageBytes: 8192},
		Format:  PolicyFormat{Kind: "text"},
		Agents:  PolicyAgents{Reply: "any"},
		Data:    PolicyData{Ingress: []Trust{TrustOwner, TrustLocal}, Egress: "deny"},
		Scan: map[Trust]string{TrustOwner: "off", TrustLocal: "flag",
			TrustFederated: "block", TrustUntrusted: "block"},
	}
}
