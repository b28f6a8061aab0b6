// Package app is the core of mediatasks over its ports: it creates tasks and
// batches and their queue messages, reads, lists and cancels them, keeps
// uploads, waits for and streams changes, dispatches queued tasks to the
// workflow runner and sweeps what a crash left behind. The HTTP API, the
// local server and the Lambda functions all drive this one App.
package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/storage"
	"github.com/videoai/mediatasks/shared/task"
)

// Runner starts and stops workflows. Starting is idempotent by task or
// batch id: a redelivered queue message starts nothing new.
type Runner interface {
	// Start starts the workflow of a task submitted alone.
	Start(ctx context.Context, t *task.Task) error
	// StartBatch starts the workflow of a batch, which runs the workflow
	// of each of its tasks under the batch's concurrency cap.
	StartBatch(ctx context.Context, b *task.Batch) error
	// Stop stops a task's workflow (the task is already canceled).
	Stop(ctx context.Context, taskID string) error
}

// Admission is a runner that bounds the workflows in progress: the
// dispatcher takes a message from the queue only when there is room for
// its workflow, so that what waits, waits in the queue, by priority.
type Admission interface {
	// Room is how many more workflows may start now (0 or less: none).
	Room() int
	// Freed is signalled when a workflow ends.
	Freed() <-chan struct{}
}

// TypeAdmission is a runner that also bounds the workflows of each task
// type: a task whose type has no room waits in the queue, while other
// types' tasks start.
type TypeAdmission interface {
	RoomFor(typ task.Type) int
}

// Limits are the operator's settings that shape what clients may do.
type Limits struct {
	BatchMax             int           // tasks in one batch (default 50)
	SubmitsPerMinute     int           // per API key (default 600)
	PreferWaitMax        time.Duration // longest Prefer: wait (default 60 s)
	IdempotencyTTL       time.Duration // how long an Idempotency-Key is remembered (default 24 h)
	UploadMaxBytes       int64         // largest upload (default 100 MiB)
	SignedURLTTL         time.Duration // life of a file URL shown in a task (default 1 h)
	RequeueAfter         time.Duration // a task queued this long is re-sent (default 5 min)
	DispatchVisibility   time.Duration // how long the dispatcher holds a message (default 30 s)
	DispatcherConcurrent int           // receivers of up to 10 messages each (default 4)
	// StartAttempts is how many receives of a message may fail to start
	// its workflow before its tasks fail (default 5: the queue's
	// receives before its dead-letter queue).
	StartAttempts int
	// DailyBudgetUSD caps what one user's completed tasks may cost in a
	// UTC day: past it, submits are refused (ErrBudget). 0: no cap.
	DailyBudgetUSD float64
	// Retention is how long a task's output files and an upload are kept
	// (default DefaultRetention); a task shows when its files expire.
	Retention time.Duration
	// MinFreeBytes refuses new submits (507) while the storage has less
	// free space, so that the work already taken can still finish; 0:
	// no watermark. It needs Deps.FreeBytes.
	MinFreeBytes int64
	// MaxInProgress is the Budget's bound on workflows in progress (with
	// Deps.Budget; default 64).
	MaxInProgress int
	// LostRunGrace is how long past its bounded execution's deadline a
	// task still running is failed by the sweep (default 6 min: a step
	// invoked just before an Express execution ends runs on for up to the
	// process function's 5-minute timeout, and may finish the task).
	LostRunGrace time.Duration
}

// DefaultRetention keeps outputs and uploads 30 days, as the cloud
// bucket's lifecycle does.
const DefaultRetention = 30 * 24 * time.Hour

func (l Limits) withDefaults() Limits {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if l.BatchMax <= 0 {
		l.BatchMax = 50
	}
	if l.SubmitsPerMinute <= 0 {
		l.SubmitsPerMinute = 600
	}
	if l.UploadMaxBytes <= 0 {
		l.UploadMaxBytes = 100 << 20
	}
	if l.DispatcherConcurrent <= 0 {
		l.DispatcherConcurrent = 4
	}
	if l.StartAttempts <= 0 {
		l.StartAttempts = 5
	}
	def(&l.PreferWaitMax, 60*time.Second)
	def(&l.IdempotencyTTL, 24*time.Hour)
	def(&l.SignedURLTTL, time.Hour)
	def(&l.RequeueAfter, 5*time.Minute)
	def(&l.LostRunGrace, 6*time.Minute)
	// Starting a workflow takes milliseconds; a message held by a
	// dispatcher that crashed comes back this soon.
	def(&l.DispatchVisibility, 30*time.Second)
	if l.MaxInProgress <= 0 {
		l.MaxInProgress = 64
	}
	if l.Retention <= 0 {
		l.Retention = DefaultRetention
	}
	return l
}

// Deps are the adapters the App runs on.
type Deps struct {
	Store task.Store
	Tasks queue.Queue // the admission queue
	Blobs blob.Store
	// Runner builds the workflow runner. The runner runs the step
	// actions, which change tasks through this App: New hands the App,
	// built but for its runner, to Runner once, before it returns. Nil:
	// tasks stay queued.
	Runner func(*App) (Runner, error)
	// Metrics are the collectors the App counts in (default NewMetrics
	// over Store and Tasks); the provider registry reports to the same.
	Metrics *Metrics
	// ProviderHealth reports each provider's state in /health.
	ProviderHealth func(context.Context) map[string]ComponentHealth
	// HealthChecks are the components /health shows beyond the core (the
	// webhook queue, for one).
	HealthChecks map[string]HealthCheck
	// FreeBytes tells the storage's free space, for Limits.MinFreeBytes
	// (nil: not known, no watermark).
	FreeBytes func() (int64, error)
	// Budget, when set, bounds the workflows in progress across every
	// dispatcher (Limits.MaxInProgress): in the cloud.
	Budget Budget
	Limits Limits
	Now    func() time.Time
	Log    *slog.Logger
}

// App is the core. It holds no state that another process would need:
// everything shared lives in the store, the queue and the blob store; the
// in-process notifier only lets waiters here learn of changes sooner.
type App struct {
	store  task.Store
	tasks  queue.Queue
	blobs  blob.Store
	runner Runner
	// providerHealth reports the providers' states in /health.
	providerHealth func(context.Context) map[string]ComponentHealth
	healthChecks   map[string]HealthCheck
	freeBytes      func() (int64, error)
	budget         Budget
	// admitMu guards starting: task starts under way by type, between a
	// TypeAdmission check and the runner counting the start.
	admitMu  sync.Mutex
	starting map[task.Type]int
	// typeRefusals counts the starts a type's share refused.
	typeRefusals atomic.Int64
	limits       Limits
	// prunedAt is when the sweeper last removed uploads past the
	// retention (Unix nanoseconds).
	prunedAt atomic.Int64
	now      func() time.Time
	log      *slog.Logger
	changes  *notifier
	Metrics  *Metrics
}

// New builds the App.
func New(d Deps) (*App, error) {
	if d.Store == nil || d.Tasks == nil || d.Blobs == nil {
		return nil, errors.New("new app: store, task queue and blob store are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(d.Store, d.Tasks)
	}
	a := &App{
		store:          d.Store,
		tasks:          d.Tasks,
		blobs:          d.Blobs,
		providerHealth: d.ProviderHealth,
		healthChecks:   d.HealthChecks,
		freeBytes:      d.FreeBytes,
		budget:         d.Budget,
		starting:       map[task.Type]int{},
		limits:         d.Limits.withDefaults(),
		now:            d.Now,
		log:            d.Log,
		changes:        newNotifier(),
		Metrics:        d.Metrics,
	}
	if d.Runner != nil {
		r, err := d.Runner(a)
		if err != nil {
			return nil, fmt.Errorf("new app: workflow runner: %w", err)
		}
		a.runner = r
	}
	return a, nil
}

// Runner returns the workflow runner, nil when there is none.
func (a *App) Runner() Runner { return a.runner }

// Limits returns the limits in force, defaults filled in.
func (a *App) Limits() Limits { return a.limits }

// Answer returns the answer remembered under the user's Idempotency-Key,
// or task.ErrNotFound.
func (a *App) Answer(ctx context.Context, userID, key string) (*task.IdempotencyRecord, error) {
	rec, err := a.store.GetIdempotency(ctx, userID, key)
	if err != nil {
		return nil, fmt.Errorf("idempotency key of %s: %w", userID, err)
	}
	return rec, nil
}

// RememberAnswer keeps an answer given outside a submit (a cancel, an
// upload) under its Idempotency-Key, unless one is kept already
// (task.ErrIdempotencyKeyExists). A submit's answer is kept in the write
// that creates its tasks (IdempotencyFunc).
func (a *App) RememberAnswer(ctx context.Context, rec task.IdempotencyRecord) error {
	if err := a.store.PutIdempotency(ctx, rec); err != nil {
		return fmt.Errorf("remember answer of %s: %w", rec.UserID, err)
	}
	return nil
}

// Now returns the App's clock reading.
func (a *App) Now() time.Time { return a.now() }

// TaskSpec is a validated request for one task.
type TaskSpec struct {
	Type          task.Type
	Input         json.RawMessage
	Priority      task.Priority // empty: normal
	Metadata      map[string]string
	WebhookURL    string
	WebhookEvents []task.EventType
}

// BatchSpec is a validated request for a batch.
type BatchSpec struct {
	Tasks         []TaskSpec
	WebhookURL    string
	WebhookEvents []task.EventType
}

// Submission is what a submit created.
type Submission struct {
	Tasks []*task.Task
	Batch *task.Batch
}

// IdempotencyFunc builds the record that remembers a submit's answer, from
// the tasks and batch about to be created, so that it is stored in the same
// write as they are. It returns nil when the request carries no key.
type IdempotencyFunc func(s Submission) (*task.IdempotencyRecord, error)

// NewID returns a new time-ordered identifier.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// SubmitTask creates one queued task and its queue message.
func (a *App) SubmitTask(ctx context.Context, userID string, spec TaskSpec, idem IdempotencyFunc) (*task.Task, error) {
	s, err := a.submit(ctx, userID, []TaskSpec{spec}, nil, idem)
	if err != nil {
		return nil, err
	}
	return s.Tasks[0], nil
}

// SubmitBatch creates a batch and all its tasks, all or nothing.
func (a *App) SubmitBatch(ctx context.Context, userID string, spec BatchSpec, idem IdempotencyFunc) (Submission, error) {
	if n := len(spec.Tasks); n == 0 || n > a.limits.BatchMax {
		return Submission{}, fmt.Errorf("batch of %d tasks (1 to %d allowed): %w", n, a.limits.BatchMax, ErrBatchSize)
	}
	return a.submit(ctx, userID, spec.Tasks, &spec, idem)
}

// ErrBatchSize: a batch has no task or more than the limit allows.
var ErrBatchSize = errors.New("batch size out of range")

// ErrBudget: the user's spend today has reached limits.daily_budget_usd.
var ErrBudget = errors.New("daily budget spent")

// BudgetError says how much of the daily budget is spent.
type BudgetError struct {
	BudgetUSD, SpentUSD float64
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("today's spend of $%.4f has reached the daily budget of $%.2f", e.SpentUSD, e.BudgetUSD)
}

func (e *BudgetError) Unwrap() error { return ErrBudget }

// checkSpace refuses a submit while the storage's free space is below
// the watermark: new work waits, work taken can finish.
func (a *App) checkSpace() error {
	if a.limits.MinFreeBytes <= 0 || a.freeBytes == nil {
		return nil
	}
	free, err := a.freeBytes()
	if err != nil || free >= a.limits.MinFreeBytes {
		return nil // unknown space refuses nothing
	}
	return fmt.Errorf("submit: %d bytes free, under the %d of storage.min_free_bytes: %w", free, a.limits.MinFreeBytes, storage.ErrFull)
}

// checkBudget refuses a submit once the user's tasks completed today have
// cost the daily budget. The spend counts completed tasks only, so tasks
// in flight may take a user past it: the cap stops new work, it does not
// cancel work accepted.
func (a *App) checkBudget(ctx context.Context, userID string, now time.Time) error {
	if a.limits.DailyBudgetUSD <= 0 {
		return nil
	}
	spent, err := a.store.SpentOn(ctx, userID, now)
	if err != nil {
		return fmt.Errorf("submit: read today's spend: %w", err)
	}
	if spent >= a.limits.DailyBudgetUSD {
		return &BudgetError{BudgetUSD: a.limits.DailyBudgetUSD, SpentUSD: spent}
	}
	return nil
}

func (a *App) submit(ctx context.Context, userID string, specs []TaskSpec, bspec *BatchSpec, idem IdempotencyFunc) (Submission, error) {
	now := a.now().UTC()
	if err := a.checkSpace(); err != nil {
		return Submission{}, err
	}
	if err := a.checkBudget(ctx, userID, now); err != nil {
		return Submission{}, err
	}
	var s Submission
	var events []task.Event
	if bspec != nil {
		s.Batch = &task.Batch{
			ID:            NewID(),
			UserID:        userID,
			Status:        task.BatchRunning,
			Counts:        task.NewCounts(len(specs)),
			WebhookURL:    bspec.WebhookURL,
			WebhookEvents: bspec.WebhookEvents,
			CreatedAt:     now,
			UpdatedAt:     now,
			Version:       1,
		}
	}
	for _, spec := range specs {
		t := &task.Task{
			ID:            NewID(),
			UserID:        userID,
			Type:          spec.Type,
			Status:        task.StatusQueued,
			Priority:      spec.Priority,
			Input:         spec.Input,
			Metadata:      spec.Metadata,
			WebhookURL:    spec.WebhookURL,
			WebhookEvents: spec.WebhookEvents,
			CreatedAt:     now,
			UpdatedAt:     now,
			Version:       1,
		}
		if t.Priority == "" {
			t.Priority = task.PriorityNormal
		}
		if s.Batch != nil {
			t.BatchID = s.Batch.ID
			s.Batch.TaskIDs = append(s.Batch.TaskIDs, t.ID)
		}
		s.Tasks = append(s.Tasks, t)
		events = append(events, task.NewTaskEvent(t, task.EventTaskQueued, now))
	}
	c := task.Creation{Tasks: s.Tasks, Batch: s.Batch, Events: events}
	if idem != nil {
		rec, err := idem(s)
		if err != nil {
			return Submission{}, fmt.Errorf("submit: idempotency record: %w", err)
		}
		c.Idempotency = rec
	}
	if mc, ok := a.store.(MessageCreator); ok {
		if err := mc.CreateWithMessages(ctx, c, dispatchMessages(s)); err != nil {
			return Submission{}, fmt.Errorf("submit %d tasks: %w", len(s.Tasks), err)
		}
	} else {
		if err := a.store.Create(ctx, c); err != nil {
			return Submission{}, fmt.Errorf("submit %d tasks: %w", len(s.Tasks), err)
		}
		// The tasks are stored before their messages are sent: a crash in
		// between leaves queued tasks without messages, which the sweeper
		// re-sends.
		if err := a.enqueue(ctx, s); err != nil {
			a.log.WarnContext(ctx, "task stored but not yet sent; the sweeper will re-send it", "err", err)
		}
	}
	for _, t := range s.Tasks {
		a.Metrics.observeTransition(t.Type, task.StatusQueued)
		a.changes.notify(t.ID)
	}
	return s, nil
}

// dispatchMessage is the body of a task queue message: a task submitted
// alone, or a whole batch, whose workflow starts its tasks under the
// batch's concurrency cap.
type dispatchMessage struct {
	TaskID  string `json:"task_id,omitempty"`
	BatchID string `json:"batch_id,omitempty"`
}

// MessageCreator is a store that commits new tasks and their queue
// messages in one transaction (SQLite, where the queue lives in the
// store's database). With other stores the App creates the tasks and then
// sends their messages.
type MessageCreator interface {
	CreateWithMessages(ctx context.Context, c task.Creation, msgs []queue.Message) error
}

// dispatchMessages are the queue messages of a submission: one per task,
// or one for a batch, at the most urgent priority among its tasks.
func dispatchMessages(s Submission) []queue.Message {
	if s.Batch != nil {
		body, _ := json.Marshal(dispatchMessage{BatchID: s.Batch.ID}) // cannot fail
		return []queue.Message{{Priority: mostUrgent(s.Tasks), Body: body}}
	}
	msgs := make([]queue.Message, 0, len(s.Tasks))
	for _, t := range s.Tasks {
		body, _ := json.Marshal(dispatchMessage{TaskID: t.ID}) // cannot fail
		msgs = append(msgs, queue.Message{Priority: t.Priority, Body: body})
	}
	return msgs
}

func mostUrgent(tasks []*task.Task) task.Priority {
	for _, p := range task.Priorities {
		for _, t := range tasks {
			if t.Priority == p {
				return p
			}
		}
	}
	return task.PriorityNormal
}

func (a *App) enqueue(ctx context.Context, s Submission) error {
	if err := a.tasks.Send(ctx, dispatchMessages(s)...); err != nil {
		return fmt.Errorf("enqueue %d tasks: %w", len(s.Tasks), err)
	}
	return nil
}

// GetTask returns the user's task, with signed URLs for its files.
func (a *App) GetTask(ctx context.Context, userID, id string) (*task.Task, error) {
	t, err := a.store.GetTask(ctx, userID, id)
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	return a.present(ctx, t)
}

// ListTasks returns a page of the user's tasks, newest first.
func (a *App) ListTasks(ctx context.Context, userID string, f task.ListFilter) (task.Page, error) {
	p, err := a.store.ListTasks(ctx, userID, f)
	if err != nil {
		return task.Page{}, fmt.Errorf("list tasks: %w", err)
	}
	for i, t := range p.Tasks {
		if p.Tasks[i], err = a.present(ctx, t); err != nil {
			return task.Page{}, err
		}
	}
	return p, nil
}

// present puts a task in the API's form: its output files get signed,
// expiring URLs in place of their storage keys.
func (a *App) present(ctx context.Context, t *task.Task) (*task.Task, error) {
	if t.Output == nil || len(t.Output.Files) == 0 {
		return t, nil
	}
	if t.CompletedAt != nil {
		expires := t.CompletedAt.Add(a.limits.Retention).UTC()
		t.Output.FilesExpireAt = &expires
	}
	for i, f := range t.Output.Files {
		if f.Key == "" {
			continue
		}
		url, err := a.blobs.SignedURL(ctx, f.Key, a.limits.SignedURLTTL)
		if err != nil {
			return nil, fmt.Errorf("sign url of task %s file %s: %w", t.ID, f.Key, err)
		}
		t.Output.Files[i].URL = url
		t.Output.Files[i].Key = ""
	}
	return t, nil
}

// PresentEvent puts an event's data in the API's form: a task's output
// files get signed URLs, made now, since stored events keep storage keys.
func (a *App) PresentEvent(ctx context.Context, ev task.Event) (task.Event, error) {
	if !strings.HasPrefix(string(ev.Type), "task.") || !bytes.Contains(ev.Data, []byte(`"files"`)) {
		return ev, nil
	}
	var t task.Task
	if err := json.Unmarshal(ev.Data, &t); err != nil {
		return task.Event{}, fmt.Errorf("present event %s: %w", ev.ID, err)
	}
	if _, err := a.present(ctx, &t); err != nil {
		return task.Event{}, fmt.Errorf("present event %s: %w", ev.ID, err)
	}
	data, err := json.Marshal(&t)
	if err != nil {
		return task.Event{}, fmt.Errorf("present event %s: %w", ev.ID, err)
	}
	ev.Data = data
	return ev, nil
}

// GetBatch returns the user's batch.
func (a *App) GetBatch(ctx context.Context, userID, id string) (*task.Batch, error) {
	b, err := a.store.GetBatch(ctx, userID, id)
	if err != nil {
		return nil, fmt.Errorf("get batch %s: %w", id, err)
	}
	return b, nil
}

// Cancel cancels the user's task unless it has already ended
// (task.ErrTerminal), and stops its workflow.
func (a *App) Cancel(ctx context.Context, userID, id string) (*task.Task, error) {
	t, err := a.change(ctx, userID, id, func(t *task.Task, now time.Time) ([]task.Event, error) {
		ev, err := t.Transition(task.StatusCanceled, now)
		if err != nil {
			return nil, err
		}
		t.Error = &task.Error{Code: "canceled", Message: "canceled by the client"}
		return []task.Event{ev}, nil
	})
	if err != nil {
		return nil, err
	}
	if a.runner != nil {
		if err := a.runner.Stop(ctx, t.ID); err != nil {
			// The task is canceled in the store: a late result is dropped
			// by the conditional write, so a failed stop only wastes work.
			a.log.WarnContext(ctx, "stop workflow of canceled task", "task_id", t.ID, "err", err)
		}
	}
	return a.present(ctx, t)
}

// change applies mutate to the user's task (any user's when userID is
// empty) and stores it conditionally, re-reading and re-applying when a
// concurrent change wins. mutate gets a copy and returns the events of its
// change; a mutate error (such as task.ErrTerminal) is returned as is.
func (a *App) change(ctx context.Context, userID, id string, mutate func(t *task.Task, now time.Time) ([]task.Event, error)) (*task.Task, error) {
	for attempt := 0; ; attempt++ {
		prev, err := a.store.GetTask(ctx, userID, id)
		if err != nil {
			return nil, fmt.Errorf("change task %s: %w", id, err)
		}
		next := prev.Clone()
		events, err := mutate(next, a.now().UTC())
		if err != nil {
			return nil, fmt.Errorf("change task %s: %w", id, err)
		}
		err = a.store.UpdateTask(ctx, prev, next, events...)
		if errors.Is(err, task.ErrConflict) && attempt < 10 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("change task %s: %w", id, err)
		}
		if prev.Status != next.Status {
			a.Metrics.observeTransition(next.Type, next.Status)
			if next.Status.Terminal() && next.BatchID == "" {
				a.give(ctx, taskHolder(id)) // a batch's tasks run on the batch's slot
			}
		}
		a.changes.notify(id)
		if next.BatchID != "" {
			a.changes.notify(next.BatchID)
		}
		return next, nil
	}
}

// Events returns the events of the user's task after seq.
func (a *App) Events(ctx context.Context, userID, id string, afterSeq int64) ([]task.Event, error) {
	if _, err := a.store.GetTask(ctx, userID, id); err != nil {
		return nil, fmt.Errorf("events of task %s: %w", id, err)
	}
	evs, err := a.store.ListEvents(ctx, id, afterSeq, 100)
	if err != nil {
		return nil, fmt.Errorf("events of task %s: %w", id, err)
	}
	for i := range evs {
		if evs[i], err = a.PresentEvent(ctx, evs[i]); err != nil {
			return nil, err
		}
	}
	return evs, nil
}

// pollInterval is how often waiters re-read the store, to see changes made
// by other processes (changes made here wake them at once).
const pollInterval = time.Second

// WaitChange returns when the task or batch id may have changed, after at
// most pollInterval, or when ctx ends.
func (a *App) WaitChange(ctx context.Context, id string) {
	ch, cancel := a.changes.subscribe(id)
	defer cancel()
	t := time.NewTimer(pollInterval)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
}

// WaitTerminal returns the user's task once it has ended, or as it is when
// d has passed.
func (a *App) WaitTerminal(ctx context.Context, userID, id string, d time.Duration) (*task.Task, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		t, err := a.store.GetTask(context.WithoutCancel(ctx), userID, id)
		if err != nil {
			return nil, fmt.Errorf("wait for task %s: %w", id, err)
		}
		if t.Status.Terminal() || ctx.Err() != nil {
			return a.present(context.WithoutCancel(ctx), t)
		}
		a.WaitChange(ctx, id)
	}
}
