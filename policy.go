package mesh

import (
	"fmt"
	"maps"
	"slices"
)

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

// ParsePolicy decodes a policy document over the defaults: omitted keys
// keep their default, unknown keys and values are refused with an EInvalid
// error that names the path of the fault.
func ParsePolicy(data []byte) (Policy, error) {
	p := DefaultPolicy()
	if len(data) == 0 || string(data) == "null" {
		return p, nil
	}
	if err := DecodeStrict(data, &p); err != nil {
		return Policy{}, Errorf(EInvalid, "policy: %s", ErrorMessage(err))
	}
	p.fillNulls()
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// fillNulls gives keys written as null their defaults, as if omitted, and
// drops grants and revokes written as null. An empty list stays empty; an
// object merges key by key into the default, so {} changes nothing.
func (p *Policy) fillNulls() {
	def := DefaultPolicy()
	if p.Capabilities == nil {
		p.Capabilities = def.Capabilities
	}
	for t, caps := range p.Capabilities {
		if caps == nil {
			p.Capabilities[t] = def.Capabilities[t]
		}
	}
	if p.Grants == nil {
		p.Grants = def.Grants
	}
	if p.Revokes == nil {
		p.Revokes = def.Revokes
	}
	if p.Execute.From == nil {
		p.Execute.From = def.Execute.From
	}
	if p.Data.Ingress == nil {
		p.Data.Ingress = def.Data.Ingress
	}
	if p.Scan == nil {
		p.Scan = def.Scan
	}
	for t, mode := range p.Scan {
		if mode == "" {
			p.Scan[t] = def.Scan[t]
		}
	}
	for _, m := range []map[ParticipantID][]Capability{p.Grants, p.Revokes} {
		for id, caps := range m {
			if caps == nil {
				delete(m, id)
			}
		}
	}
}

// Validate checks every value of the policy and names the first bad one by
// its path, e.g. policy.capabilities.local[1].
func (p *Policy) Validate() error {
	bad := func(path, format string, args ...any) error {
		return Errorf(EInvalid, "policy.%s: %s", path, fmt.Sprintf(format, args...))
	}
	if p.Visibility != "private" && p.Visibility != "federated" {
		return bad("visibility", `must be "private" or "federated", got %q.`, p.Visibility)
	}
	for _, t := range slices.Sorted(maps.Keys(p.Capabilities)) {
		if !t.Valid() {
			return bad("capabilities."+string(t), "unknown trust level %q.", t)
		}
		if err := validCaps("capabilities."+string(t), p.Capabilities[t]); err != nil {
			return err
		}
	}
	for _, who := range slices.Sorted(maps.Keys(p.Grants)) {
		if err := validCaps("grants."+string(who), p.Grants[who]); err != nil {
			return err
		}
	}
	for _, who := range slices.Sorted(maps.Keys(p.Revokes)) {
		if err := validCaps("revokes."+string(who), p.Revokes[who]); err != nil {
			return err
		}
	}
	if err := validTrusts("execute.from", p.Execute.From); err != nil {
		return err
	}
	if err := validTrusts("data.ingress", p.Data.Ingress); err != nil {
		return err
	}
	if p.Limits.MessagesPerMinute < 0 || p.Limits.Burst < 0 || p.Limits.MaxMessageBytes < 0 {
		return bad("limits", "limits cannot be negative.")
	}
	if p.Format.Kind != "text" && p.Format.Kind != "json" {
		return bad("format.kind", `must be "text" or "json", got %q.`, p.Format.Kind)
	}
	if p.Agents.Reply != "any" && p.Agents.Reply != "mention-only" {
		return bad("agents.reply", `must be "any" or "mention-only", got %q.`, p.Agents.Reply)
	}
	if p.Data.Egress != "deny" && p.Data.Egress != "allow" {
		return bad("data.egress", `must be "deny" or "allow", got %q.`, p.Data.Egress)
	}
	for _, t := range slices.Sorted(maps.Keys(p.Scan)) {
		mode := p.Scan[t]
		if !t.Valid() {
			return bad("scan."+string(t), "unknown trust level %q.", t)
		}
		if mode != "off" && mode != "flag" && mode != "block" {
			return bad("scan."+string(t), `must be "off", "flag" or "block", got %q.`, mode)
		}
	}
	return nil
}

func validCaps(path string, caps []Capability) error {
	for i, c := range caps {
		if !c.Valid() {
			return Errorf(EInvalid, "policy.%s[%d]: unknown capability %q.", path, i, c)
		}
	}
	return nil
}

func validTrusts(path string, ts []Trust) error {
	for i, t := range ts {
		if !t.Valid() {
			return Errorf(EInvalid, "policy.%s[%d]: unknown trust level %q.", path, i, t)
		}
	}
	return nil
}
