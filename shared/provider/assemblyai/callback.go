package assemblyai

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/videoai/mediatasks/shared/provider"
)

var _ provider.Caller = (*AssemblyAI)(nil)

// CallbackHeader is the header AssemblyAI is asked to send the
// callback's secret back in (webhook_auth_header_name): AssemblyAI signs
// nothing, so the secret, which only the platform and AssemblyAI know,
// is what authenticates the call.
const CallbackHeader = "X-Mediatasks-Callback-Secret"

// withCallback sets the webhook fields of a create when the platform
// gives a callback.
func withCallback(body *createBody, cb *provider.Callback) {
	if cb == nil {
		return
	}
	body.WebhookURL = cb.URL
	body.WebhookAuthHeaderName = CallbackHeader
	body.WebhookAuthHeaderValue = cb.Secret
}

// VerifyCallback checks an AssemblyAI webhook: CallbackHeader must hold
// secret (compared in constant time). The body {transcript_id, status}
// names the job; completed and error are its ends.
func (a *AssemblyAI) VerifyCallback(_ context.Context, header http.Header, body []byte, secret string) (string, bool, error) {
	given := header.Get(CallbackHeader)
	if secret == "" || subtle.ConstantTimeCompare([]byte(given), []byte(secret)) != 1 {
		return "", false, fmt.Errorf("assemblyai %s: callback: %w: the %s header does not hold the job's secret", a.name, provider.ErrBadCallback, CallbackHeader)
	}
	var call struct {
		TranscriptID string `json:"transcript_id"`
		Status       string `json:"status"`
	}
	if err := json.Unmarshal(body, &call); err != nil || call.TranscriptID == "" {
		return "", false, fmt.Errorf("assemblyai %s: callback: %w: the body is not AssemblyAI's webhook JSON", a.name, provider.ErrBadCallback)
	}
	return call.TranscriptID, call.Status == "completed" || call.Status == "error", nil
}
