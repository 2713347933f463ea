package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/node"
)

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", s.health)
	m.HandleFunc("GET /metrics", s.metrics)
	m.HandleFunc("GET /api/v1/ws", s.serveWS)
	m.HandleFunc("GET /api/v1/node", s.nodeInfo)
	m.HandleFunc("POST /api/v1/participants", s.register)
	m.HandleFunc("GET /api/v1/participants/me", s.authed(s.me))
	m.HandleFunc("PUT /api/v1/participants/me/devices", s.authed(s.addDevice))
	m.HandleFunc("GET /api/v1/participants/me/devices", s.authed(s.listDevices))
	m.HandleFunc("DELETE /api/v1/participants/me/devices/{id}", s.authed(s.deleteDevice))
	m.HandleFunc("DELETE /api/v1/participants/{id}", s.authed(s.revoke))
	m.HandleFunc("POST /api/v1/invites", s.authed(s.invite))
	m.HandleFunc("GET /api/v1/rooms", s.authed(s.listRooms))
	m.HandleFunc("POST /api/v1/rooms", s.authed(s.createRoom))
	m.HandleFunc("GET /api/v1/rooms/{id}", s.authed(s.getRoom))
	m.HandleFunc("PUT /api/v1/rooms/{id}/policy", s.authed(s.setPolicy))
	m.HandleFunc("GET /api/v1/rooms/{id}/members", s.authed(s.members))
	m.HandleFunc("GET /api/v1/rooms/{id}/e2e", s.authed(s.roster))
	m.HandleFunc("POST /api/v1/rooms/{id}/join", s.authed(s.join))
	m.HandleFunc("POST /api/v1/rooms/{id}/leave", s.authed(s.leave))
	m.HandleFunc("GET /api/v1/rooms/{id}/messages", s.authed(s.listMessages))
	m.HandleFunc("POST /api/v1/rooms/{id}/messages", s.authed(s.postMessage))
	m.HandleFunc("GET /api/v1/rooms/{id}/data/{path...}", s.authed(s.getData))
	m.HandleFunc("PUT /api/v1/rooms/{id}/data/{path...}", s.authed(s.putData))
	m.HandleFunc("DELETE /api/v1/rooms/{id}/data/{path...}", s.authed(s.deleteData))
	m.HandleFunc("POST /api/v1/rooms/{id}/commands", s.authed(s.postCommand))
	m.HandleFunc("POST /api/v1/rooms/{id}/results", s.authed(s.postResult))
	m.HandleFunc("POST /api/v1/rooms/{id}/moderation", s.authed(s.moderate))
	m.HandleFunc("POST /api/v1/rooms/{id}/move", s.authed(s.walk))
	m.HandleFunc("GET /api/v1/rooms/{id}/bridges", s.authed(s.listBridges))
	m.HandleFunc("POST /api/v1/rooms/{id}/bridges", s.authed(s.createBridge))
	m.HandleFunc("DELETE /api/v1/rooms/{id}/bridges/{bid}", s.authed(s.deleteBridge))
	m.HandleFunc("GET /api/v1/audit", s.authed(s.readAudit))
	m.HandleFunc("GET /api/v1/inbox", s.authed(s.readInbox))
	m.HandleFunc("POST /api/v1/inbox/ack", s.authed(s.ackInbox))
	m.HandleFunc("GET /api/v1/directory", s.authed(s.directory))
	m.HandleFunc("GET /api/v1/federation", s.authed(s.federationStatus))
	m.HandleFunc("GET /api/v1/federation/dead-letters", s.authed(s.deadLetters))
	m.HandleFunc("POST /api/v1/federation/dead-letters/replay", s.authed(s.replayDeadLetters))
	m.Handle("/mcp", s.mcpHandler())
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, mesh.Errorf(mesh.ENotFound, "No endpoint %s %s.", r.Method, r.URL.Path))
	})
	m.HandleFunc("GET /{$}", s.home)
	m.Handle("GET /assets/", s.ui)
}

type handler func(w http.ResponseWriter, r *http.Request, p mesh.Participant)

// authed authenticates the bearer token before calling h.
func (s *Server) authed(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.node.Authenticate(bearer(r))
		if err != nil {
			s.refuse(w, r, "", "auth", err)
			return
		}
		h(w, r, p)
	}
}

// bearer returns the token of an Authorization header; the scheme is
// case-insensitive (RFC 7235).
func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// refuse answers with err, counts it and, for failures before an action
// is known to the node (auth, body), audits it.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, actor mesh.ParticipantID, action string, err error) {
	s.audit(actor, action, "", remoteIP(r), err)
	s.fail(w, err) // counts it
}

// readBody decodes a JSON body strictly, refusing bodies over the frame limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxFrameBytes)))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return mesh.Errorf(mesh.ETooLarge, "Body is over the limit of %d bytes.", s.cfg.MaxFrameBytes)
	} else if err != nil {
		return mesh.Errorf(mesh.EInvalid, "Could not read the body: %v.", err)
	}
	if len(b) == 0 {
		return mesh.Errorf(mesh.EInvalid, "A JSON body is required.")
	}
	return mesh.DecodeStrict(b, v)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "node": s.node.Info().ID})
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.node.Stats().Registry.WriteText(w)
}

func (s *Server) nodeInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"node": s.node.Info()})
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	var actor *mesh.Participant
	if tok := bearer(r); tok != "" {
		p, err := s.node.Authenticate(tok)
		if err != nil {
			s.refuse(w, r, "", "register", err)
			return
		}
		actor = &p
	}
	var req node.Registration
	if err := s.readBody(w, r, &req); err != nil {
		s.refuse(w, r, "", "register", err)
		return
	}
	p, tok, err := s.node.Register(actor, isLoopback(r), remoteIP(r), req)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := map[string]any{"participant": p, "token": tok}
	if p.Webhook != "" {
		out["webhookSecret"] = s.node.WebhookSecret(p.ID) // shown only here, as the token
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	writeJSON(w, http.StatusOK, map[string]any{"participant": p})
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	ids, err := s.node.RevokeTree(p, mesh.ParticipantID(r.PathValue("id")))
	for _, id := range ids { // also those revoked before a failure
		s.disconnect(id, "token revoked")
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) invite(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	tok, exp, err := s.node.CreateInvite(p)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"invite": tok, "expires": exp.Format(time.RFC3339)})
}

func (s *Server) listRooms(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	writeJSON(w, http.StatusOK, map[string]any{"rooms": s.node.Rooms()})
}

func (s *Server) createRoom(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	var req node.NewRoom
	if err := s.readBody(w, r, &req); err != nil {
		s.refuse(w, r, p.ID, "create-room", err)
		return
	}
	room, err := s.node.CreateRoom(p, req)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"room": room})
}

func (s *Server) getRoom(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	room, err := s.node.Room(mesh.RoomID(r.PathValue("id")))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": room})
}

func (s *Server) setPolicy(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	var doc json.RawMessage
	if err := s.readBody(w, r, &doc); err != nil {
		s.refuse(w, r, p.ID, "set-policy", err)
		return
	}
	room, err := s.node.SetPolicy(p, mesh.RoomID(r.PathValue("id")), doc)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": room})
}

func (s *Server) members(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	id := mesh.RoomID(r.PathValue("id"))
	online := func(mesh.ParticipantID) bool { return false }
	if hr, err := s.node.HubRoom(id); err == nil {
		online = hr.Online
	}
	ms, err := s.node.Members(id, online)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": ms})
}

func (s *Server) join(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	id := mesh.RoomID(r.PathValue("id"))
	if err := s.node.AddMember(p, id, remoteIP(r)); err != nil {
		s.fail(w, err)
		return
	}
	room, _ := s.node.Room(id)
	writeJSON(w, http.StatusOK, map[string]any{"room": room})
}

func (s *Server) leave(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	id := mesh.RoomID(r.PathValue("id"))
	if err := s.node.RemoveMember(p, id, remoteIP(r)); err != nil {
		s.fail(w, err)
		return
	}
	s.unsubscribe(p.Public(), id, nil)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	after, limit, wait, err := pageQuery(r.URL.Query())
	if err != nil {
		s.fail(w, err)
		return
	}
	var msgs []json.RawMessage
	if wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), time.Duration(wait)*time.Second)
		defer cancel()
		msgs, err = s.node.WaitMessages(ctx, p, mesh.RoomID(r.PathValue("id")), after, int(min(limit, 1<<20)))
	} else {
		msgs, err = s.node.Messages(p, mesh.RoomID(r.PathValue("id")), after, int(min(limit, 1<<20)))
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs})
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	var req struct {
		Kind mesh.MessageKind   `json:"kind,omitempty"`
		Text string             `json:"text"`
		Body *mesh.SealedBody   `json:"body,omitempty"`
		To   mesh.ParticipantID `json:"to,omitempty"`
		Ref  string             `json:"ref,omitempty"`
	}
	id := mesh.RoomID(r.PathValue("id"))
	err := s.readBody(w, r, &req)
	if err == nil && (req.Kind != "" || req.Body != nil) {
		// The same rules as say; a plain {text} keeps the node's own
		// "text is required." for an empty text.
		err = mesh.CheckPostKind(req.Kind, req.Text, req.Body)
	}
	if err != nil {
		s.refuse(w, r, p.ID, "say", err)
		return
	}
	post := node.Post{Room: id, Kind: req.Kind, Text: req.Text, To: req.To, Ref: req.Ref}
	if req.Body != nil {
		post.Sealed = req.Body.E2E
	}
	s.stored(w, req.Ref, func(done func(mesh.Message, error)) { s.node.Say(p, post, nil, done) })
}

func (s *Server) postCommand(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	var req struct {
		Target mesh.ParticipantID `json:"target"`
		Name   string             `json:"name"`
		Args   json.RawMessage    `json:"args,omitempty"`
		Ref    string             `json:"ref,omitempty"`
	}
	if err := s.readBody(w, r, &req); err != nil {
		s.refuse(w, r, p.ID, "command", err)
		return
	}
	frame := mesh.Command{Type: mesh.FrameCommand, Room: mesh.RoomID(r.PathValue("id")), Target: req.Target, Name: req.Name, Args: req.Args, Ref: req.Ref}
	if req.Target == "" || req.Name == "" || len(req.Name) > mesh.MaxCommandNameBytes {
		s.refuse(w, r, p.ID, "command", mesh.Errorf(mesh.EInvalid, `A command needs a "target" and a "name" of 1 to %d bytes.`, mesh.MaxCommandNameBytes))
		return
	}
	s.stored(w, req.Ref, func(done func(mesh.Message, error)) { s.node.Command(p, frame, nil, done) })
}

func (s *Server) postResult(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	var req struct {
		Ref    string `json:"ref"`
		OK     bool   `json:"ok"`
		Output string `json:"output"`
	}
	if err := s.readBody(w, r, &req); err != nil {
		s.refuse(w, r, p.ID, "result", err)
		return
	}
	frame := mesh.Result{Type: mesh.FrameResult, Room: mesh.RoomID(r.PathValue("id")), Ref: req.Ref, OK: req.OK, Output: req.Output}
	s.stored(w, req.Ref, func(done func(mesh.Message, error)) { s.node.Result(p, frame, nil, done) })
}

// stored runs an asynchronous store and answers 201 {message, ref?} once
// the message is on disk, or the refusal.
func (s *Server) stored(w http.ResponseWriter, ref string, run func(done func(mesh.Message, error))) {
	type result struct {
		m   mesh.Message
		err error
	}
	ch := make(chan result, 1)
	run(func(m mesh.Message, err error) { ch <- result{m, err} })
	res := <-ch
	if res.err != nil {
		writeError(w, res.err) // the node has counted, audited and logged it
		return
	}
	out := map[string]any{"message": res.m}
	if ref != "" {
		out["ref"] = ref // the client's correlation id, as in an ack
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) moderate(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	var req struct {
		Action string             `json:"action"`
		Target mesh.ParticipantID `json:"target"`
	}
	if err := s.readBody(w, r, &req); err != nil {
		s.refuse(w, r, p.ID, "moderate", err)
		return
	}
	id := mesh.RoomID(r.PathValue("id"))
	if err := s.node.Moderate(p, id, req.Action, req.Target); err != nil {
		s.fail(w, err)
		return
	}
	room, _ := s.node.Room(id)
	writeJSON(w, http.StatusOK, map[string]any{"room": room})
}

func (s *Server) readAudit(w http.ResponseWriter, r *http.Request, p mesh.Participant) {
	if p.Trust != mesh.TrustOwner {
		s.fail(w, mesh.Errorf(mesh.EForbidden, "Only the owner may read the audit log."))
		return
	}
	q := r.URL.Query()
	after, err1 := queryUint(q.Get("after"), 0)
	limit, err2 := queryUint(q.Get("limit"), 100)
	if err1 != nil || err2 != nil {
		s.fail(w, mesh.Errorf(mesh.EInvalid, "after and limit must be non-negative integers."))
		return
	}
	lines, err := s.node.Audit.Read(after, int(min(limit, 1000)))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": lines})
}

// pageQuery reads a page request's after, limit and wait (seconds, for a
// long poll), each checked.
func pageQuery(q url.Values) (after, limit, wait uint64, err error) {
	if after, err = queryUint(q.Get("after"), 0); err != nil {
		return 0, 0, 0, mesh.Errorf(mesh.EInvalid, "after must be a non-negative integer, got %q.", q.Get("after"))
	}
	if limit, err = queryUint(q.Get("limit"), mesh.DefaultPageLimit); err != nil {
		return 0, 0, 0, mesh.Errorf(mesh.EInvalid, "limit must be a positive integer, got %q.", q.Get("limit"))
	}
	if wait, err = queryUint(q.Get("wait"), 0); err != nil || wait > mesh.MaxWaitSeconds {
		return 0, 0, 0, mesh.Errorf(mesh.EInvalid, "wait must be 0 to %d seconds, got %q.", mesh.MaxWaitSeconds, q.Get("wait"))
	}
	return after, limit, wait, nil
}

func queryUint(v string, def uint64) (uint64, error) {
	if v == "" {
		return def, nil
	}
	return strconv.ParseUint(v, 10, 64)
}

// fail answers with err and counts the refusal; an internal error is
// logged here and answered with a generic message.
func (s *Server) fail(w http.ResponseWriter, err error) {
	s.node.Stats().Refused.Inc()
	if mesh.ErrorCode(err) == mesh.EInternal {
		s.log.Error("request failed", "err", err)
	}
	writeError(w, err)
}

// writeJSON writes v with a status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // the status is sent; a failed write has no one to tell
}

// writeError writes {"error": {code, message}} with the code's HTTP status.
func writeError(w http.ResponseWriter, err error) {
	code := mesh.ErrorCode(err)
	writeJSON(w, httpStatus(code), map[string]any{"error": mesh.Error{Code: code, Message: mesh.ErrorMessage(err)}})
}

func httpStatus(code string) int {
	switch code {
	case mesh.EUnauthorized:
		return http.StatusUnauthorized
	case mesh.EForbidden:
		return http.StatusForbidden
	case mesh.ENotFound:
		return http.StatusNotFound
	case mesh.EInvalid:
		return http.StatusBadRequest
	case mesh.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case mesh.ERateLimited:
		return http.StatusTooManyRequests
	case mesh.EBlocked:
		return http.StatusUnprocessableEntity
	case mesh.EConflict:
		return http.StatusConflict
	case mesh.EUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
