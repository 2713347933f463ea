package node

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
)

// A bridge's goroutine reads its source room's log after its cursor, in
// seq order, and carries each chat message that did not itself come over
// a bridge. Before each one it checks every rule of mayBridge: while one
// fails the bridge is suspended and what comes meanwhile is passed over,
// never carried later. The cursor is saved after each page read; a crash
// between a carry and that save is mended by the carried messages' ids
// (mesh.BridgedMessageID): a room of this node is searched for them from
// its tail on start (lastCarried), a remote room's home drops a repeat.

// bridgePage is how many source entries a bridge reads at a time.
const bridgePage = 64

// Waits between tries of a message the target could not take yet (rate
// limit, storage or federation unavailable).
const (
	bridgeRetryMin = 100 * time.Millisecond
	bridgeRetryMax = 5 * time.Second
)

// recoverySlack is how much older than the last saved cursor a carried
// message may be stamped (clock steps) and still be searched for.
const recoverySlack = time.Minute

// maxRecoveryScan bounds the target entries searched on start.
const maxRecoveryScan = 100_000

func (n *Node) runBridge(ctx context.Context, run *bridgeRun) {
	rec := n.bridgeRecord(run)
	if !rec.To.Remote() {
		if seq := n.lastCarried(rec); seq > rec.Cursor {
			n.saveCursor(run, seq)
		}
	}
	retry := bridgeRetryMin
	for {
		rec = n.bridgeRecord(run)
		hr, err := n.HubRoom(rec.From)
		var entries []mesh.Entry
		if err == nil {
			changed := hr.Changed() // before the read: nothing is missed between
			entries, err = n.store.Read(rec.From, rec.Cursor, bridgePage)
			if err == nil && len(entries) == 0 {
				select {
				case <-ctx.Done():
					return
				case <-changed:
				case <-run.wake:
					n.setBridgeState(run, n.mayBridge(rec.By, rec.From, rec.To))
				}
				continue
			}
		}
		if err != nil {
			n.log.Error("bridge: read the source room", "bridge", rec.ID, "room", rec.From, "err", err)
			if !sleep(ctx, retry) {
				return
			}
			retry = min(2*retry, bridgeRetryMax)
			continue
		}
		retry = bridgeRetryMin
		for _, e := range entries {
			if !n.bridgeEntry(ctx, run, rec, e) {
				return
			}
			rec.Cursor = e.Seq
		}
		n.saveCursor(run, rec.Cursor)
	}
}

// bridgeEntry carries one source entry if it should; it returns false
// when ctx ended before it was done with it.
func (n *Node) bridgeEntry(ctx context.Context, run *bridgeRun, rec bridgeRecord, e mesh.Entry) bool {
	var m mesh.Message
	if err := json.Unmarshal(e.Line, &m); err != nil {
		n.log.Error("bridge: decode a source message", "bridge", rec.ID, "seq", e.Seq, "err", err)
		return true
	}
	if m.Kind != mesh.MessageChat || m.Bridged != nil || m.Body.Text == "" {
		return true // only chat, and nothing twice over bridges (no loops)
	}
	m.Seq = e.Seq
	retry := bridgeRetryMin
	for {
		check := n.mayBridge(rec.By, rec.From, rec.To)
		n.setBridgeState(run, check)
		if check != nil {
			return true // suspended: it must not leave
		}
		err := n.carry(rec, &m)
		switch code := mesh.ErrorCode(err); {
		case err == nil:
			return true
		case code == mesh.ERateLimited || code == mesh.EUnavailable || code == mesh.EInternal:
			if !sleep(ctx, retry) {
				return false
			}
			retry = min(2*retry, bridgeRetryMax)
		case code == mesh.EForbidden && n.mayBridge(rec.By, rec.From, rec.To) != nil:
			// The rules changed between the check and the carry: suspend.
		default:
			n.bridgedBlocked(rec, &m, err)
			return true
		}
	}
}

// bridgedBlocked audits a message the target refused: the bridge goes on.
func (n *Node) bridgedBlocked(rec bridgeRecord, m *mesh.Message, err error) {
	n.Audit.Record(audit.Record{Actor: rec.By, Action: "bridged-blocked", Room: rec.To, Outcome: audit.Refused,
		Code: mesh.ErrorCode(err), Detail: map[string]any{"bridge": rec.ID, "from": rec.From, "id": m.ID, "seq": m.Seq,
			"message": mesh.ErrorMessage(err)}})
}

// carry posts m, a chat message of rec's source, in rec's target, as
// rec's creator, and returns once it is stored (a room of this node) or
// durably queued for the room's home.
func (n *Node) carry(rec bridgeRecord, m *mesh.Message) error {
	by, ok := n.Participant(rec.By)
	if !ok {
		return mesh.Errorf(mesh.EForbidden, "Participant %s does not exist.", rec.By)
	}
	id := mesh.BridgedMessageID(rec.ID, m.Seq)
	done := make(chan error, 1)
	if rec.To.Remote() {
		self := n.info.ID
		from := m.From
		if from.Node == "" {
			from.Node = self
		}
		from.ID = mesh.Qualify(from.ID, from.Node)
		b := &mesh.Bridged{Room: mesh.RemoteRoom(rec.From, self), ID: m.ID, Seq: m.Seq, From: from, Trust: m.Trust}
		refused := func(err error) { n.bridgedBlocked(rec, m, err) }
		n.PostRemote(by, RemotePost{Room: rec.To, Kind: mesh.MessageChat, Text: m.Body.Text, ID: id, Bridged: b}, refused,
			func(_ mesh.Message, err error) { done <- err })
		return <-done
	}
	b := &mesh.Bridged{Room: rec.From, ID: m.ID, Seq: m.Seq, From: m.From, Trust: m.Trust}
	out, err := n.chat(by, Post{Room: rec.To, Text: m.Body.Text, ID: id, Bridged: b})
	if err != nil {
		return err
	}
	n.append(by, "bridged", out, nil, "", func(_ mesh.Message, err error) { done <- err })
	return <-done
}

// lastCarried returns the highest source seq rec carried into its target
// (a room of this node), as the target's log tells from its tail back to
// messages older than rec's last saved cursor; 0 if it finds none.
func (n *Node) lastCarried(rec bridgeRecord) uint64 {
	head, err := n.store.Head(rec.To)
	if err != nil {
		return 0
	}
	prefix := strings.TrimSuffix(mesh.BridgedMessageID(rec.ID, 1), "1")
	oldest := rec.SavedAt.Add(-recoverySlack)
	for end, scanned := head.Seq, 0; end > 0 && scanned < maxRecoveryScan; {
		after := end - min(end, 256)
		entries, err := n.store.Read(rec.To, after, int(end-after))
		if err != nil || len(entries) == 0 {
			return 0
		}
		for i := len(entries) - 1; i >= 0; i-- {
			var m struct {
				ID      string        `json:"id"`
				TS      time.Time     `json:"ts"`
				Bridged *mesh.Bridged `json:"bridged"`
			}
			if json.Unmarshal(entries[i].Line, &m) != nil {
				continue
			}
			if strings.HasPrefix(m.ID, prefix) && m.Bridged != nil {
				return m.Bridged.Seq
			}
			if m.TS.Before(oldest) {
				return 0
			}
		}
		scanned += len(entries)
		end = after
	}
	return 0
}

func (n *Node) bridgeRecord(run *bridgeRun) bridgeRecord {
	n.bridges.mu.Lock()
	defer n.bridges.mu.Unlock()
	return run.rec
}

// saveCursor records that run dealt with its source up to seq.
func (n *Node) saveCursor(run *bridgeRun, seq uint64) {
	bs := n.bridges
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if run.rec.Cursor == seq || bs.runs[run.rec.ID] != run {
		return
	}
	run.rec.Cursor, run.rec.SavedAt = seq, n.now().UTC()
	if err := bs.saveLocked(); err != nil {
		n.log.Error("bridge: save the cursor", "bridge", run.rec.ID, "err", err)
	}
}

// setBridgeState suspends run with check's reason, or resumes it when
// check is nil; a change is saved and audited once.
func (n *Node) setBridgeState(run *bridgeRun, check error) {
	state, reason := mesh.BridgeActive, ""
	if check != nil {
		state, reason = mesh.BridgeSuspended, mesh.ErrorMessage(check)
	}
	bs := n.bridges
	bs.mu.Lock()
	if run.rec.State == state && run.rec.Reason == reason || bs.runs[run.rec.ID] != run {
		bs.mu.Unlock()
		return
	}
	run.rec.State, run.rec.Reason = state, reason
	rec := run.rec
	if err := bs.saveLocked(); err != nil {
		n.log.Error("bridge: save its state", "bridge", rec.ID, "err", err)
	}
	bs.mu.Unlock()
	action := "bridge-resume"
	if state == mesh.BridgeSuspended {
		action = "bridge-suspend"
	}
	n.Audit.Record(audit.Record{Actor: rec.By, Action: action, Room: rec.From, Outcome: audit.OK,
		Detail: map[string]any{"id": rec.ID, "to": rec.To, "reason": reason}})
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// viewBridged returns b, written by node writer, as node viewer names
// rooms and participants: room@node and id@node for another node's.
func viewBridged(b mesh.Bridged, writer, viewer string) *mesh.Bridged {
	if !b.Room.Remote() {
		b.Room = mesh.RemoteRoom(b.Room, writer)
	}
	if r, node, _ := b.Room.Split(); node == viewer {
		b.Room = r
	}
	node := b.From.Node
	if node == "" {
		node = writer
	}
	b.From.ID = mesh.ViewParticipant(mesh.Qualify(b.From.ID, node), writer, viewer)
	return &b
}
