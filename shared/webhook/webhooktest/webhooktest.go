// Package webhooktest is the conformance suite of the webhook delivery
// store (webhook.Store) and of the outbox in the task store beside it:
// every adapter runs Run against itself and must pass it unchanged.
//
// Conventions the suite pins down where the port's comments leave room:
//   - a delivery's CreatedAt and first NextAttemptAt are its event's
//     CreatedAt, and its ID is webhook.DeliveryID(event id);
//   - ClaimDue claims the earliest due first, but the order of the
//     deliveries one call returns is not specified;
//   - a delivery skipped at creation carries one attempt, outcome skipped;
//   - listings are newest first by CreatedAt, ties broken by id
//     descending; Limit 0 means 20; a foreign cursor wraps ErrBadCursor;
//   - a secret is active while now < its expiry.
package webhooktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

// Adapter is one fresh, empty store under test.
type Adapter struct {
	// Store is the delivery store.
	Store webhook.Store
	// Tasks is the task store whose writes create the deliveries of their
	// events (the outbox), sharing Store's records.
	Tasks task.Store
}

// Run runs the whole suite; newAdapter must return stores of the test's
// own, empty (counts and claims look at every user's deliveries), that
// tell hook of the pending deliveries each committed write made.
func Run(t *testing.T, newAdapter func(t *testing.T, hook webhook.CommitHook) Adapter) {
	s := &suite{newAdapter: newAdapter}
	t.Run("CommitHook", s.testCommitHook)
	t.Run("OutboxOnCreate", s.testOutboxOnCreate)
	t.Run("OutboxOnUpdate", s.testOutboxOnUpdate)
	t.Run("ProgressAtMostOncePerSecond", s.testProgressThrottle)
	t.Run("BatchCompleted", s.testBatchCompleted)
	t.Run("DisabledEndpointSkips", s.testDisabledEndpoint)
	t.Run("ClaimAndLease", s.testClaimAndLease)
	t.Run("ConcurrentClaims", s.testConcurrentClaims)
	t.Run("ClaimDelivery", s.testClaimDelivery)
	t.Run("ConcurrentClaimDelivery", s.testConcurrentClaimDelivery)
	t.Run("DueDeliveries", s.testDueDeliveries)
	t.Run("RecordAttempt", s.testRecordAttempt)
	t.Run("LeaseLost", s.testLeaseLost)
	t.Run("GetAndTenants", s.testGetAndTenants)
	t.Run("List", s.testList)
	t.Run("Retry", s.testRetry)
	t.Run("Secrets", s.testSecrets)
	t.Run("CountsAndOldestPending", s.testCounts)
}

type suite struct {
	newAdapter func(t *testing.T, hook webhook.CommitHook) Adapter
}

// bundle is one test's stores and helpers.
type bundle struct {
	t     *testing.T
	ctx   context.Context
	store webhook.Store
	tasks task.Store
	start time.Time
}

func (s *suite) setup(t *testing.T) *bundle {
	t.Helper()
	t.Parallel()
	a := s.newAdapter(t, nil)
	// A fixed instant, so that claims and expiries are exact.
	return &bundle{t: t, ctx: context.Background(), store: a.Store, tasks: a.Tasks,
		start: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
}

// id is unique across runs, so that adapters sharing an emulator between
// tests never see each other's records.
func (b *bundle) id(prefix string) string {
	r := make([]byte, 8)
	rand.Read(r)
	return prefix + "_" + hex.EncodeToString(r)
}

func urlOf(user string) string { return "https://hooks.example.com/" + user }

// submit stores a queued task with a webhook subscribed to events, and
// its task.queued event.
func (b *bundle) submit(user string, at time.Time, events ...task.EventType) *task.Task {
	b.t.Helper()
	tk := &task.Task{ID: b.id("tsk"), UserID: user, Type: task.TypeImageGeneration, Status: task.StatusQueued,
		Priority: task.PriorityNormal, Input: json.RawMessage(`{"prompt":"a lighthouse"}`),
		WebhookURL: urlOf(user), WebhookEvents: events, CreatedAt: at, UpdatedAt: at, Version: 1}
	ev := task.NewTaskEvent(tk, task.EventTaskQueued, at)
	if err := b.tasks.Create(b.ctx, task.Creation{Tasks: []*task.Task{tk}, Events: []task.Event{ev}}); err != nil {
		b.t.Fatalf("create task: %v", err)
	}
	return tk
}

// change applies mutate to the task at time at and stores it.
func (b *bundle) change(tk *task.Task, at time.Time, mutate func(t *task.Task) (task.Event, error)) (*task.Task, task.Event) {
	b.t.Helper()
	next := tk.Clone()
	ev, err := mutate(next)
	if err != nil {
		b.t.Fatalf("change task %s: %v", tk.ID, err)
	}
	if err := b.tasks.UpdateTask(b.ctx, tk, next, ev); err != nil {
		b.t.Fatalf("update task %s: %v", tk.ID, err)
	}
	return next, ev
}

func (b *bundle) list(user string, f webhook.Filter) []webhook.Delivery {
	b.t.Helper()
	page, err := b.store.ListDeliveries(b.ctx, user, f)
	if err != nil {
		b.t.Fatalf("list deliveries: %v", err)
	}
	return page.Deliveries
}

func (b *bundle) get(user, id string) webhook.Delivery {
	b.t.Helper()
	d, err := b.store.GetDelivery(b.ctx, user, id)
	if err != nil {
		b.t.Fatalf("get delivery %s: %v", id, err)
	}
	return d
}

func (b *bundle) claim(now time.Time, limit int, lease time.Duration) []webhook.Delivery {
	b.t.Helper()
	ds, err := b.store.ClaimDue(b.ctx, now, limit, lease)
	if err != nil {
		b.t.Fatalf("claim due: %v", err)
	}
	return ds
}

func ids(ds []webhook.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func sameIDs(t *testing.T, what string, got []webhook.Delivery, want ...string) {
	t.Helper()
	g := ids(got)
	slices.Sort(g)
	w := slices.Clone(want)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s = %v, want %v", what, g, w)
	}
}

func jsonEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v in %s", what, err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func (s *suite) testOutboxOnCreate(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	at := b.start
	subscribed := b.submit(user, at, task.EventTaskQueued)
	b.submit(user, at.Add(time.Second))                            // default events: not task.queued
	b.submit(user, at.Add(2*time.Second), task.EventTaskCompleted) // not task.queued either
	ds := b.list(user, webhook.Filter{})
	if len(ds) != 1 {
		t.Fatalf("deliveries = %d, want 1 (only the task subscribed to task.queued)", len(ds))
	}
	ev := task.NewTaskEvent(subscribed, task.EventTaskQueued, at)
	d := b.get(user, ds[0].ID)
	want := webhook.Delivery{
		ID: webhook.DeliveryID(ev.ID), EventID: ev.ID, UserID: user, SubjectID: subscribed.ID,
		EventType: task.EventTaskQueued, URL: urlOf(user), Status: webhook.StatusPending,
		NextAttemptAt: at, CreatedAt: at,
	}
	if d.ID != want.ID || d.EventID != want.EventID || d.UserID != want.UserID || d.SubjectID != want.SubjectID ||
		d.EventType != want.EventType || d.URL != want.URL || d.Status != want.Status || d.AttemptCount != 0 ||
		!d.NextAttemptAt.Equal(want.NextAttemptAt) || !d.CreatedAt.Equal(want.CreatedAt) || d.LastAttempt != nil || len(d.Attempts) != 0 {
		t.Errorf("delivery = %+v\nwant %+v", d, want)
	}
	if d.Event.ID != ev.ID || d.Event.SubjectID != ev.SubjectID || d.Event.Seq != ev.Seq || d.Event.Type != ev.Type ||
		!d.Event.CreatedAt.Equal(ev.CreatedAt) || d.Event.UserID != user {
		t.Errorf("delivery event = %+v, want %+v", d.Event, ev)
	}
	jsonEqual(t, "delivery event data", d.Event.Data, ev.Data)
	if got := b.list(b.id("usr"), webhook.Filter{}); len(got) != 0 {
		t.Errorf("another user lists %d deliveries", len(got))
	}
}

func (s *suite) testOutboxOnUpdate(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	at := b.start
	tk := b.submit(user, at) // default events
	tk, _ = b.change(tk, at.Add(time.Second), func(t *task.Task) (task.Event, error) {
		return t.Transition(task.StatusRunning, at.Add(time.Second))
	})
	if ds := b.list(user, webhook.Filter{}); len(ds) != 0 {
		t.Fatalf("deliveries after task.started = %d, want 0 (not subscribed)", len(ds))
	}
	_, ev := b.change(tk, at.Add(2*time.Second), func(t *task.Task) (task.Event, error) {
		return t.Transition(task.StatusCompleted, at.Add(2*time.Second))
	})
	ds := b.list(user, webhook.Filter{})
	if len(ds) != 1 || ds[0].EventID != ev.ID || ds[0].EventType != task.EventTaskCompleted {
		t.Fatalf("deliveries = %+v, want the task.completed one", ds)
	}
	jsonEqual(t, "completed data", ds[0].Event.Data, ev.Data)
}

func (s *suite) testProgressThrottle(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	at := b.start
	tk := b.submit(user, at, task.EventTaskProgress)
	tk, _ = b.change(tk, at, func(t *task.Task) (task.Event, error) { return t.Transition(task.StatusRunning, at) })
	var want []string
	for i, off := range []time.Duration{0, 500 * time.Millisecond, 999 * time.Millisecond, time.Second, 1500 * time.Millisecond, 2500 * time.Millisecond} {
		when := at.Add(off)
		var ev task.Event
		tk, ev = b.change(tk, when, func(t *task.Task) (task.Event, error) { return t.SetProgress(float64(i)/10, when) })
		switch off {
		case 0, time.Second, 2500 * time.Millisecond:
			want = append(want, ev.ID)
		}
	}
	var got []string
	for _, d := range b.list(user, webhook.Filter{SubjectID: tk.ID}) {
		got = append(got, d.EventID)
	}
	slices.Reverse(got)
	if !slices.Equal(got, want) {
		t.Errorf("progress deliveries = %v, want %v (one per second at most)", got, want)
	}
}

func (s *suite) testBatchCompleted(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	at := b.start
	batch := &task.Batch{ID: b.id("bat"), UserID: user, Status: task.BatchRunning, Counts: task.NewCounts(2),
		WebhookURL: urlOf(user), CreatedAt: at, UpdatedAt: at, Version: 1}
	var tasks []*task.Task
	var events []task.Event
	for range 2 {
		tk := &task.Task{ID: b.id("tsk"), UserID: user, Type: task.TypeImageGeneration, Status: task.StatusQueued,
			Priority: task.PriorityNormal, BatchID: batch.ID, CreatedAt: at, UpdatedAt: at, Version: 1}
		batch.TaskIDs = append(batch.TaskIDs, tk.ID)
		tasks = append(tasks, tk)
		events = append(events, task.NewTaskEvent(tk, task.EventTaskQueued, at))
	}
	if err := b.tasks.Create(b.ctx, task.Creation{Tasks: tasks, Batch: batch, Events: events}); err != nil {
		t.Fatal(err)
	}
	for i, tk := range tasks {
		when := at.Add(time.Duration(i+1) * time.Second)
		b.change(tk, when, func(t *task.Task) (task.Event, error) { return t.Transition(task.StatusCanceled, when) })
		ds := b.list(user, webhook.Filter{})
		if i == 0 && len(ds) != 0 {
			t.Fatalf("deliveries before the batch completed = %d, want 0", len(ds))
		}
	}
	ds := b.list(user, webhook.Filter{SubjectID: batch.ID})
	if len(ds) != 1 || ds[0].EventType != task.EventBatchCompleted || ds[0].URL != urlOf(user) ||
		ds[0].EventID != task.EventID(batch.ID, 3) || ds[0].Status != webhook.StatusPending {
		t.Fatalf("batch deliveries = %+v, want one pending batch.completed", ds)
	}
	var data task.Batch
	if err := json.Unmarshal(ds[0].Event.Data, &data); err != nil || data.Status != task.BatchCompleted || data.Counts[task.StatusCanceled] != 2 {
		t.Errorf("batch.completed data = %s (%v)", ds[0].Event.Data, err)
	}
}

func (s *suite) testDisabledEndpoint(t *testing.T) {
	b := s.setup(t)
	user, other := b.id("usr"), b.id("usr")
	at := b.start
	if off, err := b.store.EndpointDisabled(b.ctx, user, urlOf(user)); err != nil || off {
		t.Fatalf("EndpointDisabled before = %v, %v", off, err)
	}
	if err := b.store.DisableEndpoint(b.ctx, user, urlOf(user), at); err != nil {
		t.Fatal(err)
	}
	if err := b.store.DisableEndpoint(b.ctx, user, urlOf(user), at.Add(time.Second)); err != nil {
		t.Fatalf("disabling twice: %v", err)
	}
	if off, err := b.store.EndpointDisabled(b.ctx, user, urlOf(user)); err != nil || !off {
		t.Fatalf("EndpointDisabled after = %v, %v", off, err)
	}
	if off, _ := b.store.EndpointDisabled(b.ctx, other, urlOf(user)); off {
		t.Error("another user's endpoint with the same URL is disabled too")
	}
	b.submit(user, at.Add(time.Minute), task.EventTaskQueued)
	ds := b.list(user, webhook.Filter{})
	if len(ds) != 1 || ds[0].Status != webhook.StatusSkipped {
		t.Fatalf("deliveries = %+v, want one skipped", ds)
	}
	d := b.get(user, ds[0].ID)
	if len(d.Attempts) != 1 || d.Attempts[0].Outcome != webhook.OutcomeSkipped || d.LastAttempt == nil ||
		d.LastAttempt.Outcome != webhook.OutcomeSkipped || d.AttemptCount != 1 {
		t.Errorf("skipped delivery = %+v, want one skipped attempt", d)
	}
	if got := b.claim(at.Add(time.Hour), 10, time.Minute); len(got) != 0 {
		t.Errorf("claimed %d skipped deliveries", len(got))
	}
}

func (s *suite) testClaimAndLease(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	at := b.start
	var want []string
	for i := range 3 {
		tk := b.submit(user, at.Add(time.Duration(i)*time.Second), task.EventTaskQueued)
		want = append(want, webhook.DeliveryID(task.EventID(tk.ID, 1)))
	}
	if got := b.claim(at.Add(-time.Nanosecond), 10, time.Minute); len(got) != 0 {
		t.Fatalf("claimed %d before anything is due", len(got))
	}
	first := b.claim(at.Add(2*time.Second), 1, time.Minute)
	sameIDs(t, "first claim (limit 1)", first, want[0])
	if len(first) == 1 && first[0].Lease == "" {
		t.Error("a claimed delivery carries no lease")
	}
	rest := b.claim(at.Add(2*time.Second), 10, time.Minute)
	sameIDs(t, "second claim", rest, want[1], want[2])
	for _, d := range slices.Concat(first, rest) {
		if d.Event.ID != d.EventID || d.Event.Type != task.EventTaskQueued || !json.Valid(d.Event.Data) {
			t.Errorf("claimed delivery %s carries event %+v, want its event with its data", d.ID, d.Event)
		}
	}
	if got := b.claim(at.Add(2*time.Second+time.Minute-time.Nanosecond), 10, time.Minute); len(got) != 0 {
		t.Errorf("claimed %v again within the lease", ids(got))
	}
	// The lease lapses, as after a crash mid-attempt: due again, same id.
	again := b.claim(at.Add(time.Minute+2*time.Second), 10, time.Minute)
	sameIDs(t, "claim after the lease", again, want...)
	for _, d := range again {
		if d.EventID != task.EventID(d.SubjectID, 1) {
			t.Errorf("reclaimed webhook id = %s", d.EventID)
		}
		if len(first) == 1 && d.ID == first[0].ID && d.Lease == first[0].Lease {
			t.Error("a new claim kept the lapsed lease")
		}
	}
	if got := b.claim(at.Add(time.Hour), 0, time.Minute); len(got) != 0 {
		t.Errorf("limit 0 claimed %d", len(got))
	}
}

func (s *suite) testConcurrentClaims(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	const n = 24
	for i := range n {
		b.submit(user, b.start.Add(time.Duration(i)*time.Millisecond), task.EventTaskQueued)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				ds, err := b.store.ClaimDue(b.ctx, b.start.Add(time.Second), 3, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				for _, d := range ds {
					seen[d.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("claimed %d distinct deliveries, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("delivery %s claimed %d times", id, c)
		}
	}
}

func (b *bundle) claimOne(id string, now time.Time, lease time.Duration) (webhook.Delivery, bool) {
	b.t.Helper()
	d, claimed, err := b.store.ClaimDelivery(b.ctx, id, now, lease)
	if err != nil {
		b.t.Fatalf("claim delivery %s at %s: %v", id, now.Sub(b.start), err)
	}
	if d.ID != id {
		b.t.Fatalf("claim delivery %s returned delivery %q", id, d.ID)
	}
	return d, claimed
}

func (s *suite) testClaimDelivery(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	at := b.start
	tk := b.submit(user, at, task.EventTaskQueued)
	id := webhook.DeliveryID(task.EventID(tk.ID, 1))

	if d, claimed := b.claimOne(id, at.Add(-time.Nanosecond), time.Minute); claimed || d.Status != webhook.StatusPending || d.Lease != "" {
		t.Errorf("claim before due = claimed %v, status %s, lease %q; want unclaimed pending", claimed, d.Status, d.Lease)
	}
	first, claimed := b.claimOne(id, at, time.Minute)
	if !claimed || first.Lease == "" || first.Status != webhook.StatusPending || first.EventID != task.EventID(tk.ID, 1) ||
		first.UserID != user || first.URL != urlOf(user) {
		t.Fatalf("claim when due = %+v, claimed %v; want it claimed with a lease", first, claimed)
	}
	// The claimer sends the event: the claim carries it whole.
	jsonEqual(t, "claimed event data", first.Event.Data, task.NewTaskEvent(tk, task.EventTaskQueued, at).Data)
	if got := b.claim(at.Add(30*time.Second), 10, time.Minute); len(got) != 0 {
		t.Errorf("ClaimDue took %v, claimed one by one and still leased", ids(got))
	}
	if d, claimed := b.claimOne(id, at.Add(time.Minute-time.Nanosecond), time.Minute); claimed || d.Status != webhook.StatusPending {
		t.Errorf("claim within another's lease = claimed %v, status %s; want unclaimed pending", claimed, d.Status)
	}
	// The first claimer crashed: its lease lapses, and the delivery is
	// claimed again under a new lease, with the same webhook-id.
	second, claimed := b.claimOne(id, at.Add(time.Minute), time.Minute)
	if !claimed || second.Lease == "" || second.Lease == first.Lease || second.EventID != first.EventID {
		t.Fatalf("claim after the lease lapsed = claimed %v, lease %q (first %q), webhook id %s", claimed, second.Lease, first.Lease, second.EventID)
	}
	late := webhook.Attempt{At: at.Add(70 * time.Second), StatusCode: 200, Outcome: webhook.OutcomeDelivered}
	stale := first
	stale.Status, stale.AttemptCount = webhook.StatusDelivered, 1
	if err := b.store.RecordAttempt(b.ctx, stale, late); !errors.Is(err, webhook.ErrLeaseLost) {
		t.Errorf("recording under the lapsed lease = %v, want ErrLeaseLost", err)
	}
	second.Status, second.AttemptCount, second.NextAttemptAt = webhook.StatusDelivered, 1, late.At
	if err := b.store.RecordAttempt(b.ctx, second, late); err != nil {
		t.Fatalf("recording under the live lease: %v", err)
	}
	if d, claimed := b.claimOne(id, at.Add(time.Hour), time.Minute); claimed || d.Status != webhook.StatusDelivered || d.AttemptCount != 1 {
		t.Errorf("claim of a delivered one = claimed %v, status %s, count %d; want unclaimed, delivered, 1", claimed, d.Status, d.AttemptCount)
	}
	if _, claimed, err := b.store.ClaimDelivery(b.ctx, webhook.DeliveryID(b.id("evt")), at, time.Minute); !errors.Is(err, webhook.ErrNotFound) || claimed {
		t.Errorf("ClaimDelivery(missing) = claimed %v, %v; want ErrNotFound", claimed, err)
	}
}

func (s *suite) testConcurrentClaimDelivery(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	tk := b.submit(user, b.start, task.EventTaskQueued)
	id := webhook.DeliveryID(task.EventID(tk.ID, 1))
	// Messages of one delivery may arrive at several consumers at once
	// (a re-sent message beside the first): one of them attempts it.
	var wg sync.WaitGroup
	won := make([]bool, 6)
	for i := range won {
		wg.Go(func() {
			_, claimed, err := b.store.ClaimDelivery(b.ctx, id, b.start.Add(time.Second), time.Hour)
			if err != nil {
				t.Error(err)
			}
			won[i] = claimed
		})
	}
	wg.Wait()
	if n := len(slices.DeleteFunc(won, func(w bool) bool { return !w })); n != 1 {
		t.Errorf("%d concurrent claims of one delivery succeeded, want 1", n)
	}
}

func (s *suite) testDueDeliveries(t *testing.T) {
	b := s.setup(t)
	users := []string{b.id("usr"), b.id("usr")}
	at := b.start
	// Due at 0..3 s, created out of order, alternating between users.
	due := make([]string, 4)
	for i, off := range []int{2, 0, 3, 1} {
		tk := b.submit(users[i%2], at.Add(time.Duration(off)*time.Second), task.EventTaskQueued)
		due[off] = webhook.DeliveryID(task.EventID(tk.ID, 1))
	}
	// A skipped one (disabled endpoint) is never due.
	skipper := b.id("usr")
	if err := b.store.DisableEndpoint(b.ctx, skipper, urlOf(skipper), at); err != nil {
		t.Fatal(err)
	}
	b.submit(skipper, at, task.EventTaskQueued)

	dueBefore := func(before time.Time, limit int) []string {
		t.Helper()
		ds, err := b.store.DueDeliveries(b.ctx, before, limit)
		if err != nil {
			t.Fatalf("due deliveries: %v", err)
		}
		for _, d := range ds {
			if d.Status != webhook.StatusPending || !d.NextAttemptAt.Before(before) || d.URL == "" || d.UserID == "" {
				t.Errorf("due delivery %s: status %s, next attempt %s, url %q, user %q", d.ID, d.Status, d.NextAttemptAt.Sub(b.start), d.URL, d.UserID)
			}
		}
		return ids(ds)
	}
	if got := dueBefore(at.Add(3*time.Second), 10); !slices.Equal(got, due[:3]) {
		t.Errorf("due before 3 s = %v, want %v (oldest due first, the one due at 3 s left out)", got, due[:3])
	}
	if got := dueBefore(at.Add(3*time.Second+time.Nanosecond), 2); !slices.Equal(got, due[:2]) {
		t.Errorf("due, limit 2 = %v, want %v", got, due[:2])
	}
	if got := dueBefore(at, 10); len(got) != 0 {
		t.Errorf("due before the first = %v, want none", got)
	}
	if got := dueBefore(at.Add(time.Hour), 0); len(got) != 0 {
		t.Errorf("limit 0 = %v", got)
	}
	// Listing does not claim: all four are still there to claim.
	if got := dueBefore(at.Add(time.Hour), 10); !slices.Equal(got, due) {
		t.Errorf("due again = %v, want %v", got, due)
	}
	// Leased until later, and delivered: neither is due.
	if _, claimed := b.claimOne(due[0], at.Add(4*time.Second), time.Hour); !claimed {
		t.Fatal("the first did not claim")
	}
	d, claimed := b.claimOne(due[1], at.Add(4*time.Second), time.Minute)
	if !claimed {
		t.Fatal("the second did not claim")
	}
	d.Status, d.AttemptCount = webhook.StatusDelivered, 1
	if err := b.store.RecordAttempt(b.ctx, d, webhook.Attempt{At: at.Add(5 * time.Second), StatusCode: 204, Outcome: webhook.OutcomeDelivered}); err != nil {
		t.Fatal(err)
	}
	if got := dueBefore(at.Add(time.Hour), 10); !slices.Equal(got, due[2:]) {
		t.Errorf("due after a lease and a delivery = %v, want %v", got, due[2:])
	}
	// Once the lease lapses the leased one is due again, at its lease's end.
	if got := dueBefore(at.Add(2*time.Hour), 10); !slices.Equal(got, []string{due[2], due[3], due[0]}) {
		t.Errorf("due after the lease lapsed = %v, want %v", got, []string{due[2], due[3], due[0]})
	}
}

func (s *suite) testRecordAttempt(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	at := b.start
	b.submit(user, at, task.EventTaskQueued)
	ds := b.claim(at, 1, time.Minute)
	if len(ds) != 1 {
		t.Fatalf("claimed %d, want 1", len(ds))
	}
	d := ds[0]
	failed := webhook.Attempt{At: at.Add(time.Second), StatusCode: 503, Latency: 42 * time.Millisecond,
		Response: "busy", Error: "", Outcome: webhook.OutcomeFailed}
	d.Status, d.AttemptCount, d.NextAttemptAt = webhook.StatusPending, 1, at.Add(6*time.Second)
	if err := b.store.RecordAttempt(b.ctx, d, failed); err != nil {
		t.Fatal(err)
	}
	got := b.get(user, d.ID)
	if got.Status != webhook.StatusPending || got.AttemptCount != 1 || !got.NextAttemptAt.Equal(at.Add(6*time.Second)) {
		t.Errorf("after a failure: status %s, count %d, next %s", got.Status, got.AttemptCount, got.NextAttemptAt)
	}
	assertAttempts(t, got, failed)
	if !got.UpdatedAt.Equal(failed.At) {
		t.Errorf("UpdatedAt = %s, want the attempt's time %s", got.UpdatedAt, failed.At)
	}
	if n := len(b.claim(at.Add(6*time.Second-time.Nanosecond), 10, time.Minute)); n != 0 {
		t.Errorf("claimed %d before the retry is due", n)
	}
	ds = b.claim(at.Add(6*time.Second), 10, time.Minute)
	if len(ds) != 1 || ds[0].AttemptCount != 1 || ds[0].LastAttempt == nil {
		t.Fatalf("retry claim = %+v", ds)
	}
	d = ds[0]
	ok := webhook.Attempt{At: at.Add(7 * time.Second), StatusCode: 204, Latency: 3 * time.Millisecond, Outcome: webhook.OutcomeDelivered}
	d.Status, d.AttemptCount, d.NextAttemptAt = webhook.StatusDelivered, 2, ok.At
	if err := b.store.RecordAttempt(b.ctx, d, ok); err != nil {
		t.Fatal(err)
	}
	got = b.get(user, d.ID)
	if got.Status != webhook.StatusDelivered || got.AttemptCount != 2 {
		t.Errorf("after delivery: status %s, count %d", got.Status, got.AttemptCount)
	}
	assertAttempts(t, got, failed, ok)
	if n := len(b.claim(at.Add(48*time.Hour), 10, time.Minute)); n != 0 {
		t.Errorf("claimed %d delivered", n)
	}
	missing := d
	missing.ID = webhook.DeliveryID(b.id("evt"))
	if err := b.store.RecordAttempt(b.ctx, missing, ok); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("RecordAttempt(missing) = %v, want ErrNotFound", err)
	}
}

func assertAttempts(t *testing.T, d webhook.Delivery, want ...webhook.Attempt) {
	t.Helper()
	if len(d.Attempts) != len(want) {
		t.Fatalf("attempts = %+v, want %d", d.Attempts, len(want))
	}
	for i, a := range d.Attempts {
		w := want[i]
		if !a.At.Equal(w.At) || a.StatusCode != w.StatusCode || a.Latency != w.Latency || a.Response != w.Response ||
			a.Error != w.Error || a.Outcome != w.Outcome {
			t.Errorf("attempt %d = %+v, want %+v", i, a, w)
		}
	}
	last := want[len(want)-1]
	if d.LastAttempt == nil || !d.LastAttempt.At.Equal(last.At) || d.LastAttempt.Outcome != last.Outcome ||
		d.LastAttempt.StatusCode != last.StatusCode || d.LastAttempt.Latency != last.Latency {
		t.Errorf("last attempt = %+v, want %+v", d.LastAttempt, last)
	}
}

func (s *suite) testLeaseLost(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	at := b.start
	b.submit(user, at, task.EventTaskQueued)
	stale := b.claim(at, 1, time.Minute)
	fresh := b.claim(at.Add(time.Minute), 1, time.Minute)
	if len(stale) != 1 || len(fresh) != 1 {
		t.Fatalf("claims = %d, %d", len(stale), len(fresh))
	}
	late := webhook.Attempt{At: at.Add(70 * time.Second), StatusCode: 200, Outcome: webhook.OutcomeDelivered}
	d := stale[0]
	d.Status, d.AttemptCount = webhook.StatusDelivered, 1
	if err := b.store.RecordAttempt(b.ctx, d, late); !errors.Is(err, webhook.ErrLeaseLost) {
		t.Fatalf("RecordAttempt under a lapsed lease = %v, want ErrLeaseLost", err)
	}
	got := b.get(user, d.ID)
	if got.Status != webhook.StatusPending || len(got.Attempts) != 1 {
		t.Errorf("after a lost lease: status %s, %d attempts; want pending and the attempt kept", got.Status, len(got.Attempts))
	}
	d = fresh[0]
	d.Status, d.AttemptCount = webhook.StatusDelivered, 1
	if err := b.store.RecordAttempt(b.ctx, d, late); err != nil {
		t.Fatalf("RecordAttempt under the live lease: %v", err)
	}
	if got := b.get(user, d.ID); got.Status != webhook.StatusDelivered {
		t.Errorf("status = %s, want delivered", got.Status)
	}
}

func (s *suite) testGetAndTenants(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	tk := b.submit(user, b.start, task.EventTaskQueued)
	id := webhook.DeliveryID(task.EventID(tk.ID, 1))
	if d := b.get("", id); d.UserID != user {
		t.Errorf("GetDelivery(any user).UserID = %q", d.UserID)
	}
	if _, err := b.store.GetDelivery(b.ctx, b.id("usr"), id); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("another user's GetDelivery = %v, want ErrNotFound", err)
	}
	if _, err := b.store.GetDelivery(b.ctx, user, webhook.DeliveryID(b.id("evt"))); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("GetDelivery(missing) = %v, want ErrNotFound", err)
	}
}

func (s *suite) testList(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	at := b.start
	var all []string // newest first
	var subject string
	for i := range 5 {
		tk := b.submit(user, at.Add(time.Duration(i)*time.Second), task.EventTaskQueued)
		all = append([]string{webhook.DeliveryID(task.EventID(tk.ID, 1))}, all...)
		if i == 2 {
			subject = tk.ID
		}
	}
	// Two at one instant: ties go by id, descending.
	t1 := b.submit(user, at.Add(10*time.Second), task.EventTaskQueued)
	t2 := b.submit(user, at.Add(10*time.Second), task.EventTaskQueued)
	tie := []string{webhook.DeliveryID(task.EventID(t1.ID, 1)), webhook.DeliveryID(task.EventID(t2.ID, 1))}
	slices.Sort(tie)
	all = append([]string{tie[1], tie[0]}, all...)

	if got := ids(b.list(user, webhook.Filter{})); !slices.Equal(got, all) {
		t.Errorf("list = %v, want %v", got, all)
	}
	var walked []string
	cursor := ""
	for range 10 {
		page, err := b.store.ListDeliveries(b.ctx, user, webhook.Filter{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Deliveries) > 3 {
			t.Fatalf("page of %d, limit 3", len(page.Deliveries))
		}
		walked = append(walked, ids(page.Deliveries)...)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(walked, all) {
		t.Errorf("cursor walk = %v, want %v", walked, all)
	}
	if got := b.list(user, webhook.Filter{SubjectID: subject}); len(got) != 1 || got[0].SubjectID != subject {
		t.Errorf("subject filter = %v", ids(got))
	}
	// Mark the newest delivered: the status filter finds it alone.
	ds := b.claim(at.Add(10*time.Second), 100, time.Minute)
	for _, d := range ds {
		if d.ID != all[0] {
			continue
		}
		d.Status, d.AttemptCount = webhook.StatusDelivered, 1
		if err := b.store.RecordAttempt(b.ctx, d, webhook.Attempt{At: at.Add(11 * time.Second), StatusCode: 200, Outcome: webhook.OutcomeDelivered}); err != nil {
			t.Fatal(err)
		}
	}
	if got := ids(b.list(user, webhook.Filter{Status: webhook.StatusDelivered})); !slices.Equal(got, all[:1]) {
		t.Errorf("delivered = %v, want %v", got, all[:1])
	}
	if got := b.list(user, webhook.Filter{Status: webhook.StatusPending}); len(got) != len(all)-1 {
		t.Errorf("pending = %d, want %d", len(got), len(all)-1)
	}
	if got := b.list(user, webhook.Filter{Status: webhook.StatusDelivered})[0]; got.LastAttempt == nil || got.Attempts != nil {
		t.Errorf("a listed delivery has last attempt %v and attempts %v; want the last alone", got.LastAttempt, got.Attempts)
	}
	if _, err := b.store.ListDeliveries(b.ctx, user, webhook.Filter{Cursor: "not-a-cursor!"}); !errors.Is(err, webhook.ErrBadCursor) {
		t.Errorf("bad cursor = %v, want ErrBadCursor", err)
	}
	if got := b.list(b.id("usr"), webhook.Filter{}); len(got) != 0 {
		t.Errorf("another user lists %d", len(got))
	}
}

func (s *suite) testRetry(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	at := b.start
	tk := b.submit(user, at, task.EventTaskQueued)
	id := webhook.DeliveryID(task.EventID(tk.ID, 1))
	ds := b.claim(at, 1, time.Minute)
	if len(ds) != 1 {
		t.Fatalf("claimed %d", len(ds))
	}
	d := ds[0]
	d.Status, d.AttemptCount = webhook.StatusExhausted, 8
	gone := webhook.Attempt{At: at.Add(time.Second), StatusCode: 410, Outcome: webhook.OutcomeGone}
	if err := b.store.RecordAttempt(b.ctx, d, gone); err != nil {
		t.Fatal(err)
	}
	if err := b.store.DisableEndpoint(b.ctx, user, urlOf(user), gone.At); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.RetryDelivery(b.ctx, b.id("usr"), id, at.Add(time.Hour)); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("another user's RetryDelivery = %v, want ErrNotFound", err)
	}
	if _, err := b.store.RetryDelivery(b.ctx, user, webhook.DeliveryID(b.id("evt")), at.Add(time.Hour)); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("RetryDelivery(missing) = %v, want ErrNotFound", err)
	}
	now := at.Add(time.Hour)
	r, err := b.store.RetryDelivery(b.ctx, user, id, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != webhook.StatusPending || !r.NextAttemptAt.Equal(now) || r.EventID != d.EventID || r.AttemptCount != 8 || len(r.Attempts) != 1 {
		t.Errorf("retried = %+v, want pending, due now, same webhook id, history kept", r)
	}
	if off, _ := b.store.EndpointDisabled(b.ctx, user, urlOf(user)); off {
		t.Error("the endpoint is still disabled after a replay")
	}
	again := b.claim(now, 10, time.Minute)
	if len(again) != 1 || again[0].EventID != d.EventID {
		t.Fatalf("claim after replay = %+v", again)
	}
	// A replay while an attempt is in flight: the older claim's result
	// does not overwrite the replay's.
	if _, err := b.store.RetryDelivery(b.ctx, user, id, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	stale := again[0]
	stale.Status, stale.AttemptCount = webhook.StatusDelivered, 9
	if err := b.store.RecordAttempt(b.ctx, stale, webhook.Attempt{At: now, StatusCode: 200, Outcome: webhook.OutcomeDelivered}); !errors.Is(err, webhook.ErrLeaseLost) {
		t.Errorf("recording under a claim older than a replay = %v, want ErrLeaseLost", err)
	}
}

// The hook hears, after the commit, of each write that created pending
// deliveries, with those deliveries, and of a replay; not of a write
// without deliveries, nor of a skipped one.
func (s *suite) testCommitHook(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		heard [][]string
		store webhook.Store
	)
	a := s.newAdapter(t, func(ctx context.Context, pending []webhook.Delivery) {
		var ids []string
		for _, d := range pending {
			ids = append(ids, d.ID)
			if stored, err := store.GetDelivery(ctx, "", d.ID); err != nil || stored.Status != webhook.StatusPending {
				t.Errorf("hook ran before delivery %s was stored as pending: %v, %v", d.ID, stored.Status, err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		heard = append(heard, ids)
	})
	store = a.Store
	b := &bundle{t: t, ctx: context.Background(), store: a.Store, tasks: a.Tasks, start: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	calls := func() [][]string {
		mu.Lock()
		defer mu.Unlock()
		return append([][]string(nil), heard...)
	}
	user := b.id("usr")
	at := b.start
	b.submit(user, at) // no event subscribed: no delivery
	if got := calls(); len(got) != 0 {
		t.Errorf("heard %v for a task without a delivery", got)
	}
	tk := b.submit(user, at.Add(time.Second), task.EventTaskQueued)
	id := webhook.DeliveryID(task.EventID(tk.ID, 1))
	if got := calls(); len(got) != 1 || len(got[0]) != 1 || got[0][0] != id {
		t.Fatalf("heard %v, want [[%s]]", got, id)
	}
	if err := b.store.DisableEndpoint(b.ctx, user, urlOf(user), at); err != nil {
		t.Fatal(err)
	}
	b.submit(user, at.Add(2*time.Second), task.EventTaskQueued)
	if got := calls(); len(got) != 1 {
		t.Errorf("heard %v after a skipped delivery", got)
	}
	if _, err := b.store.RetryDelivery(b.ctx, user, id, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := calls(); len(got) != 2 || len(got[1]) != 1 || got[1][0] != id {
		t.Errorf("heard %v after a replay, want the replayed delivery", got)
	}
}

func (s *suite) testSecrets(t *testing.T) {
	b := s.setup(t)
	user, other := b.id("usr"), b.id("usr")
	at := b.start
	first, err := b.store.WebhookSecrets(b.ctx, user, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 {
		t.Fatalf("first secrets = %d, want 1 made on demand", len(first))
	}
	if _, err := webhook.Sign(first, "msg", at, []byte("{}")); err != nil {
		t.Errorf("the made secret does not sign: %v", err)
	}
	if again, _ := b.store.WebhookSecrets(b.ctx, user, at.Add(time.Hour)); !slices.Equal(again, first) {
		t.Errorf("secrets changed by reading: %v then %v", first, again)
	}
	if theirs, _ := b.store.WebhookSecrets(b.ctx, other, at); len(theirs) != 1 || theirs[0] == first[0] {
		t.Errorf("another user's secrets = %v", theirs)
	}
	// Two first reads at once make one secret.
	third := b.id("usr")
	var wg sync.WaitGroup
	got := make([][]string, 4)
	for i := range got {
		wg.Go(func() { got[i], _ = b.store.WebhookSecrets(b.ctx, third, at) })
	}
	wg.Wait()
	for _, g := range got {
		if len(g) != 1 || g[0] != got[0][0] {
			t.Errorf("concurrent first reads = %v", got)
			break
		}
	}

	rotatedAt := at.Add(2 * time.Hour)
	second, err := b.store.RotateWebhookSecret(b.ctx, user, rotatedAt)
	if err != nil {
		t.Fatal(err)
	}
	if second == first[0] || len(second) < len(webhook.SecretPrefix) || second[:len(webhook.SecretPrefix)] != webhook.SecretPrefix {
		t.Fatalf("rotated secret = %q", second)
	}
	check := func(when time.Time, want ...string) {
		t.Helper()
		got, err := b.store.WebhookSecrets(b.ctx, user, when)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("secrets at %s = %v, want %v", when.Sub(at), got, want)
		}
	}
	check(rotatedAt, second, first[0])
	check(rotatedAt.Add(webhook.RotationGrace-time.Nanosecond), second, first[0])
	check(rotatedAt.Add(webhook.RotationGrace), second)

	// Rotating again within the grace keeps the oldest one's end.
	b2 := b.id("usr")
	one, _ := b.store.WebhookSecrets(b.ctx, b2, at)
	two, _ := b.store.RotateWebhookSecret(b.ctx, b2, at)
	three, _ := b.store.RotateWebhookSecret(b.ctx, b2, at.Add(time.Hour))
	got2, _ := b.store.WebhookSecrets(b.ctx, b2, at.Add(time.Hour))
	if want := []string{three, two, one[0]}; !slices.Equal(got2, want) {
		t.Errorf("after two rotations = %v, want %v", got2, want)
	}
	got2, _ = b.store.WebhookSecrets(b.ctx, b2, at.Add(webhook.RotationGrace))
	if want := []string{three, two}; !slices.Equal(got2, want) {
		t.Errorf("a day after the first rotation = %v, want %v", got2, want)
	}
}

func (s *suite) testCounts(t *testing.T) {
	b := s.setup(t)
	counts, err := b.store.CountDeliveries(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range webhook.Statuses {
		if counts[st] != 0 {
			t.Errorf("empty store counts %d %s", counts[st], st)
		}
	}
	if _, ok, err := b.store.OldestPendingDelivery(b.ctx); err != nil || ok {
		t.Errorf("OldestPendingDelivery of none = %v, %v", ok, err)
	}
	user := b.id("usr")
	at := b.start
	b.submit(user, at, task.EventTaskQueued)
	b.submit(user, at.Add(time.Minute), task.EventTaskQueued)
	ds := b.claim(at, 1, time.Minute)
	if len(ds) != 1 {
		t.Fatalf("claimed %d", len(ds))
	}
	d := ds[0]
	d.Status, d.AttemptCount = webhook.StatusDelivered, 1
	if err := b.store.RecordAttempt(b.ctx, d, webhook.Attempt{At: at, StatusCode: 200, Outcome: webhook.OutcomeDelivered}); err != nil {
		t.Fatal(err)
	}
	counts, err = b.store.CountDeliveries(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[webhook.StatusPending] != 1 || counts[webhook.StatusDelivered] != 1 {
		t.Errorf("counts = %v, want 1 pending, 1 delivered", counts)
	}
	oldest, ok, err := b.store.OldestPendingDelivery(b.ctx)
	if err != nil || !ok || !oldest.Equal(at.Add(time.Minute)) {
		t.Errorf("OldestPendingDelivery = %s, %v, %v; want %s", oldest, ok, err, at.Add(time.Minute))
	}
}
