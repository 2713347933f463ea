package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
	"github.com/the-mesh/mesh/internal/guard"
)

// Sending in an E2E room: each message is sealed under this device's chain
// for the room's current epoch. The first message of an epoch first posts
// a keys entry (the chain key wrapped to every roster device) and keeps the
// chain in the key store; a conflict (the epoch moved on) re-keys and
// resends.

// ownChain is this device's sender chain in one epoch of a room.
type ownChain struct {
	mu    sync.Mutex // guards the fields below
	rec   ChainRecord
	chain *e2e.Chain
	n     uint64 // the next counter
}

// resumeChain continues a chain from its record: counters below rec.Next
// may have been used before, so it starts there.
func resumeChain(rec ChainRecord) (*ownChain, error) {
	ch := e2e.NewChain(rec.CK0)
	for n := uint64(1); n < rec.Next; n++ {
		if _, _, err := ch.Next(); err != nil {
			return nil, err
		}
	}
	return &ownChain{rec: rec, chain: ch, n: max(rec.Next, 1)}, nil
}

// next returns the next counter and its message key, first saving a
// reservation of counters in the key store when the last one is used up,
// so that no counter is ever used twice, even across a crash.
func (oc *ownChain) next(k *keyring) (uint64, []byte, error) {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if oc.n >= oc.rec.Next {
		rec := oc.rec
		rec.Next = oc.n + chainReserve
		if err := k.saveChain(rec); err != nil {
			return 0, nil, err
		}
		oc.rec = rec
	}
	n, mk, err := oc.chain.Next()
	oc.n = n + 1
	return n, mk, err
}

// postSealed posts one sealed body with ref and waits for the node's ack.
// The say frame's ref is the ack's correlation id, as in every frame, and
// for kind encrypted also the stored envelope's ref, which the message's
// signature binds: the command's id for a result, else the client's
// correlation id.
//
// In a room of another node it waits for the stored copy, or the home's
// refusal (federated.go).
func (c *Client) postSealed(ctx context.Context, room mesh.RoomID, s *mesh.Sealed, to mesh.ParticipantID, ref string) (Ack, error) {
	var sw *storedWait
	if room.Remote() {
		var stop func()
		sw, stop = c.awaitStored(ref)
		defer stop()
	}
	r, err := c.callRef(ctx, room, ref, func(ref string) any {
		return mesh.Say{Type: mesh.FrameSay, Room: room, Kind: mesh.MessageEncrypted, Body: &mesh.SealedBody{E2E: s}, To: to, Ref: ref}
	})
	if err == nil && sw != nil && r.Seq == 0 {
		r, err = waitStored(ctx, sw)
	}
	if err != nil {
		return Ack{}, err
	}
	return Ack{Room: room, ID: r.ID, Seq: r.Seq}, nil
}

// sendSealed seals p for E2E room er, addressed to to, with ref (the
// command's id for a result; "": a fresh correlation id) and posts it. On
// conflict (the room's epoch moved on) it reads the new roster, re-keys and
// sends again, at most maxRekeys times.
func (c *Client) sendSealed(ctx context.Context, room mesh.RoomID, er *e2eRoom, p e2e.Plain, to mesh.ParticipantID, ref string) (Ack, error) {
	if err := er.wait(ctx); err != nil {
		return Ack{}, err
	}
	id, err := c.keys.identity()
	if err != nil {
		return Ack{}, err
	}
	if ref == "" {
		ref = c.newRef()
	}
	var last error
	for attempt := 0; attempt <= maxRekeys; attempt++ {
		if attempt > 0 {
			if err := c.refreshRoster(ctx, room, er); err != nil {
				return Ack{}, err
			}
			c.e2eStats.rekeys.Add(1)
			c.log.Info("mesh: the room's epoch moved on; re-keying", "room", room, "attempt", attempt)
		}
		oc, err := c.chainFor(ctx, room, er, id)
		if mesh.ErrorCode(err) == mesh.EConflict {
			last = err
			continue
		}
		if err != nil {
			return Ack{}, err
		}
		n, mk, err := oc.next(c.keys)
		if err != nil {
			return Ack{}, err
		}
		env := e2e.Envelope{Room: oc.rec.Room, To: c.homeTo(oc.rec.Room, to), Ref: ref}
		s, err := e2e.Seal(id, env, oc.rec.Epoch, oc.rec.Keys, n, mk, p, nil)
		if err != nil {
			return Ack{}, err
		}
		if c.beforePost != nil {
			c.beforePost(attempt)
		}
		ack, err := c.postSealed(ctx, room, s, to, ref)
		if mesh.ErrorCode(err) == mesh.EConflict {
			last = err
			continue
		}
		return ack, err
	}
	return Ack{}, fmt.Errorf("agent: room %s: the epoch changed under %d re-keys in a row: %w", room, maxRekeys, last)
}

// chainFor returns this device's chain for the room's current epoch,
// waiting for the device to be in the roster, and posting a keys entry
// when the epoch has no chain yet. A refusal of the keys entry is
// returned as is (conflict: the epoch moved on).
func (c *Client) chainFor(ctx context.Context, room mesh.RoomID, er *e2eRoom, id *e2e.Identity) (*ownChain, error) {
	select {
	case er.keying <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-er.keying }()
	r, err := c.rosterWithMe(ctx, room, er, id.ID())
	if err != nil {
		return nil, err
	}
	if oc := er.chain; oc != nil && oc.rec.Room == r.Room && oc.rec.Epoch == r.Epoch {
		return oc, nil
	}
	if rec, ok := c.keys.chain(r.Room, r.Epoch); ok { // from an earlier run
		oc, err := resumeChain(rec)
		if err != nil {
			return nil, err
		}
		er.chain = oc
		return oc, nil
	}
	s, ck0, err := e2e.SealKeys(id, r.Room, r.Epoch, r.Devices, nil)
	if err != nil {
		return nil, err
	}
	ack, err := c.postSealed(ctx, room, s, "", c.newRef())
	if err != nil {
		return nil, err
	}
	// Saved, with the first counters reserved, before the first message.
	rec := ChainRecord{Room: r.Room, Epoch: r.Epoch, Keys: ack.Seq, CK0: ck0, Next: 1 + chainReserve}
	if err := c.keys.saveChain(rec); err != nil {
		return nil, err
	}
	er.learnOwnKeys(ack.Seq, s, ck0)
	er.chain = &ownChain{rec: rec, chain: e2e.NewChain(ck0), n: 1}
	return er.chain, nil
}

// rosterWithMe returns the room's current roster once it holds device me:
// a device just registered enters with the node's next epoch event. After
// rosterWait it asks the node once, then gives up.
func (c *Client) rosterWithMe(ctx context.Context, room mesh.RoomID, er *e2eRoom, me string) (mesh.Roster, error) {
	has := func(r mesh.Roster) bool {
		return slices.ContainsFunc(r.Devices, func(d mesh.Device) bool { return d.ID == me })
	}
	r, changed := er.current()
	if has(r) {
		return r, nil
	}
	ctx, cancel := context.WithTimeout(ctx, rosterWait)
	defer cancel()
	for {
		select {
		case <-changed:
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded { // ours, not the caller's
				rctx, rcancel := context.WithTimeout(c.ctx, restTimeout)
				err := c.refreshRoster(rctx, room, er)
				rcancel()
				if r, _ := er.current(); err == nil && has(r) {
					return r, nil
				}
				return mesh.Roster{}, fmt.Errorf("agent: room %s: this device (%s) is not in the roster of epoch %d after %v: "+
					"the node adds the devices of members that hold listen", room, me, r.Epoch, rosterWait)
			}
			return mesh.Roster{}, ctx.Err()
		}
		if r, changed = er.current(); has(r) {
			return r, nil
		}
	}
}

// sealText checks a chat text or a result output as the node checks a
// plain one (line ends, Sanitize) before it is sealed.
func sealText(s string) (string, error) {
	return guard.Sanitize(strings.ReplaceAll(s, "\r\n", "\n"))
}
