package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/task"
)

func (s *suite) testCreateAndGet(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	at := b.now().Add(-time.Minute)

	full := b.newTask(user, at)
	full.Status = task.StatusRunning
	full.Progress = 0.25
	full.Priority = task.PriorityHigh
	full.Provider = "beta"
	full.AddAttempt("alpha", at.Add(time.Second))
	full.AttemptHistory[0].Outcome, full.AttemptHistory[0].Error = "transient", "503 from alpha"
	full.AddAttempt("beta", at.Add(1500*time.Millisecond))
	started := at.Add(1500 * time.Millisecond)
	full.StartedAt = &started
	full.Output = &task.Output{
		Files: []task.File{{Key: "out/a.png", ContentType: "image/png", SizeBytes: 1234}},
		Text:  "caption",
		Extra: map[string]any{"seed": 7.0, "language": "en"},
	}
	full.Error = &task.Error{Code: "provider_timeout", Message: "took too long", Retryable: true}
	tmpl, revised := "photo@1", "a lighthouse at dawn, golden light"
	full.OptimizedPrompt = &task.OptimizedPrompt{Original: "a lighthouse", Final: "a lighthouse, golden hour", NegativePrompt: "blur",
		Mode: "template", Template: &tmpl, Stages: []string{"template", "fit"}, CacheHit: true, Truncated: true,
		Provider: "beta", ProviderRevisedPrompt: &revised, OptimizerVersion: "1"}

	bare := b.newTask(user, at.Add(time.Second))
	bare.Metadata, bare.WebhookURL, bare.WebhookEvents = nil, "", nil

	b.create(full, bare)
	for _, want := range []*task.Task{full, bare} {
		assertTask(t, b.getTask(user, want.ID), want)
		assertTask(t, b.getTask("", want.ID), want)
		events := b.events(want.ID, 0, 10)
		if len(events) != 1 {
			t.Fatalf("events of %s = %d, want 1", want.ID, len(events))
		}
		assertEvent(t, events[0], queuedEvent(want))
	}
	if _, err := b.store.GetTask(b.ctx, user, b.id("tsk")); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("GetTask(missing) error = %v, want ErrNotFound", err)
	}
	if _, err := b.store.GetBatch(b.ctx, user, b.id("bat")); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("GetBatch(missing) error = %v, want ErrNotFound", err)
	}
}

func (s *suite) testCreateIsAllOrNothing(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	batch, tasks := b.newBatch(user, 2)
	dup := b.newTask(user, b.now())
	dup.ID, dup.BatchID = tasks[0].ID, batch.ID
	tasks = append(tasks, dup)
	batch.TaskIDs = append(batch.TaskIDs, dup.ID)
	batch.Counts = task.NewCounts(3)
	rec := b.idempotencyRecord(user, b.id("key"), b.now().Add(time.Hour))
	c := task.Creation{Tasks: tasks, Batch: batch, Idempotency: &rec}
	for _, tk := range tasks {
		c.Events = append(c.Events, queuedEvent(tk))
	}

	err := b.store.Create(b.ctx, c)
	if !errors.Is(err, task.ErrDuplicateID) {
		t.Fatalf("Create with a duplicate id inside: error = %v, want ErrDuplicateID", err)
	}
	for _, tk := range tasks[:2] {
		if _, err := b.store.GetTask(b.ctx, "", tk.ID); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("task %s after failed Create: error = %v, want ErrNotFound", tk.ID, err)
		}
		if events := b.events(tk.ID, 0, 10); len(events) != 0 {
			t.Errorf("events of %s after failed Create: %d, want 0", tk.ID, len(events))
		}
	}
	if _, err := b.store.GetBatch(b.ctx, "", batch.ID); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("batch after failed Create: error = %v, want ErrNotFound", err)
	}
	if _, err := b.store.GetIdempotency(b.ctx, user, rec.Key); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("idempotency record after failed Create: error = %v, want ErrNotFound", err)
	}
	if page := b.list(user, task.ListFilter{}); len(page.Tasks) != 0 {
		t.Errorf("listing after failed Create: %v, want none", ids(page.Tasks))
	}
	// The same creation without the duplicate succeeds: nothing half-written
	// is in its way.
	c.Tasks, c.Events = tasks[:2], c.Events[:2]
	c.Batch.TaskIDs, c.Batch.Counts = batch.TaskIDs[:2], task.NewCounts(2)
	if err := b.store.Create(b.ctx, c); err != nil {
		t.Fatalf("Create without the duplicate: %v", err)
	}
	assertBatch(t, b.getBatch(user, batch.ID), batch)
}

func (s *suite) testCreateRefusesExistingIDs(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	stored := b.newTask(user, b.now())
	b.create(stored)

	again := b.newTask(user, b.now())
	again.ID, again.Input = stored.ID, json.RawMessage(`{"prompt":"something else"}`)
	fresh := b.newTask(user, b.now())
	err := b.store.Create(b.ctx, task.Creation{Tasks: []*task.Task{fresh, again}, Events: []task.Event{queuedEvent(fresh), queuedEvent(again)}})
	if !errors.Is(err, task.ErrDuplicateID) {
		t.Fatalf("Create with a stored task id: error = %v, want ErrDuplicateID", err)
	}
	assertTask(t, b.getTask(user, stored.ID), stored)
	if _, err := b.store.GetTask(b.ctx, user, fresh.ID); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("task created beside a duplicate: error = %v, want ErrNotFound", err)
	}

	batch, tasks := b.newBatch(user, 1)
	b.createBatch(batch, tasks)
	other, otherTasks := b.newBatch(user, 1)
	other.ID = batch.ID
	otherTasks[0].BatchID = batch.ID
	err = b.store.Create(b.ctx, task.Creation{Tasks: otherTasks, Batch: other, Events: []task.Event{queuedEvent(otherTasks[0])}})
	if !errors.Is(err, task.ErrDuplicateID) {
		t.Fatalf("Create with a stored batch id: error = %v, want ErrDuplicateID", err)
	}
	if _, err := b.store.GetTask(b.ctx, user, otherTasks[0].ID); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("task of a refused batch: error = %v, want ErrNotFound", err)
	}
	assertBatch(t, b.getBatch(user, batch.ID), batch)
}

func (s *suite) testUpdateTask(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	created := b.newTask(user, b.now().Add(-time.Minute))
	b.create(created)

	running := b.transition(created, task.StatusRunning)
	assertTask(t, b.getTask(user, created.ID), running)

	progressed := running.Clone()
	progressed.OptimizedPrompt = &task.OptimizedPrompt{Original: "a fox", Final: "a fox, soft light", Mode: "auto",
		Stages: []string{"rules"}, OptimizerVersion: "1"}
	ev, err := progressed.SetProgress(0.5, b.now())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.UpdateTask(b.ctx, running, progressed, ev); err != nil {
		t.Fatalf("UpdateTask progress: %v", err)
	}
	assertTask(t, b.getTask(user, created.ID), progressed)

	done := progressed.Clone()
	done.Output = &task.Output{Files: []task.File{{Key: "out/" + created.ID + ".png", ContentType: "image/png", SizeBytes: 99}}}
	ev, err = done.Transition(task.StatusCompleted, b.now())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.UpdateTask(b.ctx, progressed, done, ev); err != nil {
		t.Fatalf("UpdateTask complete: %v", err)
	}
	got := b.getTask(user, created.ID)
	assertTask(t, got, done)
	if got.Version != 4 || got.Status != task.StatusCompleted || got.CompletedAt == nil {
		t.Errorf("completed task: version %d, status %s, completed_at %v", got.Version, got.Status, got.CompletedAt)
	}
}

func (s *suite) testUpdateTaskIsConditional(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	created := b.newTask(user, b.now())
	b.create(created)
	running := b.transition(created, task.StatusRunning)

	if _, err := b.tryTransition(created, task.StatusCanceled); !errors.Is(err, task.ErrConflict) {
		t.Errorf("update from a stale version: error = %v, want ErrConflict", err)
	}
	assertTask(t, b.getTask(user, created.ID), running)

	done := b.transition(running, task.StatusCompleted)
	again := done.Clone()
	again.Status, again.Version = task.StatusFailed, done.Version+1
	if err := b.store.UpdateTask(b.ctx, done, again); !errors.Is(err, task.ErrTerminal) {
		t.Errorf("update of a terminal task: error = %v, want ErrTerminal", err)
	}
	// Terminal wins over a stale version: retrying cannot help.
	if _, err := b.tryTransition(running, task.StatusFailed); !errors.Is(err, task.ErrTerminal) {
		t.Errorf("stale update of a terminal task: error = %v, want ErrTerminal", err)
	}
	assertTask(t, b.getTask(user, created.ID), done)

	missing := b.newTask(user, b.now())
	if _, err := b.tryTransition(missing, task.StatusRunning); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("update of a missing task: error = %v, want ErrNotFound", err)
	}
	if _, err := b.store.GetTask(b.ctx, "", missing.ID); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("a refused update created task %s: error = %v", missing.ID, err)
	}

	events := b.events(created.ID, 0, 100)
	if got := seqs(events); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("event seqs after refused updates = %v, want [1 2 3]", got)
	}
}

func (s *suite) testUpdateTaskRefusesBadVersions(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	created := b.newTask(user, b.now())
	b.create(created)

	skip := created.Clone()
	skip.Status, skip.Version = task.StatusRunning, created.Version+2
	if err := b.store.UpdateTask(b.ctx, created, skip); err == nil {
		t.Error("update that skips a version: no error")
	}
	same := created.Clone()
	same.Status = task.StatusRunning
	if err := b.store.UpdateTask(b.ctx, created, same); err == nil {
		t.Error("update that keeps the version: no error")
	}
	elsewhere, _ := b.tryTransitionCopy(created)
	elsewhere.ID = b.id("tsk")
	if err := b.store.UpdateTask(b.ctx, created, elsewhere); err == nil {
		t.Error("update whose next is another task: no error")
	}
	assertTask(t, b.getTask(user, created.ID), created)
}

// tryTransitionCopy returns prev moved to running, not stored.
func (b *bundle) tryTransitionCopy(prev *task.Task) (*task.Task, task.Event) {
	next := prev.Clone()
	ev, err := next.Transition(task.StatusRunning, b.now())
	if err != nil {
		b.t.Fatal(err)
	}
	return next, ev
}

func (s *suite) testConcurrentUpdatesOfOneTask(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	created := b.newTask(user, b.now())
	b.create(created)

	const writers = 12
	nexts := make([]*task.Task, writers)
	evs := make([]task.Event, writers)
	for i := range nexts {
		nexts[i], evs[i] = b.tryTransitionCopy(created)
		nexts[i].Provider = "provider-" + strings.Repeat("x", i)
	}
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range nexts {
		wg.Go(func() { errs[i] = b.store.UpdateTask(b.ctx, created, nexts[i], evs[i]) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Errorf("writers %d and %d both won", winner, i)
		case !errors.Is(err, task.ErrConflict):
			t.Errorf("losing writer %d: error = %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	assertTask(t, b.getTask(user, created.ID), nexts[winner])
	if got := seqs(b.events(created.ID, 0, 100)); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("event seqs = %v, want [1 2]", got)
	}
}

func (s *suite) testEvents(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	created := b.newTask(user, b.now())
	b.create(created)
	want := []task.Event{queuedEvent(created)}

	prev := created
	step := func(change func(next *task.Task) (task.Event, error)) {
		t.Helper()
		next := prev.Clone()
		ev, err := change(next)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.store.UpdateTask(b.ctx, prev, next, ev); err != nil {
			t.Fatalf("UpdateTask: %v", err)
		}
		want = append(want, ev)
		prev = next
	}
	now := b.now()
	step(func(n *task.Task) (task.Event, error) { return n.Transition(task.StatusRunning, now) })
	step(func(n *task.Task) (task.Event, error) { return n.SetProgress(0.3, now) })
	step(func(n *task.Task) (task.Event, error) { return n.SetProgress(0.6, now) })
	step(func(n *task.Task) (task.Event, error) { return n.Transition(task.StatusFailed, now) })

	for name, tc := range map[string]struct {
		after int64
		limit int
		want  []task.Event
	}{
		"all":             {0, 100, want},
		"after 2":         {2, 100, want[2:]},
		"after 2 limit 2": {2, 2, want[2:4]},
		"after the last":  {5, 100, nil},
	} {
		got := b.events(created.ID, tc.after, tc.limit)
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %d events (seqs %v), want %d", name, len(got), seqs(got), len(tc.want))
		}
		for i := range got {
			assertEvent(t, got[i], tc.want[i])
		}
	}
	if got := b.events(b.id("tsk"), 0, 100); len(got) != 0 {
		t.Errorf("events of an unknown subject: %d, want 0", len(got))
	}
	types := make([]task.EventType, 0, len(want))
	for _, e := range b.events(created.ID, 0, 100) {
		types = append(types, e.Type)
	}
	wantTypes := []task.EventType{task.EventTaskQueued, task.EventTaskStarted, task.EventTaskProgress, task.EventTaskProgress, task.EventTaskFailed}
	if !slices.Equal(types, wantTypes) {
		t.Errorf("event types = %v, want %v", types, wantTypes)
	}
}

func seqs(events []task.Event) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.Seq
	}
	return out
}

func (s *suite) testStaleQueued(t *testing.T) {
	b := s.setup(t)
	now := b.now()
	userA, userB := b.id("usr"), b.id("usr")
	at := func(user string, status task.Status, age time.Duration) *task.Task {
		tk := b.newTask(user, now.Add(-age))
		tk.Status = status
		return tk
	}
	old := at(userA, task.StatusQueued, 2*time.Hour)
	older := at(userA, task.StatusQueued, 3*time.Hour)
	otherUsers := at(userB, task.StatusQueued, 90*time.Minute)
	recent := at(userA, task.StatusQueued, time.Minute)
	running := at(userA, task.StatusRunning, 4*time.Hour)
	ended := at(userA, task.StatusCompleted, 5*time.Hour)
	b.create(old, older, otherUsers, recent, running, ended)

	cutoff := now.Add(-time.Hour)
	stale, err := b.store.StaleQueued(b.ctx, cutoff, 10)
	if err != nil {
		t.Fatalf("StaleQueued: %v", err)
	}
	wantIDs := []string{old.ID, older.ID, otherUsers.ID}
	slices.Sort(wantIDs)
	gotIDs := ids(stale)
	slices.Sort(gotIDs)
	if !slices.Equal(gotIDs, wantIDs) {
		t.Fatalf("StaleQueued = %v, want %v", gotIDs, wantIDs)
	}
	for _, got := range stale {
		for _, want := range []*task.Task{old, older, otherUsers} {
			if got.ID == want.ID {
				assertTask(t, got, want)
			}
		}
	}

	two, err := b.store.StaleQueued(b.ctx, cutoff, 2)
	if err != nil {
		t.Fatalf("StaleQueued limit 2: %v", err)
	}
	if len(two) != 2 || !slices.Contains(wantIDs, two[0].ID) || !slices.Contains(wantIDs, two[1].ID) || two[0].ID == two[1].ID {
		t.Errorf("StaleQueued limit 2 = %v, want two of %v", ids(two), wantIDs)
	}

	b.transition(older, task.StatusRunning)
	stale, err = b.store.StaleQueued(b.ctx, cutoff, 10)
	if err != nil {
		t.Fatalf("StaleQueued: %v", err)
	}
	gotIDs = ids(stale)
	slices.Sort(gotIDs)
	wantIDs = []string{old.ID, otherUsers.ID}
	slices.Sort(wantIDs)
	if !slices.Equal(gotIDs, wantIDs) {
		t.Errorf("StaleQueued after one started = %v, want %v", gotIDs, wantIDs)
	}
}

// A task's run (the execution that claimed it) is stored with its
// start, and the running tasks of bounded runs past their deadline are
// listed, earliest first, whoever owns them.
func (s *suite) testOverdueRuns(t *testing.T) {
	b := s.setup(t)
	now := b.now()
	userA, userB := b.id("usr"), b.id("usr")
	start := func(user string, run task.Run) *task.Task {
		b.t.Helper()
		prev := b.newTask(user, now.Add(-4*time.Hour))
		b.create(prev)
		next := prev.Clone()
		if err := next.Claim(run); err != nil {
			t.Fatal(err)
		}
		next.AddAttempt("alpha", now)
		ev, err := next.Transition(task.StatusRunning, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.store.UpdateTask(b.ctx, prev, next, ev); err != nil {
			t.Fatalf("UpdateTask with a run: %v", err)
		}
		return next
	}
	bounded := func(key string, deadline time.Time) task.Run {
		return task.Run{Key: task.RunKey(key), Deadline: &deadline}
	}
	lost := start(userA, bounded("exec-lost", now.Add(-2*time.Hour)))
	lostOfB := start(userB, bounded("exec-lost-b", now.Add(-90*time.Minute)))
	fresh := start(userA, bounded("exec-fresh", now.Add(-time.Minute)))
	durable := start(userA, task.Run{Key: task.RunKey("exec-durable")})
	ended := b.transition(start(userA, bounded("exec-ended", now.Add(-3*time.Hour))), task.StatusCompleted)
	b.create(b.newTask(userA, now.Add(-5*time.Hour)))

	for _, want := range []*task.Task{lost, fresh, durable, ended} {
		assertTask(t, b.getTask(userA, want.ID), want)
	}
	cutoff := now.Add(-time.Hour)
	overdue, err := b.store.OverdueRuns(b.ctx, cutoff, 10)
	if err != nil {
		t.Fatalf("OverdueRuns: %v", err)
	}
	if got, want := ids(overdue), []string{lost.ID, lostOfB.ID}; !slices.Equal(got, want) {
		t.Fatalf("OverdueRuns = %v, want %v (earliest deadline first)", got, want)
	}
	assertTask(t, overdue[0], lost)
	assertTask(t, overdue[1], lostOfB)
	one, err := b.store.OverdueRuns(b.ctx, cutoff, 1)
	if err != nil || !slices.Equal(ids(one), []string{lost.ID}) {
		t.Errorf("OverdueRuns limit 1 = %v, %v; want [%s]", ids(one), err, lost.ID)
	}

	b.transition(lost, task.StatusFailed)
	overdue, err = b.store.OverdueRuns(b.ctx, cutoff, 10)
	if err != nil || !slices.Equal(ids(overdue), []string{lostOfB.ID}) {
		t.Errorf("OverdueRuns after one failed = %v, %v; want [%s]", ids(overdue), err, lostOfB.ID)
	}
}

func (s *suite) testPing(t *testing.T) {
	b := s.setup(t)
	if err := b.store.Ping(b.ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
