package mcpserver

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/the-mesh/mesh"
)

type moveIn struct {
	Room string  `json:"room" jsonschema:"the room id"`
	X    float64 `json:"x" jsonschema:"where to walk, east-west, in metres from the room's centre (the floor spans -20 to 20 by default)"`
	Z    float64 `json:"z" jsonschema:"where to walk, north-south, in metres from the room's centre"`
}

type moveOut struct {
	From       mesh.Vec `json:"from" jsonschema:"where your avatar stood"`
	To         mesh.Vec `json:"to" jsonschema:"where it is walking (the node keeps it on the floor)"`
	ETASeconds float64  `json:"eta_seconds" jsonschema:"how long the walk takes"`
}

// move walks the participant's avatar over REST; the node moves it at the
// room's speed and keeps it in the room for a while without a connection.
func (c *client) move(ctx context.Context, _ *mcp.CallToolRequest, in moveIn) (*mcp.CallToolResult, moveOut, error) {
	if err := needRoom(in.Room); err != nil {
		return nil, moveOut{}, err
	}
	var resp struct {
		Avatar mesh.AvatarState `json:"avatar"`
		To     mesh.Vec         `json:"to"`
		ETA    float64          `json:"eta"`
	}
	body := map[string]any{"pos": []float64{in.X, 0, in.Z}}
	if err := c.do(ctx, "POST", roomPath(in.Room, "/move"), body, &resp); err != nil {
		return nil, moveOut{}, err
	}
	return nil, moveOut{From: resp.Avatar.Pos, To: resp.To, ETASeconds: resp.ETA}, nil
}
