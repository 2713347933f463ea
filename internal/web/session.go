package web

import (
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/gobwas/ws"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/hub"
	"github.com/the-mesh/mesh/internal/node"
)

// The session's frame handlers: hello, join (and resume), leave, say.

// joined reports whether this connection has joined room; if not, it
// refuses the frame.
func (sess *session) joined(room mesh.RoomID, ref, action string) bool {
	if _, ok := sess.rooms[room]; ok {
		return true
	}
	sess.refuse(ref, action, room, mesh.Errorf(mesh.EForbidden, "Join room %q on this connection before sending %s frames to it.", room, action))
	return false
}

// replyError returns a done callback that sends a refusal as an error frame
// (the node has audited and counted it).
func (sess *session) replyError(ref string) func(mesh.Message, error) {
	out := sess.out
	return func(_ mesh.Message, err error) {
		if err != nil {
			out.Send(errorFrame(ref, err))
		}
	}
}

func (sess *session) hello(h *mesh.Hello) (ws.StatusCode, string) {
	p, err := sess.srv.node.Authenticate(h.Token)
	if err != nil {
		sess.refuse("", "auth", "", err)
		return ws.StatusPolicyViolation, "unauthorized"
	}
	sess.srv.mu.Lock() // disconnect reads p from other goroutines
	sess.p = &p
	sess.srv.mu.Unlock()
	if sess.srv.node.Revoked(p.ID) { // revoked between Authenticate and now
		sess.refuse("", "auth", "", mesh.Errorf(mesh.EUnauthorized, "The token is not valid: it is unknown or was revoked."))
		return ws.StatusPolicyViolation, "unauthorized"
	}
	sess.nc.SetReadDeadline(time.Now().Add(sess.srv.cfg.IdleTimeout))
	sess.srv.audit(p.ID, "connect", "", sess.remote, nil)
	cfg := sess.srv.cfg
	sess.send(mesh.Welcome{Type: mesh.FrameWelcome, You: p, Node: sess.srv.node.Info(), Limits: mesh.WireLimits{
		MaxFrameBytes: cfg.MaxFrameBytes, MaxTextBytes: sess.srv.node.MaxTextBytes(), Rate: cfg.Rate, Burst: cfg.Burst}})
	rooms := make([]mesh.RoomID, 0, len(h.Resume))
	for id := range h.Resume {
		rooms = append(rooms, id)
	}
	slices.Sort(rooms)
	for _, id := range rooms {
		sess.join(id, "", true, h.Resume[id])
	}
	return 0, ""
}

// join makes the participant a member, subscribes the connection and
// sends joined; on resume, the messages after `after` follow it.
func (sess *session) join(id mesh.RoomID, ref string, resume bool, after uint64) {
	if id.Remote() {
		sess.joinRemote(id, ref, resume, after) // federation.go
		return
	}
	n := sess.srv.node
	if r, ok := sess.rooms[id]; ok && r.Subscribed(sess.out) {
		sess.refuse(ref, "join", id, mesh.Errorf(mesh.EConflict, "This connection has already joined room %q.", id))
		return
	}
	r, err := n.HubRoom(id)
	if err == nil {
		err = n.AddMember(*sess.p, id, sess.remote)
	}
	if err != nil {
		sess.refuse(ref, "join", id, err)
		return
	}
	listen := n.Can(sess.p.ID, id, mesh.CapListen)
	joined := func(history [][]byte, head uint64, online map[mesh.ParticipantID]int, world mesh.WorldState) ([]byte, error) {
		members, err := n.Members(id, func(p mesh.ParticipantID) bool { return online[p] > 0 })
		if err != nil {
			return nil, err
		}
		raw := make([]json.RawMessage, len(history))
		for i, h := range history {
			raw[i] = h
		}
		f := mesh.Joined{Type: mesh.FrameJoined, Room: id, Ref: ref, Members: members, History: raw, Head: head, E2E: n.CurrentRoster(id)}
		if listen {
			f.State = &world
		}
		return hub.Frame(f)
	}
	sub, err := r.Subscribe(sess.out, *sess.p, listen, resume, after, joined, sess.presence(id, mesh.PresenceJoin))
	for tries := 0; errors.Is(err, hub.ErrRoomGone) && tries < 3; tries++ { // unloaded meanwhile
		if r, err = n.HubRoom(id); err == nil {
			sub, err = r.Subscribe(sess.out, *sess.p, listen, resume, after, joined, sess.presence(id, mesh.PresenceJoin))
		}
	}
	if err != nil {
		sess.refuse(ref, "join", id, err)
		return
	}
	sess.rooms[id] = r
	if sub.Sync {
		sess.catchUp(r, sub)
	}
}

// catchUp queues stored messages in (sub.From, sub.To] at the pace the
// client reads them, then lets the live ones through.
func (sess *session) catchUp(r *hub.Room, sub hub.Subscription) {
	page := sess.out.PageSize()
	for after := sub.From; after < sub.To; {
		if !sess.out.WaitRoom(page) {
			return
		}
		entries, err := sess.srv.node.ReadLog(r.ID, after, int(min(uint64(page), sub.To-after)))
		if err != nil || len(entries) == 0 {
			sess.srv.log.Error("resume: read room log", "room", r.ID, "after", after, "err", err)
			sess.out.Abort("resume failed: could not read the room's log")
			return
		}
		for _, e := range entries {
			sess.out.Send(hub.MessageFrame(e.Line))
			after = e.Seq
		}
	}
	r.EndSync(sess.out)
}

// move hands a move to the room; the next state frame carries its result.
func (sess *session) move(f *mesh.Move) {
	if !sess.joined(f.Room, f.Ref, "move") {
		return
	}
	if err := sess.rooms[f.Room].Move(sess.out, f); err != nil {
		sess.refuse(f.Ref, "move", f.Room, mesh.Errorf(mesh.EForbidden, "Join room %q on this connection before sending move frames to it.", f.Room))
	}
}

// leave ends the participant's membership: every one of its connections
// in the room is unsubscribed and told with a left frame.
func (sess *session) leave(f *mesh.Leave) {
	if _, err := sess.srv.node.Room(f.Room); err == nil && !sess.srv.node.IsMember(f.Room, sess.p.ID) {
		err = mesh.Errorf(mesh.ENotFound, "You are not a member of room %q.", f.Room)
		sess.refuse(f.Ref, "leave", f.Room, err)
		return
	}
	if err := sess.srv.node.RemoveMember(*sess.p, f.Room, sess.remote); err != nil {
		sess.refuse(f.Ref, "leave", f.Room, err)
		return
	}
	delete(sess.rooms, f.Room)
	sess.srv.unsubscribe(sess.p.Public(), f.Room, sess.out)
	sess.send(mesh.Left{Type: mesh.FrameLeft, Room: f.Room, Ref: f.Ref})
}

// leaveAll unsubscribes from every room without ending membership.
func (sess *session) leaveAll() {
	for id, r := range sess.rooms {
		r.Unsubscribe(sess.out, sess.presence(id, mesh.PresenceLeave))
	}
	clear(sess.rooms)
}

func (sess *session) say(f *mesh.Say) {
	if sess.joined(f.Room, f.Ref, "say") {
		post := node.Post{Room: f.Room, Kind: f.Kind, Text: f.Text, To: f.To, Ref: f.Ref}
		if f.Body != nil {
			post.Sealed = f.Body.E2E
		}
		sess.srv.node.Say(*sess.p, post, sess.out, sess.replyError(f.Ref))
	}
}

func (sess *session) presence(id mesh.RoomID, event string) []byte {
	return presenceFrame(id, event, sess.p.Public())
}

func presenceFrame(id mesh.RoomID, event string, p mesh.Participant) []byte {
	f, _ := hub.Frame(mesh.PresenceFrame{Type: mesh.FramePresence, Room: id, Event: event, Participant: p})
	return f
}

// unsubscribe takes every connection of p out of a room after its
// membership ended, telling each but self with a left frame.
func (s *Server) unsubscribe(p mesh.Participant, id mesh.RoomID, self *hub.Conn) {
	r, err := s.node.HubRoom(id)
	if err != nil {
		return
	}
	left, _ := hub.Frame(mesh.Left{Type: mesh.FrameLeft, Room: id})
	r.UnsubscribeParticipant(p.ID, self, left, presenceFrame(id, mesh.PresenceLeave, p))
}
