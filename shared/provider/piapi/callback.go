package piapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/videoai/mediatasks/shared/provider"
)

var _ provider.Caller = (*Provider)(nil)

// callbackHeader is where PiAPI sends webhook_config.secret back: it
// signs nothing, so the secret, which only the platform and PiAPI know,
// is what authenticates the call.
const callbackHeader = "X-Webhook-Secret"

// webhookConfig is config.webhook_config of a create.
type webhookConfig struct {
	Endpoint string `json:"endpoint"`
	Secret   string `json:"secret"`
}

// withCallback sets config.webhook_config when the platform gives a
// callback.
func withCallback(b *createBody, cb *provider.Callback) {
	if cb == nil {
		return
	}
	if b.Config == nil {
		b.Config = &taskConfig{}
	}
	b.Config.WebhookConfig = &webhookConfig{Endpoint: cb.URL, Secret: cb.Secret}
}

// VerifyCallback checks a PiAPI webhook: x-webhook-secret must hold
// secret (compared in constant time). The body {timestamp, data} carries
// the task as GET answers it; the job it names is the handle Start
// answered (its task id and model), final once the task is completed or
// failed. PiAPI also calls back on some tasks' progress: not final.
func (p *Provider) VerifyCallback(_ context.Context, header http.Header, body []byte, secret string) (string, bool, error) {
	given := header.Get(callbackHeader)
	if secret == "" || subtle.ConstantTimeCompare([]byte(given), []byte(secret)) != 1 {
		return "", false, fmt.Errorf("piapi %s: callback: %w: the %s header does not hold the job's secret", p.name, provider.ErrBadCallback, callbackHeader)
	}
	var call struct {
		Data *taskDoc `json:"data"`
	}
	if err := json.Unmarshal(body, &call); err != nil || call.Data == nil || call.Data.TaskID == "" {
		return "", false, fmt.Errorf("piapi %s: callback: %w: the body is not PiAPI's webhook JSON", p.name, provider.ErrBadCallback)
	}
	// The model is the one the create sent, which PiAPI echoes [?: in
	// the same spelling for every model].
	handle, err := json.Marshal(job{ID: call.Data.TaskID, Model: call.Data.Model})
	if err != nil {
		return "", false, fmt.Errorf("piapi %s: callback: encode job: %w", p.name, err)
	}
	status := strings.ToLower(call.Data.Status)
	return string(handle), status == "completed" || status == taskStatusFailed, nil
}
