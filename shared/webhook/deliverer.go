package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/videoai/mediatasks/shared/task"
)

// PresentFunc puts an event's data in the API's form (signed, fresh file
// URLs in place of storage keys).
type PresentFunc func(ctx context.Context, e task.Event) (task.Event, error)

// Options tune New. Only Store is required.
type Options struct {
	Store Store
	// Present, when set, is applied to the event before each attempt, so
	// that the URLs it signs are fresh on every retry.
	Present PresentFunc
	// Client sends the requests (default NewClient(Timeout, AllowPrivate)).
	// A client of one's own must keep NewClient's guards.
	Client *http.Client
	// Schedule is the wait before each retry (default DefaultSchedule);
	// an empty, non-nil schedule means a single try.
	Schedule []time.Duration
	// Timeout bounds one attempt (default DefaultTimeout).
	Timeout time.Duration
	// AllowPrivate lets webhooks reach loopback and private addresses:
	// local development only.
	AllowPrivate bool
	// Now is the clock of schedules and signatures (default time.Now).
	Now func() time.Time
	Log *slog.Logger
	// Workers is how many attempts run at once (default 8).
	Workers int
	// Lease is how long a claimed delivery is held before it is due again
	// (default Timeout plus a minute): after a crash mid-attempt, it is
	// retried once the lease lapses.
	Lease time.Duration
	// PollInterval is how often Run looks for due deliveries when nothing
	// notifies it (default 1 s): retries come due by the clock.
	PollInterval time.Duration
	// Wake, raised by the store after it commits new deliveries, makes
	// Run look at once (default a signal only Notify raises).
	Wake *Signal
}

// Deliverer sends due deliveries, records every attempt and reschedules
// failures. Several deliverers (processes) may share a store: claims keep
// them from sending one delivery at once.
type Deliverer struct {
	store    Store
	present  PresentFunc
	client   *http.Client
	schedule []time.Duration
	timeout  time.Duration
	guard    Guard
	now      func() time.Time
	log      *slog.Logger
	workers  int
	lease    time.Duration
	poll     time.Duration
	wake     *Signal
	metrics  *metrics
}

// New returns a deliverer; start it with Run.
func New(opts Options) (*Deliverer, error) {
	if opts.Store == nil {
		return nil, errors.New("new webhook deliverer: a store is required")
	}
	if opts.Schedule == nil {
		opts.Schedule = DefaultSchedule
	}
	for i, d := range opts.Schedule {
		if d < 0 {
			return nil, fmt.Errorf("new webhook deliverer: schedule[%d] is negative (%s)", i, d)
		}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Client == nil {
		opts.Client = NewClient(opts.Timeout, opts.AllowPrivate)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.Lease <= 0 {
		opts.Lease = opts.Timeout + time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Wake == nil {
		opts.Wake = NewSignal()
	}
	return &Deliverer{
		store: opts.Store, present: opts.Present, client: opts.Client,
		schedule: append([]time.Duration(nil), opts.Schedule...), timeout: opts.Timeout,
		guard: Guard{AllowPrivate: opts.AllowPrivate}, now: opts.Now, log: opts.Log,
		workers: opts.Workers, lease: opts.Lease, poll: opts.PollInterval,
		wake: opts.Wake, metrics: newMetrics(opts.Store, opts.Now),
	}, nil
}

// Run delivers until ctx ends, then waits for the attempts in flight; an
// attempt cut short is not recorded, and is made again after its lease.
func (d *Deliverer) Run(ctx context.Context) error {
	slots := make(chan struct{}, d.workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(d.poll)
	defer tick.Stop()
	for {
		// Claim only what free workers can start at once: a claimed
		// delivery's lease runs while it waits.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		free := 1
	fill:
		for free < d.workers {
			select {
			case slots <- struct{}{}:
				free++
			default:
				break fill
			}
		}
		due, err := d.store.ClaimDue(ctx, d.now(), free, d.lease)
		if err != nil && ctx.Err() == nil {
			d.log.Error("claim due webhook deliveries", "err", err)
		}
		for range free - len(due) {
			<-slots
		}
		for _, dl := range due {
			wg.Go(func() {
				defer func() { <-slots }()
				_, _ = d.attempt(ctx, dl) // logged; a lost record comes back after the lease
			})
		}
		if len(due) == free {
			continue // maybe more due: claim again as workers free up
		}
		select {
		case <-d.wake.ch:
		case <-tick.C:
		case <-ctx.Done():
			return nil
		}
	}
}

// RunOnce attempts every delivery due now and returns how many it
// attempted, once they are all recorded. Tests on a fake clock call it
// instead of Run.
func (d *Deliverer) RunOnce(ctx context.Context) (int, error) {
	total := 0
	batch := d.workers * 4
	for {
		due, err := d.store.ClaimDue(ctx, d.now(), batch, d.lease)
		if err != nil {
			return total, fmt.Errorf("run webhook deliveries: %w", err)
		}
		slots := make(chan struct{}, d.workers)
		var wg sync.WaitGroup
		for _, dl := range due {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				_, _ = d.attempt(ctx, dl) // logged; a lost record comes back after the lease
			})
		}
		wg.Wait()
		total += len(due)
		if len(due) < batch {
			return total, ctx.Err()
		}
	}
}

// Body is what a webhook request carries.
type Body struct {
	ID        string          `json:"id"`
	EventType task.EventType  `json:"event_type"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// attempt makes one try of dl and records it, and returns dl as recorded.
// An error means nothing was recorded: the claim's lease brings the
// delivery back.
func (d *Deliverer) attempt(ctx context.Context, dl Delivery) (Delivery, error) {
	a, retryAfter := d.send(ctx, dl)
	if ctx.Err() != nil {
		return dl, fmt.Errorf("attempt delivery %s: %w", dl.ID, ctx.Err()) // shutting down
	}
	a.At = d.now()
	dl.AttemptCount++
	dl.Status, dl.NextAttemptAt = d.settle(dl, &a, retryAfter)
	if err := d.store.RecordAttempt(context.WithoutCancel(ctx), dl, a); err != nil {
		d.log.Error("record webhook attempt", "delivery", dl.ID, "webhook_id", dl.EventID, "err", err)
		return dl, fmt.Errorf("record attempt of delivery %s: %w", dl.ID, err)
	}
	d.metrics.observe(a)
	d.log.Debug("webhook attempt", "delivery", dl.ID, "webhook_id", dl.EventID, "outcome", a.Outcome,
		"status_code", a.StatusCode, "latency", a.Latency, "err", a.Error)
	return dl, nil
}

// settle decides the delivery's status after attempt a, turning a's
// failure into exhausted when no retry is left.
func (d *Deliverer) settle(dl Delivery, a *Attempt, retryAfter time.Duration) (Status, time.Time) {
	switch a.Outcome {
	case OutcomeDelivered:
		return StatusDelivered, a.At
	case OutcomeBlocked:
		return StatusBlocked, a.At
	case OutcomeSkipped:
		return StatusSkipped, a.At
	case OutcomeGone:
		return StatusExhausted, a.At
	}
	wait, ok := nextDelay(d.schedule, dl.AttemptCount)
	if !ok {
		a.Outcome = OutcomeExhausted
		return StatusExhausted, a.At
	}
	a.Outcome = OutcomeFailed
	return StatusPending, a.At.Add(max(wait, retryAfter))
}

// send makes the request, and returns the attempt (without its time) and
// the receiver's Retry-After.
func (d *Deliverer) send(ctx context.Context, dl Delivery) (Attempt, time.Duration) {
	fail := func(format string, args ...any) (Attempt, time.Duration) {
		return Attempt{Outcome: OutcomeFailed, Error: fmt.Sprintf(format, args...)}, 0
	}
	if err := d.guard.CheckURL(dl.URL); err != nil {
		return Attempt{Outcome: OutcomeBlocked, Error: err.Error()}, 0
	}
	disabled, err := d.store.EndpointDisabled(ctx, dl.UserID, dl.URL)
	if err != nil {
		return fail("read endpoint: %v", err)
	}
	if disabled {
		return Attempt{Outcome: OutcomeSkipped, Error: disabledError}, 0
	}
	ev := dl.Event
	if d.present != nil {
		if ev, err = d.present(ctx, ev); err != nil {
			return fail("present event: %v", err)
		}
	}
	body, err := json.Marshal(Body{ID: dl.EventID, EventType: ev.Type, CreatedAt: ev.CreatedAt, Data: ev.Data})
	if err != nil {
		return fail("encode body: %v", err)
	}
	now := d.now()
	secrets, err := d.store.WebhookSecrets(ctx, dl.UserID, now)
	if err != nil {
		return fail("read secrets: %v", err)
	}
	sig, err := Sign(secrets, dl.EventID, now, body)
	if err != nil {
		return fail("%v", err)
	}
	reqCtx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, dl.URL, bytes.NewReader(body))
	if err != nil {
		return Attempt{Outcome: OutcomeBlocked, Error: fmt.Sprintf("build request: %v", err)}, 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mediatasks-webhooks/1")
	req.Header.Set(HeaderID, dl.EventID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)

	start := time.Now() // latency is measured, never simulated
	resp, err := d.client.Do(req)
	a := Attempt{}
	if err != nil {
		a.Latency = time.Since(start)
		a.Error = err.Error()
		a.Outcome = OutcomeFailed
		if errors.Is(err, ErrBlocked) {
			a.Outcome = OutcomeBlocked
		}
		return a, 0
	}
	head, readErr := io.ReadAll(io.LimitReader(resp.Body, ResponseLimit))
	// Drain a little more so the connection can be reused; never much.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	a.Latency = time.Since(start)
	a.StatusCode = resp.StatusCode
	a.Response = strings.ToValidUTF8(string(head), "\uFFFD")
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		a.Outcome = OutcomeDelivered
		return a, 0
	case code == http.StatusGone:
		a.Outcome = OutcomeGone
		if err := d.store.DisableEndpoint(context.WithoutCancel(ctx), dl.UserID, dl.URL, d.now()); err != nil {
			d.log.Error("disable webhook endpoint", "delivery", dl.ID, "err", err)
		}
		return a, 0
	default:
		// Redirects are not followed (they could lead inside), 4xx may be
		// a receiver's passing fault: every other answer is retried.
		a.Outcome = OutcomeFailed
		if code >= 300 && code < 400 {
			a.Error = "redirect not followed: " + resp.Header.Get("Location")
		} else if readErr != nil {
			a.Error = "read response: " + readErr.Error()
		}
		wait, _ := RetryAfter(resp.Header, d.now())
		return a, wait
	}
}
