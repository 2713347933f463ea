package node

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
	"github.com/the-mesh/mesh/internal/federation"
	"github.com/the-mesh/mesh/internal/roomdata"
)

// Operations on remote rooms (PROTOCOL.md, "Operations on remote rooms"):
// moderation, policy and room data of a room of another node. The home is
// the only authority: this node checks only that the participant is a
// member, sends the operation as a request body naming it, and waits for
// the home's reply. Writes go through the durable queue (exactly once, in
// order with the participant's other bodies); reads go lossy (an answer
// that comes late is of no use). A payload (a file, a listing) travels in
// chunks that fit a relay frame, reassembled and checked against its size
// and SHA-256 (federation_ops_home.go has the home's side).

// Bounds of what crosses the wire for an operation.
const (
	// opChunkBytes is the most payload bytes one body carries: 64 KiB in
	// base64, well inside the relay's default 128 KiB frames (less when
	// the relay takes less: chunkBytes).
	opChunkBytes = 48 << 10
	// opFraming is what a body and its frame hold besides the chunk.
	opFraming = 4 << 10
	// opFrameBytes is what a frame holds besides its body.
	opFrameBytes = 1 << 10
	// maxOpPayload bounds a reply's payload this node reassembles.
	maxOpPayload = 8 << 20
	// maxRemotePolicyBytes bounds a policy document sent to a home.
	maxRemotePolicyBytes = 64 << 10
)

// opWaiter is a request waiting for its reply. Guarded by fed.mu.
type opWaiter struct {
	home   string
	room   mesh.RoomID
	answer chan opAnswer // buffered: the first answer is the one
	// The reply's payload, being reassembled.
	op        *mesh.FedOp // the reply's op, without its data
	buf       []byte
	got       int64
	seen      map[int64]bool
	assembled bool
}

// opAnswer is a home's answer: its op and payload, or its refusal.
type opAnswer struct {
	op      *mesh.FedOp
	payload []byte
	err     error
}

func (w *opWaiter) deliver(a opAnswer) {
	select {
	case w.answer <- a:
	default:
	}
}

// checkRemoteOp checks what this node can of actor's operation on the
// remote room address: a federated node, an address of another node, a
// participant that federates and is a member. Errors: EUnavailable,
// EInvalid, EForbidden.
func (n *Node) checkRemoteOp(actor mesh.Participant, address mesh.RoomID) (*fed, string, error) {
	f, err := n.federation()
	if err != nil {
		return nil, "", err
	}
	room, home, ok := address.Split()
	switch {
	case !ok:
		return nil, "", mesh.Errorf(mesh.EInvalid, "%q is not a federated address room@node.", address)
	case home == n.info.ID:
		return nil, "", mesh.Errorf(mesh.EInvalid, "Room %s is on this node: use %q.", address, room)
	case actor.Trust.Rank() < mesh.TrustLocal.Rank():
		return nil, "", mesh.Errorf(mesh.EForbidden, "Participants with trust %s cannot act in rooms of other nodes.", actor.Trust)
	case !f.isMember(address, actor.ID):
		return nil, "", mesh.Errorf(mesh.EForbidden, "You are not a member of room %q: join it first.", address)
	}
	return f, home, nil
}

// remoteOp asks the home of room address to run op for actor, with
// payload (data-put's file; nil for none), and waits for its answer.
func (n *Node) remoteOp(actor mesh.Participant, address mesh.RoomID, op mesh.FedOp, payload []byte) opAnswer {
	f, home, err := n.checkRemoteOp(actor, address)
	if err != nil {
		return opAnswer{err: err}
	}
	ref := newID("q_")
	w := &opWaiter{home: home, room: address, answer: make(chan opAnswer, 1)}
	f.mu.Lock()
	f.ops[ref] = w
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.ops, ref)
		f.mu.Unlock()
	}()
	p := actor.Public()
	base := mesh.FedBody{Kind: mesh.FedRequest, Room: address, Participant: &p, Ref: ref}
	var bodies []*mesh.FedBody
	if payload != nil {
		bodies = chunkBodies(base, op, payload, f.chunkBytes())
	} else {
		base.Op = &op
		bodies = []*mesh.FedBody{&base}
	}
	// The largest body is the first: refuse here what no frame would carry.
	if raw, err := bodies[0].MarshalJSON(); err != nil {
		return opAnswer{err: fmt.Errorf("encode %s request: %w", op.Name, err)}
	} else if limit := f.c.MaxFrameBytes() - opFrameBytes; len(raw) > limit {
		return opAnswer{err: mesh.Errorf(mesh.ETooLarge, "The %s request is %d bytes; the relay carries at most %d.", op.Name, len(raw), limit)}
	}
	writes := op.Writes()
	if writes {
		for _, b := range bodies {
			f.c.Send(home, b, func(err error) {
				if err != nil {
					w.deliver(opAnswer{err: err})
				}
			})
		}
	} else {
		f.c.SendLossy(home, "request "+ref, bodies[0])
	}
	timer := time.NewTimer(n.cfg.RemoteTimeout)
	defer timer.Stop()
	select {
	case a := <-w.answer:
		return a
	case <-timer.C:
	}
	wait := n.cfg.RemoteTimeout
	switch {
	case op.Name == mesh.OpDataPut:
		err = mesh.Errorf(mesh.EUnavailable, "Node %s has not answered within %v; the file stays queued and is written whole when the node has all of it (if the room's rules allow it then), never in part.", home, wait)
	case writes:
		err = mesh.Errorf(mesh.EUnavailable, "Node %s has not answered within %v; the %s stays queued and takes effect when the node gets it (if the room's rules allow it then).", home, wait, op.Name)
	default:
		err = mesh.Errorf(mesh.EUnavailable, "Node %s has not answered within %v; nothing was read: try again later.", home, wait)
	}
	return opAnswer{err: err}
}

// chunkBytes is the most payload bytes a body carries on this node's
// relay: opChunkBytes, or what fits its frames in base64.
func (f *fed) chunkBytes() int {
	return max(1<<10, min(opChunkBytes, (f.c.MaxFrameBytes()-opFraming)*3/4))
}

// chunkBodies returns the bodies that carry op with payload: one per
// chunk of size bytes (one for an empty payload), each a copy of base.
func chunkBodies(base mesh.FedBody, op mesh.FedOp, payload []byte, size int) []*mesh.FedBody {
	sum := sha256.Sum256(payload)
	op.Size, op.SHA256 = int64(len(payload)), hex.EncodeToString(sum[:])
	out := make([]*mesh.FedBody, 0, len(payload)/size+1)
	for off := 0; ; off += size {
		end := min(off+size, len(payload))
		c := op
		c.Offset, c.Data = int64(off), payload[off:end]
		b := base
		b.Op = &c
		out = append(out, &b)
		if end == len(payload) {
			return out
		}
	}
}

// onReply hands a home's reply to the request waiting for it. A reply
// that no request waits for (it came late) is dropped.
func (f *fed) onReply(from federation.Peer, b *mesh.FedBody) {
	f.mu.Lock()
	w := f.ops[b.Ref]
	if w == nil || w.home != from.ID || w.room != b.Room || w.assembled {
		f.mu.Unlock()
		return
	}
	var a opAnswer
	done := true
	switch {
	case b.Code != "":
		a.err = &mesh.Error{Code: b.Code, Message: b.Message}
	case b.Op == nil:
		a.err = mesh.Errorf(mesh.EUnavailable, "Node %s answered without the operation's result.", from.ID)
	case b.Op.SHA256 == "":
		a.op = b.Op
	default:
		a, done = w.chunk(from.ID, b.Op)
	}
	w.assembled = done
	f.mu.Unlock()
	if done {
		w.deliver(a)
	}
}

// chunk adds a chunk of the reply's payload; done is true once the answer
// is whole (and checked) or failed. fed.mu must be held.
func (w *opWaiter) chunk(home string, op *mesh.FedOp) (opAnswer, bool) {
	fail := func(format string, args ...any) (opAnswer, bool) {
		return opAnswer{err: mesh.Errorf(mesh.EUnavailable, format, args...)}, true
	}
	if w.op == nil {
		if op.Size < 0 || op.Size > maxOpPayload {
			return opAnswer{err: mesh.Errorf(mesh.ETooLarge, "The answer of node %s is %d bytes; this node takes at most %d.", home, op.Size, maxOpPayload)}, true
		}
		head := *op
		head.Data, head.Offset = nil, 0
		w.op, w.buf, w.seen = &head, make([]byte, op.Size), map[int64]bool{}
	}
	end := op.Offset + int64(len(op.Data))
	switch {
	case op.Size != w.op.Size || op.SHA256 != w.op.SHA256:
		return fail("The answer of node %s changed while it was sent: try again.", home)
	case op.Offset < 0 || end > w.op.Size || (len(op.Data) == 0 && w.op.Size > 0):
		return fail("Node %s sent a part of its answer outside it (bytes %d to %d of %d).", home, op.Offset, end, w.op.Size)
	case w.seen[op.Offset]:
		return opAnswer{}, false // a repeat
	}
	copy(w.buf[op.Offset:], op.Data)
	w.seen[op.Offset] = true
	w.got += int64(len(op.Data))
	if w.got < w.op.Size {
		return opAnswer{}, false
	}
	if sum := sha256.Sum256(w.buf); hex.EncodeToString(sum[:]) != w.op.SHA256 {
		return fail("The answer of node %s does not match its SHA-256: it was damaged on the way; try again.", home)
	}
	return opAnswer{op: w.op, payload: w.buf}, true
}

// recordRemote audits actor's operation on a remote room on this node.
func (n *Node) recordRemote(actor mesh.Participant, action string, address mesh.RoomID, detail map[string]any, err error) {
	n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "remote-" + action, Room: address, Detail: detail}, err))
}

// recordRead audits a refused read of a remote room's files, as a local
// one: not a missing file or a directory (the caller lists it then).
func (n *Node) recordRead(actor mesh.Participant, address mesh.RoomID, path string, err error) {
	if c := mesh.ErrorCode(err); c != mesh.ENotFound && c != mesh.EConflict {
		n.recordRemote(actor, "data-read", address, map[string]any{"path": path}, err)
	}
}

// moderateRemote is Moderate for a room of another node.
func (n *Node) moderateRemote(actor mesh.Participant, address mesh.RoomID, action string, target mesh.ParticipantID) error {
	err := mesh.ValidModeration(action)
	if err == nil {
		err = n.remoteOp(actor, address, mesh.FedOp{Name: mesh.OpModerate, Action: action, Target: target}, nil).err
	}
	n.recordRemote(actor, "moderate", address, map[string]any{"action": action, "target": target}, err)
	return err
}

// setPolicyRemote is SetPolicy for a room of another node: the document
// goes to the home as it is (it names participants as the home does).
func (n *Node) setPolicyRemote(actor mesh.Participant, address mesh.RoomID, doc []byte) (mesh.Room, error) {
	var a opAnswer
	switch {
	case len(doc) > maxRemotePolicyBytes:
		a.err = mesh.Errorf(mesh.ETooLarge, "The policy is %d bytes; a policy for a room of another node is at most %d.", len(doc), maxRemotePolicyBytes)
	case !json.Valid(doc):
		a.err = mesh.Errorf(mesh.EInvalid, "The policy must be a JSON object.")
	default:
		a = n.remoteOp(actor, address, mesh.FedOp{Name: mesh.OpSetPolicy, Policy: doc}, nil)
	}
	var room mesh.Room
	if a.err == nil && a.op.Room == nil {
		a.err = mesh.Errorf(mesh.EUnavailable, "The home of room %s answered without the room.", address)
	}
	if a.err == nil {
		_, home, _ := address.Split()
		room = *a.op.Room
		room.ID, room.Creator = address, mesh.ViewParticipant(room.Creator, home, n.info.ID)
	}
	n.recordRemote(actor, "set-policy", address, nil, a.err)
	return room, a.err
}

// dataGetRemote is DataGet for a room of another node.
func (n *Node) dataGetRemote(actor mesh.Participant, address mesh.RoomID, path string) ([]byte, roomdata.Info, error) {
	a := n.remoteOp(actor, address, mesh.FedOp{Name: mesh.OpDataGet, Path: path}, nil)
	if a.err == nil && (a.payload == nil || a.op.File == nil || a.op.File.SHA256 != a.op.SHA256 || a.op.File.Size != a.op.Size) {
		a.err = mesh.Errorf(mesh.EUnavailable, "The home of room %s sent file %q without its matching info.", address, path)
	}
	if a.err != nil {
		n.recordRead(actor, address, path, a.err)
		return nil, roomdata.Info{}, a.err
	}
	return a.payload, *a.op.File, nil
}

// dataListRemote is DataList for a room of another node.
func (n *Node) dataListRemote(actor mesh.Participant, address mesh.RoomID, prefix string) ([]roomdata.Info, error) {
	a := n.remoteOp(actor, address, mesh.FedOp{Name: mesh.OpDataList, Path: prefix}, nil)
	var files []roomdata.Info
	if a.err == nil && (a.payload == nil || json.Unmarshal(a.payload, &files) != nil) {
		a.err = mesh.Errorf(mesh.EUnavailable, "The home of room %s sent a listing that is not one.", address)
	}
	if a.err != nil {
		n.recordRead(actor, address, prefix, a.err)
		return nil, a.err
	}
	if files == nil {
		files = []roomdata.Info{}
	}
	return files, nil
}

// dataPutRemote is DataPut for a room of another node: the file goes in
// chunks, and the home writes it whole once it has all of them and their
// SHA-256 matches.
func (n *Node) dataPutRemote(actor mesh.Participant, address mesh.RoomID, path string, data []byte) (roomdata.Info, error) {
	if data == nil {
		data = []byte{}
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	a := n.remoteOp(actor, address, mesh.FedOp{Name: mesh.OpDataPut, Path: path}, data)
	if a.err == nil && (a.op.File == nil || a.op.File.SHA256 != sha) {
		a.err = mesh.Errorf(mesh.EUnavailable, "The home of room %s did not confirm the file's SHA-256 %s.", address, sha)
	}
	n.recordRemote(actor, "data-write", address, map[string]any{"path": path, "size": len(data), "sha256": sha}, a.err)
	if a.err != nil {
		return roomdata.Info{}, a.err
	}
	return *a.op.File, nil
}

// dataDeleteRemote is DataDelete for a room of another node.
func (n *Node) dataDeleteRemote(actor mesh.Participant, address mesh.RoomID, path string) error {
	err := n.remoteOp(actor, address, mesh.FedOp{Name: mesh.OpDataDelete, Path: path}, nil).err
	n.recordRemote(actor, "data-delete", address, map[string]any{"path": path}, err)
	return err
}
