package node

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"sync"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
	"github.com/the-mesh/mesh/internal/federation"
)

// The home's side of operations on its rooms from other nodes
// (federation_ops.go has the member's side): the home runs each with its
// ordinary governance, as the remote participant's, which it audits, and
// answers with a reply body. Writes come queued and are run on the apply
// goroutine, in order; reads come lossy and are run by the ops goroutine,
// off the read goroutine, and answered lossy.

// opsDepth bounds the reads waiting for the ops goroutine; past it a read
// is answered unavailable.
const opsDepth = 32

// opJob is a read waiting for the ops goroutine.
type opJob struct {
	from federation.Peer
	b    *mesh.FedBody
}

// upload is a file a node is sending in chunks.
type upload struct {
	key  string // node, space, request ref
	path string
	size int64
	sha  string
	buf  []byte
}

// Bounds of the files being sent, per node.
const (
	// maxUploadsPerNode bounds the files one node may have half sent at
	// once; a new one past it drops the oldest.
	maxUploadsPerNode = 4
	// maxRefusedPerNode bounds the files refused before their last chunk
	// whose other chunks are dropped unanswered; past it the oldest's get
	// answered again.
	maxRefusedPerNode = 64
)

// opState is the home's state of operations from other nodes.
type opState struct {
	q    chan opJob
	quit chan struct{}
	wg   sync.WaitGroup

	upMu    sync.Mutex           // guards the maps below
	uploads map[string][]*upload // by node, oldest first
	refused map[string][]string  // keys of refused files, by node, oldest first
}

// init makes the state, before the client may receive a request.
func (q *opState) init() {
	q.q, q.quit = make(chan opJob, opsDepth), make(chan struct{})
	q.uploads, q.refused = map[string][]*upload{}, map[string][]string{}
}

// find returns node's file being sent under key, and whether it was refused.
func (q *opState) find(node, key string) (*upload, bool) {
	q.upMu.Lock()
	defer q.upMu.Unlock()
	if slices.Contains(q.refused[node], key) {
		return nil, true
	}
	for _, u := range q.uploads[node] {
		if u.key == key {
			return u, false
		}
	}
	return nil, false
}

// keep records u, dropping the node's oldest past maxUploadsPerNode.
func (q *opState) keep(node string, u *upload) {
	q.upMu.Lock()
	defer q.upMu.Unlock()
	list := append(slices.DeleteFunc(q.uploads[node], func(o *upload) bool { return o.key == u.key }), u)
	q.uploads[node] = slices.Delete(list, 0, max(0, len(list)-maxUploadsPerNode)) // clears what it drops: its buffer goes
}

// refuse forgets the file under key, and drops its chunks still to come.
func (q *opState) refuse(node, key string) {
	q.drop(node, key)
	q.upMu.Lock()
	defer q.upMu.Unlock()
	list := append(q.refused[node], key)
	q.refused[node] = slices.Delete(list, 0, max(0, len(list)-maxRefusedPerNode))
}

// drop forgets the file under key.
func (q *opState) drop(node, key string) {
	q.upMu.Lock()
	defer q.upMu.Unlock()
	if list := slices.DeleteFunc(q.uploads[node], func(o *upload) bool { return o.key == key }); len(list) > 0 {
		q.uploads[node] = list
	} else {
		delete(q.uploads, node)
	}
	if list := slices.DeleteFunc(q.refused[node], func(k string) bool { return k == key }); len(list) > 0 {
		q.refused[node] = list
	} else {
		delete(q.refused, node)
	}
}

// startOps starts the goroutine that runs reads from other nodes.
func (f *fed) startOps() {
	f.opq.wg.Go(func() {
		for {
			select {
			case <-f.opq.quit:
				return
			case j := <-f.opq.q:
				f.runRead(j.from, j.b)
			}
		}
	})
}

// stopOps stops it; reads still waiting are dropped (their senders time out).
func (f *fed) stopOps() {
	if f.opq.quit == nil {
		return
	}
	close(f.opq.quit)
	f.opq.wg.Wait()
}

// opReply is the reply to request b: op, or err.
func opReply(b *mesh.FedBody, op *mesh.FedOp, err error) *mesh.FedBody {
	r := &mesh.FedBody{Kind: mesh.FedReply, Room: b.Room, Ref: b.Ref}
	if err != nil {
		r.Code, r.Message = mesh.ErrorCode(err), mesh.ErrorMessage(err)
	} else {
		r.Op = op
	}
	return r
}

// opActor returns the participant a request from node from is by, and
// the local room it is for: it must be a member. A refusal is audited
// as audited (the operation's audit action).
func (f *fed) opActor(from federation.Peer, b *mesh.FedBody, audited string) (mesh.Participant, mesh.RoomID, error) {
	actor := mesh.Participant{ID: mesh.ParticipantID("@" + from.ID)}
	_, id, err := f.localRoom(b.Room)
	if err == nil && (b.Participant == nil || b.Op == nil || b.Ref == "") {
		err = mesh.Errorf(mesh.EInvalid, "A request needs participant, op and ref.")
	}
	if err == nil {
		actor, err = f.remoteActor(from, b.Participant.ID)
	}
	if err == nil && !f.n.IsMember(id, actor.ID) {
		err = mesh.Errorf(mesh.EForbidden, "You are not a member of room %q on its home node.", b.Room)
	}
	if err != nil {
		f.n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: audited, Room: id, Remote: "node:" + from.ID}, err))
	}
	return actor, id, err
}

// auditAction is the audit action of an operation.
func auditAction(op *mesh.FedOp) string {
	if op == nil {
		return "request"
	}
	switch op.Name {
	case mesh.OpDataGet, mesh.OpDataList:
		return "data-read"
	case mesh.OpDataPut:
		return "data-write"
	case mesh.OpModerate, mesh.OpSetPolicy, mesh.OpDataDelete:
		return op.Name
	}
	return "request" // an unknown operation
}

// onRequest runs a queued request (a write) from node from and answers
// it, queued; done is called once its effect is durable.
func (f *fed) onRequest(from federation.Peer, b *mesh.FedBody, done func(error)) {
	if b.Op != nil && !b.Op.Writes() {
		f.send(from.ID, opReply(b, nil, mesh.Errorf(mesh.EInvalid, "Operation %q is a read and must not come queued.", b.Op.Name)))
		done(nil)
		return
	}
	if r := f.runWrite(from, b); r != nil {
		f.send(from.ID, r)
	}
	done(nil)
}

// runWrite runs a write and returns its reply (nil: a chunk of a file,
// answered with its last).
func (f *fed) runWrite(from federation.Peer, b *mesh.FedBody) *mesh.FedBody {
	n := f.n
	if b.Op != nil && b.Op.Name == mesh.OpDataPut && f.refusedChunk(from.ID, b) {
		return nil
	}
	actor, id, err := f.opActor(from, b, auditAction(b.Op))
	if err != nil {
		if b.Op != nil && b.Op.Name == mesh.OpDataPut && !lastChunk(b.Op) { // answered once: drop the rest
			f.opq.refuse(from.ID, from.ID+" "+b.Ref)
		}
		return opReply(b, nil, err)
	}
	op := b.Op
	switch op.Name {
	case mesh.OpModerate:
		err = n.Moderate(actor, id, op.Action, mesh.ViewParticipant(op.Target, from.ID, n.info.ID))
		return opReply(b, &mesh.FedOp{Name: op.Name}, err)
	case mesh.OpSetPolicy:
		room, err := n.SetPolicy(actor, id, op.Policy)
		room.ID = b.Room // as the address; the creator as this node names it
		return opReply(b, &mesh.FedOp{Name: op.Name, Room: &room}, err)
	case mesh.OpDataPut:
		return f.upload(from, actor, id, b)
	case mesh.OpDataDelete:
		err = n.DataDelete(actor, id, op.Path)
		return opReply(b, &mesh.FedOp{Name: op.Name}, err)
	}
	err = mesh.Errorf(mesh.EInvalid, "Unknown operation %q.", op.Name)
	n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "request", Room: id, Remote: "node:" + from.ID}, err))
	return opReply(b, nil, err)
}

// lastChunk reports whether op carries the end of its payload.
func lastChunk(op *mesh.FedOp) bool { return op.Offset+int64(len(op.Data)) >= op.Size }

// upload takes a chunk of a file: the last one has the file written,
// whole and checked against its SHA-256, with the participant's rights
// then. Chunks come in order, once (the queue sees to it); one that does
// not follow the last (the node restarted, or dropped the upload for a
// newer one) refuses the file.
func (f *fed) upload(from federation.Peer, actor mesh.Participant, id mesh.RoomID, b *mesh.FedBody) *mesh.FedBody {
	n, op, q := f.n, b.Op, &f.opq
	key := from.ID + " " + b.Ref
	u, _ := q.find(from.ID, key)
	switch {
	case op.Offset == 0:
		var err error
		switch max := n.MaxDataFileBytes(); {
		case op.Size < 0 || len(op.SHA256) != sha256.Size*2:
			err = mesh.Errorf(mesh.EInvalid, "A file sent in chunks needs its size and SHA-256.")
		case op.Size > max:
			err = mesh.Errorf(mesh.ETooLarge, "A room file is at most %d bytes; this one is %d.", max, op.Size)
		default:
			err = n.CheckDataWrite(actor, id) // before taking the rest
		}
		if err != nil {
			return f.refuseUpload(from, actor, id, b, err)
		}
		u = &upload{key: key, path: op.Path, size: op.Size, sha: op.SHA256, buf: make([]byte, 0, op.Size)}
		q.keep(from.ID, u)
	case u == nil || op.Offset != int64(len(u.buf)) || op.Size != u.size || op.SHA256 != u.sha || op.Path != u.path:
		return f.refuseUpload(from, actor, id, b, mesh.Errorf(mesh.EUnavailable,
			"File %q reached node %s incomplete (a part was lost: the node restarted, or had too many files coming): nothing was written; write it again.", op.Path, n.info.ID))
	}
	if op.Offset+int64(len(op.Data)) > u.size {
		return f.refuseUpload(from, actor, id, b, mesh.Errorf(mesh.EInvalid, "File %q has more bytes than its size %d.", op.Path, u.size))
	}
	u.buf = append(u.buf, op.Data...)
	if !lastChunk(op) {
		return nil
	}
	q.drop(from.ID, key)
	if sum := sha256.Sum256(u.buf); hex.EncodeToString(sum[:]) != u.sha {
		return f.refuseUpload(from, actor, id, b, mesh.Errorf(mesh.EInvalid, "File %q does not match its SHA-256 %s: nothing was written; write it again.", u.path, u.sha))
	}
	info, err := n.DataPut(actor, id, u.path, u.buf)
	return opReply(b, &mesh.FedOp{Name: op.Name, File: &info}, err)
}

// refusedChunk reports whether b is a chunk of a file refused already
// (its request was answered then); the last one forgets the file.
func (f *fed) refusedChunk(node string, b *mesh.FedBody) bool {
	key := node + " " + b.Ref
	if _, refused := f.opq.find(node, key); !refused {
		return false
	}
	if lastChunk(b.Op) {
		f.opq.drop(node, key)
	}
	return true
}

// refuseUpload audits a file refused before the room's rules saw it whole
// (the message names the file) and answers its request with err, once:
// unless this is its last chunk, the chunks still to come are dropped.
func (f *fed) refuseUpload(from federation.Peer, actor mesh.Participant, id mesh.RoomID, b *mesh.FedBody, err error) *mesh.FedBody {
	f.n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "data-write", Room: id, Remote: "node:" + from.ID}, err))
	key := from.ID + " " + b.Ref
	if b.Op == nil || lastChunk(b.Op) {
		f.opq.drop(from.ID, key)
	} else {
		f.opq.refuse(from.ID, key)
	}
	return opReply(b, nil, err)
}

// onLossyRequest hands a read to the ops goroutine (it must not block
// the read goroutine); a write that came lossy is refused.
func (f *fed) onLossyRequest(from federation.Peer, b *mesh.FedBody) {
	switch {
	case b.Op == nil:
		f.c.SendLossy(from.ID, "reply "+b.Ref, opReply(b, nil, mesh.Errorf(mesh.EInvalid, "A request needs participant, op and ref.")))
		return
	case b.Op.Writes():
		f.c.SendLossy(from.ID, "reply "+b.Ref, opReply(b, nil, mesh.Errorf(mesh.EInvalid, "Operation %q must come queued, or is unknown.", b.Op.Name)))
		return
	}
	select {
	case f.opq.q <- opJob{from, b}:
	default:
		f.c.SendLossy(from.ID, "reply "+b.Ref, opReply(b, nil, mesh.Errorf(mesh.EUnavailable, "Node %s is busy with other reads: try again.", f.n.info.ID)))
	}
}

// runRead runs a read and sends its answer, in chunks.
func (f *fed) runRead(from federation.Peer, b *mesh.FedBody) {
	n := f.n
	actor, id, err := f.opActor(from, b, "data-read")
	var payload []byte
	op := &mesh.FedOp{}
	if err == nil {
		op.Name = b.Op.Name
		switch b.Op.Name {
		case mesh.OpDataGet:
			var info mesh.FileInfo
			if payload, info, err = n.DataGet(actor, id, b.Op.Path); err == nil {
				op.File = &info
			}
		case mesh.OpDataList:
			var files []mesh.FileInfo
			if files, err = n.DataList(actor, id, b.Op.Path); err == nil {
				if files == nil {
					files = []mesh.FileInfo{}
				}
				payload, err = json.Marshal(files)
			}
		}
	}
	if err != nil {
		f.c.SendLossy(from.ID, "reply "+b.Ref, opReply(b, nil, err))
		return
	}
	base := mesh.FedBody{Kind: mesh.FedReply, Room: b.Room, Ref: b.Ref}
	for _, c := range chunkBodies(base, *op, payload, f.chunkBytes()) {
		f.c.SendLossy(from.ID, "reply "+b.Ref+" "+strconv.FormatInt(c.Op.Offset, 10), c)
	}
}
