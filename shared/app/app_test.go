package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/blob/fsblob"
	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/queue/sqlitequeue"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/storage"
	"github.com/videoai/mediatasks/shared/store/sqlitestore"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/testkit/clocktest"
)

// recordingRunner is a workflow runner that remembers what it was asked.
type recordingRunner struct {
	mu      sync.Mutex
	started map[string]int
	stopped []string
	fail    atomic.Bool
	full    atomic.Bool // fail as a full storage
}

func (r *recordingRunner) Start(_ context.Context, t *task.Task) error {
	if r.full.Load() {
		return fmt.Errorf("start execution: %w", storage.ErrFull)
	}
	if r.fail.Load() {
		return errors.New("engine unavailable")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started[t.ID]++
	return nil
}

func (r *recordingRunner) StartBatch(_ context.Context, b *task.Batch) error {
	if r.fail.Load() {
		return errors.New("engine unavailable")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started[b.ID]++
	return nil
}

func (r *recordingRunner) Stop(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = append(r.stopped, id)
	return nil
}

func (r *recordingRunner) starts(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.started[id]
}

type bundle struct {
	app    *app.App
	store  *sqlitestore.Store
	queue  *sqlitequeue.Queue
	clock  *clocktest.Fake
	runner *recordingRunner
	blobs  *fsblob.Store
}

func setup(t *testing.T, withRunner bool) bundle {
	t.Helper()
	return setupWith(t, withRunner, true)
}

// setupWith builds the app on the SQLite adapters; atomicSubmit commits a
// task and its message in one transaction, as the server does; without it
// the app sends the message after the task is stored, as on stores that
// cannot share a transaction with the queue.
func setupWith(t *testing.T, withRunner, atomicSubmit bool, adjust ...func(*app.Deps)) bundle {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlitedb.Open(filepath.Join(dir, "app.db"), sqlitedb.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := clocktest.NewFake(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	st, err := sqlitestore.New(ctx, db, sqlitestore.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqlitequeue.New(ctx, db, "tasks", sqlitequeue.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := fsblob.New(filepath.Join(dir, "blobs"), fsblob.Options{BaseURL: "http://127.0.0.1:1", Secret: make([]byte, 32), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	b := bundle{store: st, queue: q, clock: clk, runner: &recordingRunner{started: map[string]int{}}, blobs: blobs}
	var store task.Store = st
	if atomicSubmit {
		store = sqlitestore.WithQueue{Store: st, Queue: q}
	}
	deps := app.Deps{Store: store, Tasks: q, Blobs: blobs, Now: clk.Now,
		Limits: app.Limits{RequeueAfter: time.Minute, DispatcherConcurrent: 2, StartAttempts: 2, DispatchVisibility: time.Minute}}
	if withRunner {
		deps.Runner = func(*app.App) (app.Runner, error) { return b.runner, nil }
	}
	for _, f := range adjust {
		f(&deps)
	}
	if b.app, err = app.New(deps); err != nil {
		t.Fatal(err)
	}
	return b
}

func imageSpec(p task.Priority) app.TaskSpec {
	return app.TaskSpec{Type: task.TypeImageGeneration, Input: json.RawMessage(`{"prompt":"a fox"}`), Priority: p}
}

// receiveTaskIDs takes every visible message and returns their task ids.
func receiveTaskIDs(t *testing.T, q queue.Queue) []string {
	t.Helper()
	return receiveIDs(t, q, "task_id")
}

// receiveIDs takes every visible message and returns the field named key
// of each body.
func receiveIDs(t *testing.T, q queue.Queue, key string) []string {
	t.Helper()
	var ids []string
	for {
		ds, err := q.Receive(context.Background(), queue.ReceiveOptions{Max: 10, Visibility: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			return ids
		}
		for _, d := range ds {
			var m map[string]string
			if err := json.Unmarshal(d.Body, &m); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m[key])
			if err := q.Delete(context.Background(), d.Receipt); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestSubmitStoresTaskAndSendsItsMessage(t *testing.T) {
	t.Parallel()
	for name, atomicSubmit := range map[string]bool{"one transaction": true, "store then send": false} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testSubmit(t, setupWith(t, false, atomicSubmit))
		})
	}
}

func testSubmit(t *testing.T, b bundle) {
	ctx := context.Background()
	tk, err := b.app.SubmitTask(ctx, "alice", imageSpec(task.PriorityHigh), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.app.GetTask(ctx, "alice", tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != task.StatusQueued || got.Priority != task.PriorityHigh || got.Version != 1 {
		t.Fatalf("stored task = %+v", got)
	}
	evs, err := b.app.Events(ctx, "alice", tk.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != task.EventTaskQueued {
		t.Fatalf("events = %+v", evs)
	}
	if ids := receiveTaskIDs(t, b.queue); len(ids) != 1 || ids[0] != tk.ID {
		t.Fatalf("queued messages = %v, want [%s]", ids, tk.ID)
	}
	if _, err := b.app.GetTask(ctx, "bob", tk.ID); !errors.Is(err, task.ErrNotFound) {
		t.Fatalf("another user's read: err = %v, want not found", err)
	}
}

func TestSubmitBatchIsAllOrNothingAndCounted(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	specs := []app.TaskSpec{imageSpec(task.PriorityLow), imageSpec(task.PriorityNormal), imageSpec(task.PriorityHigh)}
	s, err := b.app.SubmitBatch(ctx, "alice", app.BatchSpec{Tasks: specs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Batch.TaskIDs) != 3 || s.Batch.Counts[task.StatusQueued] != 3 {
		t.Fatalf("batch = %+v", s.Batch)
	}
	// One message starts the batch's workflow, which starts its tasks
	// under the batch's concurrency cap; it goes at the batch's most
	// urgent priority.
	ds, err := b.queue.Receive(ctx, queue.ReceiveOptions{Max: 10, Visibility: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Priority != task.PriorityHigh || !strings.Contains(string(ds[0].Body), s.Batch.ID) {
		t.Fatalf("messages = %+v, want one for batch %s at high priority", ds, s.Batch.ID)
	}
	_, err = b.app.SubmitBatch(ctx, "alice", app.BatchSpec{Tasks: make([]app.TaskSpec, 51)}, nil)
	if !errors.Is(err, app.ErrBatchSize) {
		t.Fatalf("batch of 51: err = %v, want ErrBatchSize", err)
	}
	for _, id := range s.Batch.TaskIDs {
		if _, err := b.app.Cancel(ctx, "alice", id); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.app.GetBatch(ctx, "alice", s.Batch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != task.BatchCompleted || got.Counts[task.StatusCanceled] != 3 || got.Counts[task.StatusQueued] != 0 {
		t.Fatalf("batch after cancels = %+v", got)
	}
}

func TestCancelStopsTheWorkflowOnceAndRefusesAnEndedTask(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	ctx := context.Background()
	tk, err := b.app.SubmitTask(ctx, "alice", imageSpec(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.app.Cancel(ctx, "bob", tk.ID); !errors.Is(err, task.ErrNotFound) {
		t.Fatalf("cancel by another user: err = %v", err)
	}
	got, err := b.app.Cancel(ctx, "alice", tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != task.StatusCanceled || got.CompletedAt == nil || got.Error == nil || got.Error.Code != "canceled" {
		t.Fatalf("canceled task = %+v", got)
	}
	if _, err := b.app.Cancel(ctx, "alice", tk.ID); !errors.Is(err, task.ErrTerminal) {
		t.Fatalf("second cancel: err = %v, want ErrTerminal", err)
	}
	if len(b.runner.stopped) != 1 || b.runner.stopped[0] != tk.ID {
		t.Fatalf("stopped = %v", b.runner.stopped)
	}
}

func TestDispatcherStartsEachQueuedTaskOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ids []string
	for i := range 20 {
		tk, err := b.app.SubmitTask(ctx, "alice", imageSpec(task.Priorities[i%3]), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
	}
	// A canceled task's message is dropped without a start.
	if _, err := b.app.Cancel(ctx, "alice", ids[0]); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { b.app.RunDispatcher(ctx); close(done) }()
	waitFor(t, func() bool {
		st, err := b.queue.Stats(ctx)
		return err == nil && total(st.Visible)+total(st.InFlight) == 0
	})
	cancel()
	<-done
	if n := b.runner.starts(ids[0]); n != 0 {
		t.Fatalf("canceled task started %d times", n)
	}
	for _, id := range ids[1:] {
		if n := b.runner.starts(id); n != 1 {
			t.Fatalf("task %s started %d times, want 1", id, n)
		}
	}
}

func TestDispatcherLeavesTheMessageWhenTheRunnerFails(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	b.runner.fail.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := b.app.SubmitTask(ctx, "alice", imageSpec(""), nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { b.app.RunDispatcher(ctx); close(done) }()
	waitFor(t, func() bool {
		st, err := b.queue.Stats(ctx)
		return err == nil && total(st.InFlight) == 1
	})
	cancel()
	<-done
	st, err := b.queue.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if total(st.Visible)+total(st.InFlight) != 1 {
		t.Fatalf("queue after a failed start = %+v, want the message kept", st)
	}
}

// A task whose workflow cannot be started on any receive of its message
// fails, rather than stay queued behind a dead letter.
func TestDispatcherFailsATaskThatCannotStart(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	b.runner.fail.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tk, err := b.app.SubmitTask(ctx, "alice", imageSpec(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	go b.app.RunDispatcher(ctx)
	waitFor(t, func() bool {
		st, err := b.queue.Stats(ctx)
		return err == nil && total(st.InFlight) == 1
	})
	got, err := b.app.GetTask(ctx, "alice", tk.ID)
	if err != nil || got.Status != task.StatusQueued {
		t.Fatalf("after one failed start: %+v, %v; want still queued", got, err)
	}
	b.clock.Add(2 * time.Minute) // the message is visible again: the second and last attempt
	waitFor(t, func() bool {
		got, err = b.app.GetTask(ctx, "alice", tk.ID)
		return err == nil && got.Status == task.StatusFailed
	})
	if got.Error == nil || got.Error.Code != "start_failed" {
		t.Fatalf("error %+v, want start_failed", got.Error)
	}
	waitFor(t, func() bool {
		st, err := b.queue.Stats(ctx)
		return err == nil && total(st.Visible)+total(st.InFlight)+st.Dead == 0
	})
}

func TestSweeperResendsAQueuedTaskWhoseMessageWasLost(t *testing.T) {
	t.Parallel()
	// A store that writes tasks and messages apart, with a runner.
	b := setupWith(t, true, false)
	ctx := context.Background()
	tk, err := b.app.SubmitTask(ctx, "alice", imageSpec(task.PriorityLow), nil)
	if err != nil {
		t.Fatal(err)
	}
	receiveTaskIDs(t, b.queue) // the message is lost
	b.app.Sweep(ctx)
	if ids := receiveTaskIDs(t, b.queue); len(ids) != 0 {
		t.Fatalf("a fresh task was re-sent: %v", ids)
	}
	b.clock.Add(2 * time.Minute)
	b.app.Sweep(ctx)
	if ids := receiveTaskIDs(t, b.queue); len(ids) != 1 || ids[0] != tk.ID {
		t.Fatalf("re-sent = %v, want [%s]", ids, tk.ID)
	}
	// Touched: the next sweep within RequeueAfter sends nothing more.
	b.app.Sweep(ctx)
	if ids := receiveTaskIDs(t, b.queue); len(ids) != 0 {
		t.Fatalf("re-sent twice: %v", ids)
	}
	got, err := b.app.GetTask(ctx, "alice", tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != task.StatusQueued {
		t.Fatalf("status = %s", got.Status)
	}
}

// Where a task and its message commit together, or nothing consumes the
// queue, a long wait in the queue is no loss: the sweeper sends nothing.
func TestSweeperDoesNotDuplicateWaitingMessages(t *testing.T) {
	t.Parallel()
	for name, mode := range map[string]struct{ runner, atomic bool }{
		"one transaction, runner":    {runner: true, atomic: true},
		"store then send, no runner": {runner: false, atomic: false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setupWith(t, mode.runner, mode.atomic)
			ctx := context.Background()
			if _, err := b.app.SubmitTask(ctx, "alice", imageSpec(task.PriorityLow), nil); err != nil {
				t.Fatal(err)
			}
			for range 5 {
				b.clock.Add(2 * time.Minute)
				b.app.Sweep(ctx)
			}
			st, err := b.queue.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n := total(st.Visible) + total(st.InFlight); n != 1 {
				t.Fatalf("%d messages for one task, want 1", n)
			}
		})
	}
}

func TestWaitTerminalWakesOnAChange(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	tk, err := b.app.SubmitTask(ctx, "alice", imageSpec(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		b.app.Cancel(ctx, "alice", tk.ID)
	}()
	got, err := b.app.WaitTerminal(ctx, "alice", tk.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != task.StatusCanceled {
		t.Fatalf("status = %s, want canceled", got.Status)
	}
	// Without a change it answers the task as it is when the wait ends.
	tk2, _ := b.app.SubmitTask(ctx, "alice", imageSpec(""), nil)
	got, err = b.app.WaitTerminal(ctx, "alice", tk2.ID, 10*time.Millisecond)
	if err != nil || got.Status != task.StatusQueued {
		t.Fatalf("wait without change = %v, %v", got, err)
	}
}

func TestHealthReportsComponents(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	h := b.app.Health(context.Background())
	if !h.OK || h.Components["store"].Status != "up" || h.Components["queue"].Status != "up" ||
		h.Components["blobs"].Status != "up" || h.Components["workers"].Status != "idle" {
		t.Fatalf("health = %+v", h)
	}
}

func total(m map[task.Priority]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMetricsShowQueueDepthAndTasksPerStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	for _, p := range []task.Priority{task.PriorityHigh, task.PriorityLow, task.PriorityLow} {
		if _, err := b.app.SubmitTask(ctx, "alice", imageSpec(p), nil); err != nil {
			t.Fatal(err)
		}
	}
	families, err := b.app.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				name += "," + l.GetName() + "=" + l.GetValue()
			}
			got[name] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"mediatasks_queue_depth,priority=high,state=visible":                         1,
		"mediatasks_queue_depth,priority=low,state=visible":                          2,
		"mediatasks_queue_depth,priority=normal,state=visible":                       0,
		"mediatasks_tasks,status=queued":                                             3,
		"mediatasks_tasks,status=completed":                                          0,
		"mediatasks_task_transitions_total,status=queued,task_type=image_generation": 3,
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
}

// A completed task's files are shown with signed URLs, never their storage
// keys, both when the task is read and in its events.
func TestOutputFilesAreShownAsSignedURLs(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	tk, err := b.app.SubmitTask(ctx, "alice", imageSpec(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	key := app.OutputKey(tk, 0, ".png")
	if _, err := b.app.StartAttempt(ctx, tk.ID, "sim", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.app.Complete(ctx, tk.ID, &task.Output{Files: []task.File{{Key: key, ContentType: "image/png", SizeBytes: 3}}}, "sim", nil); err != nil {
		t.Fatal(err)
	}
	check := func(where string, f task.File) {
		t.Helper()
		if f.Key != "" || !strings.Contains(f.URL, "sig=") || !strings.Contains(f.URL, key) {
			t.Errorf("%s: file = %+v, want a signed URL and no key", where, f)
		}
	}
	got, err := b.app.GetTask(ctx, "alice", tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	check("read", got.Output.Files[0])
	evs, err := b.app.Events(ctx, "alice", tk.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	var shown task.Task
	if err := json.Unmarshal(last.Data, &shown); err != nil || last.Type != task.EventTaskCompleted {
		t.Fatalf("last event %s: %v", last.Type, err)
	}
	check("event", shown.Output.Files[0])
}

// Once the tasks a user completed today have cost the daily budget, their
// submits are refused with a BudgetError until the next UTC day; another
// user's are not.
func TestDailyBudgetStopsSubmitsUntilTomorrow(t *testing.T) {
	t.Parallel()
	b := setupWith(t, false, true, func(d *app.Deps) { d.Limits.DailyBudgetUSD = 0.05 })
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		tk, err := b.app.SubmitTask(ctx, "alice", imageSpec(""), nil)
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
		if _, err := b.app.StartAttempt(ctx, tk.ID, "sim", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := b.app.Complete(ctx, tk.ID, &task.Output{}, "sim", &task.Cost{USD: 0.03, PriceVersion: "sim"}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := b.app.SubmitTask(ctx, "alice", imageSpec(""), nil)
	var be *app.BudgetError
	if !errors.As(err, &be) || !errors.Is(err, app.ErrBudget) {
		t.Fatalf("submit over budget: err = %v, want a BudgetError", err)
	}
	if be.SpentUSD < 0.059 || be.BudgetUSD != 0.05 {
		t.Errorf("budget error = %+v, want 0.06 spent of 0.05", be)
	}
	if _, err := b.app.SubmitTask(ctx, "bob", imageSpec(""), nil); err != nil {
		t.Errorf("another user's submit: %v", err)
	}
	b.clock.Add(24 * time.Hour)
	if _, err := b.app.SubmitTask(ctx, "alice", imageSpec(""), nil); err != nil {
		t.Errorf("submit the next day: %v", err)
	}
}

// admissionRunner holds every workflow it starts until ended, and admits
// at most max at once.
type admissionRunner struct {
	recordingRunner
	max     int
	order   []string // starts, in order
	running map[string]bool
	most    int // the most running at once
	freed   chan struct{}
}

func (r *admissionRunner) Start(ctx context.Context, t *task.Task) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.order = append(r.order, t.ID)
	r.running[t.ID] = true
	r.most = max(r.most, len(r.running))
	return nil
}

func (r *admissionRunner) Room() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.max - len(r.running)
}

func (r *admissionRunner) Freed() <-chan struct{} { return r.freed }

func (r *admissionRunner) end(id string) {
	r.mu.Lock()
	delete(r.running, id)
	r.mu.Unlock()
	select {
	case r.freed <- struct{}{}:
	default:
	}
}

func (r *admissionRunner) started() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.order)
}

// With the runner full, task messages stay in the queue, by priority: a
// high task submitted behind older normal ones is the next to start when
// a workflow ends, and the bound is never exceeded.
func TestDispatcherTakesOnlyWhatTheRunnerHasRoomFor(t *testing.T) {
	t.Parallel()
	r := &admissionRunner{recordingRunner: recordingRunner{started: map[string]int{}}, max: 3, running: map[string]bool{}, freed: make(chan struct{}, 1)}
	b := setupWith(t, false, true, func(d *app.Deps) {
		d.Runner = func(*app.App) (app.Runner, error) { return r, nil }
		d.Limits.DispatcherConcurrent = 4
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 10 {
		if _, err := b.app.SubmitTask(ctx, "alice", imageSpec(task.PriorityNormal), nil); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { b.app.RunDispatcher(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// The 3 started have their messages deleted; the 7 others stay
	// visible in the queue.
	waitFor(t, func() bool {
		st, err := b.queue.Stats(ctx)
		return err == nil && len(r.started()) == 3 && st.Visible[task.PriorityNormal] == 7 && total(st.InFlight) == 0
	})
	high, err := b.app.SubmitTask(ctx, "alice", imageSpec(task.PriorityHigh), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.end(r.started()[0])
	waitFor(t, func() bool { return len(r.started()) == 4 })
	if got := r.started()[3]; got != high.ID {
		t.Errorf("started %s after a workflow ended; want the high task %s, before 7 older normal ones", got, high.ID)
	}
	// Ending the rest one by one drains the queue, never past the bound.
	for i := 1; i < 11; i++ {
		r.end(r.started()[i])
		want := min(i+4, 11)
		waitFor(t, func() bool { return len(r.started()) == want })
	}
	r.mu.Lock()
	most := r.most
	r.mu.Unlock()
	if most > 3 {
		t.Errorf("%d workflows ran at once; the bound is 3", most)
	}
}

// Past the retention, a completed task's output files are removed and the
// task says so; before it, the task shows when they expire.
func TestOutputsArePrunedAfterTheRetention(t *testing.T) {
	t.Parallel()
	b := setupWith(t, false, true, func(d *app.Deps) { d.Limits.Retention = 48 * time.Hour })
	ctx := context.Background()
	tk, err := b.app.SubmitTask(ctx, "alice", imageSpec(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	started, err := b.app.StartAttempt(ctx, tk.ID, "sim", nil)
	if err != nil {
		t.Fatal(err)
	}
	key := app.OutputKey(started, 0, ".png")
	if _, err := b.blobs.Put(ctx, key, "image/png", strings.NewReader("png"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.app.Complete(ctx, tk.ID, &task.Output{Files: []task.File{{Key: key, ContentType: "image/png", SizeBytes: 3}}}, "sim", nil); err != nil {
		t.Fatal(err)
	}
	got, err := b.app.GetTask(ctx, "alice", tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := got.CompletedAt.Add(48 * time.Hour); got.Output.FilesExpireAt == nil || !got.Output.FilesExpireAt.Equal(want) {
		t.Errorf("files_expire_at %v, want %v", got.Output.FilesExpireAt, want)
	}
	b.app.Sweep(ctx)
	if _, err := b.blobs.Stat(ctx, key); err != nil {
		t.Fatalf("the output is gone before the retention: %v", err)
	}
	b.clock.Add(49 * time.Hour)
	b.app.Sweep(ctx)
	if _, err := b.blobs.Stat(ctx, key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("the output is still there past the retention: %v", err)
	}
	got, err = b.app.GetTask(ctx, "alice", tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != task.StatusCompleted || !got.Output.FilesRemoved || len(got.Output.Files) != 0 || got.Output.FilesExpireAt != nil {
		t.Errorf("task after the retention: %s %+v", got.Status, got.Output)
	}
}

// Uploads older than the retention are removed by the sweeper.
func TestUploadsArePrunedAfterTheRetention(t *testing.T) {
	t.Parallel()
	b := setupWith(t, false, true, func(d *app.Deps) { d.Limits.Retention = 48 * time.Hour })
	ctx := context.Background()
	up, err := b.app.StoreUpload(ctx, "alice", "audio/wav", strings.NewReader("RIFF\x24\x00\x00\x00WAVEfmt "))
	if err != nil {
		t.Fatal(err)
	}
	b.app.Sweep(ctx)
	if _, err := b.app.GetUpload(ctx, "alice", up.ID); err != nil {
		t.Fatalf("the upload is gone before the retention: %v", err)
	}
	b.clock.Add(49 * time.Hour)
	b.app.Sweep(ctx)
	if _, err := b.app.GetUpload(ctx, "alice", up.ID); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("the upload is still there past the retention: %v", err)
	}
}

// Under storage.min_free_bytes, submits are refused as storage full, and
// taken again once there is room: the work already taken can finish.
func TestSubmitsWaitUnderTheFreeSpaceWatermark(t *testing.T) {
	t.Parallel()
	var free atomic.Int64
	free.Store(10 << 20)
	b := setupWith(t, false, true, func(d *app.Deps) {
		d.Limits.MinFreeBytes = 64 << 20
		d.FreeBytes = func() (int64, error) { return free.Load(), nil }
	})
	ctx := context.Background()
	if _, err := b.app.SubmitTask(ctx, "alice", imageSpec(""), nil); !errors.Is(err, storage.ErrFull) {
		t.Fatalf("a submit with 10 MiB free: %v, want storage.ErrFull", err)
	}
	free.Store(1 << 30)
	if _, err := b.app.SubmitTask(ctx, "alice", imageSpec(""), nil); err != nil {
		t.Fatalf("a submit with 1 GiB free: %v", err)
	}
}

// A workflow that cannot start because the storage is full is no failure
// of its task: past every receive the task is still queued, its message
// still there.
func TestAStorageFaultFailsNoTask(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	b.runner.full.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tk, err := b.app.SubmitTask(ctx, "alice", imageSpec(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	go b.app.RunDispatcher(ctx)
	for range 2 { // the StartAttempts receives
		waitFor(t, func() bool {
			st, err := b.queue.Stats(ctx)
			return err == nil && total(st.InFlight) == 1
		})
		b.clock.Add(2 * time.Minute)
	}
	waitFor(t, func() bool {
		st, err := b.queue.Stats(ctx)
		return err == nil && total(st.InFlight) == 1
	})
	if got, err := b.app.GetTask(ctx, "alice", tk.ID); err != nil || got.Status != task.StatusQueued {
		t.Fatalf("after storage faults: %+v, %v; want still queued", got, err)
	}
	b.runner.full.Store(false)
	b.clock.Add(2 * time.Minute)
	waitFor(t, func() bool { return b.runner.starts(tk.ID) == 1 })
}

// The sweep fails a task still running past its bounded run's deadline
// and the grace, with workflow_timeout and its task.failed event, and
// counts it; a task whose run may still be going, and one on a durable
// run, are left alone.
func TestSweepFailsTasksLostWithTheirRun(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	ctx := context.Background()
	start := func(run task.Run) *task.Task {
		t.Helper()
		tk, err := b.app.SubmitTask(ctx, "alice", imageSpec(task.PriorityNormal), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.app.StartAttemptFor(ctx, tk.ID, run, "sim", nil); err != nil {
			t.Fatal(err)
		}
		return tk
	}
	bounded := func(key string) task.Run {
		deadline := b.clock.Now().Add(5 * time.Minute)
		return task.Run{Key: task.RunKey(key), Deadline: &deadline}
	}
	lost := start(bounded("exec-lost"))
	durable := start(task.Run{Key: task.RunKey("exec-durable")})
	b.clock.Add(5 * time.Minute)
	fresh := start(bounded("exec-fresh"))

	b.app.Sweep(ctx) // the lost run's deadline has just passed: within the grace
	if got, err := b.app.Task(ctx, lost.ID); err != nil || got.Status != task.StatusRunning {
		t.Fatalf("within the grace the lost task is %v (%v), want running", got, err)
	}
	b.clock.Add(b.app.Limits().LostRunGrace + time.Second)
	b.app.Sweep(ctx)

	for _, want := range []struct {
		tk     *task.Task
		status task.Status
	}{{lost, task.StatusFailed}, {durable, task.StatusRunning}, {fresh, task.StatusRunning}} {
		got, err := b.app.Task(ctx, want.tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != want.status {
			t.Errorf("task %s is %s, want %s", want.tk.ID, got.Status, want.status)
		}
		if want.status == task.StatusFailed && (got.Error == nil || got.Error.Code != app.CodeWorkflowTimeout) {
			t.Errorf("lost task's error %+v, want %s", got.Error, app.CodeWorkflowTimeout)
		}
	}
	evs, err := b.app.Events(ctx, "alice", lost.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Type != task.EventTaskFailed {
		t.Errorf("lost task's last event %s, want %s", last.Type, task.EventTaskFailed)
	}
	var counted dto.Metric
	if err := b.app.Metrics.LostRuns.Write(&counted); err != nil {
		t.Fatal(err)
	}
	if n := counted.GetCounter().GetValue(); n != 1 {
		t.Errorf("lost runs counted %v, want 1", n)
	}
}
