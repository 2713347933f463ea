package web

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/hub"
	"github.com/the-mesh/mesh/internal/node"
)

// Rooms of other nodes, addressed room@node: a connection joins the room's
// mirror on this node once the room's home has let the participant in;
// what it posts goes to the home through the federation queue.

func (sess *session) joinRemote(id mesh.RoomID, ref string, resume bool, after uint64) {
	n := sess.srv.node
	if r, ok := sess.rooms[id]; ok && r.Subscribed(sess.out) {
		sess.refuse(ref, "join", id, mesh.Errorf(mesh.EConflict, "This connection has already joined room %q.", id))
		return
	}
	if err := n.JoinRemote(*sess.p, id, sess.srv.cfg.RemoteJoinTimeout); err != nil {
		sess.reply(ref, err) // JoinRemote audited it
		return
	}
	var r *hub.Room
	var sub hub.Subscription
	err := hub.ErrRoomGone
	for tries := 0; errors.Is(err, hub.ErrRoomGone) && tries < 4; tries++ {
		if r, err = n.MirrorRoom(id); err != nil {
			break
		}
		// The first read may read the mirror's log: done here, not under
		// the room's lock.
		n.MirrorRoster(id)
		// Whether the home lets the participant listen, held while subscribing.
		err = n.MirrorListen(id, sess.p.ID, func(listen bool) error {
			joined := func(history [][]byte, head uint64, online map[mesh.ParticipantID]int, world mesh.WorldState) ([]byte, error) {
				raw := make([]json.RawMessage, len(history))
				for i, h := range history {
					raw[i] = h
				}
				// Read again under the room's lock, with history and head: an
				// epoch is the mirror's roster before it is published, so one
				// in history is in the roster and a later one follows as a
				// message. (Read before, an epoch published in between would
				// be in neither, and the client would take the room as plain.)
				f := mesh.Joined{Type: mesh.FrameJoined, Room: id, Ref: ref, Members: n.RemoteMembers(id), History: raw, Head: head,
					E2E: n.MirrorRoster(id)}
				if listen {
					f.State = &world
				}
				return hub.Frame(f)
			}
			var err error
			sub, err = r.Subscribe(sess.out, *sess.p, listen, resume, after, joined, sess.presence(id, mesh.PresenceJoin))
			return err
		})
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

// reply sends an error frame for a refusal the node has audited.
func (sess *session) reply(ref string, err error) {
	sess.srv.node.Stats().Refused.Inc()
	sess.out.Send(errorFrame(ref, err))
}

func (sess *session) leaveRemote(f *mesh.Leave) {
	if err := sess.srv.node.LeaveRemote(*sess.p, f.Room); err != nil {
		sess.reply(f.Ref, err)
		return
	}
	if r, ok := sess.rooms[f.Room]; ok {
		left, _ := hub.Frame(mesh.Left{Type: mesh.FrameLeft, Room: f.Room})
		r.UnsubscribeParticipant(sess.p.ID, sess.out, left, sess.presence(f.Room, mesh.PresenceLeave))
	}
	delete(sess.rooms, f.Room)
	sess.send(mesh.Left{Type: mesh.FrameLeft, Room: f.Room, Ref: f.Ref})
}

// postRemote sends a say, command or result to a remote room: the ack
// (ref and id, no seq: the home assigns it) comes once it is durable in
// the federation queue; a refusal by the home comes later as an error
// with the same ref.
func (sess *session) postRemote(post node.RemotePost, ref string) {
	if !sess.joined(post.Room, ref, map[mesh.MessageKind]string{mesh.MessageChat: "say", mesh.MessageCommand: "command", mesh.MessageResult: "result",
		mesh.MessageEncrypted: "say"}[post.Kind]) {
		return
	}
	out := sess.out
	refused := func(err error) { out.Send(errorFrame(ref, err)) }
	sess.srv.node.PostRemote(*sess.p, post, refused, func(m mesh.Message, err error) {
		if err != nil {
			out.Send(errorFrame(ref, err))
			return
		}
		ack, _ := hub.Frame(mesh.Ack{Type: mesh.FrameAck, Ref: ref, ID: m.ID})
		out.Send(ack)
	})
}

// remoteFrame handles say, command and result frames for remote rooms;
// it reports false for frames of local rooms.
func (sess *session) remoteFrame(frame any) bool {
	switch f := frame.(type) {
	case *mesh.Say:
		if f.Room.Remote() && f.Kind == mesh.MessageEncrypted {
			post := node.RemotePost{Room: f.Room, Kind: mesh.MessageEncrypted, To: f.To, Ref: f.Ref}
			if f.Body != nil {
				post.Sealed = f.Body.E2E
			}
			sess.postRemote(post, f.Ref)
			return true
		}
		if f.Room.Remote() {
			sess.postRemote(node.RemotePost{Room: f.Room, Kind: mesh.MessageChat, Text: f.Text, To: f.To}, f.Ref)
			return true
		}
	case *mesh.Command:
		if f.Room.Remote() {
			sess.postRemote(node.RemotePost{Room: f.Room, Kind: mesh.MessageCommand, To: f.Target, Command: f.Name, Args: f.Args}, f.Ref)
			return true
		}
	case *mesh.Result:
		if f.Room.Remote() {
			sess.postRemote(node.RemotePost{Room: f.Room, Kind: mesh.MessageResult, Ref: f.Ref, OK: f.OK, Output: f.Output}, f.Ref)
			return true
		}
	case *mesh.Leave:
		if f.Room.Remote() {
			sess.leaveRemote(f)
			return true
		}
	}
	return false
}

// The federation's owner endpoints: status and dead letters.

func (s *Server) federationStatus(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	if !s.owner(w, p) {
		return
	}
	st, err := s.node.FederationStatus()
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"federation": st})
}

func (s *Server) deadLetters(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	if !s.owner(w, p) {
		return
	}
	dls, err := s.node.DeadLetters()
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deadLetters": dls})
}

func (s *Server) replayDeadLetters(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	if !s.owner(w, p) {
		return
	}
	var req struct {
		IDs []string `json:"ids,omitempty"`
	}
	if err := s.readBody(w, r, &req); err != nil {
		s.refuse(w, r, p.ID, "replay", err)
		return
	}
	k, err := s.node.ReplayDeadLetters(p, req.IDs)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"replayed": k})
}

func (s *Server) owner(w http.ResponseWriter, p mesh.Participant) bool {
	if p.Trust != mesh.TrustOwner {
		s.fail(w, mesh.Errorf(mesh.EForbidden, "Only the owner may manage federation."))
		return false
	}
	return true
}
