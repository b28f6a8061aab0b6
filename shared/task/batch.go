package task

import "time"

// BatchStatus is "running" until every task of the batch is terminal.
type BatchStatus string

const (
	BatchRunning   BatchStatus = "running"
	BatchCompleted BatchStatus = "completed"
)

// Batch groups tasks submitted together. Its counters are kept by the store
// in the same write as each task's status change.
type Batch struct {
	ID            string         `json:"id"`
	UserID        string         `json:"-"`
	TaskIDs       []string       `json:"task_ids"`
	Status        BatchStatus    `json:"status"`
	Counts        map[Status]int `json:"counts"`
	WebhookURL    string         `json:"webhook_url,omitempty"`
	WebhookEvents []EventType    `json:"webhook_events,omitempty"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	CompletedAt   *time.Time     `json:"completed_at"`
	Version       int64          `json:"version"`
}

// NewCounts returns counters with every status present and total tasks queued.
func NewCounts(queued int) map[Status]int {
	c := make(map[Status]int, len(Statuses))
	for _, s := range Statuses {
		c[s] = 0
	}
	c[StatusQueued] = queued
	return c
}

// Move shifts one task from status from to status to in the counters, and
// completes the batch when every task is terminal. It bumps Version and
// returns the batch.completed event when the batch has just completed.
func (b *Batch) Move(from, to Status, now time.Time) (*Event, bool) {
	if from == to {
		return nil, false
	}
	b.Counts[from]--
	b.Counts[to]++
	b.UpdatedAt = now
	b.Version++
	if b.Status == BatchCompleted || b.terminalCount() < len(b.TaskIDs) {
		return nil, true
	}
	b.Status = BatchCompleted
	done := now
	b.CompletedAt = &done
	ev := NewBatchEvent(b, EventBatchCompleted, now)
	return &ev, true
}

func (b *Batch) terminalCount() int {
	return b.Counts[StatusCompleted] + b.Counts[StatusFailed] + b.Counts[StatusCanceled]
}

// WantsEvent reports whether the batch's webhook subscribes to event type e.
func (b *Batch) WantsEvent(e EventType) bool { return wantsEvent(b.WebhookURL, b.WebhookEvents, e) }
