package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/queue/sqlitequeue"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/webhook"
)

// failFirst answers 503 to the first n requests, then 204.
func failFirst(n int) func(int, http.ResponseWriter, *http.Request) {
	return func(i int, w http.ResponseWriter, _ *http.Request) {
		if i < n {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (h *harness) handle(id string) webhook.Verdict {
	h.t.Helper()
	v, err := h.d.Handle(h.ctx, id)
	if err != nil {
		h.t.Fatalf("handle %s: %v", id, err)
	}
	return v
}

// A message that arrives for a delivery attempts it only when it is due,
// and is hidden until the next due time on the published schedule.
func TestHandleFollowsTheSchedule(t *testing.T) {
	t.Parallel()
	h := newHarness(t, failFirst(2), nil)
	id := h.submit(h.url())

	if v := h.handle(id); v.Done || v.Again != webhook.DefaultSchedule[0] {
		t.Fatalf("after a refused first try: %+v, want hidden for %s", v, webhook.DefaultSchedule[0])
	}
	// The same message arriving again early attempts nothing.
	if v := h.handle(id); v.Done || v.Again != webhook.DefaultSchedule[0] {
		t.Fatalf("early: %+v", v)
	}
	if n := len(h.recv.requests()); n != 1 {
		t.Fatalf("an early message made an attempt: %d requests", n)
	}
	h.clock.Add(webhook.DefaultSchedule[0])
	if v := h.handle(id); v.Done || v.Again != webhook.DefaultSchedule[1] {
		t.Fatalf("after a refused second try: %+v, want hidden for %s", v, webhook.DefaultSchedule[1])
	}
	h.clock.Add(webhook.DefaultSchedule[1])
	if v := h.handle(id); !v.Done {
		t.Fatalf("after delivery: %+v, want done", v)
	}
	if d := h.delivery(id); d.Status != webhook.StatusDelivered || d.AttemptCount != 3 {
		t.Fatalf("delivery: %s after %d attempts", d.Status, d.AttemptCount)
	}
	// A duplicate message for a delivered delivery is dropped unsent.
	if v := h.handle(id); !v.Done {
		t.Fatalf("duplicate after delivery: %+v", v)
	}
	if v := h.handle("dlv_unknown"); !v.Done {
		t.Fatalf("unknown delivery: %+v", v)
	}
	if n := len(h.recv.requests()); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
}

// While another worker holds a claim on the delivery, a message makes no
// attempt and comes back after the claim's lease.
func TestHandleLeavesAClaimedDelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	id := h.submit(h.url())
	lease := time.Minute
	if got, err := h.store.ClaimDue(h.ctx, h.clock.Now(), 1, lease); err != nil || len(got) != 1 {
		t.Fatalf("claim: %v, %d", err, len(got))
	}
	v := h.handle(id)
	if v.Done || v.Again != lease {
		t.Fatalf("verdict %+v, want hidden for the lease (%s)", v, lease)
	}
	if n := len(h.recv.requests()); n != 0 {
		t.Fatalf("%d requests while claimed", n)
	}
}

// The queue-driven path end to end on the local queue: new deliveries are
// enqueued, each message is settled on the queue by its verdict, and the
// sweep re-sends the message of a delivery whose send was lost.
func TestQueueDrivenDelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, failFirst(1), nil)
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "queue.db"), sqlitedb.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q, err := sqlitequeue.New(h.ctx, db, "webhooks", sqlitequeue.Options{Now: h.clock.Now, MaxReceives: 20})
	if err != nil {
		t.Fatal(err)
	}
	enq := webhook.Enqueuer{Queue: q, Now: h.clock.Now}

	id := h.submit(h.url())
	enq.Send(h.ctx, []webhook.Delivery{h.delivery(id)})
	receiveAndHandle := func() int {
		t.Helper()
		msgs, err := q.Receive(h.ctx, queue.ReceiveOptions{Max: 10, Visibility: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			var body webhook.QueueMessage
			if err := json.Unmarshal(m.Body, &body); err != nil || body.DeliveryID != id {
				t.Fatalf("message body %s", m.Body)
			}
			if err := h.d.HandleMessage(h.ctx, q, m); err != nil {
				t.Fatal(err)
			}
		}
		return len(msgs)
	}
	if n := receiveAndHandle(); n != 1 {
		t.Fatalf("received %d messages, want 1", n)
	}
	// Refused once: the message is hidden until the retry is due.
	if n := receiveAndHandle(); n != 0 {
		t.Fatalf("received %d messages before the retry was due", n)
	}
	h.clock.Add(webhook.DefaultSchedule[0])
	if n := receiveAndHandle(); n != 1 {
		t.Fatalf("received %d messages when the retry was due, want 1", n)
	}
	if d := h.delivery(id); d.Status != webhook.StatusDelivered {
		t.Fatalf("delivery %s", d.Status)
	}
	stats, err := q.Stats(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if total(stats.Visible)+total(stats.InFlight) != 0 {
		t.Fatalf("messages left after delivery: %+v", stats)
	}

	// A delivery whose message was never sent is found once overdue by
	// more than the grace, and only then.
	lost := h.submit(h.url())
	h.clock.Add(webhook.SweepGrace / 2)
	if n, err := enq.Sweep(h.ctx, h.store, webhook.SweepGrace, 100); err != nil || n != 0 {
		t.Fatalf("sweep within the grace: %d, %v", n, err)
	}
	h.clock.Add(webhook.SweepGrace)
	if n, err := enq.Sweep(h.ctx, h.store, webhook.SweepGrace, 100); err != nil || n != 1 {
		t.Fatalf("sweep past the grace: %d, %v", n, err)
	}
	id = lost
	if n := receiveAndHandle(); n != 1 {
		t.Fatalf("received %d swept messages, want 1", n)
	}
	if d := h.delivery(lost); d.Status != webhook.StatusDelivered {
		t.Fatalf("swept delivery %s", d.Status)
	}
}

func total[K comparable](m map[K]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// While the webhook queue has a backlog, overdue deliveries are waiting
// for consumers, not lost: sweeps add no copies of their messages.
func TestSweepLeavesABacklogAlone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "queue.db"), sqlitedb.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q, err := sqlitequeue.New(h.ctx, db, "webhooks", sqlitequeue.Options{Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	enq := webhook.Enqueuer{Queue: q, Now: h.clock.Now}
	id := h.submit(h.url())
	enq.Send(h.ctx, []webhook.Delivery{h.delivery(id)}) // its message waits: no consumer runs
	for range 5 {
		h.clock.Add(webhook.SweepGrace + time.Minute)
		if n, err := enq.Sweep(h.ctx, h.store, webhook.SweepGrace, 100); err != nil || n != 0 {
			t.Fatalf("sweep with a backlog sent %d (%v)", n, err)
		}
	}
	msgs, err := q.Receive(h.ctx, queue.ReceiveOptions{Max: 10, Visibility: time.Minute})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%d messages for one delivery (%v), want 1", len(msgs), err)
	}
}

// stalledQueue never answers a send until its context ends.
type stalledQueue struct{ queue.Queue }

func (stalledQueue) Send(ctx context.Context, _ ...queue.Message) error {
	<-ctx.Done()
	return ctx.Err()
}

// Send runs in the write that committed the deliveries: a stalled queue
// holds it no longer than SendTimeout, even when the write's own context
// has no deadline.
func TestEnqueuerSendIsBounded(t *testing.T) {
	t.Parallel()
	done := make(chan struct{})
	go func() {
		enq := webhook.Enqueuer{Queue: stalledQueue{}, SendTimeout: 50 * time.Millisecond}
		enq.Send(context.Background(), []webhook.Delivery{{ID: "dlv_1", NextAttemptAt: time.Now()}})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Send still blocked 10 s after its timeout")
	}
}
