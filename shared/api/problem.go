package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/auth"
	"github.com/videoai/mediatasks/shared/callback"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/storage"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

// FieldError names one bad part of a request: Field is a JSON path into
// the body ("prompt", "metadata.foo", "tasks[3].input_data.prompt"), or the
// name of a query parameter or header.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem detail, with the field errors that caused
// it. Handlers return it (or a domain error, mapped by fail) to answer 4xx.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors"`
	// Health is set on the 503 of /health: the state that made it fail.
	Health *app.Health `json:"health,omitempty"`

	retryAfter int // seconds, for 429 and a 409 worth retrying
}

func (p *Problem) Error() string {
	return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail)
}

// problemTypes are the type URIs of the problems the API answers.
var problemTypes = map[int]string{
	http.StatusBadRequest:            "urn:mediatasks:problem:invalid-request",
	http.StatusPaymentRequired:       "urn:mediatasks:problem:budget-spent",
	http.StatusUnauthorized:          "urn:mediatasks:problem:unauthenticated",
	http.StatusNotFound:              "urn:mediatasks:problem:not-found",
	http.StatusMethodNotAllowed:      "urn:mediatasks:problem:method-not-allowed",
	http.StatusConflict:              "urn:mediatasks:problem:conflict",
	http.StatusRequestEntityTooLarge: "urn:mediatasks:problem:too-large",
	http.StatusUnsupportedMediaType:  "urn:mediatasks:problem:unsupported-media-type",
	http.StatusUnprocessableEntity:   "urn:mediatasks:problem:idempotency-key-reused",
	http.StatusTooManyRequests:       "urn:mediatasks:problem:rate-limited",
	http.StatusInternalServerError:   "urn:mediatasks:problem:internal",
	http.StatusServiceUnavailable:    "urn:mediatasks:problem:unavailable",
	http.StatusInsufficientStorage:   "urn:mediatasks:problem:storage-full",
}

// invalid is a 400 naming the fields at fault.
func invalid(errs ...FieldError) *Problem {
	detail := "the request is not valid"
	if len(errs) == 1 {
		detail = errs[0].Field + ": " + errs[0].Message
	} else if len(errs) > 1 {
		detail = fmt.Sprintf("%d fields are not valid; see errors", len(errs))
	}
	return &Problem{Status: http.StatusBadRequest, Detail: detail, Errors: errs}
}

func fieldError(field, format string, args ...any) FieldError {
	return FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// toProblem is the one place that maps errors to HTTP answers.
func toProblem(err error) (p *Problem, internal bool) {
	var pe *Problem
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &pe):
		return pe, false
	case errors.As(err, &tooBig):
		return &Problem{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("the body is over the limit of %d bytes", tooBig.Limit)}, false
	case errors.Is(err, app.ErrUploadTooLarge):
		return &Problem{Status: http.StatusRequestEntityTooLarge, Detail: "the upload is over the size limit",
			Errors: []FieldError{{Field: "file", Message: "too large"}}}, false
	case errors.Is(err, task.ErrTooLarge):
		return &Problem{Status: http.StatusRequestEntityTooLarge, Detail: "the request is too large to store: send shorter inputs or fewer tasks"}, false
	case errors.Is(err, auth.ErrUnauthenticated):
		return &Problem{Status: http.StatusUnauthorized, Detail: "missing or invalid bearer credentials",
			Errors: []FieldError{{Field: "Authorization", Message: "a valid API key or token is required"}}}, false
	case errors.Is(err, task.ErrNotFound):
		return &Problem{Status: http.StatusNotFound, Detail: "no such resource"}, false
	case errors.Is(err, task.ErrTerminal):
		return &Problem{Status: http.StatusConflict, Detail: "the task has already ended"}, false
	case errors.Is(err, task.ErrConflict):
		// Concurrent changes won every attempt of the write: the task is
		// busy, not broken; the same request soon after is expected to pass.
		return &Problem{Status: http.StatusConflict, Detail: "the task changed while this request ran; retry", retryAfter: 1}, false
	case errors.Is(err, callback.ErrUnknownProvider):
		return &Problem{Status: http.StatusNotFound, Detail: "no provider of that name calls back",
			Errors: []FieldError{{Field: "name", Message: "is not a configured provider that calls back"}}}, false
	case errors.Is(err, callback.ErrBadReference):
		return &Problem{Status: http.StatusUnauthorized, Detail: "the callback's task reference is not one this server signed for this provider",
			Errors: []FieldError{{Field: callback.RefParam, Message: "is not valid: use the callback URL the provider was given"}}}, false
	case errors.Is(err, provider.ErrBadCallback):
		return &Problem{Status: http.StatusUnauthorized, Detail: "the callback does not authenticate as the provider's",
			Errors: []FieldError{{Field: "signature", Message: "missing, wrong or stale signature or secret"}}}, false
	case errors.Is(err, webhook.ErrNotFound):
		return &Problem{Status: http.StatusNotFound, Detail: "no such delivery"}, false
	case errors.Is(err, task.ErrBadCursor), errors.Is(err, webhook.ErrBadCursor):
		return invalid(FieldError{Field: "cursor", Message: "not a cursor this API issued"}), false
	case errors.Is(err, app.ErrBudget):
		detail := "the daily budget is spent"
		if be, ok := errors.AsType[*app.BudgetError](err); ok {
			detail = be.Error()
		}
		return &Problem{Status: http.StatusPaymentRequired, Detail: detail,
			Errors: []FieldError{{Field: "limits.daily_budget_usd", Message: "spent for today (UTC); submits are taken again tomorrow"}}}, false
	case errors.Is(err, app.ErrUploadType):
		return invalid(FieldError{Field: "Content-Type", Message: err.Error()}), false
	case errors.Is(err, app.ErrBatchSize):
		return invalid(FieldError{Field: "tasks", Message: err.Error()}), false
	case storage.Full(err):
		// Nothing was stored: the same request succeeds once there is
		// room again.
		return &Problem{Status: http.StatusInsufficientStorage, Detail: "the server's storage is full; nothing was stored, retry later", retryAfter: 30}, false
	case storage.Unavailable(err):
		return &Problem{Status: http.StatusServiceUnavailable, Detail: "the server's storage cannot be written for now; nothing was stored, retry later", retryAfter: 5}, false
	case errors.Is(err, context.Canceled):
		// The client went away: nobody reads this answer.
		return &Problem{Status: 499, Title: "Client Closed Request"}, false
	}
	return &Problem{Status: http.StatusInternalServerError, Detail: "an internal error occurred; it has been logged"}, true
}

// fail answers err as a problem.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	p, internal := toProblem(err)
	if internal {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeProblem(w, r, p)
}

func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	out := *p
	if out.Type == "" {
		out.Type = problemTypes[out.Status]
		if out.Type == "" {
			out.Type = "about:blank"
		}
	}
	if out.Title == "" {
		out.Title = http.StatusText(out.Status)
	}
	if out.Instance == "" {
		out.Instance = r.URL.Path
	}
	if out.Errors == nil {
		out.Errors = []FieldError{}
	}
	h := w.Header()
	if out.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="mediatasks"`)
	}
	if out.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(out.retryAfter))
	}
	body, _ := json.Marshal(&out) // a Problem always marshals
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Del("Location")
	w.WriteHeader(out.Status)
	_, _ = w.Write(body)
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := task.EncodeJSON(v)
	if err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	writeBody(w, status, "application/json", body)
	return nil
}

func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
