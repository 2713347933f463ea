package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/the-mesh/mesh"
)

// Registration describes a participant to register with Register.
type Registration struct {
	Name  string     // display name, 1 to 64 bytes; required
	Kind  mesh.Kind  // human or agent; "" means agent
	Trust mesh.Trust // "" means local, or the parent's trust if lower

	// Invite is an invite token from POST /api/v1/invites, needed to
	// register from another machine without ParentToken.
	Invite string

	// ParentToken, when set, is the token of the participant that becomes
	// the new one's parent; the new participant never has more trust or
	// capabilities than it.
	ParentToken string

	// TLS configures the https:// connection, as Config.TLS does.
	TLS *tls.Config
}

// Register registers a participant on the node at baseURL
// (http(s)://host:port) and returns it with its token, which the node shows
// only once. From loopback no token or invite is needed. Refusals are
// *mesh.Error with the node's code (invalid, unauthorized, forbidden, ...).
func Register(ctx context.Context, baseURL string, r Registration) (mesh.Participant, string, error) {
	reg, err := register(ctx, baseURL, r, registrationBody(r))
	return reg.Participant, reg.Token, err
}

// register posts a registration body with r's token and TLS settings.
func register(ctx context.Context, baseURL string, r Registration, body map[string]any) (Registered, error) {
	var out struct {
		Participant   mesh.Participant `json:"participant"`
		Token         string           `json:"token"`
		WebhookSecret string           `json:"webhookSecret"`
	}
	hc := Config{TLS: r.TLS}.httpClient()
	if r.TLS != nil {
		defer hc.CloseIdleConnections() // its own transport: close it
	}
	if err := doREST(ctx, hc, baseURL, "POST", "/api/v1/participants", r.ParentToken, body, &out); err != nil {
		return Registered{}, err
	}
	return Registered{Participant: out.Participant, Token: out.Token, WebhookSecret: out.WebhookSecret}, nil
}

// registrationBody is the JSON body of a registration.
func registrationBody(r Registration) map[string]any {
	body := map[string]any{"name": r.Name}
	if r.Kind != "" {
		body["kind"] = r.Kind
	}
	if r.Trust != "" {
		body["trust"] = r.Trust
	}
	if r.Invite != "" {
		body["invite"] = r.Invite
	}
	return body
}

// Do sends one REST request to the node at url, with token unless it is
// empty, and decodes the JSON answer into out (when not nil). A refusal by
// the node comes back as *mesh.Error with its code and message. It serves
// the endpoints a Client has no method for. An https node's certificate is
// verified against the system's roots; Config.Do takes a TLS configuration.
func Do(ctx context.Context, url, token, method, path string, in, out any) error {
	return doREST(ctx, http.DefaultClient, url, method, path, token, in, out)
}

// Do is the package's Do with cfg's URL, Token, TLS and HTTPClient.
func (cfg Config) Do(ctx context.Context, method, path string, in, out any) error {
	hc := cfg.httpClient()
	if hc != cfg.HTTPClient && hc != http.DefaultClient {
		defer hc.CloseIdleConnections() // its own transport: close it
	}
	return doREST(ctx, hc, cfg.URL, method, path, cfg.Token, in, out)
}

// httpClient returns cfg.HTTPClient if set, http.DefaultClient if TLS is
// nil, else a client of its own with TLS, whose idle connections stay open
// until CloseIdleConnections.
func (cfg Config) httpClient() *http.Client {
	switch {
	case cfg.HTTPClient != nil:
		return cfg.HTTPClient
	case cfg.TLS == nil:
		return http.DefaultClient
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg.TLS
	return &http.Client{Transport: tr}
}

// LoadCA returns a TLS configuration that trusts only the CA certificates
// in the PEM file path, such as a node's local CA (DATA/tls/ca.pem of
// mesh up --tls auto), for Config.TLS and Registration.TLS.
func LoadCA(path string) (*tls.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("agent: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("agent: no PEM certificate in %s", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// doREST sends one REST request and decodes a JSON answer into out (when
// not nil). A node error answer becomes *mesh.Error.
func doREST(ctx context.Context, hc *http.Client, baseURL, method, path, token string, in, out any) error {
	base, err := httpBase(baseURL)
	if err != nil {
		return err
	}
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("agent: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("agent: %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error *mesh.Error `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != nil && e.Error.Code != "" {
			return e.Error
		}
		return fmt.Errorf("agent: %s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("agent: %s %s: answer is not JSON: %w", method, path, err)
		}
	}
	return nil
}

// httpBase checks a node URL and returns it without a trailing slash.
func httpBase(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("agent: node URL %q must be http(s)://host:port", raw)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}

// wsURL turns a node's http(s) URL into its WebSocket endpoint.
func wsURL(raw string) (string, error) {
	base, err := httpBase(raw)
	if err != nil {
		return "", err
	}
	return "ws" + strings.TrimPrefix(base, "http") + "/api/v1/ws", nil
}
