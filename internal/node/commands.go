package node

import (
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/governance"
	"github.com/the-mesh/mesh/internal/guard"
	"github.com/the-mesh/mesh/internal/hub"
)

// Commands are messages of kind command addressed to one participant. The
// node stores and delivers one only if the sender's trust is in
// execute.from, the sender may speak and the target holds execute. A
// result must answer a command the node delivered to its sender, and goes
// to the room like any message with ref set to the command's id.

// commandName is what a command's name may be.
var commandName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// commandTTL is how long a command waits for its result.
const commandTTL = time.Hour

// maxPending bounds the commands awaiting a result, node-wide.
const maxPending = 100_000

// pendingCommands remembers delivered commands until their result.
type pendingCommands struct {
	mu sync.Mutex
	m  map[string]pendingCommand // by command message id
}

type pendingCommand struct {
	room   mesh.RoomID
	sender mesh.ParticipantID
	target mesh.ParticipantID
	at     time.Time
}

func (p *pendingCommands) add(id string, c pendingCommand) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]pendingCommand{}
	}
	if len(p.m) >= maxPending { // drop the expired, then the oldest
		var oldest string
		for k, v := range p.m {
			if c.at.Sub(v.at) > commandTTL {
				delete(p.m, k)
			} else if oldest == "" || v.at.Before(p.m[oldest].at) {
				oldest = k
			}
		}
		if len(p.m) >= maxPending {
			delete(p.m, oldest)
		}
	}
	p.m[id] = c
}

// answer removes and returns command id if it waits in room for by. It
// leaves a command addressed to someone else waiting.
// Errors: ENotFound (unknown, answered, expired or in another room),
// EForbidden (another target).
func (p *pendingCommands) answer(id string, room mesh.RoomID, by mesh.ParticipantID, now time.Time) (pendingCommand, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.m[id]
	if ok && now.Sub(c.at) > commandTTL {
		delete(p.m, id)
		ok = false
	}
	switch {
	case !ok || c.room != room:
		return c, mesh.Errorf(mesh.ENotFound, "No command %q is waiting for a result in room %s.", id, room)
	case c.target != by:
		return c, mesh.Errorf(mesh.EForbidden, "Command %s was addressed to %s, not to you.", id, c.target)
	}
	delete(p.m, id)
	return c, nil
}

// Command stores and delivers a command from actor. origin, if not nil,
// gets the ack. Refusals: ENotFound, EForbidden (execute.from, speak,
// target's execute, target not a member), EInvalid.
func (n *Node) Command(actor mesh.Participant, c mesh.Command, origin *hub.Conn, done func(mesh.Message, error)) {
	if c.Room.Remote() { // another node's room: federation_remote.go
		n.PostRemote(actor, RemotePost{Room: c.Room, Kind: mesh.MessageCommand, To: c.Target, Command: c.Name, Args: c.Args}, nil, done)
		return
	}
	m, err := n.command(actor, c)
	if err != nil {
		n.refused(actor, "command", c.Room, err, done)
		return
	}
	n.pending.add(m.ID, pendingCommand{room: c.Room, sender: actor.ID, target: c.Target, at: m.TS})
	n.append(actor, "command", m, origin, c.Ref, done)
}

func (n *Node) command(actor mesh.Participant, c mesh.Command) (*mesh.Message, error) {
	if !commandName.MatchString(c.Name) {
		return nil, mesh.Errorf(mesh.EInvalid, "A command name is 1 to %d letters, digits, '.', '_' or '-'; got %q.", mesh.MaxCommandNameBytes, c.Name)
	}
	if len(c.Args) > 0 && !json.Valid(c.Args) {
		return nil, mesh.Errorf(mesh.EInvalid, "command args must be JSON.")
	}
	if len(c.Ref) > MaxRefBytes {
		return nil, mesh.Errorf(mesh.EInvalid, "ref is %d bytes; the limit is %d.", len(c.Ref), MaxRefBytes)
	}
	if !n.IsMember(c.Room, actor.ID) {
		if n.room(c.Room) == nil {
			return nil, notFound(c.Room)
		}
		return nil, mesh.Errorf(mesh.EForbidden, "You are not a member of room %q: join it first.", c.Room)
	}
	if n.isE2E(c.Room) {
		return nil, e2eOnly(c.Room)
	}
	if !n.IsMember(c.Room, c.Target) || n.Revoked(c.Target) {
		return nil, mesh.Errorf(mesh.EForbidden, "Target %s is not a member of room %s.", c.Target, c.Room)
	}
	s, r, _, err := n.govern(actor.ID, c.Room)
	if err != nil {
		return nil, err
	}
	n.mu.RLock()
	target := n.subjectLocked(c.Target)
	n.mu.RUnlock()
	if err := governance.MayCommand(s, target, r); err != nil {
		return nil, err
	}
	if !governance.Can(target, mesh.CapListen, r) {
		return nil, mesh.Errorf(mesh.EForbidden, "Target %s may not listen in room %s, so it would never see the command.", c.Target, c.Room)
	}
	if !n.limits.allow(c.Room, actor.ID, r.Policy.Limits) {
		return nil, mesh.Errorf(mesh.ERateLimited, "Room %s allows %d messages a minute per participant. Slow down.", c.Room, r.Policy.Limits.MessagesPerMinute)
	}
	return &mesh.Message{
		ID: newID("m_"), Room: c.Room, Kind: mesh.MessageCommand, From: actor.Sender(), Trust: governance.EffectiveTrust(s),
		TS: n.now().UTC(), To: c.Target, Body: mesh.Body{Command: c.Name, Args: c.Args},
	}, nil
}

// Result stores and delivers actor's answer to a command addressed to it.
// Refusals: ENotFound (room, or no such command waiting), EForbidden (the
// command was addressed to someone else), ETooLarge.
func (n *Node) Result(actor mesh.Participant, res mesh.Result, origin *hub.Conn, done func(mesh.Message, error)) {
	if res.Room.Remote() { // another node's room: federation_remote.go
		n.PostRemote(actor, RemotePost{Room: res.Room, Kind: mesh.MessageResult, Ref: res.Ref, OK: res.OK, Output: res.Output}, nil, done)
		return
	}
	m, err := n.result(actor, res)
	if err != nil {
		n.refused(actor, "result", res.Room, err, done)
		return
	}
	n.append(actor, "result", m, origin, res.Ref, done)
}

func (n *Node) result(actor mesh.Participant, res mesh.Result) (*mesh.Message, error) {
	if res.Ref == "" {
		return nil, mesh.Errorf(mesh.EInvalid, `A result needs "ref": the id of the command it answers.`)
	}
	if len(res.Output) > n.cfg.MaxTextBytes {
		return nil, mesh.Errorf(mesh.ETooLarge, "output is %d bytes; the limit is %d.", len(res.Output), n.cfg.MaxTextBytes)
	}
	if !n.IsMember(res.Room, actor.ID) {
		if n.room(res.Room) == nil {
			return nil, notFound(res.Room)
		}
		return nil, mesh.Errorf(mesh.EForbidden, "You are not a member of room %q.", res.Room)
	}
	if n.isE2E(res.Room) {
		return nil, e2eOnly(res.Room)
	}
	s, r, _, err := n.govern(actor.ID, res.Room)
	if err != nil {
		return nil, err
	}
	if err := governance.Check(s, mesh.CapSpeak, r); err != nil {
		return nil, err
	}
	// Tool output is where injected instructions arrive: it is sanitised
	// and scanned like chat.
	output, err := guard.Sanitize(strings.ReplaceAll(res.Output, "\r\n", "\n"))
	if err != nil {
		return nil, err
	}
	trust, flags, err := n.scan(r.Policy, governance.EffectiveTrust(s), output)
	if err != nil {
		return nil, err
	}
	if !n.limits.allow(res.Room, actor.ID, r.Policy.Limits) {
		return nil, mesh.Errorf(mesh.ERateLimited, "Room %s allows %d messages a minute per participant. Slow down.", res.Room, r.Policy.Limits.MessagesPerMinute)
	}
	cmd, err := n.pending.answer(res.Ref, res.Room, actor.ID, n.now())
	if err != nil {
		return nil, err
	}
	ok2 := res.OK
	return &mesh.Message{
		ID: newID("m_"), Room: res.Room, Kind: mesh.MessageResult, From: actor.Sender(), Trust: trust, Flags: flags,
		TS: n.now().UTC(), To: cmd.sender, Ref: res.Ref, Body: mesh.Body{OK: &ok2, Output: output},
	}, nil
}

// event stores a node event in a room's log, so members see it live and
// in history. It is best effort for the caller: a failure is logged.
func (n *Node) event(actor mesh.Participant, room mesh.RoomID, ev mesh.Event) {
	m := &mesh.Message{
		ID: newID("m_"), Room: room, Kind: mesh.MessageEvent, From: actor.Sender(), Trust: actor.Trust,
		TS: n.now().UTC(), Body: mesh.Body{Event: &ev},
	}
	n.append(actor, "event", m, nil, "", func(_ mesh.Message, err error) {
		if err != nil {
			n.log.Error("store room event", "room", room, "event", ev.Type, "err", err)
		}
	})
}
