// Package queuetest is the conformance suite every queue.Queue adapter
// passes (SQLite now, SQS later), in the manner of river's driver tests:
//
//	func TestQueue(t *testing.T) {
//		queuetest.Run(t, func(t *testing.T, maxReceives int) queue.Queue { ... })
//	}
//
// The suite uses the real clock with short durations. Visibility timeouts
// and delays are whole seconds, SQS's granularity, and every wait for
// something to happen polls until a deadline rather than sleeping a guess.
package queuetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/task"
)

// NewQueue returns a fresh, empty queue that moves a message to its
// dead-letter queue on the receive attempt after maxReceives receives.
// It registers its own cleanup on t.
type NewQueue func(t *testing.T, maxReceives int) queue.Queue

// defaultMaxReceives is used by the subtests that do not test dead letters.
const defaultMaxReceives = 5

// long hides a received message for longer than any subtest runs.
const long = 60 * time.Second

type bundle struct {
	ctx context.Context
	q   queue.Queue
}

// Run runs the suite against the adapter newQueue builds.
func Run(t *testing.T, newQueue NewQueue) {
	t.Helper()

	setup := func(t *testing.T, maxReceives int) (queue.Queue, *bundle) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		q := newQueue(t, maxReceives)
		return q, &bundle{ctx: ctx, q: q}
	}

	t.Run("SendReceiveDelete", func(t *testing.T) {
		t.Parallel()
		q, b := setup(t, defaultMaxReceives)
		before := time.Now()
		mustSend(t, b, queue.Message{Body: []byte("hello")}) // empty priority means normal
		d := receiveOne(t, b, long)
		if string(d.Body) != "hello" {
			t.Errorf("body = %q, want hello", d.Body)
		}
		if d.Priority != task.PriorityNormal {
			t.Errorf("priority = %q, want normal", d.Priority)
		}
		if d.ID == "" || d.Receipt == "" {
			t.Errorf("id %q, receipt %q: want both set", d.ID, d.Receipt)
		}
		if d.ReceiveCount != 1 {
			t.Errorf("receive count = %d, want 1", d.ReceiveCount)
		}
		if d.SentAt.Before(before.Add(-2*time.Second)) || d.SentAt.After(time.Now().Add(2*time.Second)) {
			t.Errorf("sent at %s, not around %s", d.SentAt, before)
		}
		if got := receive(t, b, queue.ReceiveOptions{Visibility: long}); len(got) != 0 {
			t.Fatalf("in-flight message received again: %+v", got)
		}
		if err := q.Delete(b.ctx, d.Receipt); err != nil {
			t.Fatalf("delete: %v", err)
		}
		// Deleting twice is harmless: SQS answers success, others may
		// say the receipt is no longer valid.
		if err := q.Delete(b.ctx, d.Receipt); err != nil && !errors.Is(err, queue.ErrReceiptInvalid) {
			t.Errorf("second delete: err = %v, want nil or ErrReceiptInvalid", err)
		}
		if err := q.ChangeVisibility(b.ctx, d.Receipt, 0); !errors.Is(err, queue.ErrReceiptInvalid) {
			t.Errorf("change visibility after delete: err = %v, want ErrReceiptInvalid", err)
		}
		expectStats(t, b, stats{})
	})

	t.Run("MalformedReceipt", func(t *testing.T) {
		t.Parallel()
		q, b := setup(t, defaultMaxReceives)
		for name, receipt := range map[string]string{
			"empty":   "",
			"garbage": "not a receipt",
			"long":    string(bytes.Repeat([]byte("f"), 64)),
		} {
			if err := q.Delete(b.ctx, receipt); !errors.Is(err, queue.ErrReceiptInvalid) {
				t.Errorf("%s: delete: err = %v, want ErrReceiptInvalid", name, err)
			}
			if err := q.ChangeVisibility(b.ctx, receipt, time.Second); !errors.Is(err, queue.ErrReceiptInvalid) {
				t.Errorf("%s: change visibility: err = %v, want ErrReceiptInvalid", name, err)
			}
		}
	})

	t.Run("VisibilityTimeout", func(t *testing.T) {
		t.Parallel()
		q, b := setup(t, defaultMaxReceives)
		mustSend(t, b, queue.Message{Priority: task.PriorityHigh, Body: []byte("again")})
		first := receiveOne(t, b, time.Second)
		received := time.Now()
		if got := receive(t, b, queue.ReceiveOptions{Visibility: long}); len(got) != 0 {
			t.Fatalf("hidden message received: %+v", got)
		}
		second := receiveOne(t, b, long) // reappears after the second has passed
		if early := time.Since(received); early < 500*time.Millisecond {
			t.Errorf("message reappeared after %s, before its 1s visibility timeout", early)
		}
		if second.ID != first.ID || string(second.Body) != "again" {
			t.Fatalf("got %s %q, want %s again", second.ID, second.Body, first.ID)
		}
		if second.ReceiveCount != 2 {
			t.Errorf("receive count = %d, want 2", second.ReceiveCount)
		}
		if second.Receipt == first.Receipt {
			t.Errorf("receipt did not change on the second receive")
		}
		if err := q.ChangeVisibility(b.ctx, first.Receipt, 0); !errors.Is(err, queue.ErrReceiptInvalid) {
			t.Errorf("change visibility with the stale receipt: err = %v, want ErrReceiptInvalid", err)
		}
		// A stale receipt never deletes the message (SQS answers success
		// and keeps it; others refuse the receipt).
		if err := q.Delete(b.ctx, first.Receipt); err != nil && !errors.Is(err, queue.ErrReceiptInvalid) {
			t.Errorf("delete with the stale receipt: err = %v, want nil or ErrReceiptInvalid", err)
		}
		expectStats(t, b, stats{inFlight: counts{second.Priority: 1}})
		if err := q.Delete(b.ctx, second.Receipt); err != nil {
			t.Fatalf("delete with the current receipt: %v", err)
		}
		expectStats(t, b, stats{})
	})

	t.Run("ChangeVisibility", func(t *testing.T) {
		t.Parallel()

		t.Run("ZeroMakesVisibleNow", func(t *testing.T) {
			t.Parallel()
			q, b := setup(t, defaultMaxReceives)
			mustSend(t, b, queue.Message{Body: []byte("x")})
			first := receiveOne(t, b, long)
			if err := q.ChangeVisibility(b.ctx, first.Receipt, 0); err != nil {
				t.Fatalf("change visibility: %v", err)
			}
			second := receiveOne(t, b, long)
			if second.ID != first.ID || second.ReceiveCount != 2 {
				t.Errorf("got %s (count %d), want %s again (count 2)", second.ID, second.ReceiveCount, first.ID)
			}
		})

		t.Run("Extend", func(t *testing.T) {
			t.Parallel()
			q, b := setup(t, defaultMaxReceives)
			mustSend(t, b, queue.Message{Body: []byte("x")})
			d := receiveOne(t, b, time.Second)
			if err := q.ChangeVisibility(b.ctx, d.Receipt, long); err != nil {
				t.Fatalf("change visibility: %v", err)
			}
			// Without the extension the message would come back after 1s.
			got := receive(t, b, queue.ReceiveOptions{Visibility: long, Wait: 2500 * time.Millisecond})
			if len(got) != 0 {
				t.Fatalf("message came back despite the extension: %+v", got)
			}
			// The receipt stays valid after a change, as in SQS.
			if err := q.Delete(b.ctx, d.Receipt); err != nil {
				t.Fatalf("delete after extending: %v", err)
			}
		})
	})

	t.Run("Delay", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, defaultMaxReceives)
		sent := time.Now()
		mustSend(t, b, queue.Message{Priority: task.PriorityLow, Body: []byte("later"), Delay: time.Second})
		if got := receive(t, b, queue.ReceiveOptions{Visibility: long}); len(got) != 0 {
			t.Fatalf("delayed message received at once: %+v", got)
		}
		expectStats(t, b, stats{inFlight: counts{task.PriorityLow: 1}})
		d := receiveOne(t, b, long)
		if early := time.Since(sent); early < 500*time.Millisecond {
			t.Errorf("delayed message received after %s, before its 1s delay", early)
		}
		if string(d.Body) != "later" || d.Priority != task.PriorityLow {
			t.Errorf("got %q %s, want later low", d.Body, d.Priority)
		}
	})

	t.Run("DeadLetter", func(t *testing.T) {
		t.Parallel()
		const maxReceives = 2
		q, b := setup(t, maxReceives)
		mustSend(t, b, queue.Message{Priority: task.PriorityHigh, Body: []byte("poison")})
		var id string
		for i := 1; i <= maxReceives; i++ {
			d := receiveOne(t, b, long)
			if d.ReceiveCount != i {
				t.Fatalf("receive %d: count = %d", i, d.ReceiveCount)
			}
			id = d.ID
			if err := q.ChangeVisibility(b.ctx, d.Receipt, 0); err != nil {
				t.Fatalf("receive %d: change visibility: %v", i, err)
			}
		}
		// The next attempt moves it to the dead-letter queue instead of
		// delivering it a third time.
		eventually(t, 10*time.Second, func() error {
			if got := receive(t, b, queue.ReceiveOptions{Visibility: long, Wait: 200 * time.Millisecond}); len(got) != 0 {
				t.Fatalf("message delivered %d times, past its maximum of %d", got[0].ReceiveCount, maxReceives)
			}
			st, err := q.Stats(b.ctx)
			if err != nil {
				return err
			}
			if st.Dead != 1 {
				return fmt.Errorf("dead = %d, want 1", st.Dead)
			}
			return nil
		})
		expectStats(t, b, stats{dead: 1})
		dead, err := q.DeadLetters(b.ctx, 10)
		if err != nil {
			t.Fatalf("dead letters: %v", err)
		}
		if len(dead) != 1 || dead[0].ID != id || string(dead[0].Body) != "poison" || dead[0].Priority != task.PriorityHigh {
			t.Fatalf("dead letters = %+v, want the poison message %s", dead, id)
		}
		if dead[0].ReceiveCount < maxReceives {
			t.Errorf("dead letter's receive count = %d, want at least %d", dead[0].ReceiveCount, maxReceives)
		}
		if none, err := q.DeadLetters(b.ctx, 0); err != nil || len(none) != 0 {
			t.Errorf("dead letters (max 0) = %v, %v; want none", none, err)
		}
	})

	t.Run("Priorities", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, defaultMaxReceives)
		// Low first, high last: arrival order alone would favour low.
		for _, p := range []task.Priority{task.PriorityLow, task.PriorityNormal, task.PriorityHigh} {
			msgs := make([]queue.Message, 30)
			for i := range msgs {
				msgs[i] = queue.Message{Priority: p, Body: fmt.Appendf(nil, "%s-%d", p, i)}
			}
			mustSend(t, b, msgs...)
		}
		got := receiveN(t, b, 20, 10, long)
		first10 := countPriorities(got[:10])
		if !(first10[task.PriorityHigh] > first10[task.PriorityNormal] && first10[task.PriorityNormal] > first10[task.PriorityLow]) {
			t.Errorf("first 10 received: %v; want more high than normal than low", first10)
		}
		if countPriorities(got[:20])[task.PriorityLow] == 0 {
			t.Errorf("no low among the first 20 received (%v): low is starved", countPriorities(got[:20]))
		}
		for _, d := range got {
			if !bytes.HasPrefix(d.Body, []byte(d.Priority)) {
				t.Errorf("body %q delivered with priority %s", d.Body, d.Priority)
			}
		}
	})

	t.Run("LongPolling", func(t *testing.T) {
		t.Parallel()

		t.Run("ReturnsEarlyOnSend", func(t *testing.T) {
			t.Parallel()
			_, b := setup(t, defaultMaxReceives)
			const wait = 10 * time.Second
			// The send may land before or during the wait: either way the
			// receive must not sit out its wait.
			timer := time.AfterFunc(300*time.Millisecond, func() {
				if err := b.q.Send(b.ctx, queue.Message{Body: []byte("wake")}); err != nil {
					t.Errorf("send: %v", err)
				}
			})
			t.Cleanup(func() { timer.Stop() })
			start := time.Now()
			got := receive(t, b, queue.ReceiveOptions{Visibility: long, Wait: wait})
			if len(got) != 1 || string(got[0].Body) != "wake" {
				t.Fatalf("got %+v, want the message sent during the wait", got)
			}
			if took := time.Since(start); took > wait/2 {
				t.Errorf("receive took %s of its %s wait after a send", took, wait)
			}
		})

		t.Run("EmptyAfterWait", func(t *testing.T) {
			t.Parallel()
			_, b := setup(t, defaultMaxReceives)
			const wait = time.Second
			start := time.Now()
			if got := receive(t, b, queue.ReceiveOptions{Visibility: long, Wait: wait}); len(got) != 0 {
				t.Fatalf("got %+v from an empty queue", got)
			}
			if took := time.Since(start); took < wait/2 {
				t.Errorf("empty receive returned after %s, not waiting its %s", took, wait)
			}
		})

		t.Run("ContextEnds", func(t *testing.T) {
			t.Parallel()
			q, b := setup(t, defaultMaxReceives)
			ctx, cancel := context.WithTimeout(b.ctx, 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			got, err := q.Receive(ctx, queue.ReceiveOptions{Visibility: long, Wait: 10 * time.Second})
			if len(got) != 0 {
				t.Fatalf("got %+v from an empty queue", got)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("receive outlived its context by %s (err %v)", took, err)
			}
		})
	})

	t.Run("Max", func(t *testing.T) {
		t.Parallel()
		q, b := setup(t, defaultMaxReceives)
		msgs := make([]queue.Message, 15)
		for i := range msgs {
			msgs[i] = queue.Message{Body: fmt.Appendf(nil, "m%d", i)}
		}
		mustSend(t, b, msgs...)
		if got := receive(t, b, queue.ReceiveOptions{Visibility: long, Wait: time.Second}); len(got) != 1 {
			t.Errorf("max 0 received %d messages, want 1", len(got))
		}
		seen := map[string]bool{}
		batches := map[int]int{}
		eventually(t, 10*time.Second, func() error {
			got := receive(t, b, queue.ReceiveOptions{Max: 4, Visibility: long, Wait: 200 * time.Millisecond})
			if len(got) > 4 {
				t.Fatalf("max 4 received %d messages", len(got))
			}
			batches[len(got)]++
			for _, d := range got {
				if seen[d.ID] {
					t.Fatalf("message %s received twice while hidden", d.ID)
				}
				seen[d.ID] = true
			}
			if len(seen) < 14 {
				return fmt.Errorf("received %d of the 14 left", len(seen))
			}
			return nil
		})
		if batches[4] == 0 {
			t.Errorf("no receive filled its max of 4 (batch sizes %v)", batches)
		}
		for name, max := range map[string]int{"negative": -1, "past 10": 11} {
			if _, err := q.Receive(b.ctx, queue.ReceiveOptions{Max: max, Visibility: long}); err == nil {
				t.Errorf("%s: max %d accepted", name, max)
			}
		}
	})

	t.Run("ConcurrentReceiversTakeEachMessageOnce", func(t *testing.T) {
		t.Parallel()
		q, b := setup(t, defaultMaxReceives)
		const n = 40
		msgs := make([]queue.Message, n)
		for i := range msgs {
			msgs[i] = queue.Message{Priority: task.Priorities[i%3], Body: fmt.Appendf(nil, "m%d", i)}
		}
		mustSend(t, b, msgs...)
		var (
			mu   sync.Mutex
			seen = map[string]int{}
			wg   sync.WaitGroup
		)
		deadline := time.Now().Add(10 * time.Second)
		for range 4 {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					got, err := q.Receive(b.ctx, queue.ReceiveOptions{Max: 3, Visibility: long, Wait: 100 * time.Millisecond})
					if err != nil {
						t.Errorf("receive: %v", err)
						return
					}
					mu.Lock()
					for _, d := range got {
						seen[d.ID]++
					}
					done := len(seen) == n
					mu.Unlock()
					if done {
						return
					}
				}
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Errorf("received %d distinct messages, want %d", len(seen), n)
		}
		for id, times := range seen {
			if times != 1 {
				t.Errorf("message %s received %d times", id, times)
			}
		}
	})

	t.Run("Stats", func(t *testing.T) {
		t.Parallel()
		q, b := setup(t, defaultMaxReceives)
		st, err := q.Stats(b.ctx)
		if err != nil {
			t.Fatalf("stats: %v", err)
		}
		if st.OldestVisibleAge != 0 || st.Dead != 0 {
			t.Errorf("empty queue: %+v", st)
		}
		mustSend(t, b,
			queue.Message{Priority: task.PriorityHigh, Body: []byte("h1")},
			queue.Message{Priority: task.PriorityHigh, Body: []byte("h2")},
			queue.Message{Priority: task.PriorityNormal, Body: []byte("n1")},
			queue.Message{Priority: task.PriorityLow, Body: []byte("l1"), Delay: time.Minute},
		)
		d := receiveOne(t, b, long)
		want := stats{
			visible:  counts{task.PriorityHigh: 2, task.PriorityNormal: 1},
			inFlight: counts{task.PriorityLow: 1},
		}
		want.visible[d.Priority]--
		want.inFlight[d.Priority]++
		expectStats(t, b, want)
		eventually(t, 5*time.Second, func() error {
			st, err := q.Stats(b.ctx)
			if err != nil {
				return err
			}
			// 0 when the adapter cannot tell (SQS has no such attribute).
			if st.OldestVisibleAge < 0 || st.OldestVisibleAge > time.Minute {
				return fmt.Errorf("oldest visible age = %s, want 0 or a little over", st.OldestVisibleAge)
			}
			return nil
		})
	})

	t.Run("BinaryBodyRoundTrips", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, defaultMaxReceives)
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		random := make([]byte, 64<<10)
		rand.Read(random)
		bodies := map[string][]byte{
			"every byte": all,
			"random":     random,
			"nul only":   {0},
			"bad utf-8":  {0xff, 0xfe, 0xc3, 0x28},
		}
		for name, body := range bodies {
			mustSend(t, b, queue.Message{Body: body, Priority: task.PriorityNormal})
			d := receiveOne(t, b, long)
			if !bytes.Equal(d.Body, body) {
				t.Errorf("%s: body changed on the way (%d bytes in, %d out)", name, len(body), len(d.Body))
			}
			if err := b.q.Delete(b.ctx, d.Receipt); err != nil {
				t.Fatalf("%s: delete: %v", name, err)
			}
		}
	})

	t.Run("SendRefusesUnknownPriority", func(t *testing.T) {
		t.Parallel()
		q, b := setup(t, defaultMaxReceives)
		if err := q.Send(b.ctx, queue.Message{Priority: "urgent", Body: []byte("x")}); err == nil {
			t.Fatal("unknown priority accepted")
		}
		expectStats(t, b, stats{})
	})
}

func mustSend(t *testing.T, b *bundle, msgs ...queue.Message) {
	t.Helper()
	if err := b.q.Send(b.ctx, msgs...); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func receive(t *testing.T, b *bundle, opts queue.ReceiveOptions) []queue.Delivery {
	t.Helper()
	got, err := b.q.Receive(b.ctx, opts)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return got
}

// receiveOne long-polls until one message arrives, failing after 10s.
func receiveOne(t *testing.T, b *bundle, visibility time.Duration) queue.Delivery {
	t.Helper()
	return receiveN(t, b, 1, 1, visibility)[0]
}

// receiveN receives, max at a time, until it has n messages (in the order
// received), failing after 10s.
func receiveN(t *testing.T, b *bundle, n, max int, visibility time.Duration) []queue.Delivery {
	t.Helper()
	var got []queue.Delivery
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d messages in 10s", len(got), n)
		}
		got = append(got, receive(t, b, queue.ReceiveOptions{Max: min(max, n-len(got)), Visibility: visibility, Wait: time.Second})...)
	}
	return got
}

// eventually calls check until it returns nil, failing with its last error
// after timeout.
func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type counts map[task.Priority]int

type stats struct {
	visible, inFlight counts
	dead              int
}

// expectStats waits for the queue's counts to match want (an adapter's
// counts may be approximate for a moment, as SQS's are). Missing
// priorities mean zero.
func expectStats(t *testing.T, b *bundle, want stats) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		st, err := b.q.Stats(b.ctx)
		if err != nil {
			return fmt.Errorf("stats: %w", err)
		}
		for _, p := range task.Priorities {
			if st.Visible[p] != want.visible[p] || st.InFlight[p] != want.inFlight[p] {
				return fmt.Errorf("stats %+v, want visible %v in flight %v", st, want.visible, want.inFlight)
			}
		}
		if st.Dead != want.dead {
			return fmt.Errorf("dead = %d, want %d", st.Dead, want.dead)
		}
		return nil
	})
}

func countPriorities(ds []queue.Delivery) counts {
	c := counts{}
	for _, d := range ds {
		c[d.Priority]++
	}
	return c
}
