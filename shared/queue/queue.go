// Package queue defines the admission queue port: messages with priorities,
// a visibility timeout, a receive count, delays and a dead-letter queue
// after too many receives. SQLite on one machine, SQS in the cloud; every
// adapter passes the conformance suite in shared/queue/queuetest.
package queue

import (
	"context"
	"errors"
	"time"

	"github.com/videoai/mediatasks/shared/task"
)

// ErrReceiptInvalid: the receipt does not name a message that is still in
// flight under that receipt (deleted, or received again by someone else).
var ErrReceiptInvalid = errors.New("receipt is not valid")

// Queue is one logical queue (the task queue, the webhook queue, ...).
type Queue interface {
	// Send enqueues messages. A message with a Delay stays invisible
	// until the delay has passed.
	Send(ctx context.Context, msgs ...Message) error
	// Receive returns up to opts.Max visible messages, favouring high over
	// normal over low priority without starving low, and hides each for
	// opts.Visibility. It waits up to opts.Wait for a first message. A
	// message received more than the queue's maximum receive count is
	// moved to the dead-letter queue instead of being returned.
	Receive(ctx context.Context, opts ReceiveOptions) ([]Delivery, error)
	// Delete removes a received message. A stale receipt (the message was
	// deleted, or received again since) deletes nothing: the adapter
	// answers ErrReceiptInvalid or, as SQS does, nil.
	Delete(ctx context.Context, receipt string) error
	// ChangeVisibility hides a received message for d from now (0 makes it
	// visible at once); the receipt stays valid. An adapter may bound how
	// long a message can be hidden: SQS allows 12 hours counted from the
	// receive, so there a longer d hides the message only to the end of
	// that window, and it comes back early with its receive count one
	// higher. Consumers that wait that long (webhook backoff honouring a
	// long Retry-After) check their own due time and hide it again.
	ChangeVisibility(ctx context.Context, receipt string, d time.Duration) error
	// Stats counts the messages by priority and state.
	Stats(ctx context.Context) (Stats, error)
	// DeadLetters returns up to max messages from the dead-letter queue.
	DeadLetters(ctx context.Context, max int) ([]Delivery, error)
}

// Message is what a producer sends.
type Message struct {
	Priority task.Priority // empty means normal
	Body     []byte
	Delay    time.Duration
}

// Delivery is a received message.
type Delivery struct {
	ID           string
	Priority     task.Priority
	Body         []byte
	Receipt      string
	ReceiveCount int
	SentAt       time.Time
}

// ReceiveOptions shape one Receive call.
type ReceiveOptions struct {
	Max        int           // 1 to 10; 0 means 1
	Visibility time.Duration // how long received messages stay hidden
	Wait       time.Duration // long polling: how long to wait for a first message
}

// Stats is the queue's depth.
type Stats struct {
	// Visible messages ready to be received, per priority.
	Visible map[task.Priority]int
	// InFlight messages received and not yet deleted (or delayed), per priority.
	InFlight map[task.Priority]int
	// Dead messages in the dead-letter queue.
	Dead int
	// OldestVisibleAge is the age of the oldest visible message: 0 if none,
	// or when the adapter cannot tell (SQS shows it only in CloudWatch).
	OldestVisibleAge time.Duration
}
