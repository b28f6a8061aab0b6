package api

import (
	"context"
	"net/http"
	"time"

	"github.com/videoai/mediatasks/shared/webhook"
)

// Webhooks is the webhook delivery store as the API uses it: deliveries
// and their attempts, replays, and each user's signing secrets.
type Webhooks interface {
	GetDelivery(ctx context.Context, userID, id string) (webhook.Delivery, error)
	ListDeliveries(ctx context.Context, userID string, f webhook.Filter) (webhook.Page, error)
	RetryDelivery(ctx context.Context, userID, id string, now time.Time) (webhook.Delivery, error)
	WebhookSecrets(ctx context.Context, userID string, now time.Time) ([]string, error)
	RotateWebhookSecret(ctx context.Context, userID string, now time.Time) (string, error)
}

type deliveryList struct {
	Deliveries []webhook.Delivery `json:"deliveries"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

// secretAnswer shows the secret that signs the user's webhooks, and the
// previous ones that still sign beside it during a rotation.
type secretAnswer struct {
	Secret   string   `json:"secret"`
	Previous []string `json:"previous"`
	// PreviousValidUntil is when a rotation's previous secret stops
	// signing (only in the answer to a rotation).
	PreviousValidUntil *time.Time `json:"previous_valid_until,omitempty"`
}

// deliveryFilter reads status, limit and cursor from the query.
func deliveryFilter(r *http.Request) (webhook.Filter, error) {
	q := r.URL.Query()
	f := webhook.Filter{Status: webhook.Status(q.Get("status")), Cursor: q.Get("cursor")}
	var errs []FieldError
	if f.Status != "" && !f.Status.Valid() {
		errs = append(errs, fieldError("status", "must be one of %s", oneOf(webhook.Statuses)))
	}
	f.Limit, errs = pageParams(q, f.Cursor, errs)
	if len(errs) > 0 {
		return f, invalid(errs...)
	}
	return f, nil
}

func (s *server) webhooks() (Webhooks, error) {
	if s.opts.Webhooks == nil {
		return nil, &Problem{Status: http.StatusNotFound, Detail: "webhooks are not enabled on this server"}
	}
	return s.opts.Webhooks, nil
}

// webhooksAndID is the webhook store and the id in the request's path.
func (s *server) webhooksAndID(r *http.Request) (Webhooks, string, error) {
	wh, err := s.webhooks()
	if err != nil {
		return nil, "", err
	}
	id, err := pathID(r)
	return wh, id, err
}

// listDeliveries lists the caller's deliveries, newest first.
func (s *server) listDeliveries(w http.ResponseWriter, r *http.Request, user string) error {
	wh, err := s.webhooks()
	if err != nil {
		return err
	}
	f, err := deliveryFilter(r)
	if err != nil {
		return err
	}
	return s.writeDeliveries(w, r, wh, user, f)
}

// taskDeliveries lists the deliveries of one of the caller's tasks.
func (s *server) taskDeliveries(w http.ResponseWriter, r *http.Request, user string) error {
	return s.subjectDeliveries(w, r, user, func(ctx context.Context, id string) error {
		_, err := s.app.GetTask(ctx, user, id)
		return err
	})
}

// batchDeliveries lists the deliveries of one of the caller's batches.
func (s *server) batchDeliveries(w http.ResponseWriter, r *http.Request, user string) error {
	return s.subjectDeliveries(w, r, user, func(ctx context.Context, id string) error {
		_, err := s.app.GetBatch(ctx, user, id)
		return err
	})
}

func (s *server) subjectDeliveries(w http.ResponseWriter, r *http.Request, user string, owned func(context.Context, string) error) error {
	wh, id, err := s.webhooksAndID(r)
	if err != nil {
		return err
	}
	if err := owned(r.Context(), id); err != nil {
		return err
	}
	f, err := deliveryFilter(r)
	if err != nil {
		return err
	}
	f.SubjectID = id
	return s.writeDeliveries(w, r, wh, user, f)
}

func (s *server) writeDeliveries(w http.ResponseWriter, r *http.Request, wh Webhooks, user string, f webhook.Filter) error {
	p, err := wh.ListDeliveries(r.Context(), user, f)
	if err != nil {
		return err
	}
	out := deliveryList{Deliveries: p.Deliveries, NextCursor: p.NextCursor}
	if out.Deliveries == nil {
		out.Deliveries = []webhook.Delivery{}
	}
	return writeJSON(w, http.StatusOK, out)
}

// getDelivery shows one delivery with every attempt.
func (s *server) getDelivery(w http.ResponseWriter, r *http.Request, user string) error {
	wh, id, err := s.webhooksAndID(r)
	if err != nil {
		return err
	}
	d, err := wh.GetDelivery(r.Context(), user, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// retryDelivery replays a delivery now, whatever its status, with the same
// webhook-id: 202, the attempt follows.
func (s *server) retryDelivery(w http.ResponseWriter, r *http.Request, user string) error {
	wh, id, err := s.webhooksAndID(r)
	if err != nil {
		return err
	}
	d, err := wh.RetryDelivery(r.Context(), user, id, s.now())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, d)
}

// webhookSecret shows the caller's signing secret (made on first use).
func (s *server) webhookSecret(w http.ResponseWriter, r *http.Request, user string) error {
	wh, err := s.webhooks()
	if err != nil {
		return err
	}
	secrets, err := wh.WebhookSecrets(r.Context(), user, s.now())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, secretAnswer{Secret: secrets[0], Previous: nonNil(secrets[1:])})
}

// rotateWebhookSecret makes a new secret; the previous one keeps signing
// beside it for 24 hours, so receivers can switch without losing events.
func (s *server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request, user string) error {
	wh, err := s.webhooks()
	if err != nil {
		return err
	}
	now := s.now()
	if _, err := wh.RotateWebhookSecret(r.Context(), user, now); err != nil {
		return err
	}
	secrets, err := wh.WebhookSecrets(r.Context(), user, now)
	if err != nil {
		return err
	}
	until := now.Add(webhook.RotationGrace).UTC()
	return writeJSON(w, http.StatusOK, secretAnswer{Secret: secrets[0], Previous: nonNil(secrets[1:]), PreviousValidUntil: &until})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
