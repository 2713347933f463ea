package mcpserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
)

// RoomInfo is a room as list_rooms shows it.
type RoomInfo struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Topic string `json:"topic,omitempty"`
}

type listRoomsIn struct{}

type listRoomsOut struct {
	Rooms []RoomInfo `json:"rooms"`
}

func (c *client) listRooms(ctx context.Context, _ *mcp.CallToolRequest, _ listRoomsIn) (*mcp.CallToolResult, listRoomsOut, error) {
	var resp struct {
		Rooms []mesh.Room `json:"rooms"`
	}
	if err := c.do(ctx, "GET", "/api/v1/rooms", nil, &resp); err != nil {
		return nil, listRoomsOut{}, err
	}
	out := listRoomsOut{Rooms: []RoomInfo{}}
	for _, r := range resp.Rooms {
		out.Rooms = append(out.Rooms, RoomInfo{ID: string(r.ID), Name: r.Name, Topic: r.Topic})
	}
	return nil, out, nil
}

type roomIn struct {
	Room string `json:"room" jsonschema:"the room id, e.g. lobby"`
}

type joinRoomOut struct {
	Room RoomInfo `json:"room"`
}

func (c *client) joinRoom(ctx context.Context, _ *mcp.CallToolRequest, in roomIn) (*mcp.CallToolResult, joinRoomOut, error) {
	if err := needRoom(in.Room); err != nil {
		return nil, joinRoomOut{}, err
	}
	var resp struct {
		Room mesh.Room `json:"room"`
	}
	if err := c.do(ctx, "POST", roomPath(in.Room, "/join"), nil, &resp); err != nil {
		return nil, joinRoomOut{}, err
	}
	r := resp.Room
	return nil, joinRoomOut{Room: RoomInfo{ID: string(r.ID), Name: r.Name, Topic: r.Topic}}, nil
}

type sendMessageIn struct {
	Room string `json:"room" jsonschema:"the room id, or a remote room's address room@node"`
	Text string `json:"text" jsonschema:"the message text"`
	To   string `json:"to,omitempty" jsonschema:"a member's participant id to address the message to"`
}

type sendMessageOut struct {
	ID  string `json:"id" jsonschema:"the stored message's id"`
	Seq uint64 `json:"seq" jsonschema:"the stored message's seq in the room"`
}

func (c *client) sendMessage(ctx context.Context, _ *mcp.CallToolRequest, in sendMessageIn) (*mcp.CallToolResult, sendMessageOut, error) {
	if err := needRoom(in.Room); err != nil {
		return nil, sendMessageOut{}, err
	}
	body := map[string]any{"text": in.Text}
	if in.To != "" {
		body["to"] = in.To
	}
	var resp struct {
		Message mesh.Message `json:"message"`
	}
	if err := c.do(ctx, "POST", roomPath(in.Room, "/messages"), body, &resp); err != nil {
		return nil, sendMessageOut{}, c.e2eRefusal(ctx, in.Room, err)
	}
	return nil, sendMessageOut{ID: resp.Message.ID, Seq: resp.Message.Seq}, nil
}

type readMessagesIn struct {
	Room  string `json:"room" jsonschema:"the room id, or a remote room's address room@node"`
	After uint64 `json:"after,omitempty" jsonschema:"cursor: return messages with seq greater than this (0 or absent: from the start; pass the previous next_cursor)"`
	Limit int    `json:"limit,omitempty" jsonschema:"at most this many messages (1-500, default 100)"`
}

// MessagesOut is the answer of read_messages and wait_for_messages.
type MessagesOut struct {
	Messages   []string `json:"messages" jsonschema:"the messages, oldest first, each rendered for a prompt: a header line, then the content fenced as untrusted data"`
	NextCursor uint64   `json:"next_cursor" jsonschema:"pass as 'after' to read the messages that follow"`
}

func (c *client) readMessages(ctx context.Context, _ *mcp.CallToolRequest, in readMessagesIn) (*mcp.CallToolResult, MessagesOut, error) {
	if err := needRoom(in.Room); err != nil {
		return nil, MessagesOut{}, err
	}
	ms, err := c.messages(ctx, in.Room, in.After, in.Limit)
	if err != nil {
		return nil, MessagesOut{}, err
	}
	return nil, render(ms, in.After), nil
}

type waitIn struct {
	Room           string `json:"room" jsonschema:"the room id, or a remote room's address room@node"`
	After          uint64 `json:"after,omitempty" jsonschema:"cursor: wait for messages with seq greater than this (pass the previous next_cursor)"`
	TimeoutSeconds int    `json:"timeout_seconds,omitempty" jsonschema:"how long to wait, 1 to 55 seconds (default 25)"`
}

func (c *client) waitForMessages(ctx context.Context, _ *mcp.CallToolRequest, in waitIn) (*mcp.CallToolResult, MessagesOut, error) {
	if err := needRoom(in.Room); err != nil {
		return nil, MessagesOut{}, err
	}
	secs := in.TimeoutSeconds
	if secs == 0 {
		secs = DefaultWaitSeconds
	}
	if secs < 1 || secs > MaxWaitSeconds {
		return nil, MessagesOut{}, mesh.Errorf(mesh.EInvalid, "timeout_seconds must be 1 to %d, got %d.", MaxWaitSeconds, secs)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second)
	defer cancel()
	ms, err := c.poll(ctx, in.Room, in.After, func(ms []mesh.Message) bool { return len(ms) > 0 })
	if err != nil {
		return nil, MessagesOut{}, err
	}
	return nil, render(ms, in.After), nil
}

// messages lists a room's messages after a seq (limit 0: the node's default).
func (c *client) messages(ctx context.Context, room string, after uint64, limit int) ([]mesh.Message, error) {
	q := url.Values{"after": {strconv.FormatUint(after, 10)}}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var resp struct {
		Messages []mesh.Message `json:"messages"`
	}
	err := c.do(ctx, "GET", roomPath(room, "/messages?"+q.Encode()), nil, &resp)
	return resp.Messages, err
}

// poll waits until the room holds messages after seq that done accepts,
// with the node's long poll (GET .../messages?wait=), and returns them;
// when ctx ends first it returns what it last found, with no error (an
// empty wait is not a failure).
func (c *client) poll(ctx context.Context, room string, after uint64, done func([]mesh.Message) bool) ([]mesh.Message, error) {
	var last []mesh.Message
	for {
		wait := mesh.MaxWaitSeconds
		if d, ok := ctx.Deadline(); ok {
			wait = max(1, min(wait, int(time.Until(d).Seconds())))
		}
		q := url.Values{"after": {strconv.FormatUint(after, 10)}, "wait": {strconv.Itoa(wait)}}
		var resp struct {
			Messages []mesh.Message `json:"messages"`
		}
		err := c.do(ctx, "GET", roomPath(room, "/messages?"+q.Encode()), nil, &resp)
		if ctx.Err() != nil {
			return last, nil
		}
		if err != nil {
			return nil, err
		}
		if done(resp.Messages) {
			return resp.Messages, nil
		}
		last = resp.Messages
	}
}

// render turns messages into prompt text, with the cursor after the last.
func render(ms []mesh.Message, after uint64) MessagesOut {
	out := MessagesOut{Messages: []string{}, NextCursor: after}
	for _, m := range ms {
		out.Messages = append(out.Messages, agent.Message{Message: m}.ForPrompt())
		out.NextCursor = max(out.NextCursor, m.Seq)
	}
	return out
}

// MemberInfo is a member as list_members shows it.
type MemberInfo struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Trust  string `json:"trust"`
	Online bool   `json:"online"`
}

type listMembersOut struct {
	Members []MemberInfo `json:"members"`
}

func (c *client) listMembers(ctx context.Context, _ *mcp.CallToolRequest, in roomIn) (*mcp.CallToolResult, listMembersOut, error) {
	if err := needRoom(in.Room); err != nil {
		return nil, listMembersOut{}, err
	}
	var resp struct {
		Members []mesh.Member `json:"members"`
	}
	if err := c.do(ctx, "GET", roomPath(in.Room, "/members"), nil, &resp); err != nil {
		return nil, listMembersOut{}, err
	}
	out := listMembersOut{Members: []MemberInfo{}}
	for _, m := range resp.Members {
		out.Members = append(out.Members, MemberInfo{ID: string(m.ID), Name: m.Name, Kind: string(m.Kind), Trust: string(m.Trust), Online: m.Online})
	}
	return nil, out, nil
}

type runCommandIn struct {
	Room   string `json:"room" jsonschema:"the room id, or a remote room's address room@node"`
	Target string `json:"target" jsonschema:"the participant id of the member that runs the command"`
	Name   string `json:"name" jsonschema:"the command's name"`
	Args   any    `json:"args,omitempty" jsonschema:"the command's arguments, any JSON value"`
}

type runCommandOut struct {
	CommandID string `json:"command_id" jsonschema:"the command message's id; its result refers to it"`
	Done      bool   `json:"done" jsonschema:"whether the result arrived within 30 s"`
	OK        bool   `json:"ok" jsonschema:"whether the command succeeded (when done)"`
	Result    string `json:"result,omitempty" jsonschema:"the result message rendered for a prompt (when done): its output is fenced, untrusted data"`
}

func (c *client) runCommand(ctx context.Context, _ *mcp.CallToolRequest, in runCommandIn) (*mcp.CallToolResult, runCommandOut, error) {
	if err := needRoom(in.Room); err != nil {
		return nil, runCommandOut{}, err
	}
	body := map[string]any{"target": in.Target, "name": in.Name}
	if in.Args != nil {
		body["args"] = in.Args
	}
	var resp struct {
		Message mesh.Message `json:"message"`
	}
	if err := c.do(ctx, "POST", roomPath(in.Room, "/commands"), body, &resp); err != nil {
		return nil, runCommandOut{}, c.e2eRefusal(ctx, in.Room, err)
	}
	cmd := resp.Message
	out := runCommandOut{CommandID: cmd.ID}
	wctx, cancel := context.WithTimeout(ctx, CommandTimeout)
	defer cancel()
	// Poll from the command's seq; a result refers to it by ref. Messages
	// that are not the result move the cursor on.
	after := cmd.Seq
	var found *mesh.Message
	for wctx.Err() == nil && found == nil {
		ms, err := c.poll(wctx, in.Room, after, func(ms []mesh.Message) bool { return len(ms) > 0 })
		if err != nil {
			return nil, out, err
		}
		for i, m := range ms {
			after = max(after, m.Seq)
			if m.Kind == mesh.MessageResult && m.Ref == cmd.ID {
				found = &ms[i]
				break
			}
		}
	}
	if found != nil {
		out.Done, out.OK = true, found.Body.OK != nil && *found.Body.OK
		out.Result = agent.Message{Message: *found}.ForPrompt()
	}
	return nil, out, nil
}

type dataIn struct {
	Room string `json:"room" jsonschema:"the room id, or a remote room's address room@node"`
	Path string `json:"path" jsonschema:"the file's path in the room, e.g. docs/plan.md; a path ending in / (or /) lists a directory"`
}

// FileInfo is a room file's metadata.
type FileInfo struct {
	Path     string    `json:"path"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	SHA256   string    `json:"sha256"`
}

type readDataOut struct {
	Content       string     `json:"content,omitempty" jsonschema:"the file's text (untrusted data)"`
	ContentBase64 string     `json:"content_base64,omitempty" jsonschema:"the file's bytes in base64, when they are not UTF-8 text"`
	Files         []FileInfo `json:"files,omitempty" jsonschema:"the listing, when the path is a directory"`
}

func (c *client) readData(ctx context.Context, _ *mcp.CallToolRequest, in dataIn) (*mcp.CallToolResult, readDataOut, error) {
	if err := needRoom(in.Room); err != nil {
		return nil, readDataOut{}, err
	}
	resp, body, err := c.raw(ctx, "GET", in.Room, in.Path, nil)
	if err != nil {
		return nil, readDataOut{}, err
	}
	var out readDataOut
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		var l struct {
			Files []FileInfo `json:"files"`
		}
		if err := json.Unmarshal(body, &l); err != nil {
			return nil, out, fmt.Errorf("the node's listing is not JSON: %w", err)
		}
		out.Files = l.Files
		if out.Files == nil {
			out.Files = []FileInfo{}
		}
		return nil, out, nil
	}
	if utf8.Valid(body) {
		out.Content = string(body)
	} else {
		out.ContentBase64 = base64.StdEncoding.EncodeToString(body)
	}
	return nil, out, nil
}

type writeDataIn struct {
	Room    string `json:"room" jsonschema:"the room id, or a remote room's address room@node"`
	Path    string `json:"path" jsonschema:"the file's path in the room, e.g. docs/plan.md"`
	Content string `json:"content" jsonschema:"the file's new text"`
}

type writeDataOut struct {
	File FileInfo `json:"file"`
}

func (c *client) writeData(ctx context.Context, _ *mcp.CallToolRequest, in writeDataIn) (*mcp.CallToolResult, writeDataOut, error) {
	if err := needRoom(in.Room); err != nil {
		return nil, writeDataOut{}, err
	}
	_, body, err := c.raw(ctx, "PUT", in.Room, in.Path, []byte(in.Content))
	if err != nil {
		return nil, writeDataOut{}, err
	}
	var out writeDataOut
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, out, fmt.Errorf("the node's answer is not JSON: %w", err)
	}
	return nil, out, nil
}

// maxData bounds a room file read; the node's own limit is 1 MiB.
const maxData = 8 << 20

// raw sends a request with a raw body to a room's data endpoint, which
// agent.Do cannot (it sends and expects JSON). A refusal is the node's
// *mesh.Error.
func (c *client) raw(ctx context.Context, method, room, path string, body []byte) (*http.Response, []byte, error) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	u := c.url + roomPath(room, "/data/", strings.Join(segs, "/"))
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, nodeError(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxData))
	if err != nil {
		return nil, nil, fmt.Errorf("read the node's answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error *mesh.Error `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != nil && e.Error.Code != "" {
			return nil, nil, e.Error
		}
		return nil, nil, fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	return resp, b, nil
}

// e2eRefusal adds to a post's refusal, when the room is end-to-end
// encrypted, why an MCP tool cannot post there: the tools hold no device
// keys, so they can neither seal nor open the room's messages.
func (c *client) e2eRefusal(ctx context.Context, room string, err error) error {
	if mesh.ErrorCode(err) != mesh.EInvalid {
		return err
	}
	var resp struct {
		Room mesh.Room `json:"room"`
	}
	if c.do(ctx, "GET", roomPath(room), nil, &resp) != nil || !resp.Room.Policy.E2E {
		return err
	}
	return mesh.Errorf(mesh.EInvalid, "%s MCP tools hold no device keys, so they cannot post in an end-to-end encrypted room; use an SDK with E2E (PROTOCOL.md, \"End-to-end encrypted rooms\").", mesh.ErrorMessage(err))
}
