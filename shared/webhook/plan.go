package webhook

import (
	"time"

	"github.com/videoai/mediatasks/shared/task"
)

// Endpoint is one user's webhook URL: a 410 from one user's receiver
// disables nothing of another's with the same URL.
type Endpoint struct {
	UserID string
	URL    string
}

// Outbox is what a store has recorded, before a write, that decides the
// write's deliveries. Plan looks only at what PlanNeeds lists.
type Outbox struct {
	// Disabled holds the endpoints that answered 410 Gone.
	Disabled map[Endpoint]bool
	// LastProgress is the CreatedAt of each subject's latest
	// task.progress delivery, by subject id.
	LastProgress map[string]time.Time
}

// Planned is what a write of events owes the outbox.
type Planned struct {
	// Deliveries to store with the events, in event order: pending and
	// due at their event's time, or skipped (disabled endpoint) with
	// their one skipped attempt as LastAttempt.
	Deliveries []Delivery
	// Progress is the new latest task.progress delivery time of each
	// subject this write delivers progress of.
	Progress map[string]time.Time
}

// disabledError says why a delivery was skipped.
const disabledError = "endpoint disabled: it answered 410 Gone"

// PlanNeeds lists, each once, what Plan reads from the Outbox for events:
// the endpoints they go to, and the subjects of their task.progress
// events. Stores read these before the write (DynamoDB transactions
// cannot read).
func PlanNeeds(events []task.Event) (endpoints []Endpoint, subjects []string) {
	seenEndpoint := map[Endpoint]bool{}
	seenSubject := map[string]bool{}
	for _, e := range deliverable(events) {
		if ep := (Endpoint{e.UserID, e.WebhookURL}); !seenEndpoint[ep] {
			seenEndpoint[ep] = true
			endpoints = append(endpoints, ep)
		}
		if e.Type == task.EventTaskProgress && !seenSubject[e.SubjectID] {
			seenSubject[e.SubjectID] = true
			subjects = append(subjects, e.SubjectID)
		}
	}
	return endpoints, subjects
}

// Plan decides the deliveries of events being written, from what the
// store knew before the write; now dates events that carry no time. An
// event with a WebhookURL (its subject subscribed to its type) gets one
// delivery, unless it is a task.progress event within ProgressInterval
// of its subject's last progress delivery: the next one says more. A
// delivery to a disabled endpoint is skipped at once, so that it says
// why nothing was sent. Plan does no I/O; known is not changed.
func Plan(events []task.Event, known Outbox, now time.Time) Planned {
	var p Planned
	for _, e := range deliverable(events) {
		if e.CreatedAt.IsZero() {
			e.CreatedAt = now
		}
		if e.Type == task.EventTaskProgress {
			last, ok := p.Progress[e.SubjectID]
			if !ok {
				last, ok = known.LastProgress[e.SubjectID]
			}
			if ok && e.CreatedAt.Sub(last) < ProgressInterval {
				continue
			}
			if p.Progress == nil {
				p.Progress = map[string]time.Time{}
			}
			p.Progress[e.SubjectID] = e.CreatedAt
		}
		d := NewDelivery(e)
		if known.Disabled[Endpoint{e.UserID, e.WebhookURL}] {
			d.Status, d.AttemptCount = StatusSkipped, 1
			d.LastAttempt = &Attempt{At: d.CreatedAt, Outcome: OutcomeSkipped, Error: disabledError}
		}
		p.Deliveries = append(p.Deliveries, d)
	}
	return p
}

// deliverable returns the events with a WebhookURL, each id once: an
// event given twice in one write gets one delivery.
func deliverable(events []task.Event) []task.Event {
	var out []task.Event
	seen := make(map[string]bool, len(events))
	for _, e := range events {
		if e.WebhookURL == "" || seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		out = append(out, e)
	}
	return out
}
