package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/auth"
	"github.com/videoai/mediatasks/shared/task"
)

// assertWhen checks a time the store stamped: exactly the fixed clock when
// the suite set it, else within the real time around the change.
func (b *bundle) assertWhen(what string, got *time.Time, from, to time.Time) {
	b.t.Helper()
	switch {
	case got == nil:
		b.t.Errorf("%s: not set", what)
	case !b.fixed.IsZero() && !got.Equal(b.fixed):
		b.t.Errorf("%s = %s, want the store's clock %s", what, got, b.fixed)
	case b.fixed.IsZero() && (got.Before(from.Add(-time.Millisecond)) || got.After(to.Add(time.Millisecond))):
		b.t.Errorf("%s = %s, want between %s and %s", what, got, from, to)
	}
}

func (s *suite) testBatchCounters(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	batch, tasks := b.newBatch(user, 3)
	b.createBatch(batch, tasks)
	assertBatch(t, b.getBatch(user, batch.ID), batch)

	expect := func(step string, version int64, status task.BatchStatus, counts map[task.Status]int) *task.Batch {
		t.Helper()
		got := b.getBatch(user, batch.ID)
		if got.Version != version || got.Status != status || !maps.Equal(got.Counts, counts) {
			t.Fatalf("%s: batch version %d, status %s, counts %v; want %d, %s, %v",
				step, got.Version, got.Status, got.Counts, version, status, counts)
		}
		return got
	}
	counts := func(queued, running, completed, failed, canceled int) map[task.Status]int {
		return map[task.Status]int{task.StatusQueued: queued, task.StatusRunning: running,
			task.StatusCompleted: completed, task.StatusFailed: failed, task.StatusCanceled: canceled}
	}

	from := time.Now()
	first := b.transition(tasks[0], task.StatusRunning)
	got := expect("first running", 2, task.BatchRunning, counts(2, 1, 0, 0, 0))
	b.assertWhen("batch UpdatedAt", &got.UpdatedAt, from, time.Now())
	if got.CompletedAt != nil {
		t.Errorf("running batch has CompletedAt %s", got.CompletedAt)
	}

	progressed := first.Clone()
	ev, err := progressed.SetProgress(0.5, b.now())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.UpdateTask(b.ctx, first, progressed, ev); err != nil {
		t.Fatal(err)
	}
	expect("progress moves nothing", 2, task.BatchRunning, counts(2, 1, 0, 0, 0))

	if _, err := b.tryTransition(first, task.StatusFailed); !errors.Is(err, task.ErrConflict) {
		t.Fatalf("stale update: error = %v, want ErrConflict", err)
	}
	expect("a refused update moves nothing", 2, task.BatchRunning, counts(2, 1, 0, 0, 0))

	b.transition(progressed, task.StatusCompleted)
	expect("first completed", 3, task.BatchRunning, counts(2, 0, 1, 0, 0))
	b.transition(tasks[1], task.StatusCanceled)
	expect("second canceled", 4, task.BatchRunning, counts(1, 0, 1, 0, 1))
	third := b.transition(tasks[2], task.StatusRunning)
	expect("third running", 5, task.BatchRunning, counts(0, 1, 1, 0, 1))
	if events := b.events(batch.ID, 0, 100); len(events) != 0 {
		t.Fatalf("running batch has %d events, want 0", len(events))
	}

	from = time.Now()
	b.transition(third, task.StatusFailed)
	done := expect("third failed", 6, task.BatchCompleted, counts(0, 0, 1, 1, 1))
	b.assertWhen("batch CompletedAt", done.CompletedAt, from, time.Now())

	events := b.events(batch.ID, 0, 100)
	if len(events) != 1 {
		t.Fatalf("completed batch has %d events, want 1", len(events))
	}
	assertEvent(t, events[0], task.NewBatchEvent(done, task.EventBatchCompleted, *done.CompletedAt))
}

func (s *suite) testBatchCompletesOnceUnderConcurrency(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	const size = 16
	batch, tasks := b.newBatch(user, size)
	b.createBatch(batch, tasks)

	errs := make([]error, size)
	var wg sync.WaitGroup
	for i, tk := range tasks {
		wg.Go(func() {
			running, err := b.tryTransition(tk, task.StatusRunning)
			if err != nil {
				errs[i] = err
				return
			}
			end := task.StatusCompleted
			if i%4 == 0 {
				end = task.StatusFailed
			}
			_, errs[i] = b.tryTransition(running, end)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("updates: %v", err)
	}
	got := b.getBatch(user, batch.ID)
	wantCounts := map[task.Status]int{task.StatusQueued: 0, task.StatusRunning: 0,
		task.StatusCompleted: size - size/4, task.StatusFailed: size / 4, task.StatusCanceled: 0}
	if got.Status != task.BatchCompleted || got.Version != 1+2*size || !maps.Equal(got.Counts, wantCounts) {
		t.Errorf("batch: status %s, version %d, counts %v; want completed, %d, %v",
			got.Status, got.Version, got.Counts, 1+2*size, wantCounts)
	}
	events := b.events(batch.ID, 0, 100)
	if len(events) != 1 || events[0].Type != task.EventBatchCompleted || events[0].Seq != 1+2*size {
		t.Fatalf("batch events: %d, seqs %v; want one batch.completed at %d", len(events), seqs(events), 1+2*size)
	}
}

func (b *bundle) idempotencyRecord(user, key string, expires time.Time) task.IdempotencyRecord {
	return task.IdempotencyRecord{
		UserID:      user,
		Key:         key,
		RequestHash: "sha256:" + randomHex(8),
		StatusCode:  202,
		Headers:     map[string]string{"Location": "/api/v1/tasks/" + key, "Content-Type": "application/json"},
		Body:        []byte(`{"id":"` + key + `","status":"queued"}`),
		CreatedAt:   expires.Add(-24 * time.Hour),
		ExpiresAt:   expires,
	}
}

func (b *bundle) assertIdempotency(user, key string, want task.IdempotencyRecord) {
	b.t.Helper()
	got, err := b.store.GetIdempotency(b.ctx, user, key)
	if err != nil {
		b.t.Fatalf("GetIdempotency(%s, %s): %v", user, key, err)
	}
	if got.UserID != want.UserID || got.Key != want.Key || got.RequestHash != want.RequestHash ||
		got.StatusCode != want.StatusCode || !reflect.DeepEqual(got.Headers, want.Headers) ||
		!bytes.Equal(got.Body, want.Body) || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		b.t.Errorf("idempotency record:\n got  %+v\n want %+v", *got, want)
	}
}

func (b *bundle) assertNoIdempotency(user, key string) {
	b.t.Helper()
	if _, err := b.store.GetIdempotency(b.ctx, user, key); !errors.Is(err, task.ErrNotFound) {
		b.t.Errorf("GetIdempotency(%s, %s): error = %v, want ErrNotFound", user, key, err)
	}
}

func (s *suite) testIdempotency(t *testing.T) {
	b := s.setup(t)
	user, other := b.id("usr"), b.id("usr")
	key := b.id("key")
	live := b.idempotencyRecord(user, key, b.now().Add(time.Hour))
	if err := b.store.PutIdempotency(b.ctx, live); err != nil {
		t.Fatalf("PutIdempotency: %v", err)
	}
	b.assertIdempotency(user, key, live)

	retry := b.idempotencyRecord(user, key, b.now().Add(2*time.Hour))
	if err := b.store.PutIdempotency(b.ctx, retry); !errors.Is(err, task.ErrIdempotencyKeyExists) {
		t.Errorf("PutIdempotency over a live record: error = %v, want ErrIdempotencyKeyExists", err)
	}
	b.assertIdempotency(user, key, live)

	// Keys are per user.
	others := b.idempotencyRecord(other, key, b.now().Add(time.Hour))
	if err := b.store.PutIdempotency(b.ctx, others); err != nil {
		t.Fatalf("PutIdempotency of another user's same key: %v", err)
	}
	b.assertIdempotency(other, key, others)
	b.assertIdempotency(user, key, live)

	// An expired record is not found, and its key is free again.
	stale := b.id("key")
	expired := b.idempotencyRecord(user, stale, b.now().Add(-time.Hour))
	if err := b.store.PutIdempotency(b.ctx, expired); err != nil {
		t.Fatalf("PutIdempotency of an expired record: %v", err)
	}
	b.assertNoIdempotency(user, stale)
	renewed := b.idempotencyRecord(user, stale, b.now().Add(time.Hour))
	if err := b.store.PutIdempotency(b.ctx, renewed); err != nil {
		t.Fatalf("PutIdempotency over an expired record: %v", err)
	}
	b.assertIdempotency(user, stale, renewed)
	b.assertNoIdempotency(user, b.id("key"))
}

func (s *suite) testIdempotencyInCreate(t *testing.T) {
	b := s.setup(t)
	user, other := b.id("usr"), b.id("usr")
	key := b.id("key")
	submit := func(user string, rec task.IdempotencyRecord) (*task.Task, error) {
		tk := b.newTask(user, b.now())
		return tk, b.store.Create(b.ctx, task.Creation{Tasks: []*task.Task{tk}, Events: []task.Event{queuedEvent(tk)}, Idempotency: &rec})
	}

	rec := b.idempotencyRecord(user, key, b.now().Add(time.Hour))
	first, err := submit(user, rec)
	if err != nil {
		t.Fatalf("Create with an idempotency record: %v", err)
	}
	assertTask(t, b.getTask(user, first.ID), first)
	b.assertIdempotency(user, key, rec)

	second, err := submit(user, b.idempotencyRecord(user, key, b.now().Add(time.Hour)))
	if !errors.Is(err, task.ErrIdempotencyKeyExists) {
		t.Fatalf("Create with a taken key: error = %v, want ErrIdempotencyKeyExists", err)
	}
	if _, err := b.store.GetTask(b.ctx, "", second.ID); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("task of a refused Create: error = %v, want ErrNotFound", err)
	}
	b.assertIdempotency(user, key, rec)

	if _, err := submit(other, b.idempotencyRecord(other, key, b.now().Add(time.Hour))); err != nil {
		t.Errorf("Create with another user's key: %v", err)
	}

	stale := b.id("key")
	if err := b.store.PutIdempotency(b.ctx, b.idempotencyRecord(user, stale, b.now().Add(-time.Minute))); err != nil {
		t.Fatal(err)
	}
	renewed := b.idempotencyRecord(user, stale, b.now().Add(time.Hour))
	if _, err := submit(user, renewed); err != nil {
		t.Fatalf("Create over an expired key: %v", err)
	}
	b.assertIdempotency(user, stale, renewed)
}

// The boundary needs the store's clock in the suite's hands.
func (s *suite) testIdempotencyExpiryBoundary(t *testing.T) {
	b := s.setup(t)
	if b.SetNow == nil {
		t.Skip("the adapter's clock cannot be set")
	}
	user, key := b.id("usr"), b.id("key")
	rec := b.idempotencyRecord(user, key, b.fixed)
	if err := b.store.PutIdempotency(b.ctx, rec); err != nil {
		t.Fatal(err)
	}
	b.assertIdempotency(user, key, rec) // live at its ExpiresAt
	if err := b.store.PutIdempotency(b.ctx, b.idempotencyRecord(user, key, b.fixed.Add(time.Hour))); !errors.Is(err, task.ErrIdempotencyKeyExists) {
		t.Errorf("PutIdempotency at the old record's ExpiresAt: error = %v, want ErrIdempotencyKeyExists", err)
	}
	b.SetNow(b.fixed.Add(time.Second))
	b.assertNoIdempotency(user, key)
	later := b.idempotencyRecord(user, key, b.fixed.Add(time.Hour))
	if err := b.store.PutIdempotency(b.ctx, later); err != nil {
		t.Fatalf("PutIdempotency after expiry: %v", err)
	}
	b.assertIdempotency(user, key, later)
}

func (s *suite) testPurgeExpired(t *testing.T) {
	b := s.setup(t)
	if b.PurgeExpired == nil {
		t.Skip("the adapter expires records natively")
	}
	user := b.id("usr")
	now := b.now()
	var liveKeys []string
	for i := range 5 {
		key := b.id("key")
		expires := now.Add(-time.Duration(i+1) * time.Minute)
		if i >= 3 {
			expires = now.Add(time.Hour)
			liveKeys = append(liveKeys, key)
		}
		if err := b.store.PutIdempotency(b.ctx, b.idempotencyRecord(user, key, expires)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []int{3, 0} {
		n, err := b.PurgeExpired(b.ctx, now)
		if err != nil {
			t.Fatalf("PurgeExpired: %v", err)
		}
		if n != want {
			t.Errorf("PurgeExpired = %d, want %d", n, want)
		}
	}
	for _, key := range liveKeys {
		if _, err := b.store.GetIdempotency(b.ctx, user, key); err != nil {
			t.Errorf("live record %s after purge: %v", key, err)
		}
	}
}

func (s *suite) testStats(t *testing.T) {
	b := s.setup(t)
	user, other := b.id("usr"), b.id("usr")
	base := b.now().Add(-24 * time.Hour)
	ended := func(user string, typ task.Type, status task.Status, provider string, run time.Duration) *task.Task {
		tk := b.newTask(user, base)
		tk.Type, tk.Status, tk.Provider = typ, status, provider
		if run > 0 {
			start, end := base.Add(time.Minute), base.Add(time.Minute+run)
			tk.StartedAt, tk.CompletedAt = &start, &end
		}
		return tk
	}
	var tasks []*task.Task
	// alpha completed 20 image tasks in 1 s to 20 s, stored out of order.
	for i := range 20 {
		secs := (i*7)%20 + 1
		tasks = append(tasks, ended(user, task.TypeImageGeneration, task.StatusCompleted, "alpha", time.Duration(secs)*time.Second))
	}
	tasks = append(tasks,
		ended(user, task.TypeImageGeneration, task.StatusFailed, "alpha", 100*time.Second), // a failure's time is no duration
		ended(user, task.TypeAudioTranscription, task.StatusCanceled, "alpha", 50*time.Second),
		ended(user, task.TypeVideoGeneration, task.StatusCompleted, "beta", 10*time.Second),
		ended(user, task.TypeVideoGeneration, task.StatusCompleted, "beta", 20*time.Second),
		ended(user, task.TypeVideoGeneration, task.StatusRunning, "beta", 0),
		ended(user, task.TypeSubtitleGeneration, task.StatusCompleted, "gamma", 0), // no start recorded
		ended(user, task.TypeVideoGeneration, task.StatusFailed, "", 0),            // never reached a provider
		ended(user, task.TypeImageGeneration, task.StatusQueued, "", 0),
		ended(other, task.TypeImageGeneration, task.StatusCompleted, "alpha", 1000*time.Second),
		ended(other, task.TypeImageGeneration, task.StatusFailed, "delta", 0),
	)
	b.create(tasks...)

	got, err := b.store.Stats(b.ctx, user)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	counts := func(queued, running, completed, failed, canceled int) map[task.Status]int {
		return map[task.Status]int{task.StatusQueued: queued, task.StatusRunning: running,
			task.StatusCompleted: completed, task.StatusFailed: failed, task.StatusCanceled: canceled}
	}
	want := task.Stats{
		Counts: map[task.Type]map[task.Status]int{
			task.TypeImageGeneration:    counts(1, 0, 20, 1, 0),
			task.TypeVideoGeneration:    counts(0, 1, 2, 1, 0),
			task.TypeAudioTranscription: counts(0, 0, 0, 0, 1),
			task.TypeSubtitleGeneration: counts(0, 0, 1, 0, 0),
		},
		Total:       28,
		Succeeded:   23,
		Failed:      2,
		SuccessRate: 23.0 / 25.0,
		Providers: map[string]task.ProviderStats{
			"alpha": {Completed: 20, Failed: 1, MeanSeconds: 10.5, P95Seconds: 19},
			"beta":  {Completed: 2, MeanSeconds: 15, P95Seconds: 20},
			"gamma": {Completed: 1},
		},
		Spend:       []task.Spend{},
		Experiments: []task.ArmStats{},
	}
	if !reflect.DeepEqual(got, want) {
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(want)
		t.Errorf("Stats:\n got  %s\n want %s", gotJSON, wantJSON)
	}
}

// testSpend: the cost of completed tasks is summed per day, type and
// provider, whether a task was stored completed or completed by an update,
// and only for the user's own tasks; SpentOn gives one day's total.
func (s *suite) testSpend(t *testing.T) {
	b := s.setup(t)
	user, other := b.id("usr"), b.id("usr")
	now := b.now()
	yesterday := now.Add(-24 * time.Hour)
	done := func(user string, typ task.Type, provider string, usd float64, at time.Time) *task.Task {
		tk := b.newTask(user, at.Add(-time.Minute))
		start := at.Add(-30 * time.Second)
		end := at
		tk.Type, tk.Status, tk.Provider, tk.StartedAt, tk.CompletedAt = typ, task.StatusCompleted, provider, &start, &end
		tk.Cost = &task.Cost{USD: usd, PriceVersion: "p-1", Estimated: true}
		return tk
	}
	b.create(
		done(user, task.TypeImageGeneration, "alpha", 0.04, now),
		done(user, task.TypeImageGeneration, "alpha", 0.0125, now),
		done(user, task.TypeVideoGeneration, "beta", 0.5, yesterday),
		done(other, task.TypeImageGeneration, "alpha", 9, now),
	)
	free := done(user, task.TypeImageGeneration, "gamma", 0, now)
	free.Cost = nil // a provider with no prices
	b.create(free)
	// One completed by an update, as the workflow completes tasks.
	running := b.newTask(user, now.Add(-time.Minute))
	running.Type = task.TypeAudioTranscription
	b.create(running)
	running = b.transition(running, task.StatusRunning)
	next := running.Clone()
	ev, err := next.Transition(task.StatusCompleted, now)
	if err != nil {
		t.Fatal(err)
	}
	next.Cost = &task.Cost{USD: 0.006, PriceVersion: "p-1", Estimated: true}
	if err := b.store.UpdateTask(b.ctx, running, next, ev); err != nil {
		t.Fatalf("UpdateTask to completed: %v", err)
	}
	if got := b.getTask(user, next.ID); got.Cost == nil || got.Cost.USD != 0.006 || got.Cost.PriceVersion != "p-1" || !got.Cost.Estimated {
		t.Errorf("stored cost = %+v", got.Cost)
	}

	got, err := b.store.Stats(b.ctx, user)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	today, before := task.DayOf(now), task.DayOf(yesterday)
	want := []task.Spend{
		{Day: today, Type: task.TypeAudioTranscription, Provider: "alpha", Tasks: 1, USD: 0.006},
		{Day: today, Type: task.TypeImageGeneration, Provider: "alpha", Tasks: 2, USD: 0.0525},
		{Day: before, Type: task.TypeVideoGeneration, Provider: "beta", Tasks: 1, USD: 0.5},
	}
	if !reflect.DeepEqual(got.Spend, want) || got.SpendUSD != 0.5585 {
		t.Errorf("Spend = %+v (total %v)\nwant    %+v (total 0.5585)", got.Spend, got.SpendUSD, want)
	}
	for day, want := range map[time.Time]float64{now: 0.0585, yesterday: 0.5, now.Add(-72 * time.Hour): 0} {
		spent, err := b.store.SpentOn(b.ctx, user, day)
		if err != nil {
			t.Fatalf("SpentOn: %v", err)
		}
		if math.Abs(spent-want) > 1e-9 {
			t.Errorf("SpentOn(%s) = %v, want %v", task.DayOf(day), spent, want)
		}
	}
}

// testPromptStats: the ended tasks whose prompt was optimised are counted
// with their cache hits, and each experiment arm's outcomes are summed,
// whether a task was stored ended or ended by an update; tasks still
// running and other users' are left out.
func (s *suite) testPromptStats(t *testing.T) {
	b := s.setup(t)
	user, other := b.id("usr"), b.id("usr")
	now := b.now()
	ended := func(user string, status task.Status, op *task.OptimizedPrompt, runFor time.Duration, outcomes ...string) *task.Task {
		tk := b.newTask(user, now.Add(-time.Hour))
		start, end := now.Add(-runFor), now
		tk.Status, tk.Provider, tk.StartedAt, tk.CompletedAt, tk.OptimizedPrompt = status, "alpha", &start, &end, op
		for _, o := range outcomes {
			tk.AttemptHistory = append(tk.AttemptHistory, task.Attempt{Provider: "alpha", StartedAt: start, Outcome: o})
		}
		return tk
	}
	op := func(mode string, hit bool, exp, arm string) *task.OptimizedPrompt {
		o := &task.OptimizedPrompt{Original: "a fox", Final: "a fox", Mode: mode, CacheHit: hit, OptimizerVersion: "1"}
		if exp != "" {
			o.Experiment = &task.PromptExperiment{Name: exp, Arm: arm}
		}
		return o
	}
	b.create(
		ended(user, task.StatusCompleted, op("auto", true, "style", "auto"), 10*time.Second),
		ended(user, task.StatusCompleted, op("auto", false, "style", "auto"), 20*time.Second, task.OutcomeRefused, "started"),
		ended(user, task.StatusFailed, op("auto", false, "style", "auto"), 5*time.Second, task.OutcomeRefused, task.OutcomeRefused),
		ended(user, task.StatusCompleted, op("manual", false, "style", "raw"), 4*time.Second),
		ended(user, task.StatusCanceled, op("manual", false, "style", "raw"), time.Second),
		ended(user, task.StatusCompleted, op("template", true, "", ""), time.Second),
		ended(user, task.StatusCompleted, nil, time.Second),
		ended(other, task.StatusCompleted, op("auto", true, "style", "auto"), time.Second),
	)
	// Still running: not counted.
	running := b.newTask(user, now.Add(-time.Minute))
	b.create(running)
	running = b.transition(running, task.StatusRunning)
	running.OptimizedPrompt = op("template", true, "style", "tpl")
	// Ended by an update, as the workflow ends tasks.
	next := running.Clone()
	ev, err := next.Transition(task.StatusCompleted, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.UpdateTask(b.ctx, b.getTask(user, running.ID), next, ev); err != nil {
		t.Fatalf("UpdateTask to completed: %v", err)
	}
	got, err := b.store.Stats(b.ctx, user)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	wantPrompts := task.PromptStats{Optimized: 5, CacheHits: 3, CacheHitRate: 0.6}
	if got.Prompts != wantPrompts {
		t.Errorf("Prompts = %+v, want %+v", got.Prompts, wantPrompts)
	}
	tplSeconds := task.RoundSeconds(next.Duration().Seconds())
	wantArms := []task.ArmStats{
		{Experiment: "style", Arm: "auto", Completed: 2, Failed: 1, SafetyRefusals: 2, MeanSeconds: 15},
		{Experiment: "style", Arm: "raw", Completed: 1, Canceled: 1, MeanSeconds: 4},
		{Experiment: "style", Arm: "tpl", Completed: 1, MeanSeconds: tplSeconds},
	}
	if !reflect.DeepEqual(got.Experiments, wantArms) {
		t.Errorf("Experiments = %+v\nwant          %+v", got.Experiments, wantArms)
	}
}

func (s *suite) testStatsOfNoTasks(t *testing.T) {
	b := s.setup(t)
	got, err := b.store.Stats(b.ctx, b.id("usr"))
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if got.Total != 0 || got.Succeeded != 0 || got.Failed != 0 || got.SuccessRate != 0 || len(got.Providers) != 0 {
		t.Errorf("Stats of no tasks = %+v", got)
	}
	if len(got.Counts) != len(task.Types) {
		t.Errorf("Stats of no tasks has %d types, want %d", len(got.Counts), len(task.Types))
	}
	for _, typ := range task.Types {
		if !maps.Equal(got.Counts[typ], task.NewCounts(0)) {
			t.Errorf("Stats of no tasks: %s counts %v, want zeros", typ, got.Counts[typ])
		}
	}
}

func (s *suite) testAPIKeys(t *testing.T) {
	b := s.setup(t)
	keys := b.Keys
	count := func(want int) {
		t.Helper()
		n, err := keys.CountAPIKeys(b.ctx)
		if err != nil {
			t.Fatalf("CountAPIKeys: %v", err)
		}
		if n != want {
			t.Errorf("CountAPIKeys = %d, want %d", n, want)
		}
	}
	count(0)
	_, first, err := auth.NewKey(b.id("usr"), b.now())
	if err != nil {
		t.Fatal(err)
	}
	_, second, err := auth.NewKey(b.id("usr"), b.now())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []auth.APIKey{first, second} {
		if err := keys.CreateAPIKey(b.ctx, k); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
	}
	count(2)
	for _, want := range []auth.APIKey{first, second} {
		got, err := keys.APIKeyByHash(b.ctx, want.Hash)
		if err != nil {
			t.Fatalf("APIKeyByHash: %v", err)
		}
		if got.ID != want.ID || got.UserID != want.UserID || got.Hash != want.Hash || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("APIKeyByHash = %+v, want %+v", *got, want)
		}
	}
	if _, err := keys.APIKeyByHash(b.ctx, auth.HashKey("mt_unknown")); !errors.Is(err, auth.ErrKeyNotFound) {
		t.Errorf("APIKeyByHash(unknown): error = %v, want ErrKeyNotFound", err)
	}

	stolen := auth.APIKey{ID: b.id("key"), UserID: b.id("usr"), Hash: first.Hash, CreatedAt: b.now()}
	if err := keys.CreateAPIKey(b.ctx, stolen); err == nil {
		t.Error("CreateAPIKey with a stored hash: no error")
	}
	count(2)
	got, err := keys.APIKeyByHash(b.ctx, first.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != first.UserID {
		t.Errorf("after a refused duplicate, the hash belongs to %s, want %s", got.UserID, first.UserID)
	}
}

// A full-size batch (50 tasks, the default limit) with its events and an
// idempotency record is created in one go, all or nothing: stores with a
// cap on the items of one transaction must still manage it.
func (s *suite) testFullBatchWithIdempotency(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	batch, tasks := b.newBatch(user, 50)
	c := task.Creation{Tasks: tasks, Batch: batch}
	for _, tk := range tasks {
		c.Events = append(c.Events, queuedEvent(tk))
	}
	rec := b.idempotencyRecord(user, b.id("key"), b.now().Add(time.Hour))
	c.Idempotency = &rec
	if err := b.store.Create(b.ctx, c); err != nil {
		t.Fatalf("Create of a 50-task batch: %v", err)
	}
	got, err := b.store.GetBatch(b.ctx, user, batch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.TaskIDs) != 50 || got.Counts[task.StatusQueued] != 50 {
		t.Fatalf("batch = %d tasks, counts %v", len(got.TaskIDs), got.Counts)
	}
	page, err := b.store.ListTasks(b.ctx, user, task.ListFilter{BatchID: batch.ID, Limit: 100})
	if err != nil || len(page.Tasks) != 50 {
		t.Fatalf("listed %d tasks of the batch, %v", len(page.Tasks), err)
	}
	b.assertIdempotency(user, rec.Key, rec)

	// The same key again: nothing of the second batch is stored.
	again, moreTasks := b.newBatch(user, 50)
	c2 := task.Creation{Tasks: moreTasks, Batch: again, Idempotency: &rec}
	if err := b.store.Create(b.ctx, c2); !errors.Is(err, task.ErrIdempotencyKeyExists) {
		t.Fatalf("second batch with the same key: err = %v, want ErrIdempotencyKeyExists", err)
	}
	if _, err := b.store.GetBatch(b.ctx, "", again.ID); !errors.Is(err, task.ErrNotFound) {
		t.Fatalf("batch of a refused Create: err = %v, want ErrNotFound", err)
	}
	if _, err := b.store.GetTask(b.ctx, "", moreTasks[49].ID); !errors.Is(err, task.ErrNotFound) {
		t.Fatalf("task of a refused Create: err = %v, want ErrNotFound", err)
	}
}
