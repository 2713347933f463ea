package agent

import (
	"context"
	"net/http"
	"net/url"

	"github.com/the-mesh/mesh"
)

// Bridges (PROTOCOL.md, "Bridges"): a bridge copies a room's new chat
// messages into another room, one way. It runs on the home of its source,
// so the source is a room of the node the client talks to; the target is
// a room of that node or an address room@node. A message a bridge carried
// arrives with Message.Bridged naming its original. Refusals are
// *mesh.Error with the node's code and message: forbidden without the
// bridge capability in the source or the target, invalid for an end-to-end
// encrypted room or a policy whose data.egress is not "allow", conflict
// for a second bridge between the same rooms.

// CreateBridge makes a bridge from the room from to the room to (an id or
// an address room@node) and returns it; it carries what from gets after it.
func (c *Client) CreateBridge(ctx context.Context, from, to mesh.RoomID) (mesh.Bridge, error) {
	return createBridge(ctx, c.hc, c.base, c.cfg.Token, from, to)
}

// Bridges lists the bridges of the room from, oldest first (for its members).
func (c *Client) Bridges(ctx context.Context, from mesh.RoomID) ([]mesh.Bridge, error) {
	return listBridges(ctx, c.hc, c.base, c.cfg.Token, from)
}

// DeleteBridge removes the bridge id of the room from: allowed to its
// creator, a participant with moderate in from, and the node's owner.
func (c *Client) DeleteBridge(ctx context.Context, from mesh.RoomID, id string) error {
	return deleteBridge(ctx, c.hc, c.base, c.cfg.Token, from, id)
}

// CreateBridge is Client.CreateBridge without a connection.
func (cfg Config) CreateBridge(ctx context.Context, from, to mesh.RoomID) (mesh.Bridge, error) {
	hc, done := cfg.restClient()
	defer done()
	return createBridge(ctx, hc, cfg.URL, cfg.Token, from, to)
}

// Bridges is Client.Bridges without a connection.
func (cfg Config) Bridges(ctx context.Context, from mesh.RoomID) ([]mesh.Bridge, error) {
	hc, done := cfg.restClient()
	defer done()
	return listBridges(ctx, hc, cfg.URL, cfg.Token, from)
}

// DeleteBridge is Client.DeleteBridge without a connection.
func (cfg Config) DeleteBridge(ctx context.Context, from mesh.RoomID, id string) error {
	hc, done := cfg.restClient()
	defer done()
	return deleteBridge(ctx, hc, cfg.URL, cfg.Token, from, id)
}

// restClient returns cfg's HTTP client for one call and what to do after it.
func (cfg Config) restClient() (*http.Client, func()) {
	hc := cfg.httpClient()
	if hc != cfg.HTTPClient && hc != http.DefaultClient {
		return hc, hc.CloseIdleConnections // its own transport: close it
	}
	return hc, func() {}
}

func createBridge(ctx context.Context, hc *http.Client, base, token string, from, to mesh.RoomID) (mesh.Bridge, error) {
	if err := needBridgeRooms(from, to); err != nil {
		return mesh.Bridge{}, err
	}
	var out struct {
		Bridge mesh.Bridge `json:"bridge"`
	}
	in := map[string]mesh.RoomID{"to": to}
	if err := doREST(ctx, hc, base, "POST", roomPath(from, "/bridges"), token, in, &out); err != nil {
		return mesh.Bridge{}, err
	}
	return out.Bridge, nil
}

func listBridges(ctx context.Context, hc *http.Client, base, token string, from mesh.RoomID) ([]mesh.Bridge, error) {
	if err := needBridgeRooms(from, "-"); err != nil {
		return nil, err
	}
	var out struct {
		Bridges []mesh.Bridge `json:"bridges"`
	}
	if err := doREST(ctx, hc, base, "GET", roomPath(from, "/bridges"), token, nil, &out); err != nil {
		return nil, err
	}
	if out.Bridges == nil {
		out.Bridges = []mesh.Bridge{}
	}
	return out.Bridges, nil
}

func deleteBridge(ctx context.Context, hc *http.Client, base, token string, from mesh.RoomID, id string) error {
	if err := needBridgeRooms(from, "-"); err != nil {
		return err
	}
	if id == "" {
		return mesh.Errorf(mesh.EInvalid, "Name the bridge to delete: its id (br_...).")
	}
	return doREST(ctx, hc, base, "DELETE", roomPath(from, "/bridges/"+url.PathEscape(id)), token, nil, nil)
}

// needBridgeRooms refuses an empty source or target before any request;
// the node checks the rest (an address room@node is a valid target).
func needBridgeRooms(from, to mesh.RoomID) error {
	switch {
	case from == "":
		return mesh.Errorf(mesh.EInvalid, "A bridge needs its source room.")
	case to == "":
		return mesh.Errorf(mesh.EInvalid, "A bridge needs its target room: an id or an address room@node.")
	}
	return nil
}
