package node

import (
	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/internal/audit"
	"github.com/the-mesh/mesh/internal/governance"
	"github.com/the-mesh/mesh/internal/roomdata"
)

// A room's shared files: members holding data-read read them; members
// holding data-write whose trust is in data.ingress write them. Every
// write and delete is audited and told to the room as an event. An
// end-to-end encrypted room has none: files are stored as they come, so
// they are refused there (v1). The files of a room of another node are
// its home's: these calls go there (federation_ops.go).

// dataAccess checks membership and one of the data rules.
func (n *Node) dataAccess(actor mesh.Participant, id mesh.RoomID, rule func(governance.Subject, governance.Room) error) error {
	s, r, _, err := n.govern(actor.ID, id)
	if err != nil {
		return err
	}
	if !n.IsMember(id, actor.ID) {
		return mesh.Errorf(mesh.EForbidden, "You are not a member of room %q: join it first.", id)
	}
	if r.Policy.E2E {
		return mesh.Errorf(mesh.EInvalid, "Room %q is end-to-end encrypted, and room data is not end-to-end encrypted in v1: its /data files are refused.", id)
	}
	return rule(s, r)
}

// DataGet returns a file of room id. Errors: ENotFound, EForbidden,
// EInvalid, EConflict (a directory).
func (n *Node) DataGet(actor mesh.Participant, id mesh.RoomID, path string) ([]byte, roomdata.Info, error) {
	if id.Remote() {
		return n.dataGetRemote(actor, id, path)
	}
	if err := n.dataAccess(actor, id, governance.MayReadData); err != nil {
		n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "data-read", Room: id, Detail: path}, err))
		return nil, roomdata.Info{}, err
	}
	return n.data.Get(id, path)
}

// DataList lists the files of room id under prefix ("" for all).
func (n *Node) DataList(actor mesh.Participant, id mesh.RoomID, prefix string) ([]roomdata.Info, error) {
	if id.Remote() {
		return n.dataListRemote(actor, id, prefix)
	}
	if err := n.dataAccess(actor, id, governance.MayReadData); err != nil {
		n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "data-read", Room: id, Detail: prefix}, err))
		return nil, err
	}
	return n.data.List(id, prefix)
}

// DataPut writes a file of room id atomically.
// Errors: ENotFound, EForbidden, EInvalid, ETooLarge, EConflict.
func (n *Node) DataPut(actor mesh.Participant, id mesh.RoomID, path string, data []byte) (roomdata.Info, error) {
	if id.Remote() {
		return n.dataPutRemote(actor, id, path, data)
	}
	err := n.dataAccess(actor, id, governance.MayWriteData)
	var info roomdata.Info
	if err == nil {
		info, err = n.data.Put(id, path, data)
	}
	n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "data-write", Room: id,
		Detail: map[string]any{"path": path, "size": len(data), "sha256": info.SHA256}}, err))
	if err == nil {
		n.event(actor, id, mesh.Event{Type: mesh.EventDataPut, Path: info.Path, Size: info.Size, SHA256: info.SHA256, By: actor.ID})
	}
	return info, err
}

// DataDelete removes a file of room id. Errors as DataPut.
func (n *Node) DataDelete(actor mesh.Participant, id mesh.RoomID, path string) error {
	if id.Remote() {
		return n.dataDeleteRemote(actor, id, path)
	}
	err := n.dataAccess(actor, id, governance.MayWriteData)
	if err == nil {
		err = n.data.Delete(id, path)
	}
	n.Audit.Record(outcome(audit.Record{Actor: actor.ID, Action: "data-delete", Room: id, Detail: map[string]any{"path": path}}, err))
	if err == nil {
		n.event(actor, id, mesh.Event{Type: mesh.EventDataDelete, Path: path, By: actor.ID})
	}
	return err
}

// MaxDataFileBytes is the largest room file the node accepts.
func (n *Node) MaxDataFileBytes() int64 { return n.data.Limits().MaxFileBytes }

// CheckDataWrite reports whether actor may write room id's files, so a
// caller can refuse before reading a body. For a room of another node it
// checks what this node knows (a member); its home decides the rest.
func (n *Node) CheckDataWrite(actor mesh.Participant, id mesh.RoomID) error {
	if id.Remote() {
		_, _, err := n.checkRemoteOp(actor, id)
		return err
	}
	return n.dataAccess(actor, id, governance.MayWriteData)
}
