package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/videoai/mediatasks/shared/queue"
)

// In the cloud, deliveries are driven by a queue rather than by Run: each
// pending delivery has one message on the webhook queue, and the message's
// visibility carries the backoff. The store's delivery records stay the
// truth (status, attempts, due time); a message only says "look at this
// delivery". A message that arrives early, late or twice is harmless:
// ClaimDelivery decides, under a lease, whether an attempt is due.

// QueueMessage is the body of a webhook queue message.
type QueueMessage struct {
	DeliveryID string `json:"delivery_id"`
}

// MessageFor returns the queue message of a pending delivery, delayed
// until it is due, or by maxMessageDelay at most (an early message hides
// itself again when it arrives).
func MessageFor(dl Delivery, now time.Time) queue.Message {
	body, _ := json.Marshal(QueueMessage{DeliveryID: dl.ID}) // cannot fail
	return queue.Message{Body: body, Delay: min(max(dl.NextAttemptAt.Sub(now), 0), maxMessageDelay)}
}

// maxMessageDelay is SQS's longest delivery delay.
const maxMessageDelay = 15 * time.Minute

// Verdict is what to do with a delivery's queue message after Handle.
type Verdict struct {
	// Done: delete the message, the delivery needs no more attempts (or
	// no longer exists).
	Done bool
	// Again is how long to hide the message before it comes back, when
	// not Done.
	Again time.Duration
}

// minAgain keeps a message that found its delivery claimed by someone
// else from spinning.
const minAgain = time.Second

// Handle makes the attempt that a queue message for delivery id asks for,
// if one is due, and says what to do with the message. An error means
// the message should come back after its visibility timeout as it is.
func (d *Deliverer) Handle(ctx context.Context, id string) (Verdict, error) {
	dl, claimed, err := d.store.ClaimDelivery(ctx, id, d.now(), d.lease)
	if errors.Is(err, ErrNotFound) {
		return Verdict{Done: true}, nil
	}
	if err != nil {
		return Verdict{}, fmt.Errorf("claim delivery %s: %w", id, err)
	}
	if claimed {
		if dl, err = d.attempt(ctx, dl); err != nil {
			return Verdict{}, err
		}
	}
	if dl.Status != StatusPending {
		return Verdict{Done: true}, nil
	}
	return Verdict{Again: max(dl.NextAttemptAt.Sub(d.now()), minAgain)}, nil
}

// HandleBody is Handle for the body of a webhook queue message. A body
// that names no delivery is Done: no version of this code wrote it, and
// keeping it would only send it to the dead-letter queue later.
func (d *Deliverer) HandleBody(ctx context.Context, body []byte) (Verdict, error) {
	var msg QueueMessage
	if err := json.Unmarshal(body, &msg); err != nil || msg.DeliveryID == "" {
		d.log.ErrorContext(ctx, "drop a webhook message that names no delivery", "body", string(body))
		return Verdict{Done: true}, nil
	}
	return d.Handle(ctx, msg.DeliveryID)
}

// HandleMessage is Handle for a received queue message, settling it on q:
// deleted when done, hidden until the delivery is next due otherwise.
func (d *Deliverer) HandleMessage(ctx context.Context, q queue.Queue, m queue.Delivery) error {
	v, err := d.HandleBody(ctx, m.Body)
	if err != nil {
		return err
	}
	if v.Done {
		if err := q.Delete(ctx, m.Receipt); err != nil {
			return fmt.Errorf("delete webhook message %s: %w", m.ID, err)
		}
		return nil
	}
	if err := q.ChangeVisibility(ctx, m.Receipt, v.Again); err != nil {
		return fmt.Errorf("hide webhook message %s for %s: %w", m.ID, v.Again, err)
	}
	return nil
}

// Enqueuer sends the queue messages of new and replayed deliveries: the
// store calls Send after committing them (its OnDeliveries hook). A send
// that fails after the commit loses nothing: Sweep finds the delivery
// overdue and sends again.
type Enqueuer struct {
	Queue queue.Queue
	Now   func() time.Time
	Log   *slog.Logger
	// SendTimeout bounds Send (default 10 s): it runs in the write that
	// committed the deliveries, which must not hang on a stalled queue.
	SendTimeout time.Duration
}

// Send enqueues one message per pending delivery; failures are logged
// (the sweep repairs them), never returned to the write that committed.
func (e Enqueuer) Send(ctx context.Context, pending []Delivery) {
	if len(pending) == 0 {
		return
	}
	now := e.now()
	msgs := make([]queue.Message, 0, len(pending))
	for _, dl := range pending {
		msgs = append(msgs, MessageFor(dl, now))
	}
	timeout := e.SendTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	// The caller's write has committed: its cancellation must not stop
	// the send, but the send must end.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := e.Queue.Send(ctx, msgs...); err != nil {
		e.log().ErrorContext(ctx, "send webhook messages; the sweep will send them again", "deliveries", len(msgs), "err", err)
	}
}

// SweepGrace is how long past its due time a pending delivery may go
// unattempted before Sweep sends its message again: its own message
// arrives within seconds of the due time, so a delivery this late has
// lost it.
const SweepGrace = 5 * time.Minute

// Sweep re-sends the messages of pending deliveries overdue by more than
// grace, up to limit, and says how many it sent. While the queue holds
// visible messages, the consumers are behind rather than messages lost,
// and it sends nothing: each sweep would add another copy of the same
// deliveries' messages. A delivery whose message was only slow gets two;
// ClaimDelivery makes that one attempt.
func (e Enqueuer) Sweep(ctx context.Context, store Store, grace time.Duration, limit int) (int, error) {
	st, err := e.Queue.Stats(ctx)
	if err != nil {
		return 0, fmt.Errorf("sweep webhook deliveries: queue stats: %w", err)
	}
	if backlog := sum(st.Visible); backlog > 0 {
		e.log().InfoContext(ctx, "webhook sweep skipped: the queue has a backlog", "visible", backlog)
		return 0, nil
	}
	now := e.now()
	overdue, err := store.DueDeliveries(ctx, now.Add(-grace), limit)
	if err != nil {
		return 0, fmt.Errorf("sweep webhook deliveries: %w", err)
	}
	if len(overdue) == 0 {
		return 0, nil
	}
	msgs := make([]queue.Message, 0, len(overdue))
	for _, dl := range overdue {
		msgs = append(msgs, MessageFor(dl, now))
	}
	if err := e.Queue.Send(ctx, msgs...); err != nil {
		return 0, fmt.Errorf("sweep webhook deliveries: send %d: %w", len(msgs), err)
	}
	e.log().InfoContext(ctx, "re-sent the messages of overdue webhook deliveries", "deliveries", len(msgs))
	return len(msgs), nil
}

func (e Enqueuer) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

func (e Enqueuer) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

func sum[K comparable](m map[K]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
