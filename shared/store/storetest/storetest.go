// Package storetest is the conformance suite of the task store port: every
// adapter (SQLite, DynamoDB, ...) runs Run against itself and must pass it
// unchanged, so that the runtimes behave the same whichever store is behind
// them.
//
// Conventions the suite pins down where the port's comments leave room:
//   - listings are newest first by CreatedAt, ties broken by id descending;
//     Limit 0 means 20, more than 100 means 100;
//   - a cursor that the store did not issue is an error wrapping
//     task.ErrBadCursor;
//   - an idempotency record is live while now <= ExpiresAt;
//   - UpdateTask on a terminal task is ErrTerminal even when prev is also
//     stale (retrying cannot help), and a refused update appends nothing;
//   - a new batch stores the Version its creator gave it, and each status
//     change of one of its tasks bumps it by one (Batch.Move);
//   - Stats.Counts holds every type with every status, zeros included;
//     Stats.Providers leaves out tasks without a provider, counts completed
//     and failed tasks, and its P95Seconds is the nearest-rank percentile
//     (the ceil(0.95 n)-th smallest duration) of the completed tasks that
//     have both StartedAt and CompletedAt;
//   - a duplicate API key hash is refused with an error.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/auth"
	"github.com/videoai/mediatasks/shared/task"
)

// Adapter is one fresh, empty store under test and the handles the suite
// needs around it.
type Adapter struct {
	Store task.Store
	Keys  auth.KeyStore
	// SetNow, when not nil, fixes the store's clock (idempotency expiry,
	// batch changes). Without it the suite checks times against a window of
	// real time instead of exact values.
	SetNow func(time.Time)
	// PurgeExpired, when not nil, deletes the idempotency records that
	// expired before now and says how many (stores with native expiry,
	// such as a DynamoDB TTL, leave it nil and the test is skipped).
	PurgeExpired func(ctx context.Context, now time.Time) (int, error)
}

// Run runs the whole suite. newStore must return a store of the test's own,
// empty: the API key count and StaleQueued look at every user's records.
func Run(t *testing.T, newStore func(t *testing.T) Adapter) {
	s := &suite{newStore: newStore}
	t.Run("CreateAndGet", s.testCreateAndGet)
	t.Run("CreateIsAllOrNothing", s.testCreateIsAllOrNothing)
	t.Run("CreateRefusesExistingIDs", s.testCreateRefusesExistingIDs)
	t.Run("Idempotency", s.testIdempotency)
	t.Run("IdempotencyInCreate", s.testIdempotencyInCreate)
	t.Run("FullBatchWithIdempotency", s.testFullBatchWithIdempotency)
	t.Run("IdempotencyExpiryBoundary", s.testIdempotencyExpiryBoundary)
	t.Run("PurgeExpired", s.testPurgeExpired)
	t.Run("UpdateTask", s.testUpdateTask)
	t.Run("UpdateTaskIsConditional", s.testUpdateTaskIsConditional)
	t.Run("UpdateTaskRefusesBadVersions", s.testUpdateTaskRefusesBadVersions)
	t.Run("ConcurrentUpdatesOfOneTask", s.testConcurrentUpdatesOfOneTask)
	t.Run("Events", s.testEvents)
	t.Run("TenantIsolation", s.testTenantIsolation)
	t.Run("ListFilters", s.testListFilters)
	t.Run("CursorWalk", s.testCursorWalk)
	t.Run("ListLimits", s.testListLimits)
	t.Run("BadCursor", s.testBadCursor)
	t.Run("BatchCounters", s.testBatchCounters)
	t.Run("BatchCompletesOnceUnderConcurrency", s.testBatchCompletesOnceUnderConcurrency)
	t.Run("StaleQueued", s.testStaleQueued)
	t.Run("OverdueRuns", s.testOverdueRuns)
	t.Run("Stats", s.testStats)
	t.Run("Spend", s.testSpend)
	t.Run("PromptStats", s.testPromptStats)
	t.Run("StatsOfNoTasks", s.testStatsOfNoTasks)
	t.Run("APIKeys", s.testAPIKeys)
	t.Run("Ping", s.testPing)
}

type suite struct {
	newStore func(t *testing.T) Adapter
}

// bundle is one test's store and its helpers.
type bundle struct {
	Adapter
	t     *testing.T
	ctx   context.Context
	store task.Store
	// fixed is the store's clock when the adapter lets the suite set it;
	// zero when the store runs on real time.
	fixed  time.Time
	prefix string
	n      int
}

// fixedNow is the clock the suite sets when it can: a whole second, so that
// every store keeps it exactly.
var fixedNow = time.Date(2031, 3, 14, 15, 9, 26, 0, time.UTC)

func (s *suite) setup(t *testing.T) *bundle {
	t.Helper()
	t.Parallel()
	a := s.newStore(t)
	b := &bundle{Adapter: a, t: t, ctx: context.Background(), store: a.Store, prefix: randomHex(4)}
	if a.SetNow != nil {
		b.fixed = fixedNow
		a.SetNow(b.fixed)
	}
	return b
}

// now is the suite's idea of the store's present, to the millisecond so
// that stores keeping milliseconds compare equal.
func (b *bundle) now() time.Time {
	if !b.fixed.IsZero() {
		return b.fixed
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

// id returns a fresh id with the prefix, unique in this test and across
// tests sharing a store.
func (b *bundle) id(prefix string) string {
	b.n++
	return prefix + "_" + b.prefix + "_" + strconv.Itoa(b.n)
}

func randomHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}

// newTask returns a queued task of user, created at, with every optional
// field set so that a lossy store shows.
func (b *bundle) newTask(user string, at time.Time) *task.Task {
	return &task.Task{
		ID:            b.id("tsk"),
		UserID:        user,
		Type:          task.TypeImageGeneration,
		Status:        task.StatusQueued,
		Priority:      task.PriorityNormal,
		Input:         json.RawMessage(`{"prompt":"a lighthouse at dusk","width":1024}`),
		Metadata:      map[string]string{"order": "42"},
		WebhookURL:    "https://example.com/hooks",
		WebhookEvents: []task.EventType{task.EventTaskCompleted},
		CreatedAt:     at,
		UpdatedAt:     at,
		Version:       1,
	}
}

func queuedEvent(t *task.Task) task.Event {
	return task.NewTaskEvent(t, task.EventTaskQueued, t.CreatedAt)
}

// create stores the tasks with their queued events, in creations of at most
// 25 tasks (a size every store takes at once).
func (b *bundle) create(tasks ...*task.Task) {
	b.t.Helper()
	for start := 0; start < len(tasks); start += 25 {
		chunk := tasks[start:min(start+25, len(tasks))]
		c := task.Creation{Tasks: chunk}
		for _, t := range chunk {
			c.Events = append(c.Events, queuedEvent(t))
		}
		if err := b.store.Create(b.ctx, c); err != nil {
			b.t.Fatalf("Create: %v", err)
		}
	}
}

// newBatch returns a batch of n queued tasks of user, not yet stored.
func (b *bundle) newBatch(user string, n int) (*task.Batch, []*task.Task) {
	at := b.now()
	batch := &task.Batch{
		ID:         b.id("bat"),
		UserID:     user,
		Status:     task.BatchRunning,
		Counts:     task.NewCounts(n),
		WebhookURL: "https://example.com/batch-hooks",
		CreatedAt:  at,
		UpdatedAt:  at,
		Version:    1,
	}
	tasks := make([]*task.Task, n)
	for i := range tasks {
		tasks[i] = b.newTask(user, at)
		tasks[i].BatchID = batch.ID
		batch.TaskIDs = append(batch.TaskIDs, tasks[i].ID)
	}
	return batch, tasks
}

func (b *bundle) createBatch(batch *task.Batch, tasks []*task.Task) {
	b.t.Helper()
	c := task.Creation{Tasks: tasks, Batch: batch}
	for _, t := range tasks {
		c.Events = append(c.Events, queuedEvent(t))
	}
	if err := b.store.Create(b.ctx, c); err != nil {
		b.t.Fatalf("Create batch: %v", err)
	}
}

// transition moves the stored task to status and returns the new version.
func (b *bundle) transition(prev *task.Task, to task.Status) *task.Task {
	b.t.Helper()
	next, err := b.tryTransition(prev, to)
	if err != nil {
		b.t.Fatalf("UpdateTask %s -> %s: %v", prev.Status, to, err)
	}
	return next
}

func (b *bundle) tryTransition(prev *task.Task, to task.Status) (*task.Task, error) {
	next := prev.Clone()
	if to == task.StatusRunning && next.Provider == "" {
		next.Provider = "alpha"
		next.AddAttempt("alpha", b.now())
	}
	ev, err := next.Transition(to, b.now())
	if err != nil {
		return nil, err
	}
	return next, b.store.UpdateTask(b.ctx, prev, next, ev)
}

func (b *bundle) getTask(user, id string) *task.Task {
	b.t.Helper()
	got, err := b.store.GetTask(b.ctx, user, id)
	if err != nil {
		b.t.Fatalf("GetTask(%q, %s): %v", user, id, err)
	}
	return got
}

func (b *bundle) getBatch(user, id string) *task.Batch {
	b.t.Helper()
	got, err := b.store.GetBatch(b.ctx, user, id)
	if err != nil {
		b.t.Fatalf("GetBatch(%q, %s): %v", user, id, err)
	}
	return got
}

func (b *bundle) events(subjectID string, afterSeq int64, limit int) []task.Event {
	b.t.Helper()
	events, err := b.store.ListEvents(b.ctx, subjectID, afterSeq, limit)
	if err != nil {
		b.t.Fatalf("ListEvents(%s, %d, %d): %v", subjectID, afterSeq, limit, err)
	}
	return events
}

func (b *bundle) list(user string, f task.ListFilter) task.Page {
	b.t.Helper()
	page, err := b.store.ListTasks(b.ctx, user, f)
	if err != nil {
		b.t.Fatalf("ListTasks(%q, %+v): %v", user, f, err)
	}
	return page
}

// assertTask fails unless got is want: every field, including the owner,
// and times as instants.
func assertTask(t *testing.T, got, want *task.Task) {
	t.Helper()
	if got == nil {
		t.Fatalf("task %s: got nil", want.ID)
	}
	if got.UserID != want.UserID {
		t.Errorf("task %s: UserID = %q, want %q", want.ID, got.UserID, want.UserID)
	}
	if got.Run.Key != want.Run.Key || (got.Run.Deadline == nil) != (want.Run.Deadline == nil) ||
		got.Run.Deadline != nil && !got.Run.Deadline.Equal(*want.Run.Deadline) {
		t.Errorf("task %s: Run = %s, want %s", want.ID, runString(got.Run), runString(want.Run))
	}
	assertSameJSON(t, "task "+want.ID, got, want)
}

func runString(r task.Run) string {
	if r.Deadline == nil {
		return "{" + r.Key + " unbounded}"
	}
	return "{" + r.Key + " until " + r.Deadline.Format(time.RFC3339Nano) + "}"
}

func assertBatch(t *testing.T, got, want *task.Batch) {
	t.Helper()
	if got.UserID != want.UserID {
		t.Errorf("batch %s: UserID = %q, want %q", want.ID, got.UserID, want.UserID)
	}
	assertSameJSON(t, "batch "+want.ID, got, want)
}

func assertEvent(t *testing.T, got, want task.Event) {
	t.Helper()
	if got.ID != want.ID || got.SubjectID != want.SubjectID || got.UserID != want.UserID ||
		got.Seq != want.Seq || got.Type != want.Type || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("event = {%s %s %q %d %s %s}, want {%s %s %q %d %s %s}",
			got.ID, got.SubjectID, got.UserID, got.Seq, got.Type, got.CreatedAt,
			want.ID, want.SubjectID, want.UserID, want.Seq, want.Type, want.CreatedAt)
	}
	var gotData, wantData any
	if err := json.Unmarshal(got.Data, &gotData); err != nil {
		t.Errorf("event %s data: %v", got.ID, err)
	}
	if err := json.Unmarshal(want.Data, &wantData); err != nil {
		t.Fatalf("event %s wanted data: %v", want.ID, err)
	}
	if !reflect.DeepEqual(gotData, wantData) {
		t.Errorf("event %s data = %s, want %s", got.ID, got.Data, want.Data)
	}
}

// assertSameJSON compares through the API's JSON form, normalising times to
// UTC so that the location a store hands back does not matter.
func assertSameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, w := normalJSON(t, got), normalJSON(t, want)
	if !reflect.DeepEqual(g, w) {
		gb, _ := json.Marshal(g)
		wb, _ := json.Marshal(w)
		t.Errorf("%s:\n got  %s\n want %s", what, gb, wb)
	}
}

func normalJSON(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var m any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return normaliseTimes(m)
}

func normaliseTimes(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = normaliseTimes(x)
		}
	case []any:
		for i, x := range v {
			v[i] = normaliseTimes(x)
		}
	case string:
		if at, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return at.UTC().Format(time.RFC3339Nano)
		}
	}
	return v
}

func ids(tasks []*task.Task) []string {
	out := make([]string, len(tasks))
	for i, t := range tasks {
		out[i] = t.ID
	}
	return out
}
