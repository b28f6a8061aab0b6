package replicate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/webhook"
)

var _ provider.Caller = (*Replicate)(nil)

// webhookEvents are the events Replicate is asked to call back with: the
// end only (start, output and logs would wake the workflow for nothing).
var webhookEvents = []string{"completed"}

// withCallback adds the webhook fields of a create when the platform
// gives a callback.
func withCallback(body map[string]any, cb *provider.Callback) map[string]any {
	if cb != nil {
		body["webhook"] = cb.URL
		body["webhook_events_filter"] = webhookEvents
	}
	return body
}

// fetchSecret reads the account's webhook signing secret.
func (r *Replicate) fetchSecret(ctx context.Context) (*webhook.Verifier, error) {
	var answer struct {
		Key string `json:"key"`
	}
	if _, err := r.client.JSON(ctx, httpapi.Call{Method: http.MethodGet, Path: "webhooks/default/secret"}, &answer); err != nil {
		return nil, fmt.Errorf("replicate %s: get the webhook signing secret: %w", r.name, err)
	}
	// The verifier's error names no part of the secret.
	v, err := webhook.NewVerifier(answer.Key)
	if err != nil {
		return nil, fmt.Errorf("replicate %s: the webhook signing secret: %w", r.name,
			provider.NewTransient("bad_answer", "Replicate answered a webhook secret that is not whsec_ and base64", nil))
	}
	v.Now = func() time.Time { return r.now() }
	return v, nil
}

// VerifyCallback checks a Replicate webhook: Standard Webhooks headers,
// signed with the account's secret (secret is not used), within 5
// minutes. The prediction it carries names the job; it is final once the
// prediction has ended.
//
// The Standard Webhooks check is the platform's own (shared/webhook,
// which signs the platform's webhooks and is tested against the
// reference npm library), not github.com/standard-webhooks' Go library:
// one implementation of the scheme in the binary.
func (r *Replicate) VerifyCallback(ctx context.Context, header http.Header, body []byte, _ string) (string, bool, error) {
	v, err := r.secret.Get(ctx)
	if err != nil {
		return "", false, err
	}
	err = v.Verify(header, body)
	if errors.Is(err, webhook.ErrBadSignature) {
		// The secret may have been rotated since it was fetched.
		if fresh, fetched, ferr := r.secret.Refresh(ctx); ferr == nil && fetched {
			err = fresh.Verify(header, body)
		}
	}
	if err != nil {
		return "", false, fmt.Errorf("replicate %s: callback: %w: %w", r.name, provider.ErrBadCallback, err)
	}
	var p prediction
	if err := json.Unmarshal(body, &p); err != nil || !idRe.MatchString(p.ID) {
		return "", false, fmt.Errorf("replicate %s: callback: %w: the body is not a prediction", r.name, provider.ErrBadCallback)
	}
	return p.ID, ended(p.Status), nil
}

// ended reports whether a prediction's status is one of its ends.
func ended(status string) bool {
	switch strings.ToLower(status) {
	case "succeeded", "failed", "canceled", "aborted":
		return true
	}
	return false
}
