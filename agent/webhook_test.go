package agent_test

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/the-mesh/mesh"
	"github.com/the-mesh/mesh/agent"
)

func signed(secret string, ts int64, body string) http.Header {
	h := http.Header{}
	h.Set(mesh.HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
	h.Set(mesh.HeaderWebhookSignature, mesh.SignWebhook(secret, ts, []byte(body)))
	return h
}

func TestVerifyWebhook(t *testing.T) {
	const secret, body = "whsec_test", `{"type":"inbox.item"}`
	now := time.Now().Unix()
	for name, tt := range map[string]struct {
		secret string
		header http.Header
		body   string
		ok     bool
	}{
		"OK":                {secret, signed(secret, now, body), body, true},
		"OKAmongOthers":     {secret, http.Header{mesh.HeaderWebhookTimestamp: {strconv.FormatInt(now, 10)}, mesh.HeaderWebhookSignature: {"v1=00, " + mesh.SignWebhook(secret, now, []byte(body))}}, body, true},
		"ErrWrongSecret":    {"whsec_other", signed(secret, now, body), body, false},
		"ErrTamperedBody":   {secret, signed(secret, now, body), body + " ", false},
		"ErrOld":            {secret, signed(secret, now-600, body), body, false},
		"ErrFuture":         {secret, signed(secret, now+600, body), body, false},
		"ErrNoHeaders":      {secret, http.Header{}, body, false},
		"ErrSignedTSOther":  {secret, http.Header{mesh.HeaderWebhookTimestamp: {strconv.FormatInt(now+1, 10)}, mesh.HeaderWebhookSignature: {mesh.SignWebhook(secret, now, []byte(body))}}, body, false},
		"ErrPlusTimestamp":  {secret, http.Header{mesh.HeaderWebhookTimestamp: {"+" + strconv.FormatInt(now, 10)}, mesh.HeaderWebhookSignature: {mesh.SignWebhook(secret, now, []byte(body))}}, body, false},
		"ErrEmptySecret":    {"", signed("", now, body), body, false},
		"ErrUpperCaseV1Hex": {secret, http.Header{mesh.HeaderWebhookTimestamp: {strconv.FormatInt(now, 10)}, mesh.HeaderWebhookSignature: {"V1=" + mesh.SignWebhook(secret, now, []byte(body))[3:]}}, body, false},
	} {
		t.Run(name, func(t *testing.T) {
			err := agent.VerifyWebhook(tt.secret, tt.header, []byte(tt.body), 0)
			if (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, agent.ErrWebhookSignature) {
				t.Fatalf("got %v, want it to wrap ErrWebhookSignature", err)
			}
		})
	}
}

// FuzzVerifyWebhook feeds arbitrary headers: VerifyWebhook never panics,
// and accepts only a signature made with the secret.
func FuzzVerifyWebhook(f *testing.F) {
	f.Add("1700000000", "v1=abc", []byte("{}"))
	f.Add("", "", []byte(nil))
	f.Add("-1", "v1=,v1=", []byte("x"))
	f.Add("99999999999999999999", "v1="+mesh.SignWebhook("s", 1, nil), []byte(nil))
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(mesh.HeaderWebhookTimestamp, ts)
		h.Set(mesh.HeaderWebhookSignature, sig)
		if err := agent.VerifyWebhook("s", h, body, time.Duration(1<<62)); err == nil {
			n, perr := strconv.ParseInt(ts, 10, 64)
			if perr != nil {
				t.Fatalf("accepted timestamp %q", ts)
			}
			if want := mesh.SignWebhook("s", n, body); sig != want && !containsSig(sig, want) {
				t.Fatalf("accepted signature %q, want %q", sig, want)
			}
		}
	})
}

func containsSig(list, want string) bool {
	for i := 0; i+len(want) <= len(list); i++ {
		if list[i:i+len(want)] == want {
			return true
		}
	}
	return false
}
