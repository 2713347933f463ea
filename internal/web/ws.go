package web

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/time/rate"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
	"github.com/the-mesh/mesh/internal/hub"
	"github.com/the-mesh/mesh/internal/wsframe"
)

// session is one WebSocket connection: its reader runs in the HTTP
// handler's goroutine; its writer is the hub.Conn's.
type session struct {
	srv     *Server
	nc      net.Conn
	out     *hub.Conn
	in      wsframe.Reader
	remote  string
	limiter *rate.Limiter // nil when the rate limit is off
	refused int           // consecutive rate-limited frames
	limited bool          // the last frame read was over the rate limit

	p     *mesh.Participant // set by hello
	rooms map[mesh.RoomID]*hub.Room
	done  chan struct{} // exec's handoff

	inboxLive bool // an inbox frame came: inbox.item pushes are on
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	ip := remoteIP(r)
	if !s.acquireIP(ip) {
		err := mesh.Errorf(mesh.ERateLimited, "Too many connections from %s (the limit is %d).", ip, s.cfg.MaxConnsPerIP)
		s.refuse(w, r, "", "connect", err)
		return
	}
	nc, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		s.releaseIP(ip)
		return // gobwas has answered with the HTTP error
	}
	// Keep net/http's 4 KiB read buffer only if it holds early bytes.
	br := rw.Reader
	if br.Buffered() == 0 {
		br = bufio.NewReaderSize(nc, 512)
	}
	sess := &session{srv: s, nc: nc, remote: ip, rooms: map[mesh.RoomID]*hub.Room{}, done: make(chan struct{}),
		out: hub.NewConn(nc, s.cfg.SendQueue, &s.node.Stats().HubCounters)}
	sess.in = wsframe.Reader{BR: br, Max: s.cfg.MaxFrameBytes, Masked: true, KeepBuf: keepBuf, Control: sess.control, Before: sess.beforeFrame}
	nc.SetReadDeadline(time.Now().Add(s.cfg.HelloTimeout))
	if s.cfg.Rate > 0 {
		sess.limiter = rate.NewLimiter(rate.Limit(s.cfg.Rate), max(s.cfg.Burst, 1))
	}
	if !s.track(sess) {
		s.releaseIP(ip)
		sess.out.Send(errorFrame("", mesh.Errorf(mesh.EUnavailable, "The node is shutting down.")))
		sess.out.Close(ws.StatusGoingAway, "node shutting down")
		return
	}
	s.node.Stats().Connections.Inc()
	// The session runs on a goroutine of its own so that this handler
	// returns and net/http frees the request, its buffers and its deep
	// stack: an idle connection then costs a few KiB. Shutdown waits for it.
	go func() {
		defer s.releaseIP(ip)
		defer s.untrack(sess)
		sess.run()
	}()
}

func (s *Server) track(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return false
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.wg.Done()
}

// run reads frames until the connection ends, then leaves every room.
func (sess *session) run() {
	code, reason := ws.StatusNormalClosure, ""
	defer func() {
		if sess.inboxLive {
			sess.srv.node.DetachInbox(sess.p.ID, sess.out)
		}
		sess.leaveAll()
		sess.out.Close(code, reason)
		if sess.out.Slow() {
			sess.srv.audit(sess.actor(), "disconnect", "", sess.remote, mesh.Errorf(mesh.ERateLimited, "%s", sess.out.Reason()))
		}
	}()
	for {
		data, err := sess.in.Next()
		var ce *wsframe.CloseError
		var me *mesh.Error
		switch {
		case errors.As(err, &ce):
			code, reason = ce.Code, ce.Reason
			sess.srv.audit(sess.actor(), "frame", "", sess.remote, mesh.Errorf(mesh.EInvalid, "%s", ce.Reason))
			return
		case errors.Is(err, os.ErrDeadlineExceeded) && sess.p == nil:
			sess.refuse("", "auth", "", mesh.Errorf(mesh.EUnauthorized, "No hello within %v.", sess.srv.cfg.HelloTimeout))
			code, reason = ws.StatusPolicyViolation, "no hello"
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			code, reason = ws.StatusGoingAway, "idle timeout"
			return
		case err != nil && !errors.As(err, &me):
			if sess.srv.ctx.Err() != nil {
				code, reason = ws.StatusGoingAway, "node shutting down"
			}
			return
		}
		var c ws.StatusCode
		var r string
		sess.exec(func() { c, r = sess.handle(data, err) })
		if c != 0 {
			code, reason = c, r
			return
		}
	}
}

// exec runs f on a short-lived goroutine and waits for it. Handling a
// frame (JSON, joins, catch-up) grows a stack to several KiB; doing it
// there keeps the session's own goroutine, which spends its life parked in
// a read, at the smallest stack: most of an idle connection's memory.
func (sess *session) exec(f func()) {
	go func() {
		f()
		sess.done <- struct{}{}
	}()
	<-sess.done
}

// beforeFrame takes a token from the rate limiter for every frame, control
// frames included, and, once the connection is authenticated, moves the
// idle deadline: any frame, a pong too, shows the client is alive.
func (sess *session) beforeFrame() {
	sess.limited = sess.limiter != nil && !sess.limiter.Allow()
	if sess.p != nil {
		sess.nc.SetReadDeadline(time.Now().Add(sess.srv.cfg.IdleTimeout))
	}
}

// handle decodes and dispatches one message, or refuses the error that
// reading it gave. A non-zero code ends the session.
func (sess *session) handle(data []byte, readErr error) (ws.StatusCode, string) {
	var frame any
	var ref string
	err := readErr
	if err == nil {
		frame, ref, err = mesh.DecodeClientFrame(data)
	}
	if sess.limited {
		if sess.p == nil {
			sess.refuse(ref, "frame", "", mesh.Errorf(mesh.ERateLimited, "Too many frames before hello."))
			return ws.StatusPolicyViolation, "hello required"
		}
		sess.refused++
		sess.refuse(ref, "frame", "", mesh.Errorf(mesh.ERateLimited,
			"Rate limit: %g frames per second, bursts of %d. Slow down.", sess.srv.cfg.Rate, sess.srv.cfg.Burst))
		if sess.refused > 3*max(sess.srv.cfg.Burst, 10) {
			return ws.StatusPolicyViolation, "rate limit exceeded repeatedly"
		}
		return 0, ""
	}
	sess.refused = 0
	if err != nil {
		sess.refuse(ref, "frame", "", err)
		if sess.p == nil {
			return ws.StatusPolicyViolation, "hello required"
		}
		return 0, ""
	}
	if sess.p == nil {
		h, ok := frame.(*mesh.Hello)
		if !ok {
			sess.refuse(ref, "auth", "", mesh.Errorf(mesh.EUnauthorized, "The first frame must be hello with a token."))
			return ws.StatusPolicyViolation, "hello required"
		}
		return sess.hello(h)
	}
	if sess.remoteFrame(frame) { // frames for rooms of other nodes: federation.go
		return 0, ""
	}
	switch f := frame.(type) {
	case *mesh.Hello:
		sess.refuse(ref, "auth", "", mesh.Errorf(mesh.EInvalid, "hello was already sent on this connection."))
	case *mesh.Join:
		sess.join(f.Room, f.Ref, false, 0)
	case *mesh.Leave:
		sess.leave(f)
	case *mesh.Say:
		sess.say(f)
	case *mesh.Ping:
		sess.send(mesh.Pong{Type: mesh.FramePong, Ref: f.Ref})
	case *mesh.Move:
		sess.move(f)
	case *mesh.Command:
		if sess.joined(f.Room, f.Ref, "command") {
			sess.srv.node.Command(*sess.p, *f, sess.out, sess.replyError(f.Ref))
		}
	case *mesh.Result:
		if sess.joined(f.Room, f.Ref, "result") {
			sess.srv.node.Result(*sess.p, *f, sess.out, sess.replyError(f.Ref))
		}
	case *mesh.InboxRead:
		sess.inbox(f)
	case *mesh.InboxAck:
		sess.inboxAck(f)
	case *mesh.Moderate:
		if err := sess.srv.node.Moderate(*sess.p, f.Room, f.Action, f.Target); err != nil {
			sess.send(mesh.ErrorFrame{Type: mesh.FrameError, Ref: f.Ref, Code: mesh.ErrorCode(err), Message: mesh.ErrorMessage(err)})
		} else {
			sess.send(mesh.Ack{Type: mesh.FrameAck, Ref: f.Ref})
		}
	}
	return 0, ""
}

// control answers WebSocket pings, unless over the rate limit.
func (sess *session) control(op ws.OpCode, payload []byte) {
	if op == ws.OpPing && !sess.limited {
		sess.out.Send(controlFrame(ws.OpPong, payload))
	}
}

func (sess *session) send(v any) {
	f, err := hub.Frame(v)
	if err != nil {
		sess.srv.log.Error("encode frame", "err", err)
		return
	}
	sess.out.Send(f)
}

// refuse sends an error frame, audits and counts the refusal.
func (sess *session) refuse(ref, action string, room mesh.RoomID, err error) {
	sess.srv.node.Stats().Refused.Inc()
	sess.srv.audit(sess.actor(), action, room, sess.remote, err)
	sess.out.Send(errorFrame(ref, err))
}

func (sess *session) actor() mesh.ParticipantID {
	if sess.p == nil {
		return ""
	}
	return sess.p.ID
}

func (s *Server) audit(actor mesh.ParticipantID, action string, room mesh.RoomID, remote string, err error) {
	rec := audit.Record{Actor: actor, Action: action, Room: room, Remote: remote, Outcome: audit.OK}
	if err != nil {
		rec.Outcome, rec.Code, rec.Detail = audit.Refused, mesh.ErrorCode(err), mesh.ErrorMessage(err)
	}
	s.node.Audit.Record(rec)
}

// disconnect closes every connection of a participant.
func (s *Server) disconnect(id mesh.ParticipantID, reason string) {
	s.mu.Lock()
	var victims []*session
	for sess := range s.sessions {
		if sess.p != nil && sess.p.ID == id {
			victims = append(victims, sess)
		}
	}
	s.mu.Unlock()
	for _, sess := range victims {
		sess.out.Send(errorFrame("", mesh.Errorf(mesh.EUnauthorized, "Your token was revoked.")))
		sess.out.Close(ws.StatusPolicyViolation, reason)
	}
}

func errorFrame(ref string, err error) []byte {
	f, _ := hub.Frame(mesh.ErrorFrame{Type: mesh.FrameError, Ref: ref, Code: mesh.ErrorCode(err), Message: mesh.ErrorMessage(err)})
	return f
}

func pingFrame() []byte { return controlFrame(ws.OpPing, nil) }

func controlFrame(op ws.OpCode, payload []byte) []byte {
	f := ws.NewFrame(op, true, slices.Clone(payload))
	b, _ := ws.CompileFrame(f)
	return b
}
