package callback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoai/mediatasks/shared/provider"
)

// Outcome is what a received callback did; every one is answered 2xx, so
// that the provider stops sending it.
type Outcome string

// Outcomes.
const (
	// Resumed: the workflow's wait ended.
	Resumed Outcome = "resumed"
	// Recorded: the end is recorded before the workflow waits (or for a
	// job the task no longer waits on); a wait armed for that job ends at
	// once.
	Recorded Outcome = "recorded"
	// Ignored: the call is not the job's end (a start or progress event),
	// or no workflow waits on it any more (a retried callback).
	Ignored Outcome = "ignored"
)

// Outcomes of a call that ended in no wait's favour, as Received counts
// them.
const (
	outcomeRefused = "refused" // did not authenticate (reference, signature) or no such provider
	outcomeFailed  = "failed"  // the platform failed (answered 5xx: the provider retries)
)

// NewReceived is the counter of the calls received, by provider (one
// that calls back; "unknown" for any other name, so that no caller can
// grow the label's values) and outcome.
func NewReceived() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mediatasks_provider_callbacks_total",
		Help: "Providers' callbacks received, by provider and outcome (resumed, recorded, ignored, refused, failed).",
	}, []string{"provider", "outcome"})
}

// Receiver receives the callbacks of providers.
type Receiver struct {
	Keys    Keys
	Waits   Waits
	Resumer Resumer
	// Callers finds the configured provider called name, if it calls back.
	Callers func(name string) (provider.Caller, bool)
	// Received counts the calls (NewReceived); nil counts none.
	Received *prometheus.CounterVec
	Log      *slog.Logger
}

// Receive handles one call to provider's callback URL whose reference
// parameter is ref. An error wraps ErrUnknownProvider, ErrBadReference or
// provider.ErrBadCallback for a call that is refused; any other is the
// platform's.
func (r *Receiver) Receive(ctx context.Context, providerName, ref string, header http.Header, body []byte) (Outcome, error) {
	caller, ok := r.Callers(providerName)
	if !ok {
		r.count("unknown", outcomeRefused)
		return "", fmt.Errorf("callback of %q: %w", providerName, ErrUnknownProvider)
	}
	outcome, err := r.receive(ctx, caller, providerName, ref, header, body)
	switch {
	case err == nil:
		r.count(providerName, string(outcome))
	case errors.Is(err, ErrBadReference), errors.Is(err, provider.ErrBadCallback):
		r.count(providerName, outcomeRefused)
	default:
		r.count(providerName, outcomeFailed)
	}
	return outcome, err
}

func (r *Receiver) count(providerName, outcome string) {
	if r.Received != nil {
		r.Received.WithLabelValues(providerName, outcome).Inc()
	}
}

func (r *Receiver) receive(ctx context.Context, caller provider.Caller, providerName, ref string, header http.Header, body []byte) (Outcome, error) {
	taskID, err := r.Keys.TaskOf(ref, providerName)
	if err != nil {
		return "", fmt.Errorf("callback of %s: %w", providerName, err)
	}
	job, final, err := caller.VerifyCallback(ctx, header, body, r.Keys.ProviderSecret(providerName))
	if err != nil {
		return "", fmt.Errorf("callback of %s for task %s: %w", providerName, taskID, err)
	}
	if !final {
		return Ignored, nil
	}
	token, err := r.Waits.Arrive(ctx, taskID, providerName, job)
	if err != nil {
		return "", fmt.Errorf("callback of %s for task %s: %w", providerName, taskID, err)
	}
	if token == "" {
		r.log().InfoContext(ctx, "callback before its wait: recorded", "provider", providerName, "task_id", taskID, "job", job)
		return Recorded, nil
	}
	err = r.Resumer.ResumeWait(ctx, token)
	if errors.Is(err, ErrNotWaiting) {
		return Ignored, nil
	}
	if err != nil {
		return "", fmt.Errorf("callback of %s for task %s: resume the workflow: %w", providerName, taskID, err)
	}
	r.log().InfoContext(ctx, "callback resumed the workflow", "provider", providerName, "task_id", taskID, "job", job)
	return Resumed, nil
}

func (r *Receiver) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}
