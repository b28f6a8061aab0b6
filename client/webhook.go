package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/videoai/mediatasks/shared/webhook"
)

// WebhookVerifier checks the Standard Webhooks signatures of the webhooks
// mediatasks sends; it is the server's own verifier.
type WebhookVerifier = webhook.Verifier

// NewWebhookVerifier returns a verifier accepting webhooks signed with any
// of secrets (whsec_..., from WebhookSecret: hold the old and the new one
// while rotating).
func NewWebhookVerifier(secrets ...string) (*WebhookVerifier, error) {
	return webhook.NewVerifier(secrets...)
}

// Errors of a webhook that does not verify, for errors.Is.
var (
	ErrWebhookNoSignature  = webhook.ErrNoSignature
	ErrWebhookTimestamp    = webhook.ErrTimestamp
	ErrWebhookBadSignature = webhook.ErrBadSignature
)

// WebhookEvent is the body of a webhook: Data is the task or the batch as
// the API shows it.
type WebhookEvent struct {
	ID        string          `json:"id"`
	EventType EventType       `json:"event_type"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// VerifyWebhook checks a webhook's signature against secret and decodes
// its body; body must be the request's raw bytes.
func VerifyWebhook(secret string, header http.Header, body []byte) (WebhookEvent, error) {
	v, err := webhook.NewVerifier(secret)
	if err != nil {
		return WebhookEvent{}, fmt.Errorf("verify webhook: %w", err)
	}
	if err := v.Verify(header, body); err != nil {
		return WebhookEvent{}, err
	}
	var ev WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return WebhookEvent{}, fmt.Errorf("verify webhook: decode body: %w", err)
	}
	return ev, nil
}
