package api

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/videoai/mediatasks/shared/callback"
)

// CallbackReceiver receives a provider's call to its callback URL
// (callback.Receiver).
type CallbackReceiver interface {
	Receive(ctx context.Context, provider, ref string, header http.Header, body []byte) (callback.Outcome, error)
}

// maxCallbackBody bounds a provider's callback body: a job's end event
// with its output URLs (Replicate's, with logs, stays well under it).
const maxCallbackBody = 1 << 20

// providerCallback serves POST /providers/{name}/callback: a provider
// reports that a job ended. It is public (providers hold no API key): the
// URL's signed task reference and the provider's own signature or secret
// authenticate it. Every call that authenticates is answered 200, also a
// retry of one already received, so that the provider stops sending it.
func (s *server) providerCallback(w http.ResponseWriter, r *http.Request, _ string) error {
	if s.opts.Callbacks == nil {
		return &Problem{Status: http.StatusNotFound, Detail: "provider callbacks are not enabled on this server"}
	}
	ref := r.URL.Query().Get(callback.RefParam)
	if ref == "" {
		return &Problem{Status: http.StatusUnauthorized, Detail: "the callback URL carries no task reference",
			Errors: []FieldError{{Field: callback.RefParam, Message: "is required: use the callback URL the provider was given"}}}
	}
	body, err := readAll(w, r, maxCallbackBody)
	if err != nil {
		return err
	}
	outcome, err := s.opts.Callbacks.Receive(r.Context(), r.PathValue("name"), ref, r.Header, body)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"outcome": string(outcome)})
}

// readAll reads a body of at most limit bytes.
func readAll(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, err
		}
		return nil, invalid(fieldError("body", "could not be read: %v", err))
	}
	return body, nil
}
