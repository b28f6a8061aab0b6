package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/task"
)

// Status is where a delivery stands.
type Status string

const (
	// StatusPending: due at NextAttemptAt (now, or after a failure).
	StatusPending Status = "pending"
	// StatusDelivered: the receiver answered 2xx.
	StatusDelivered Status = "delivered"
	// StatusExhausted: every try failed, or the receiver answered 410
	// Gone; the delivery is kept and can be replayed.
	StatusExhausted Status = "exhausted"
	// StatusSkipped: the endpoint was disabled (by a 410) before the event.
	StatusSkipped Status = "skipped"
	// StatusBlocked: the URL names or resolves to an address the server
	// must not call. Final: retrying would be refused the same way.
	StatusBlocked Status = "blocked"
)

// Statuses lists every delivery status.
var Statuses = []Status{StatusPending, StatusDelivered, StatusExhausted, StatusSkipped, StatusBlocked}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Outcome is what one attempt came to.
type Outcome string

const (
	OutcomeDelivered Outcome = "delivered" // 2xx
	OutcomeFailed    Outcome = "failed"    // will be retried
	OutcomeExhausted Outcome = "exhausted" // failed, and no retry is left
	OutcomeGone      Outcome = "gone"      // 410: the endpoint is now disabled
	OutcomeBlocked   Outcome = "blocked"   // refused address, nothing sent
	OutcomeSkipped   Outcome = "skipped"   // disabled endpoint, nothing sent
)

// Outcomes lists every attempt outcome.
var Outcomes = []Outcome{OutcomeDelivered, OutcomeFailed, OutcomeExhausted, OutcomeGone, OutcomeBlocked, OutcomeSkipped}

// ResponseLimit is how much of a receiver's answer an attempt keeps.
const ResponseLimit = 1024

// Attempt is one turn of a delivery. Attempts that sent nothing (blocked,
// skipped) are recorded too, so that a delivery always says why it ended.
type Attempt struct {
	At         time.Time     `json:"at"`
	StatusCode int           `json:"status_code,omitempty"`
	Latency    time.Duration `json:"-"`
	// Response is the start of the receiver's answer (ResponseLimit bytes).
	Response string  `json:"response,omitempty"`
	Error    string  `json:"error,omitempty"`
	Outcome  Outcome `json:"outcome"`
}

// MarshalJSON shows Latency as latency_ms.
func (a Attempt) MarshalJSON() ([]byte, error) {
	type plain Attempt
	return json.Marshal(struct {
		plain
		LatencyMS float64 `json:"latency_ms"`
	}{plain(a), float64(a.Latency) / float64(time.Millisecond)})
}

// Delivery is one event on its way to one webhook URL. Its EventID is the
// webhook-id: the same on every attempt and replay, so receivers can drop
// duplicates.
type Delivery struct {
	ID            string         `json:"id"`
	EventID       string         `json:"webhook_id"`
	UserID        string         `json:"-"`
	SubjectID     string         `json:"subject_id"`
	EventType     task.EventType `json:"event_type"`
	URL           string         `json:"url"`
	Event         task.Event     `json:"-"`
	Status        Status         `json:"status"`
	AttemptCount  int            `json:"attempt_count"`
	NextAttemptAt time.Time      `json:"next_attempt_at"`
	LastAttempt   *Attempt       `json:"last_attempt"`
	// Attempts, oldest first, are filled by Get only.
	Attempts  []Attempt `json:"attempts,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Lease identifies the claim under which the delivery is attempted:
	// Record refuses a result from a claim that has since lapsed.
	Lease string `json:"-"`
}

// DeliveryID is the id of the delivery of an event: derived from the
// event's, so that recording a delivery twice is recording it once.
func DeliveryID(eventID string) string { return "dlv_" + strings.TrimPrefix(eventID, "evt_") }

// NewDelivery returns the pending delivery of e to e.WebhookURL, due when
// the event happened. Stores call it in the write that stores e.
func NewDelivery(e task.Event) Delivery {
	return Delivery{
		ID: DeliveryID(e.ID), EventID: e.ID, UserID: e.UserID, SubjectID: e.SubjectID,
		EventType: e.Type, URL: e.WebhookURL, Event: e, Status: StatusPending,
		NextAttemptAt: e.CreatedAt, CreatedAt: e.CreatedAt, UpdatedAt: e.CreatedAt,
	}
}

// ProgressInterval is the least time between two task.progress deliveries
// of one task: progress in between is not delivered (the next one says
// more anyway).
const ProgressInterval = time.Second

var (
	// ErrNotFound: no such delivery for this user.
	ErrNotFound = errors.New("webhook delivery not found")
	// ErrLeaseLost: the delivery was claimed again (its lease lapsed, or
	// it was replayed) before this attempt was recorded.
	ErrLeaseLost = errors.New("webhook delivery lease lost")
	// ErrBadCursor: a listing cursor the store did not issue.
	ErrBadCursor = errors.New("bad webhook delivery cursor")
)

// Filter narrows and pages a listing of deliveries. Empty fields do not
// filter.
type Filter struct {
	Status    Status
	SubjectID string
	Limit     int    // 1 to 100; 0 means 20
	Cursor    string // opaque, from Page.NextCursor
}

// Page is one page of deliveries, newest first; NextCursor is empty on
// the last page.
type Page struct {
	Deliveries []Delivery
	NextCursor string
}

// Store keeps deliveries, their attempts, disabled endpoints and signing
// secrets. Deliveries are created by the task store in the same write as
// their events (an outbox); this port is what delivering and showing them
// needs. Adapters pass the suite in shared/webhook/webhooktest.
type Store interface {
	// ClaimDue leases up to limit pending deliveries due at now (oldest
	// due first): they are not due again until now+lease, so that an
	// attempt cut short by a crash is made again after the lease, with
	// the same webhook-id. Each returned delivery carries its Lease.
	ClaimDue(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Delivery, error)
	// ClaimDelivery leases the one delivery id, as ClaimDue would, when it
	// is pending and due at now, and returns it with claimed true. When
	// it is not (no longer pending, not yet due, or claimed by someone
	// else whose lease is still running) it returns the delivery as
	// stored and claimed false: the cloud's webhook queue carries one
	// message per delivery, and a message that arrives early or late
	// learns here what to do with itself. ErrNotFound when absent.
	ClaimDelivery(ctx context.Context, id string, now time.Time, lease time.Duration) (d Delivery, claimed bool, err error)
	// DueDeliveries returns up to limit pending deliveries of any user
	// that were due before the given time, oldest due first, without
	// claiming them: a sweeper re-sends the queue messages of deliveries
	// overdue by more than a grace period, in case a send was lost.
	DueDeliveries(ctx context.Context, before time.Time, limit int) ([]Delivery, error)
	// RecordAttempt appends the attempt to d's, and stores d's Status,
	// AttemptCount and NextAttemptAt, ending its lease. When d.Lease is
	// no longer the delivery's, the attempt is kept but nothing else
	// changes, and the error wraps ErrLeaseLost.
	RecordAttempt(ctx context.Context, d Delivery, a Attempt) error
	// GetDelivery returns the user's delivery with all its attempts
	// (userID "" reads any user's).
	GetDelivery(ctx context.Context, userID, id string) (Delivery, error)
	// ListDeliveries returns the user's deliveries, newest first
	// (CreatedAt, then ID, descending), without their Attempts.
	ListDeliveries(ctx context.Context, userID string, f Filter) (Page, error)
	// RetryDelivery makes the user's delivery pending and due at now,
	// whatever its status, and ends any claim on it; the webhook-id
	// stays. It re-enables the delivery's endpoint: replaying is the user
	// saying it is back.
	RetryDelivery(ctx context.Context, userID, id string, now time.Time) (Delivery, error)
	// DisableEndpoint stops deliveries of the user's events to url: new
	// ones are recorded as skipped.
	DisableEndpoint(ctx context.Context, userID, url string, at time.Time) error
	// EndpointDisabled reports whether the user's url is disabled.
	EndpointDisabled(ctx context.Context, userID, url string) (bool, error)
	// WebhookSecrets returns the user's signing secrets active at now,
	// newest first, creating the first one when the user has none.
	WebhookSecrets(ctx context.Context, userID string, now time.Time) ([]string, error)
	// RotateWebhookSecret makes a new secret for the user and returns it;
	// the ones active until now stay active for RotationGrace more.
	RotateWebhookSecret(ctx context.Context, userID string, now time.Time) (string, error)
	// OldestPendingDelivery returns the CreatedAt of the oldest pending
	// delivery of any user, and false when none is pending.
	OldestPendingDelivery(ctx context.Context) (time.Time, bool, error)
	// CountDeliveries counts all users' deliveries by status.
	CountDeliveries(ctx context.Context) (map[Status]int, error)
}

// NewLease returns a fresh claim token for Delivery.Lease.
func NewLease() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new lease: %w", err)
	}
	return hex.EncodeToString(b), nil
}
