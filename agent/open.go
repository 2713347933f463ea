package agent

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
	"github.com/the-mesh/mesh/internal/guard"
)

// Receiving in an E2E room: every message of the stream, the history and
// resumes goes through openIn, which learns rosters and keys entries, opens
// sealed messages and applies the room's scan policy, as the node would
// for a plain room. Nothing here logs a plaintext.

// scanner is the injection scanner the client applies to opened text. It
// is built on first use (it parses the embedded model) and immutable.
var scanner = sync.OnceValue(guard.New)

// Bounds of the receiving ratchet. Messages of one chain arrive out of
// counter order when their sender has several in flight, so the keys
// passed over are kept (up to maxSkipped per chain, each used once), and
// the chain key at every markEvery-th counter, so that reaching any
// earlier message costs at most markEvery steps.
const (
	maxStep    = 1 << 20 // steps ahead of the cursor: a message further on is corrupt
	maxSkipped = 1024
	markEvery  = 256
)

// keysEntry is a keys entry of an E2E room as this device reads it.
type keysEntry struct {
	device string
	epoch  uint64
	sigErr error  // its sender is not in the roster, or its signature fails
	ck0    []byte // the chain key wrapped to this device
	keyErr error  // no wrap for this device (ErrNoKey), or it does not open

	// The ratchet as read so far; guarded by e2eRoom.mu.
	cur     *e2e.Chain        // the cursor: the next counter and its chain key
	skipped map[uint64][]byte // message keys the cursor passed over, not used yet
	marks   map[uint64][]byte // chain keys at counters 1, 1+markEvery, ...
}

func (er *e2eRoom) putKeys(seq uint64, ke *keysEntry) {
	er.mu.Lock()
	defer er.mu.Unlock()
	er.keys[seq] = ke
	for len(er.keys) > keptKeys {
		delete(er.keys, minKey(er.keys))
	}
}

func (er *e2eRoom) keysAt(seq uint64) *keysEntry {
	er.mu.Lock()
	defer er.mu.Unlock()
	return er.keys[seq]
}

// learnOwnKeys keeps a keys entry this client posted, so that its own
// messages open without reading the entry back.
func (er *e2eRoom) learnOwnKeys(seq uint64, s *mesh.Sealed, ck0 []byte) {
	er.putKeys(seq, &keysEntry{device: s.Device, epoch: s.Epoch, ck0: ck0})
}

// messageKey derives message n's key from ke's chain: a key passed over
// before, else from the nearest mark behind the cursor, else by moving the
// cursor on.
func (er *e2eRoom) messageKey(ke *keysEntry, n uint64) ([]byte, error) {
	er.mu.Lock()
	defer er.mu.Unlock()
	if mk, ok := ke.skipped[n]; ok {
		delete(ke.skipped, n)
		return mk, nil
	}
	if ke.cur == nil {
		ke.cur = e2e.NewChain(ke.ck0)
		ke.skipped, ke.marks = map[uint64][]byte{}, map[uint64][]byte{}
	}
	if _, at := ke.cur.State(); n < at { // behind the cursor
		base := (n-1)/markEvery*markEvery + 1
		ck, ok := ke.marks[base]
		if !ok {
			ck, base = ke.ck0, 1
		}
		c := e2e.ResumeChain(ck, base)
		for {
			k, mk, err := c.Next()
			if err != nil || k == n {
				return mk, err
			}
		}
	} else if n-at > maxStep {
		return nil, fmt.Errorf("%w: counter %d is too far ahead in the chain", e2e.ErrCorrupt, n)
	}
	for {
		if ck, at := ke.cur.State(); (at-1)%markEvery == 0 {
			ke.marks[at] = ck
		}
		k, mk, err := ke.cur.Next()
		if err != nil || k == n {
			return mk, err
		}
		if len(ke.skipped) < maxSkipped {
			ke.skipped[k] = mk
		}
	}
}

// openIn reads m, a message of E2E room er whose setup is over. open
// false skips opening sealed messages (the client's own, which it does not
// deliver). It reports false for what the application does not get: keys
// entries, and messages the room's scan policy blocks.
func (c *Client) openIn(ctx context.Context, er *e2eRoom, m mesh.Message, open bool) (Message, bool) {
	msg := Message{Message: m}
	switch m.Kind {
	case mesh.MessageEvent:
		switch ev := m.Body.Event; {
		case ev == nil:
		case ev.Type == mesh.EventE2EEpoch && ev.E2E != nil:
			r := *ev.E2E
			r.Seq = m.Seq
			er.addRoster(r)
		case ev.Type == mesh.EventPolicy && er.err == nil:
			ctx, cancel := context.WithTimeout(ctx, restTimeout)
			if err := c.refreshPolicy(ctx, m.Room, er); err != nil {
				c.log.Warn("mesh: could not read the room's new policy; keeping the old one", "room", m.Room, "err", err)
			}
			cancel()
		}
		return msg, true
	case mesh.MessageEncrypted:
	default:
		return msg, true // the node refuses plain posts in an E2E room
	}
	s := m.Body.E2E
	if er.err != nil || s == nil || e2e.CheckShape(s, 1<<30) != nil {
		err := fmt.Errorf("%w: not a sealed body", e2e.ErrCorrupt)
		if er.err != nil {
			err = fmt.Errorf("%w: %v", e2e.ErrNoKey, er.err)
		} else if s != nil && s.Type == mesh.SealedKeys {
			return msg, false
		}
		return c.undecryptable(er, msg, err), true
	}
	if s.Type == mesh.SealedKeys {
		c.e2eStats.keys.Add(1)
		ke := c.readKeys(er, m)
		c.log.Debug("mesh: keys entry", "room", m.Room, "seq", m.Seq, "device", s.Device, "epoch", s.Epoch,
			"for_me", ke.sigErr == nil && ke.keyErr == nil)
		return msg, false
	}
	if !open {
		return msg, true
	}
	p, err := c.openMsg(ctx, er, m)
	if err != nil {
		return c.undecryptable(er, msg, err), true
	}
	switch p.Kind {
	case mesh.MessageChat:
		p.Body.Text, err = sealText(p.Body.Text)
	case mesh.MessageResult:
		p.Body.Output, err = sealText(p.Body.Output)
	}
	if err != nil {
		return c.undecryptable(er, msg, fmt.Errorf("%w: the text: %s", e2e.ErrCorrupt, mesh.ErrorMessage(err))), true
	}
	c.e2eStats.opened.Add(1)
	msg.Kind, msg.Body, msg.E2E = p.Kind, p.Body, true
	return msg, c.scanOpened(er, &msg)
}

// undecryptable marks msg as not opened, for reason err.
func (c *Client) undecryptable(er *e2eRoom, msg Message, err error) Message {
	msg.Undecryptable = e2e.Reason(err)
	c.e2eStats.undecryptable.Add(1)
	er.mu.Lock()
	first := !er.undec
	er.undec = true
	er.mu.Unlock()
	level := c.log.Debug
	if first {
		level = c.log.Warn // once per room, then at debug level
	}
	hint := ""
	if msg.Undecryptable == "no_key" {
		hint = "this device needs re-key: it was not in the room's roster when the message was sent"
	}
	level("mesh: cannot open a message", "room", msg.Room, "seq", msg.Seq, "from", msg.From.ID,
		"reason", msg.Undecryptable, "err", err, "hint", hint)
	return msg
}

// readKeys checks a keys entry (its sender in the roster, its signature)
// and unwraps the chain key it holds for this device, and keeps it.
func (c *Client) readKeys(er *e2eRoom, m mesh.Message) *keysEntry {
	s := m.Body.E2E
	ke := &keysEntry{device: s.Device, epoch: s.Epoch}
	dev, err := er.sender(s.Epoch, s.Device, m.From.ID)
	home := er.homeAddress()
	if err == nil {
		err = e2e.Verify(s, e2e.Envelope{Room: home}, dev.Sign)
	}
	ke.sigErr = err
	if err == nil {
		id, err := c.keys.identity()
		if err == nil {
			ke.ck0, ke.keyErr = e2e.OpenKeys(id, home, s)
		} else {
			ke.keyErr = fmt.Errorf("%w: %v", e2e.ErrNoKey, err)
		}
	}
	er.putKeys(m.Seq, ke)
	return ke
}

// openMsg opens a sealed message, checking in the contract's order: the
// sender device in the epoch's roster and from's, the keys entry's
// signature, the message's, the unwrap, the AEAD.
func (c *Client) openMsg(ctx context.Context, er *e2eRoom, m mesh.Message) (e2e.Plain, error) {
	s := m.Body.E2E
	dev, err := er.sender(s.Epoch, s.Device, m.From.ID)
	if err != nil {
		return e2e.Plain{}, err
	}
	ke := er.keysAt(s.Keys)
	if ke == nil {
		if ke, err = c.fetchKeys(ctx, er, m.Room, s.Keys); err != nil {
			return e2e.Plain{}, err
		}
	}
	if ke.device != s.Device || ke.epoch != s.Epoch {
		return e2e.Plain{}, fmt.Errorf("%w: seq %d is not the keys entry of device %s in epoch %d", e2e.ErrCorrupt, s.Keys, s.Device, s.Epoch)
	}
	if ke.sigErr != nil {
		return e2e.Plain{}, ke.sigErr
	}
	home := er.homeAddress()
	env := e2e.Envelope{Room: home, To: c.homeTo(home, m.To), Ref: m.Ref}
	if err := e2e.Verify(s, env, dev.Sign); err != nil {
		return e2e.Plain{}, err
	}
	if ke.keyErr != nil {
		return e2e.Plain{}, ke.keyErr
	}
	mk, err := er.messageKey(ke, s.N)
	if err != nil {
		return e2e.Plain{}, err
	}
	return e2e.Open(s, env, mk)
}

// fetchKeys reads the keys entry at seq over REST (GET .../messages?
// after=seq-1&limit=1), for a message whose entry the client has not seen.
func (c *Client) fetchKeys(ctx context.Context, er *e2eRoom, room mesh.RoomID, seq uint64) (*keysEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, restTimeout)
	defer cancel()
	var out struct {
		Messages []mesh.Message `json:"messages"`
	}
	path := roomPath(room, "/messages?after="+strconv.FormatUint(seq-1, 10)+"&limit=1")
	if err := doREST(ctx, c.hc, c.base, "GET", path, c.cfg.Token, nil, &out); err != nil {
		return nil, fmt.Errorf("%w: the keys entry at seq %d could not be read: %v", e2e.ErrNoKey, seq, err)
	}
	if len(out.Messages) == 0 || out.Messages[0].Seq != seq {
		return nil, fmt.Errorf("%w: the room has no message at seq %d", e2e.ErrNoKey, seq)
	}
	k := out.Messages[0]
	if s := k.Body.E2E; k.Kind != mesh.MessageEncrypted || s == nil || s.Type != mesh.SealedKeys || e2e.CheckShape(s, 1<<30) != nil {
		return nil, fmt.Errorf("%w: seq %d is not a keys entry", e2e.ErrCorrupt, seq)
	}
	return c.readKeys(er, k), nil
}

// scanOpened applies the room's scan policy for msg's trust to its text,
// as the node does for a plain room: flag marks it (the node's flag
// strings, trust untrusted); block drops it (false), logged without the
// text. Commands are not scanned (nor are they by the node).
func (c *Client) scanOpened(er *e2eRoom, msg *Message) bool {
	var text string
	switch msg.Kind {
	case mesh.MessageChat:
		text = msg.Body.Text
	case mesh.MessageResult:
		text = msg.Body.Output
	default:
		return true
	}
	mode := er.scanMode(msg.Trust)
	if mode != "flag" && mode != "block" {
		return true
	}
	res := scanner().Scan(text)
	if !res.Injection {
		return true
	}
	if mode == "block" {
		c.e2eStats.blocked.Add(1)
		c.log.Warn("mesh: dropped an end-to-end encrypted message the room's scan policy blocks",
			"room", msg.Room, "seq", msg.Seq, "id", msg.ID, "from", msg.From.ID, "trust", msg.Trust,
			"findings", strings.Join(res.Findings, ","))
		return false
	}
	flags := []string{mesh.FlagInjection}
	if len(res.Findings) > 0 {
		flags = flags[:0]
		for _, f := range res.Findings {
			flags = append(flags, mesh.FlagInjection+":"+f)
		}
	}
	msg.Trust, msg.Flags = mesh.TrustUntrusted, append(msg.Flags, flags...)
	return true
}
