package web

import (
	"context"
	"net/http"
	"time"

	"github.com/the-mesh/mesh"
)

// The inbox over REST (GET /api/v1/inbox, POST /api/v1/inbox/ack) and the
// WebSocket (inbox and inbox.ack frames; inbox.item pushes come from the
// node).

func (s *Server) readInbox(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	after, limit, wait, err := pageQuery(r.URL.Query())
	if err != nil {
		s.fail(w, err)
		return
	}
	var page mesh.Inbox
	if wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), time.Duration(wait)*time.Second)
		defer cancel()
		page, err = s.node.WaitInbox(ctx, p, after, int(min(limit, 1<<20)))
	} else {
		page, err = s.node.Inbox(p, after, int(min(limit, 1<<20)))
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) ackInbox(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	var req struct {
		UpTo *uint64 `json:"upTo"`
	}
	if err := s.readBody(w, r, &req); err != nil {
		s.refuse(w, r, p.ID, "inbox-ack", err)
		return
	}
	if req.UpTo == nil {
		s.refuse(w, r, p.ID, "inbox-ack", mesh.Errorf(mesh.EInvalid, `"upTo" is required: the n of the last item to acknowledge.`))
		return
	}
	acked, left, err := s.node.AckInbox(p, *req.UpTo)
	if err != nil {
		writeError(w, err) // the node has counted and audited it
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acked": acked, "unacked": left})
}

// inbox answers an inbox frame; the first one also turns pushes on. It
// turns them on before reading, so an item cannot fall between the page and
// the pushes (it may come in both: clients drop repeats by n).
func (sess *session) inbox(f *mesh.InboxRead) {
	if !sess.inboxLive {
		sess.srv.node.AttachInbox(sess.p.ID, sess.out)
		sess.inboxLive = true
	}
	limit := f.Limit
	if limit == 0 {
		limit = mesh.DefaultPageLimit
	}
	page, err := sess.srv.node.Inbox(*sess.p, f.After, limit)
	if err != nil {
		sess.srv.node.Stats().Refused.Inc()
		sess.out.Send(errorFrame(f.Ref, err))
		return
	}
	sess.send(mesh.InboxFrame{Type: mesh.FrameInbox, Ref: f.Ref, Inbox: page})
}

func (sess *session) inboxAck(f *mesh.InboxAck) {
	acked, left, err := sess.srv.node.AckInbox(*sess.p, *f.UpTo)
	if err != nil {
		sess.out.Send(errorFrame(f.Ref, err)) // the node has counted and audited it
		return
	}
	sess.send(mesh.InboxAcked{Type: mesh.FrameInboxAcked, Ref: f.Ref, Acked: acked, Unacked: left})
}
