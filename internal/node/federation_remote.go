package node

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
	"github.com/the-mesh/mesh/internal/audit"
	"github.com/the-mesh/mesh/internal/federation"
	"github.com/the-mesh/mesh/internal/guard"
	"github.com/the-mesh/mesh/internal/hub"
)

// The visiting side: local participants join rooms of other nodes, by
// address room@home, and this node keeps a mirror of each such room: the
// home's envelopes in its seq order, in federation/messages. Local
// connections subscribe to the mirror as to a local room, so history,
// resume and fan-out work the same.

// mirror is the state of one remote room's mirror. Guarded by fed.mu.
type mirror struct {
	loaded     bool
	empty      bool   // it holds nothing yet: it starts at the first seq it gets
	base       uint64 // the home's seq before the mirror's first (federation_mirror.go)
	next       uint64 // the next seq to append
	rosterHead uint64 // the home's head: as its last roster told, or a message ahead of the mirror
	// asking says a subscribe is out: sent at lastAsk, its page (up to
	// pageEnd) not all in. No other is sent meanwhile (but after
	// askStale), so two reasons to ask, e.g. a join and a new link, do
	// not fetch a page twice.
	asking  bool
	pageEnd uint64 // the last seq the last subscribe gets
	lastAsk time.Time
	members []mesh.Member
	// roster is the current roster of an E2E room (nil: none), as this
	// node names participants; rosterKnown says whether it was looked up.
	roster      *mesh.Roster
	rosterKnown bool
	policy      *mesh.Policy // an E2E room's policy, from the home's last roster
}

// Why a mirror asks its home for messages.
const (
	askAlways   = iota // a new link or a join
	askGap             // a message came early: one before it is missing
	askProgress        // a message was appended: the last page may be done
)

func (f *fed) mirrorLocked(address mesh.RoomID) *mirror {
	m := f.mirror[address]
	if m == nil {
		m = &mirror{}
		f.mirror[address] = m
	}
	if !m.loaded && f.mirrors != nil {
		h, err := f.mirrors.Head(mirrorID(address))
		var base uint64
		if err == nil && h.Seq > 0 {
			base, err = f.mirrorBase(address)
		}
		if err == nil {
			m.base, m.next, m.empty, m.loaded = base, base+h.Seq+1, h.Seq == 0, true
		} else {
			f.n.log.Error("federation: read the mirror", "room", address, "err", err)
		}
	}
	return m
}

// askStale is how long a subscribe stays the one out: its answer travels
// in the home's durable stream, so this only covers a home that lost it.
const askStale = 30 * time.Second

// resync asks room's home for the messages after the mirror's head, unless
// a subscribe is out already (one at a time per mirror): on a new link, a
// join or a gap; on progress when the last page has arrived and the home's
// last roster named more.
func (f *fed) resync(address mesh.RoomID, why int) {
	_, home, ok := address.Split()
	if !ok || f.c == nil {
		return
	}
	now := f.n.now()
	f.mu.Lock()
	m := f.mirrorLocked(address)
	after := m.next - 1
	if m.asking && (after >= m.pageEnd || now.Sub(m.lastAsk) >= askStale) {
		m.asking = false // its page is in (or it was lost)
	}
	due := !m.asking && (why != askProgress || after < m.rosterHead)
	empty := m.empty
	if due {
		m.asking, m.lastAsk, m.pageEnd = true, now, after+catchUpPage
		if empty { // the window ends at the head, which the answer's roster tells
			m.pageEnd = math.MaxUint64
		}
	}
	f.mu.Unlock()
	if due {
		b := &mesh.FedBody{Kind: mesh.FedSubscribe, Room: address, After: after}
		if empty {
			b.Event = mesh.FedRecent // the recent window, not the history (federation_mirror.go)
		}
		f.send(home, b)
	}
}

// answered notes that the home answers the subscribe that is out: its
// roster (head) comes first, then the page, which ends there at most.
// refused says the home refused it.
func (m *mirror) answered(head uint64, refused bool) {
	if !m.asking {
		return
	}
	if refused {
		m.asking = false
		return
	}
	m.pageEnd = min(m.pageEnd, head)
}

// JoinRemote makes actor a member of the remote room address: it asks the
// room's home and waits up to timeout for the answer. A confirmed member
// gets nil at once. Errors: EInvalid (not an address, or one of this
// node), EForbidden (untrusted participants do not federate; the home's
// refusal), ENotFound (the home's), EUnavailable (no relay; no answer in
// time: the join stays queued and takes effect when the home answers).
func (n *Node) JoinRemote(actor mesh.Participant, address mesh.RoomID, timeout time.Duration) error {
	err := n.joinRemote(actor, address, timeout)
	n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "join", Room: address}, err))
	return err
}

func (n *Node) joinRemote(actor mesh.Participant, address mesh.RoomID, timeout time.Duration) error {
	f, err := n.federation()
	if err != nil {
		return err
	}
	room, home, ok := address.Split()
	if !ok {
		return mesh.Errorf(mesh.EInvalid, "%q is not a federated address room@node.", address)
	}
	if home == n.info.ID {
		return mesh.Errorf(mesh.EInvalid, "Room %s is on this node: join %q.", address, room)
	}
	if actor.Trust.Rank() < mesh.TrustLocal.Rank() {
		return mesh.Errorf(mesh.EForbidden, "Participants with trust %s cannot join rooms of other nodes.", actor.Trust)
	}
	if f.isMember(address, actor.ID) {
		f.resync(address, askGap)
		return nil
	}
	answer := make(chan error, 1)
	key := joinKey{address, actor.ID}
	f.mu.Lock()
	f.joins[key] = append(f.joins[key], func(err error) { answer <- err })
	f.mu.Unlock()
	p := actor.Public()
	join := &mesh.FedBody{Kind: mesh.FedJoin, Room: address, Participant: &p, Devices: n.Devices(actor)}
	f.c.Send(home, join, func(err error) {
		if err != nil {
			f.answerJoin(key, err)
		}
	})
	f.resync(address, askAlways)
	select {
	case err := <-answer:
		return err
	case <-time.After(timeout):
		f.mu.Lock()
		delete(f.joins, key)
		f.mu.Unlock()
		return mesh.Errorf(mesh.EUnavailable, "Node %s has not answered within %v; the join stays queued and takes effect when it does.", home, timeout)
	}
}

func (f *fed) isMember(address mesh.RoomID, p mesh.ParticipantID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.members[address][p]
}

// IsRemoteMember reports whether p is a member of the remote room address.
func (n *Node) IsRemoteMember(address mesh.RoomID, p mesh.ParticipantID) bool {
	return n.fed != nil && n.fed.isMember(address, p)
}

func (f *fed) answerJoin(key joinKey, err error) {
	f.mu.Lock()
	waiters := f.joins[key]
	delete(f.joins, key)
	f.mu.Unlock()
	for _, w := range waiters {
		w(err)
	}
}

// setMember records a local participant's membership of a remote room.
func (f *fed) setMember(address mesh.RoomID, p mesh.ParticipantID, member bool) error {
	if f.isMember(address, p) == member {
		return nil
	}
	if err := f.state.Append(fedEvent{Op: "member", Room: address, ID: p, Member: member, TS: f.n.now().UTC()}); err != nil {
		return err
	}
	f.mu.Lock()
	f.setMemberLocked(address, p, member)
	f.mu.Unlock()
	return nil
}

// LeaveRemote ends actor's membership of a remote room and tells its home.
func (n *Node) LeaveRemote(actor mesh.Participant, address mesh.RoomID) error {
	f, err := n.federation()
	if err == nil && !f.isMember(address, actor.ID) {
		err = mesh.Errorf(mesh.ENotFound, "You are not a member of room %q.", address)
	}
	if err == nil {
		err = f.setMember(address, actor.ID, false)
	}
	n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "leave", Room: address}, err))
	if err != nil {
		return err
	}
	_, home, _ := address.Split()
	p := actor.Public()
	f.send(home, &mesh.FedBody{Kind: mesh.FedLeave, Room: address, Participant: &p})
	f.forgetAvatar(address, actor.ID)
	return nil
}

// MirrorRoom returns the live room of a remote room's mirror.
func (n *Node) MirrorRoom(address mesh.RoomID) (*hub.Room, error) {
	f, err := n.federation()
	if err != nil {
		return nil, err
	}
	return n.Hub.Room(address, f.loadMirror)
}

func (f *fed) loadMirror(address mesh.RoomID, max int) (uint64, []mesh.Entry, error) {
	head, err := f.mirrorHead(address)
	if err != nil {
		return 0, nil, err
	}
	var after uint64
	if head > uint64(max) {
		after = head - uint64(max)
	}
	entries, err := f.readMirror(address, after, max)
	return head, entries, err
}

// ReadRemote returns up to limit entries of a remote room's mirror after
// seq after. A mirror holds the room from the recent window of its first
// join on: for older seqs it returns what it has, from its first.
func (n *Node) ReadRemote(address mesh.RoomID, after uint64, limit int) ([]mesh.Entry, error) {
	f, err := n.federation()
	if err != nil {
		return nil, err
	}
	return f.readMirror(address, after, limit)
}

// RemoteMembers returns the members of a remote room, as its home last
// told them, with ids as this node names them.
func (n *Node) RemoteMembers(address mesh.RoomID) []mesh.Member {
	if n.fed == nil {
		return nil
	}
	n.fed.mu.Lock()
	defer n.fed.mu.Unlock()
	if m := n.fed.mirror[address]; m != nil {
		return append([]mesh.Member{}, m.members...)
	}
	return []mesh.Member{}
}

// RemoteJoinTimeout is how long AddMember waits for a remote room's home.
const RemoteJoinTimeout = 10 * time.Second

// remoteRoom returns what this node knows of a remote room: its address,
// and its name and topic from the relay's directory. Its policy is its
// home's business. Errors: ENotFound (not in the directory, and no local
// member), EUnavailable.
func (n *Node) remoteRoom(address mesh.RoomID) (mesh.Room, error) {
	f, err := n.federation()
	if err != nil {
		return mesh.Room{}, err
	}
	id, home, _ := address.Split()
	r := mesh.Room{ID: address, Name: string(id)}
	found := false
	for _, e := range f.c.Directory().Nodes {
		for _, ri := range e.Rooms {
			if e.ID == home && ri.ID == id {
				r.Name, r.Topic, found = ri.Name, ri.Topic, true
			}
		}
	}
	f.mu.Lock()
	found = found || len(f.members[address]) > 0
	if m := f.mirror[address]; m != nil && m.policy != nil {
		r.Policy = *m.policy
	}
	f.mu.Unlock()
	if !found {
		return mesh.Room{}, mesh.Errorf(mesh.ENotFound, "Room %q is not in the directory.", address)
	}
	return r, nil
}

// remoteMessages reads a remote room's mirror, for its local members.
func (n *Node) remoteMessages(actor mesh.Participant, address mesh.RoomID, after uint64, limit int) ([]json.RawMessage, error) {
	if limit <= 0 || limit > mesh.MaxPageLimit {
		return nil, mesh.Errorf(mesh.EInvalid, "limit must be between 1 and %d, got %d.", mesh.MaxPageLimit, limit)
	}
	f, err := n.federation()
	if err != nil {
		return nil, err
	}
	if err := f.mayListenRemote(address, actor.ID); err != nil {
		return nil, err
	}
	entries, err := n.ReadRemote(address, after, limit)
	if err != nil {
		return nil, err
	}
	// Checked again after the read: an access body is applied before any
	// entry that follows it is appended, so whatever this read found was
	// stored while actor could listen, if it still can.
	if err := f.mayListenRemote(address, actor.ID); err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, len(entries))
	for i, e := range entries {
		out[i] = e.Line
	}
	return out, nil
}

// RemotePost is a say, command or result for a remote room.
type RemotePost struct {
	Room    mesh.RoomID
	Kind    mesh.MessageKind // chat, command, result or encrypted
	Text    string           // chat
	To      mesh.ParticipantID
	Command string          // command
	Args    json.RawMessage // command
	Ref     string          // result: the command's id; encrypted: the ref its signature binds
	Sealed  *mesh.Sealed    // encrypted
	OK      bool            // result
	Output  string          // result
	ID      string          // chat from a bridge: the message's id (else a new one)
	Bridged *mesh.Bridged   // chat from a bridge: its original
}

// PostRemote sends actor's post to a remote room's home. done is called
// once the post is durable in the federation queue (with the message as
// sent, without seq) or refused here; refused, if not nil, is called
// later if the home refuses it. Errors: EUnavailable, EInvalid,
// ETooLarge, EForbidden (not a member).
func (n *Node) PostRemote(actor mesh.Participant, post RemotePost, refused func(error), done func(mesh.Message, error)) {
	m, home, err := n.remotePost(actor, post)
	action := "federated-" + map[mesh.MessageKind]string{mesh.MessageChat: "say", mesh.MessageCommand: "command", mesh.MessageResult: "result",
		mesh.MessageEncrypted: "say"}[post.Kind]
	if err != nil {
		n.refused(actor, action, post.Room, err, done)
		return
	}
	f := n.fed
	if refused != nil {
		now := n.now()
		f.mu.Lock()
		f.expirePostsLocked(now)
		f.posts[m.ID] = postWaiter{refused: refused, at: now}
		f.postLog = append(f.postLog, postRef{m.ID, now})
		f.mu.Unlock()
	}
	kind := map[mesh.MessageKind]string{mesh.MessageChat: mesh.FedSay, mesh.MessageCommand: mesh.FedCommand, mesh.MessageResult: mesh.FedResult,
		mesh.MessageEncrypted: mesh.FedSay}[m.Kind]
	f.c.Send(home, &mesh.FedBody{Kind: kind, Room: post.Room, Msg: m}, func(err error) {
		n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: action, Room: post.Room,
			Detail: map[string]any{"id": m.ID, "queued": err == nil}}, err))
		if done != nil {
			done(*m, err)
		}
	})
}

func (n *Node) remotePost(actor mesh.Participant, post RemotePost) (*mesh.Message, string, error) {
	f, err := n.federation()
	if err != nil {
		return nil, "", err
	}
	_, home, ok := post.Room.Split()
	if !ok {
		return nil, "", mesh.Errorf(mesh.EInvalid, "%q is not a federated address room@node.", post.Room)
	}
	if !f.isMember(post.Room, actor.ID) {
		return nil, "", mesh.Errorf(mesh.EForbidden, "You are not a member of room %q: join it first.", post.Room)
	}
	if err := f.maySpeakRemote(post.Room, actor.ID); err != nil {
		return nil, "", err // the home would refuse it
	}
	if post.Kind != mesh.MessageEncrypted && f.knownE2E(post.Room) {
		return nil, "", e2eOnly(post.Room) // the home would refuse it, after the text had crossed the relay
	}
	m := &mesh.Message{ID: newID("m_"), Room: post.Room, Kind: post.Kind, From: actor.Sender(), TS: n.now().UTC(), To: post.To}
	if post.ID != "" {
		m.ID = post.ID
	}
	if post.Bridged != nil && post.Kind == mesh.MessageChat {
		m.Bridged = post.Bridged
	}
	switch post.Kind {
	case mesh.MessageChat:
		if post.Text == "" {
			return nil, "", mesh.Errorf(mesh.EInvalid, "text is required.")
		}
		if len(post.Text) > n.cfg.MaxTextBytes {
			return nil, "", mesh.Errorf(mesh.ETooLarge, "text is %d bytes; the limit is %d.", len(post.Text), n.cfg.MaxTextBytes)
		}
		// Sanitised here as the home will, so the signed text is the stored one.
		text, err := guard.Sanitize(strings.ReplaceAll(post.Text, "\r\n", "\n"))
		if err != nil {
			return nil, "", err
		}
		m.Body.Text = text
	case mesh.MessageCommand:
		if !commandName.MatchString(post.Command) {
			return nil, "", mesh.Errorf(mesh.EInvalid, "A command name is 1 to %d letters, digits, '.', '_' or '-'; got %q.", mesh.MaxCommandNameBytes, post.Command)
		}
		if len(post.Args) > 0 && !json.Valid(post.Args) {
			return nil, "", mesh.Errorf(mesh.EInvalid, "command args must be JSON.")
		}
		m.Body.Command, m.Body.Args = post.Command, post.Args
	case mesh.MessageResult:
		if post.Ref == "" {
			return nil, "", mesh.Errorf(mesh.EInvalid, `A result needs "ref": the id of the command it answers.`)
		}
		if len(post.Output) > n.cfg.MaxTextBytes {
			return nil, "", mesh.Errorf(mesh.ETooLarge, "output is %d bytes; the limit is %d.", len(post.Output), n.cfg.MaxTextBytes)
		}
		output, err := guard.Sanitize(strings.ReplaceAll(post.Output, "\r\n", "\n"))
		if err != nil {
			return nil, "", err
		}
		ok := post.OK
		m.Ref, m.Body.OK, m.Body.Output = post.Ref, &ok, output
	case mesh.MessageEncrypted:
		// The home checks the epoch, device, wraps and signature; here only
		// the shape, with this node's text limit (the room's may be lower).
		if post.Sealed == nil {
			return nil, "", mesh.Errorf(mesh.EInvalid, `A message of kind "encrypted" needs "body": {"e2e": {...}}.`)
		}
		if len(post.Ref) > MaxRefBytes {
			return nil, "", mesh.Errorf(mesh.EInvalid, "ref is %d bytes; the limit is %d.", len(post.Ref), MaxRefBytes)
		}
		if err := e2e.CheckShape(post.Sealed, n.cfg.MaxTextBytes+SealedFraming); err != nil {
			return nil, "", err
		}
		m.Ref, m.Body.E2E = post.Ref, post.Sealed
	default:
		return nil, "", mesh.Errorf(mesh.EInvalid, "Unknown kind %q.", post.Kind)
	}
	p := mesh.Provenance{Node: n.info.ID, TS: m.TS}
	stmt, err := mesh.ProvenanceStatement(m, post.Room, p, n.info.ID)
	if err != nil {
		return nil, "", fmt.Errorf("sign post: %w", err)
	}
	p.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(n.key, stmt))
	m.Provenance = []mesh.Provenance{p}
	return m, home, nil
}

// postRef is a post in the order posts were sent.
type postRef struct {
	id string
	at time.Time
}

// Refusal callbacks are kept for an hour, and for at most maxPostWaiters
// posts (the oldest go first).
const (
	postWaitFor    = time.Hour
	maxPostWaiters = 20000
)

// expirePostsLocked drops the refusal callbacks older than postWaitFor,
// and the oldest past maxPostWaiters: from the front of postLog, so each
// post costs O(1). f.mu must be held.
func (f *fed) expirePostsLocked(now time.Time) {
	cut := now.Add(-postWaitFor)
	i := 0
	for i < len(f.postLog) && (f.postLog[i].at.Before(cut) || len(f.postLog)-i >= maxPostWaiters) {
		delete(f.posts, f.postLog[i].id)
		i++
	}
	if i > 0 {
		f.postLog = f.postLog[i:]
		if cap(f.postLog) > 2*maxPostWaiters { // let the array the front was cut from go
			f.postLog = append([]postRef(nil), f.postLog...)
		}
	}
}

// onRoster records a remote room's members and head; with a ref it
// confirms that participant's join.
func (f *fed) onRoster(from federation.Peer, b *mesh.FedBody) {
	_, home, ok := b.Room.Split()
	if !ok || home != from.ID {
		f.reject(from, fmt.Sprintf("roster for %q from node %s, which is not its home", b.Room, from.ID))
		return
	}
	self := f.n.info.ID
	members := make([]mesh.Member, 0, len(b.Members))
	for _, m := range b.Members {
		m.ID = mesh.ViewParticipant(mesh.Qualify(m.ID, m.Node), from.ID, self)
		m.Webhook, m.Parent = "", ""
		members = append(members, m)
	}
	f.mu.Lock()
	mr := f.mirrorLocked(b.Room)
	mr.members = members
	mr.rosterHead = b.Head
	if b.Ref == "" { // a roster without a join's ref answers a subscribe
		mr.answered(b.Head, false)
	}
	if b.Policy != nil {
		mr.policy = b.Policy
	}
	f.mu.Unlock()
	if b.Ref != "" {
		pid := mesh.ParticipantID(b.Ref)
		if err := f.setMember(b.Room, pid, true); err != nil {
			f.answerJoin(joinKey{b.Room, pid}, err)
			return
		}
		f.answerJoin(joinKey{b.Room, pid}, nil)
	}
	f.resync(b.Room, askProgress)
}

// onRefused hands a home's refusal to whoever waits for it.
func (f *fed) onRefused(from federation.Peer, b *mesh.FedBody) {
	err := &mesh.Error{Code: b.Code, Message: b.Message}
	if b.Code == "" {
		err.Code = mesh.EForbidden
	}
	key := joinKey{b.Room, mesh.ParticipantID(b.Ref)}
	f.mu.Lock()
	_, joining := f.joins[key]
	w, posted := f.posts[b.Ref]
	delete(f.posts, b.Ref)
	f.mu.Unlock()
	f.n.Audit.Record(audit.Record{Action: "federation-refused", Room: b.Room, Outcome: audit.Refused, Code: err.Code,
		Remote: "node:" + from.ID, Detail: map[string]any{"ref": b.Ref, "message": b.Message}})
	switch {
	case joining:
		f.answerJoin(key, err)
	case posted:
		w.refused(err)
	case b.Ref == "" && b.Room != "": // a subscribe
		f.mu.Lock()
		if mr := f.mirror[b.Room]; mr != nil {
			mr.answered(0, true)
		}
		f.mu.Unlock()
		f.n.log.Warn("federation: refused", "room", b.Room, "from", from.ID, "code", b.Code, "message", b.Message)
	}
}

// onPresence tells the mirror's local subscribers that a member came or went.
func (f *fed) onPresence(from federation.Peer, b *mesh.FedBody) {
	_, home, ok := b.Room.Split()
	if !ok || home != from.ID || b.Participant == nil {
		return
	}
	p := *b.Participant
	p.ID = mesh.ViewParticipant(mesh.Qualify(p.ID, p.Node), from.ID, f.n.info.ID)
	p.Webhook, p.Parent = "", ""
	if hr, err := f.n.MirrorRoom(b.Room); err == nil {
		if b.Event == mesh.PresenceLeave { // gone from the home's world too
			hr.Forget(p.ID)
		}
		hr.Broadcast(presenceFrame(b.Room, b.Event, p), nil)
	}
}

// onMessage appends a home's envelope to the room's mirror, in seq order,
// routes it to the inbox of the local participant it addresses, and
// publishes it to the local subscribers.
func (f *fed) onMessage(from federation.Peer, b *mesh.FedBody, done func(error)) {
	n := f.n
	m := b.Msg
	_, home, ok := b.Room.Split()
	if !ok || home != from.ID || m == nil || m.Room != b.Room || m.Seq == 0 {
		f.reject(from, fmt.Sprintf("message for %q from node %s, which is not its home", b.Room, from.ID))
		done(nil)
		return
	}
	// The home's provenance entry is kept for whoever reads the mirror; it
	// is not verified again here: the frame that carries it is signed by
	// the same key over the same bytes.
	if k := len(m.Provenance); k == 0 || m.Provenance[k-1].Node != from.ID {
		f.reject(from, "message without its home's provenance")
		done(nil)
		return
	}
	// As this node names participants, with the trust it gives them.
	self := n.info.ID
	m.From.ID = mesh.ViewParticipant(mesh.Qualify(m.From.ID, m.From.Node), from.ID, self)
	m.To = mesh.ViewParticipant(m.To, from.ID, self)
	if m.Bridged != nil {
		m.Bridged = viewBridged(*m.Bridged, from.ID, self)
	}
	roster := epochOf(m)
	if roster != nil {
		roster = viewRoster(roster, from.ID, self)
		m.Body.Event.E2E = roster
		m.Body.Event.By = mesh.ViewParticipant(m.Body.Event.By, from.ID, self)
	}
	if m.Trust != mesh.TrustUntrusted {
		m.Trust = trustOf(from)
	}
	f.mu.Lock()
	mr := f.mirrorLocked(b.Room)
	if !mr.loaded {
		f.mu.Unlock()
		done(mesh.Errorf(mesh.EUnavailable, "The mirror of %s cannot be read.", b.Room))
		return
	}
	switch {
	case mr.empty: // the first: the mirror starts here (federation_mirror.go)
		mr.empty, mr.base, mr.next = false, m.Seq-1, m.Seq
	case m.Seq < mr.next:
		f.mu.Unlock()
		done(nil) // a repeat
		return
	case m.Seq > mr.next:
		mr.rosterHead = max(mr.rosterHead, m.Seq) // asked for once the page that is out is in
		f.mu.Unlock()
		f.resync(b.Room, askGap) // ask for what is missing
		done(nil)
		return
	}
	mr.next++
	base := mr.base
	f.mu.Unlock()
	envelope, err := json.Marshal(m)
	if err != nil {
		done(err)
		return
	}
	if _, err := n.Hub.Room(b.Room, f.loadMirror); err != nil {
		f.rewind(b.Room)
		done(err)
		return
	}
	f.mirrors.Append(mirrorID(b.Room), func(k uint64) ([]byte, error) {
		if k+base != m.Seq {
			return nil, fmt.Errorf("mirror of %s is at seq %d, the message has %d", b.Room, k+base-1, m.Seq)
		}
		if base == 0 {
			return envelope, nil // the home's log as it is
		}
		return wrapMirrorLine(k, envelope), nil
	}, func(e mesh.Entry, err error) {
		if err != nil {
			f.rewind(b.Room)
			done(err)
			return
		}
		if roster != nil {
			cur := *roster
			cur.Seq = m.Seq
			f.setMirrorRoster(b.Room, &cur)
		}
		e = mesh.Entry{Seq: m.Seq, Line: envelope} // as the home numbers it
		inboxed := n.route(m, e)                   // as a local room's append does
		n.bus.Publish(b.Room, e, nil)
		n.announce(inboxed, e)
		done(nil)
		f.resync(b.Room, askProgress)
	})
}

// rewind makes the mirror read its head from storage again.
func (f *fed) rewind(address mesh.RoomID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.mirror[address]; m != nil {
		m.loaded = false
	}
}
