package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/time/rate"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/governance"
	"github.com/the-mesh/mesh/internal/guard"
)

// A chat message passes the room's rules in this order: speak, size,
// rate, sanitising, format, mention-only, then the injection scan. The
// first rule broken refuses it with a code that names it.

// roomRules checks a chat text against the room's policy and returns the
// text to store (sanitised), the trust to tag it with and its flags.
func (n *Node) roomRules(actor mesh.Participant, post Post, s governance.Subject, r governance.Room, rev uint64) (string, mesh.Trust, []string, error) {
	pol := r.Policy
	if err := governance.Check(s, mesh.CapSpeak, r); err != nil {
		return "", "", nil, err
	}
	if max := pol.Limits.MaxMessageBytes; max > 0 && len(post.Text) > max {
		return "", "", nil, mesh.Errorf(mesh.ETooLarge, "text is %d bytes; room %s allows %d.", len(post.Text), post.Room, max)
	}
	if !n.limits.allow(post.Room, actor.ID, pol.Limits) {
		return "", "", nil, mesh.Errorf(mesh.ERateLimited, "Room %s allows %d messages a minute (bursts of %d) per participant. Slow down.",
			post.Room, pol.Limits.MessagesPerMinute, max(pol.Limits.Burst, 1))
	}
	// Line ends are normalised first: the guard refuses a bare \r.
	text, err := guard.Sanitize(strings.ReplaceAll(post.Text, "\r\n", "\n"))
	if err != nil {
		return "", "", nil, err
	}
	if err := n.checkFormat(post.Room, rev, pol, text); err != nil {
		return "", "", nil, err
	}
	if actor.Kind == mesh.KindAgent && pol.Agents.Reply == "mention-only" && mentioned(post.To) == "" {
		return "", "", nil, mesh.Errorf(mesh.EForbidden, "In room %s agents may only post messages addressed to someone: set \"to\".", post.Room)
	}
	trust := governance.EffectiveTrust(s)
	if b := post.Bridged; b != nil && b.Trust.Rank() < trust.Rank() {
		trust = b.Trust // a bridged message is no more trusted than its original
	}
	trust, flags, err := n.scan(pol, trust, text)
	return text, trust, flags, err
}

// mentioned is the node's one mention rule, which mention-only rooms
// enforce and the inbox routes by: a message mentions the participant it
// is addressed to (to) and no one else; text such as "@bob" is not parsed.
func mentioned(to mesh.ParticipantID) mesh.ParticipantID { return to }

// scan applies policy.scan for trust to text: it returns the trust to
// tag the message with and its flags, or EBlocked.
func (n *Node) scan(pol *mesh.Policy, trust mesh.Trust, text string) (mesh.Trust, []string, error) {
	mode := pol.Scan[trust]
	if mode != "flag" && mode != "block" {
		return trust, nil, nil
	}
	res := n.scanner.Scan(text)
	if !res.Injection {
		return trust, nil, nil
	}
	if mode == "block" {
		return "", nil, mesh.Errorf(mesh.EBlocked, "The guard refused this message as a likely prompt injection (%s).", strings.Join(res.Findings, ", "))
	}
	flags := []string{mesh.FlagInjection}
	if len(res.Findings) > 0 {
		flags = flags[:0]
		for _, f := range res.Findings {
			flags = append(flags, mesh.FlagInjection+":"+f)
		}
	}
	return mesh.TrustUntrusted, flags, nil
}

// checkFormat enforces policy.format: JSON text, matching the schema if
// the policy has one.
func (n *Node) checkFormat(room mesh.RoomID, rev uint64, pol *mesh.Policy, text string) error {
	if pol.Format.Kind != "json" {
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return mesh.Errorf(mesh.EInvalid, "Room %s takes JSON messages only: %v.", room, err)
	}
	if pol.Format.Schema == nil {
		return nil
	}
	sch, err := n.schemas.get(room, rev, pol)
	if err != nil {
		return err
	}
	if err := sch.Validate(v); err != nil {
		var ve *jsonschema.ValidationError
		msg := err.Error()
		if errors.As(err, &ve) {
			msg = ve.Error()
		}
		return mesh.Errorf(mesh.EInvalid, "The message does not match room %s's schema: %s", room, oneLine(msg))
	}
	return nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// compileSchema compiles a policy's JSON Schema. References to anything
// outside the document are refused: a schema cannot make the node read a
// file or fetch a URL.
func compileSchema(schema map[string]any) (*jsonschema.Schema, error) {
	b, err := json.Marshal(schema)
	if err != nil {
		return nil, mesh.Errorf(mesh.EInvalid, "policy.format.schema: %v.", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, mesh.Errorf(mesh.EInvalid, "policy.format.schema: %v.", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, mesh.Errorf(mesh.EInvalid, "policy.format.schema: %s", oneLine(err.Error()))
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, mesh.Errorf(mesh.EInvalid, "policy.format.schema is not a valid JSON Schema: %s", oneLine(err.Error()))
	}
	return sch, nil
}

// schemaURL names a room's schema inside the compiler; it is not a file.
const schemaURL = "urn:mesh:room-schema"

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external references are not allowed (%s)", url)
}

// validatePolicy checks what mesh.Policy.Validate cannot: the schema
// compiles.
func validatePolicy(p *mesh.Policy) error {
	if p.Format.Kind == "json" && p.Format.Schema != nil {
		_, err := compileSchema(p.Format.Schema)
		return err
	}
	return nil
}

// schemaCache keeps each room's compiled schema, for the policy revision
// it came from.
type schemaCache struct {
	mu sync.Mutex
	m  map[mesh.RoomID]cachedSchema
}

type cachedSchema struct {
	rev uint64
	sch *jsonschema.Schema
}

func (c *schemaCache) get(room mesh.RoomID, rev uint64, pol *mesh.Policy) (*jsonschema.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[room]; ok && e.rev == rev {
		return e.sch, nil
	}
	sch, err := compileSchema(pol.Format.Schema)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[mesh.RoomID]cachedSchema{}
	}
	c.m[room] = cachedSchema{rev: rev, sch: sch}
	return sch, nil
}

// postLimits holds a token bucket per participant and room for
// policy.limits.messagesPerMinute and burst. Buckets that have refilled
// are forgotten when there are many, so the map stays bounded by the
// participants recently active.
type postLimits struct {
	mu    sync.Mutex
	m     map[limitKey]*rate.Limiter
	sweep int // size at which full buckets are dropped next
}

// minSweep is the smallest map size that triggers a sweep.
const minSweep = 4096

type limitKey struct {
	room mesh.RoomID
	p    mesh.ParticipantID
}

func (l *postLimits) allow(room mesh.RoomID, p mesh.ParticipantID, lim mesh.PolicyLimits) bool {
	if lim.MessagesPerMinute <= 0 {
		return true
	}
	r, b := rate.Limit(float64(lim.MessagesPerMinute)/60), max(lim.Burst, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[limitKey]*rate.Limiter{}
	}
	k := limitKey{room, p}
	lt := l.m[k]
	if lt == nil {
		if len(l.m) >= max(l.sweep, minSweep) {
			for key, old := range l.m {
				if old.Tokens() >= float64(old.Burst()) { // full: same as new
					delete(l.m, key)
				}
			}
			l.sweep = 2 * len(l.m)
		}
		lt = rate.NewLimiter(r, b)
		l.m[k] = lt
	} else if lt.Limit() != r || lt.Burst() != b {
		lt.SetLimit(r)
		lt.SetBurst(b)
	}
	return lt.Allow()
}
