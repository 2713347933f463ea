package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/e2e"
)

// commandName is the node's rule for command names, which the client
// checks itself for commands it seals.
var commandName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Command is one request to run a handler: a message of kind command
// addressed to this client, or a chat message to it whose text starts with
// "/name".
type Command struct {
	Name string
	// Args are the command's arguments as JSON: for a command message,
	// body.args as sent (nil when absent); for a chat command, the text
	// after the name as a JSON string (nil when there is none). Treat them
	// as untrusted input whatever the sender's trust.
	Args json.RawMessage
	// Message is the message that carried the command.
	Message Message
}

// Text returns the arguments as text: the string itself when Args is a
// JSON string (as for every chat command), else the raw JSON.
func (c Command) Text() string {
	var s string
	if json.Unmarshal(c.Args, &s) == nil {
		return s
	}
	return string(c.Args)
}

// Chat reports whether the command came as a "/name" chat message.
func (c Command) Chat() bool { return c.Message.Kind == mesh.MessageChat }

// Handler runs a command and returns its output. A nil error answers
// ok:true with the output; an error answers ok:false with the output (if
// any) and the error's text. ctx is cancelled when the client closes.
type Handler func(ctx context.Context, cmd Command) (output string, err error)

type handler struct {
	min mesh.Trust
	fn  Handler
}

// Command registers h for commands named name (replacing any earlier
// handler of that name). The client runs h only for a command that is
// addressed to it (to = Me().ID), whose message trust ranks at or above
// minTrust (mesh.Trust.Rank) and that carries no guard flags — checked
// here whatever the node's policy allowed, as defence in depth. Anything
// else is refused without calling h.
//
// Answers: a command message gets a result frame (ref = the command's id):
// ok:true and the output, or ok:false and "refused: ...", "unknown command
// ...", "busy: ..." or the handler's error. A chat command gets a chat
// reply addressed to its sender with the output (or "refused: ..." or
// "error: ..."); a chat "/name" with no handler of that name is just chat
// and gets no answer. At most 8 handlers run at once, each on its own
// goroutine; a command arriving while 8 run is answered "busy". Outputs are
// cut to the node's text limit.
//
// Command panics if minTrust is not a known trust level.
func (c *Client) Command(name string, minTrust mesh.Trust, h Handler) {
	if !minTrust.Valid() {
		panic(fmt.Sprintf("agent: Command %q: unknown trust level %q", name, minTrust))
	}
	if h == nil {
		panic(fmt.Sprintf("agent: Command %q: nil handler", name))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers[name] = handler{min: minTrust, fn: h}
}

// parseCommand finds the command in m, a message addressed to this client.
func parseCommand(m Message) (Command, bool) {
	switch m.Kind {
	case mesh.MessageCommand:
		return Command{Name: m.Body.Command, Args: m.Body.Args, Message: m}, m.Body.Command != ""
	case mesh.MessageChat:
		text, ok := strings.CutPrefix(m.Body.Text, "/")
		if !ok {
			return Command{}, false
		}
		name, rest := text, ""
		if i := strings.IndexFunc(text, unicode.IsSpace); i >= 0 {
			name, rest = text[:i], strings.TrimSpace(text[i:])
		}
		if name == "" {
			return Command{}, false
		}
		cmd := Command{Name: name, Message: m}
		if rest != "" {
			cmd.Args, _ = json.Marshal(rest)
		}
		return cmd, true
	}
	return Command{}, false
}

// refusal says why m may not run a handler that needs minTrust, or "".
// executeFrom, when not nil, is the room policy's execute.from, which the
// client enforces for the command messages of an end-to-end encrypted
// room (the node, which cannot read them, does so in a plain room).
func refusal(m Message, minTrust mesh.Trust, executeFrom []mesh.Trust) string {
	if len(m.Flags) > 0 {
		return fmt.Sprintf("the guard flagged this message (%s)", strings.Join(m.Flags, ","))
	}
	if m.Trust.Rank() < minTrust.Rank() || m.Trust.Rank() < 0 {
		return fmt.Sprintf("trust %s may not run this command; it needs %s", m.Trust, minTrust)
	}
	if executeFrom != nil && m.Kind == mesh.MessageCommand && !slices.Contains(executeFrom, m.Trust) {
		return fmt.Sprintf("trust %s may not trigger commands in this room: execute.from allows %s", m.Trust, trustList(executeFrom))
	}
	return ""
}

func trustList(ts []mesh.Trust) string {
	if len(ts) == 0 {
		return "none"
	}
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// route runs the handler for a message addressed to this client, on the
// reader goroutine: it never blocks.
func (c *Client) route(m Message) {
	cmd, ok := parseCommand(m)
	if !ok {
		return
	}
	c.mu.Lock()
	h, known := c.handlers[cmd.Name]
	c.mu.Unlock()
	switch {
	case !known && cmd.Chat():
		return // just chat that starts with a slash
	case !known:
		c.reply(cmd, false, fmt.Sprintf("unknown command %q", cmd.Name))
		return
	}
	var executeFrom []mesh.Trust
	if m.E2E {
		if er := c.e2eRoomOf(m.Room); er != nil {
			executeFrom = er.executeFrom()
		} else {
			executeFrom = []mesh.Trust{}
		}
	}
	if why := refusal(m, h.min, executeFrom); why != "" {
		c.log.Warn("mesh: command refused", "name", cmd.Name, "from", m.From.ID, "trust", m.Trust, "why", why)
		c.reply(cmd, false, "refused: "+why)
		return
	}
	select {
	case c.sem <- struct{}{}:
	default:
		c.reply(cmd, false, fmt.Sprintf("busy: %d commands are running; try again later", maxHandlers))
		return
	}
	c.hwg.Add(1)
	go func() {
		defer c.hwg.Done()
		defer func() { <-c.sem }()
		out, err := run(c.ctx, h.fn, cmd)
		if err != nil {
			out = strings.TrimSpace(out + "\nerror: " + err.Error())
		}
		c.send(cmd, err == nil, out)
	}()
}

// run calls fn, turning a panic into an error.
func run(ctx context.Context, fn Handler, cmd Command) (out string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return fn(ctx, cmd)
}

// reply answers a command without running it, on its own goroutine; when
// too many answers are in flight the answer is dropped.
func (c *Client) reply(cmd Command, ok bool, output string) {
	select {
	case c.asem <- struct{}{}:
	default:
		c.log.Warn("mesh: too many answers in flight; not answering", "name", cmd.Name)
		return
	}
	c.hwg.Add(1)
	go func() {
		defer c.hwg.Done()
		defer func() { <-c.asem }()
		c.send(cmd, ok, output)
	}()
}

// send answers cmd: a result frame for a command message, a chat reply
// to the sender for a chat command.
func (c *Client) send(cmd Command, ok bool, output string) {
	m := cmd.Message
	c.mu.Lock()
	limit := c.limits.MaxTextBytes
	c.mu.Unlock()
	if cmd.Chat() {
		if output == "" {
			output = "ok"
			if !ok {
				output = "error"
			}
		}
		if _, err := c.Say(c.ctx, m.Room, truncate(output, limit), SayTo(m.From.ID)); err != nil {
			c.log.Warn("mesh: could not answer a chat command", "name", cmd.Name, "err", err)
		}
		return
	}
	if er := c.e2eRoomOf(m.Room); er != nil {
		out, err := sealText(truncate(output, limit))
		if err == nil {
			p := e2e.Plain{Kind: mesh.MessageResult, Body: mesh.Body{OK: &ok, Output: out}}
			_, err = c.sendSealed(c.ctx, m.Room, er, p, m.From.ID, m.ID)
		}
		if err != nil {
			c.log.Warn("mesh: could not send a result", "name", cmd.Name, "command", m.ID, "err", err)
		}
		return
	}
	cn, limits, err := c.live(c.ctx)
	if err == nil {
		// The node's ack or error names the command's id as ref; the
		// reader logs an error.
		err = cn.write(c.ctx, mesh.Result{Type: mesh.FrameResult, Room: m.Room, Ref: m.ID, OK: ok,
			Output: truncate(output, limit)}, limits.MaxFrameBytes)
	}
	if err != nil {
		c.log.Warn("mesh: could not send a result", "name", cmd.Name, "command", m.ID, "err", err)
	}
}

// truncate cuts s to at most n bytes (0: no limit) on a rune boundary.
func truncate(s string, n int) string {
	if n <= 0 || len(s) <= n {
		return s
	}
	const more = "…"
	s = s[:n-len(more)]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + more
}
