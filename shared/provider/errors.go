package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind says what a caller should do about a failed call.
type Kind string

const (
	// Transient: try again, with backoff, or fail over.
	Transient Kind = "transient"
	// Throttled: the provider asks to wait RetryAfter before the next call.
	Throttled Kind = "throttled"
	// Permanent: the same call will fail again; do not retry it.
	Permanent Kind = "permanent"
	// Canceled: the caller's context was canceled; nothing failed.
	Canceled Kind = "canceled"
)

// The error names the workflow's ASL Retry and Catch blocks match.
const (
	NameTransient = "Provider.Transient"
	NameThrottled = "Provider.Throttled"
	NamePermanent = "Provider.Permanent"
	NameCanceled  = "Provider.Canceled"
)

// Error is a typed provider failure.
type Error struct {
	Kind       Kind
	Code       string        // the provider's or the registry's code, e.g. "rate_limit_exceeded"
	Message    string        // human-readable, safe to show the task's owner
	RetryAfter time.Duration // with Throttled: how long the provider asks to wait
	// RequestFault marks a Permanent error caused by the request itself
	// (bad input, safety refusal, unknown job), not by the provider: it
	// says nothing about the provider's health, so the breaker ignores it.
	RequestFault bool
	// Safety marks a refusal on the provider's content rules: never
	// retried at the same provider, failed over at most once.
	Safety bool
	Err    error // the cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Kind))
	if e.Code != "" {
		b.WriteString(" (" + e.Code + ")")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %s", e.RetryAfter)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// NewTransient returns an error worth retrying (5xx, timeouts, connection
// failures).
func NewTransient(code, message string, err error) *Error {
	return &Error{Kind: Transient, Code: code, Message: message, Err: err}
}

// NewThrottled returns a rate-limit error; retryAfter may be 0 when the
// provider did not say.
func NewThrottled(code, message string, retryAfter time.Duration, err error) *Error {
	return &Error{Kind: Throttled, Code: code, Message: message, RetryAfter: max(retryAfter, 0), Err: err}
}

// NewPermanent returns an error of the provider that retrying will not
// cure (bad credentials, exhausted quota); it counts against its breaker.
func NewPermanent(code, message string, err error) *Error {
	return &Error{Kind: Permanent, Code: code, Message: message, Err: err}
}

// NewRejected returns a permanent error about the request itself (invalid
// input, safety refusal): the provider is healthy, so it does not count
// against its breaker.
func NewRejected(code, message string, err error) *Error {
	return &Error{Kind: Permanent, Code: code, Message: message, RequestFault: true, Err: err}
}

// NewSafetyRefusal returns the provider's refusal of the content on its
// safety rules: a permanent request fault, failed over at most once.
func NewSafetyRefusal(code, message string, err error) *Error {
	return &Error{Kind: Permanent, Code: code, Message: message, RequestFault: true, Safety: true, Err: err}
}

// IsSafetyRefusal reports a refusal on the provider's content rules.
func IsSafetyRefusal(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Safety
}

// ErrNoProvider: no provider is left to serve the task (none serves its
// type, or every one has been tried). Permanent; match with errors.Is.
var ErrNoProvider = &Error{Kind: Permanent, Code: "no_provider", Message: "no provider is left for this task", RequestFault: true}

// KindOf classifies any error: a provider *Error gives its Kind; a
// canceled context gives Canceled (checked first, as a provider may wrap
// it); a deadline or an unknown error is Transient; nil gives "".
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.Canceled) {
		return Canceled
	}
	if e, ok := errors.AsType[*Error](err); ok && e.Kind != "" {
		return e.Kind
	}
	return Transient
}

// ErrorName is the ASL error name of err: "Provider.Transient",
// "Provider.Throttled", "Provider.Permanent" or "Provider.Canceled"; ""
// for nil.
func ErrorName(err error) string {
	switch KindOf(err) {
	case Transient:
		return NameTransient
	case Throttled:
		return NameThrottled
	case Permanent:
		return NamePermanent
	case Canceled:
		return NameCanceled
	}
	return ""
}

// RetryAfterOf is how long err asks to wait before the next call (0 if it
// does not say).
func RetryAfterOf(err error) time.Duration {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.RetryAfter
	}
	return 0
}

// isRequestFault reports a permanent error caused by the request, not by
// the provider.
func isRequestFault(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Kind == Permanent && e.RequestFault
}
