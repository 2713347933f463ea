package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	mesh "github.com/the-mesh/mesh"
)

// API is a small REST client for the calls the generator needs. It is safe
// for concurrent use.
type API struct {
	Base   string // http://host:port
	Client *http.Client
}

// NewAPI returns a client for the node at base with a connection pool sized
// for conc concurrent requests.
func NewAPI(base string, conc int) *API {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxIdleConns: conc}
	return &API{Base: strings.TrimSuffix(base, "/"), Client: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// apiError is a REST error answer.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("http %d: %s: %s", e.Status, e.Code, e.Message)
}

func (a *API) do(ctx context.Context, method, path, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.Base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(data, &e) // a body that is not an error object leaves the code empty
		return fmt.Errorf("%s %s: %w", method, path, &apiError{resp.StatusCode, e.Error.Code, e.Error.Message})
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// Register creates an agent participant and returns its token.
func (a *API) Register(ctx context.Context, name string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	err := a.do(ctx, http.MethodPost, "/api/v1/participants", "", map[string]string{"name": name, "kind": "agent"}, &out)
	if err == nil && out.Token == "" {
		err = errors.New("register: answer has no token")
	}
	return out.Token, err
}

// RegisterMany registers n participants named prefix-0 ... with at most
// conc requests at a time, and returns their tokens in order.
func (a *API) RegisterMany(ctx context.Context, prefix string, n, conc int) ([]string, error) {
	tokens := make([]string, n)
	err := forEach(ctx, n, conc, func(ctx context.Context, i int) error {
		t, err := a.Register(ctx, prefix+"-"+strconv.Itoa(i))
		tokens[i] = t
		return err
	})
	return tokens, err
}

// CreateRoom creates a room named name with limits that do not throttle a
// benchmark, and returns its id. A room that already exists is reused.
func (a *API) CreateRoom(ctx context.Context, token, name string) (string, error) {
	return a.createRoom(ctx, token, name, false)
}

// CreateE2ERoom is CreateRoom for an end-to-end encrypted room.
func (a *API) CreateE2ERoom(ctx context.Context, token, name string) (string, error) {
	return a.createRoom(ctx, token, name, true)
}

func (a *API) createRoom(ctx context.Context, token, name string, e2e bool) (string, error) {
	in := map[string]any{
		"name": name,
		"policy": map[string]any{"e2e": e2e, "limits": map[string]any{
			"messagesPerMinute": 6000000, "burst": 1000000, "maxMessageBytes": 65536,
		}},
	}
	var out struct {
		Room struct {
			ID string `json:"id"`
		} `json:"room"`
	}
	err := a.do(ctx, http.MethodPost, "/api/v1/rooms", token, in, &out)
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == "conflict" {
		return string(mesh.RoomIDFromName(name)), nil
	}
	if err == nil && out.Room.ID == "" {
		err = errors.New("create room: answer has no room id")
	}
	return out.Room.ID, err
}

// RegisterDevice registers the caller's device keys (end-to-end rooms).
func (a *API) RegisterDevice(ctx context.Context, token string, d mesh.Device) error {
	in := map[string][]byte{"sign": d.Sign, "box": d.Box, "sig": d.Sig}
	return a.do(ctx, http.MethodPut, "/api/v1/participants/me/devices", token, in, nil)
}

// Roster returns an end-to-end encrypted room's current roster.
func (a *API) Roster(ctx context.Context, token, room string) (mesh.Roster, error) {
	var r mesh.Roster
	err := a.do(ctx, http.MethodGet, "/api/v1/rooms/"+room+"/e2e", token, nil, &r)
	return r, err
}

// Healthy reports whether GET /healthz answers 200.
func (a *API) Healthy(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.Base+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body) // drain so the connection is reused
	return resp.StatusCode == http.StatusOK
}

// Metrics fetches GET /metrics and returns its samples by name, labels
// included as written (`name{a="b"}`).
func (a *API) Metrics(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.Base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: http %d", resp.StatusCode)
	}
	return ParseMetrics(resp.Body)
}

// ParseMetrics reads Prometheus text format samples: `name[{labels}] value
// [timestamp]`, skipping comments and lines it cannot read.
func ParseMetrics(r io.Reader) (map[string]float64, error) {
	m := make(map[string]float64)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		// The value follows the name, after the closing brace if any.
		end := strings.LastIndexByte(line, '}')
		name, rest := line, ""
		if end >= 0 {
			name, rest = line[:end+1], line[end+1:]
		} else if i := strings.IndexAny(line, " \t"); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		m[name] = v
	}
	return m, sc.Err()
}

// forEach calls f(ctx, i) for i in [0, n) with at most conc calls at a time
// and returns the first error, after which no new calls start.
func forEach(ctx context.Context, n, conc int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	conc = max(1, min(conc, n))
	var wg sync.WaitGroup
	next := make(chan int)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(ctx, i); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}
