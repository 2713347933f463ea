package agent

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/the-mesh/mesh"
)

// ErrWebhookSignature is returned (wrapped with the reason) by
// VerifyWebhook for a delivery that is not signed with the secret, or is
// too old or too far in the future.
var ErrWebhookSignature = errors.New("agent: webhook signature does not verify")

// DefaultWebhookTolerance is how far from now a delivery's timestamp may
// be when VerifyWebhook is given no tolerance.
const DefaultWebhookTolerance = 5 * time.Minute

// VerifyWebhook checks a webhook delivery from a node (PROTOCOL.md,
// "Webhooks"): header holds the request's headers, body its exact bytes,
// secret the participant's webhookSecret from registration. It returns
// nil when X-Mesh-Timestamp is within tolerance of now (0: 5 minutes) and
// one of the v1= signatures in X-Mesh-Signature is the HMAC-SHA256 of
// timestamp + "." + body keyed with the secret. Deduplicate deliveries by
// X-Mesh-Delivery: a node delivers at least once.
func VerifyWebhook(secret string, header http.Header, body []byte, tolerance time.Duration) error {
	return verifyWebhook(secret, header, body, tolerance, time.Now())
}

func verifyWebhook(secret string, header http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	if secret == "" {
		return fmt.Errorf("%w: no secret", ErrWebhookSignature)
	}
	raw := header.Get(mesh.HeaderWebhookTimestamp)
	ts, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || raw == "" || raw[0] == '+' || raw[0] == '-' {
		return fmt.Errorf("%w: %s %q is not unix seconds", ErrWebhookSignature, mesh.HeaderWebhookTimestamp, raw)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp %d is %v from now (tolerance %v)", ErrWebhookSignature, ts, d.Round(time.Second), tolerance)
	}
	want := mesh.SignWebhook(secret, ts, body)
	for _, v := range header.Values(mesh.HeaderWebhookSignature) {
		for _, sig := range strings.Split(v, ",") {
			if hmac.Equal([]byte(strings.TrimSpace(sig)), []byte(want)) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: no matching v1 signature in %s", ErrWebhookSignature, mesh.HeaderWebhookSignature)
}
