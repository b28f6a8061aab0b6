package task

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// EventType names a change clients can follow (SSE, webhooks).
type EventType string

const (
	EventTaskQueued     EventType = "task.queued"
	EventTaskStarted    EventType = "task.started"
	EventTaskProgress   EventType = "task.progress"
	EventTaskCompleted  EventType = "task.completed"
	EventTaskFailed     EventType = "task.failed"
	EventTaskCanceled   EventType = "task.canceled"
	EventBatchCompleted EventType = "batch.completed"
)

// EventTypes lists every event type.
var EventTypes = []EventType{
	EventTaskQueued, EventTaskStarted, EventTaskProgress, EventTaskCompleted,
	EventTaskFailed, EventTaskCanceled, EventBatchCompleted,
}

// DefaultWebhookEvents is what a webhook receives when it names no events.
var DefaultWebhookEvents = []EventType{EventTaskCompleted, EventTaskFailed, EventTaskCanceled, EventBatchCompleted}

// Valid reports whether e is a known event type.
func (e EventType) Valid() bool { return slices.Contains(EventTypes, e) }

// EffectiveWebhookEvents returns the subscribed events, or the defaults.
func EffectiveWebhookEvents(subscribed []EventType) []EventType {
	if len(subscribed) == 0 {
		return DefaultWebhookEvents
	}
	return subscribed
}

// EndsTask reports whether an event of this type is appended when a task
// enters a terminal status: after it, the task has no more events.
func (e EventType) EndsTask() bool {
	for status, ev := range statusEvent {
		if ev == e {
			return status.Terminal()
		}
	}
	return false
}

var statusEvent = map[Status]EventType{
	StatusQueued:    EventTaskQueued,
	StatusRunning:   EventTaskStarted,
	StatusCompleted: EventTaskCompleted,
	StatusFailed:    EventTaskFailed,
	StatusCanceled:  EventTaskCanceled,
}

// Event records one change of a task or a batch. Events of one subject are
// numbered by the subject's Version after the change, so (SubjectID, Seq) is
// unique and ordered in every store.
type Event struct {
	ID        string    `json:"id"`
	SubjectID string    `json:"subject_id"`
	UserID    string    `json:"-"`
	Seq       int64     `json:"seq"`
	Type      EventType `json:"event_type"`
	CreatedAt time.Time `json:"created_at"`
	// Data is the task or batch as it was after the change, in the API's
	// JSON form (without signed URLs, which are made when it is shown).
	Data json.RawMessage `json:"data"`
	// WebhookURL is where the event is to be delivered: set when its
	// subject's webhook subscribes to its type. Stores record a delivery
	// for it in the same write as the event (an outbox), so that an event
	// stored is an event delivered.
	WebhookURL string `json:"-"`
}

// NewTaskEvent builds the event of type typ for the task as it is now.
func NewTaskEvent(t *Task, typ EventType, now time.Time) Event {
	data, _ := EncodeJSON(t) // a Task always marshals
	return Event{
		ID:         EventID(t.ID, t.Version),
		SubjectID:  t.ID,
		UserID:     t.UserID,
		Seq:        t.Version,
		Type:       typ,
		CreatedAt:  now,
		Data:       data,
		WebhookURL: webhookFor(t.WantsEvent(typ), t.WebhookURL),
	}
}

// NewBatchEvent builds the event of type typ for the batch as it is now.
func NewBatchEvent(b *Batch, typ EventType, now time.Time) Event {
	data, _ := EncodeJSON(b) // a Batch always marshals
	return Event{
		ID:         EventID(b.ID, b.Version),
		SubjectID:  b.ID,
		UserID:     b.UserID,
		Seq:        b.Version,
		Type:       typ,
		CreatedAt:  now,
		Data:       data,
		WebhookURL: webhookFor(b.WantsEvent(typ), b.WebhookURL),
	}
}

func webhookFor(wanted bool, url string) string {
	if !wanted {
		return ""
	}
	return url
}

// EventID is the stable identifier of the seq-th event of a subject; the
// webhook-id of its deliveries derives from it.
func EventID(subjectID string, seq int64) string {
	return "evt_" + subjectID + "_" + strconv.FormatInt(seq, 10)
}

// EncodeJSON encodes v as JSON without escaping <, > and & (which
// json.Marshal writes as six bytes each, for JSON embedded in HTML): the
// platform's JSON is stored and sent as JSON, and its size is what store
// limits count. Escaped or not, it decodes the same.
func EncodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
