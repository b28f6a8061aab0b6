package sqlitequeue_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/queue/queuetest"
	"github.com/videoai/mediatasks/shared/queue/sqlitequeue"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/testkit/clocktest"
)

func openDB(tb testing.TB) *sqlitedb.DB {
	tb.Helper()
	db, err := sqlitedb.Open(filepath.Join(tb.TempDir(), "queue.db"), sqlitedb.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func newQueue(tb testing.TB, db *sqlitedb.DB, name string, opts sqlitequeue.Options) *sqlitequeue.Queue {
	tb.Helper()
	q, err := sqlitequeue.New(context.Background(), db, name, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return q
}

func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T, maxReceives int) queuetest.Adapter {
		return queuetest.Adapter{Queue: newQueue(t, openDB(t), "tasks", sqlitequeue.Options{MaxReceives: maxReceives})}
	})
}

type bundle struct {
	ctx   context.Context
	db    *sqlitedb.DB
	clock *clocktest.Fake
}

func setup(t *testing.T) (*sqlitequeue.Queue, *bundle) {
	t.Helper()
	b := &bundle{
		ctx:   context.Background(),
		db:    openDB(t),
		clock: clocktest.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
	}
	return newQueue(t, b.db, "tasks", sqlitequeue.Options{Now: b.clock.Now}), b
}

func receive(t *testing.T, q queue.Queue, opts queue.ReceiveOptions) []queue.Delivery {
	t.Helper()
	got, err := q.Receive(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Named queues share the tables but nothing else.
func TestNamedQueuesAreSeparate(t *testing.T) {
	t.Parallel()
	tasks, b := setup(t)
	webhooks := newQueue(t, b.db, "webhooks", sqlitequeue.Options{Now: b.clock.Now})
	if err := tasks.Send(b.ctx, queue.Message{Body: []byte("task")}); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, webhooks, queue.ReceiveOptions{}); len(got) != 0 {
		t.Fatalf("webhooks queue received %q from the tasks queue", got[0].Body)
	}
	st, err := webhooks.Stats(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Visible[task.PriorityNormal] != 0 {
		t.Errorf("webhooks stats count the tasks queue: %+v", st)
	}
	d := receive(t, tasks, queue.ReceiveOptions{})
	if len(d) != 1 {
		t.Fatalf("tasks queue received %d messages", len(d))
	}
	if err := webhooks.Delete(b.ctx, d[0].Receipt); err == nil {
		t.Error("webhooks queue deleted a tasks message")
	}
}

// With the injected clock, the visibility timeout, delay and default
// visibility run without waiting.
func TestInjectedClock(t *testing.T) {
	t.Parallel()
	q, b := setup(t)
	if err := q.Send(b.ctx, queue.Message{Body: []byte("a")}, queue.Message{Body: []byte("b"), Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	first := receive(t, q, queue.ReceiveOptions{Max: 10}) // default visibility: 30s
	if len(first) != 1 || string(first[0].Body) != "a" {
		t.Fatalf("got %+v, want only a", first)
	}
	b.clock.Add(29 * time.Second)
	if got := receive(t, q, queue.ReceiveOptions{Max: 10}); len(got) != 0 {
		t.Fatalf("received %d messages before the default visibility ran out", len(got))
	}
	b.clock.Add(2 * time.Second)
	again := receive(t, q, queue.ReceiveOptions{Max: 10, Visibility: time.Minute})
	if len(again) != 1 || again[0].ReceiveCount != 2 {
		t.Fatalf("got %+v, want a again with count 2", again)
	}
	st, err := q.Stats(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.InFlight[task.PriorityNormal] != 2 || st.Visible[task.PriorityNormal] != 0 {
		t.Errorf("stats %+v, want 2 in flight (one received, one delayed)", st)
	}
	b.clock.Add(time.Hour)
	st, err = q.Stats(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Visible[task.PriorityNormal] != 2 || st.OldestVisibleAge != time.Hour+31*time.Second {
		t.Errorf("stats %+v, want 2 visible, the oldest sent 1h31s ago", st)
	}
	// An expired visibility means the message is no longer in flight.
	if err := q.ChangeVisibility(b.ctx, again[0].Receipt, time.Minute); err == nil {
		t.Error("changed the visibility of a message no longer in flight")
	}
}

// The rotation gives each run of ten received messages six high, three
// normal and one low while all three are waiting, for any batch size that
// divides ten (within a batch, messages come most urgent first).
func TestPriorityRotation(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ max int }{
		"one at a time": {max: 1},
		"two":           {max: 2},
		"five":          {max: 5},
		"ten":           {max: 10},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q, b := setup(t)
			for _, p := range task.Priorities {
				msgs := make([]queue.Message, 40)
				for i := range msgs {
					msgs[i] = queue.Message{Priority: p, Body: []byte("x")}
				}
				if err := q.Send(b.ctx, msgs...); err != nil {
					t.Fatal(err)
				}
			}
			var got []queue.Delivery
			for len(got) < 30 {
				got = append(got, receive(t, q, queue.ReceiveOptions{Max: min(tt.max, 30-len(got)), Visibility: time.Hour})...)
			}
			for i := 0; i < 30; i += 10 {
				c := map[task.Priority]int{}
				for _, d := range got[i : i+10] {
					c[d.Priority]++
				}
				if c[task.PriorityHigh] != 6 || c[task.PriorityNormal] != 3 || c[task.PriorityLow] != 1 {
					t.Errorf("messages %d to %d: %v, want high 6 normal 3 low 1", i, i+9, c)
				}
			}
		})
	}
}

// An empty priority's slots go to the others.
func TestPriorityFallback(t *testing.T) {
	t.Parallel()
	q, b := setup(t)
	msgs := make([]queue.Message, 12)
	for i := range msgs {
		msgs[i] = queue.Message{Priority: task.PriorityLow, Body: []byte("x")}
	}
	if err := q.Send(b.ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, q, queue.ReceiveOptions{Max: 10}); len(got) != 10 {
		t.Fatalf("received %d of 12 low messages with max 10", len(got))
	}
}

// A Send through the same Queue wakes a long poll at once, without waiting
// for the next poll.
func TestSendWakesWaiters(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	q := newQueue(t, db, "tasks", sqlitequeue.Options{PollInterval: time.Hour})
	timer := time.AfterFunc(100*time.Millisecond, func() {
		if err := q.Send(context.Background(), queue.Message{Body: []byte("x")}); err != nil {
			t.Error(err)
		}
	})
	defer timer.Stop()
	start := time.Now()
	got := receive(t, q, queue.ReceiveOptions{Wait: 10 * time.Second})
	if len(got) != 1 {
		t.Fatalf("got %d messages", len(got))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("woken after %s", took)
	}
}

// Another Queue value (standing for another process) sees sends by polling.
func TestPollSeesOtherSenders(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	receiver := newQueue(t, db, "tasks", sqlitequeue.Options{PollInterval: 10 * time.Millisecond})
	sender := newQueue(t, db, "tasks", sqlitequeue.Options{})
	timer := time.AfterFunc(100*time.Millisecond, func() {
		if err := sender.Send(context.Background(), queue.Message{Body: []byte("x")}); err != nil {
			t.Error(err)
		}
	})
	defer timer.Stop()
	start := time.Now()
	got := receive(t, receiver, queue.ReceiveOptions{Wait: 10 * time.Second})
	if len(got) != 1 {
		t.Fatalf("got %d messages", len(got))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("saw the send after %s", took)
	}
}

func BenchmarkSendReceiveDelete(b *testing.B) {
	ctx := context.Background()
	body := make([]byte, 256)
	b.Run("serial", func(b *testing.B) {
		q := newQueue(b, openDB(b), "tasks", sqlitequeue.Options{})
		for b.Loop() {
			sendReceiveDelete(ctx, b, q, body)
		}
	})
	// In parallel the group commit shares one fsync among many writers.
	b.Run("parallel", func(b *testing.B) {
		q := newQueue(b, openDB(b), "tasks", sqlitequeue.Options{})
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				sendReceiveDelete(ctx, b, q, body)
			}
		})
	})
}

func sendReceiveDelete(ctx context.Context, b *testing.B, q *sqlitequeue.Queue, body []byte) {
	if err := q.Send(ctx, queue.Message{Body: body}); err != nil {
		b.Error(err)
		return
	}
	got, err := q.Receive(ctx, queue.ReceiveOptions{Visibility: time.Minute})
	if err != nil {
		b.Error(err)
		return
	}
	for _, d := range got {
		if err := q.Delete(ctx, d.Receipt); err != nil {
			b.Error(err)
		}
	}
}

// At start-up the local server takes up at once what its last run had
// received: in-flight messages become visible, with their receive counts,
// and their old receipts stop working; delayed messages keep their delay.
func TestReleaseInFlight(t *testing.T) {
	t.Parallel()
	q, b := setup(t)
	if err := q.Send(b.ctx, queue.Message{Body: []byte("a")}, queue.Message{Body: []byte("b"), Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	first := receive(t, q, queue.ReceiveOptions{Max: 10, Visibility: time.Hour})
	if len(first) != 1 {
		t.Fatalf("received %d", len(first))
	}
	n, err := q.ReleaseInFlight(b.ctx)
	if err != nil || n != 1 {
		t.Fatalf("released %d, %v; want 1", n, err)
	}
	again := receive(t, q, queue.ReceiveOptions{Max: 10, Visibility: time.Hour})
	if len(again) != 1 || string(again[0].Body) != "a" || again[0].ReceiveCount != 2 {
		t.Fatalf("after the release: %+v, want a again with count 2", again)
	}
	if err := q.Delete(b.ctx, first[0].Receipt); err != nil && !errors.Is(err, queue.ErrReceiptInvalid) {
		t.Fatal(err)
	}
	if err := q.Delete(b.ctx, again[0].Receipt); err != nil {
		t.Fatalf("delete with the new receipt: %v", err)
	}
	if got := receive(t, q, queue.ReceiveOptions{Max: 10}); len(got) != 0 {
		t.Fatalf("the delayed message came early: %+v", got)
	}
}
