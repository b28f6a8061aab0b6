// Package queuetest is the conformance suite of the queue port: every
// queue.Queue adapter (SQLite, SQS) runs Run against itself and must pass
// it unchanged, in the manner of river's driver tests:
//
//	func TestConformance(t *testing.T) {
//		queuetest.Run(t, func(t *testing.T, maxReceives int) queuetest.Adapter { ... })
//	}
//
// The suite uses the real clock with short durations. Visibility timeouts
// and delays are whole seconds, SQS's granularity, and every wait for
// something to happen polls until a deadline rather than sleeping a guess.
package queuetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/task"
)

// Adapter is one fresh, empty queue under test.
type Adapter struct {
	Queue queue.Queue
}

// Run runs the whole suite. newQueue must return a queue of the test's
// own, empty, that moves a message to its dead-letter queue on the receive
// attempt after maxReceives receives; it registers its own cleanup on t.
func Run(t *testing.T, newQueue func(t *testing.T, maxReceives int) Adapter) {
	s := &suite{newQueue: newQueue}
	t.Run("SendReceiveDelete", s.testSendReceiveDelete)
	t.Run("MalformedReceipt", s.testMalformedReceipt)
	t.Run("VisibilityTimeout", s.testVisibilityTimeout)
	t.Run("ChangeVisibilityToZeroMakesVisibleNow", s.testChangeVisibilityToZero)
	t.Run("ChangeVisibilityExtends", s.testChangeVisibilityExtends)
	t.Run("Delay", s.testDelay)
	t.Run("DeadLetter", s.testDeadLetter)
	t.Run("Priorities", s.testPriorities)
	t.Run("LongPollReturnsEarlyOnSend", s.testLongPollReturnsEarlyOnSend)
	t.Run("LongPollEmptyAfterWait", s.testLongPollEmptyAfterWait)
	t.Run("LongPollEndsWithItsContext", s.testLongPollEndsWithItsContext)
	t.Run("Max", s.testMax)
	t.Run("ConcurrentReceiversTakeEachMessageOnce", s.testConcurrentReceivers)
	t.Run("Stats", s.testStats)
	t.Run("BinaryBodyRoundTrips", s.testBinaryBodyRoundTrips)
	t.Run("SendRefusesUnknownPriority", s.testSendRefusesUnknownPriority)
}

// defaultMaxReceives is used by the cases that do not test dead letters.
const defaultMaxReceives = 5

// long hides a received message for longer than any case runs.
const long = 60 * time.Second

type suite struct {
	newQueue func(t *testing.T, maxReceives int) Adapter
}

// bundle is one case's queue and its helpers.
type bundle struct {
	t   *testing.T
	ctx context.Context
	q   queue.Queue
}

func (s *suite) setup(t *testing.T, maxReceives int) *bundle {
	t.Helper()
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return &bundle{t: t, ctx: ctx, q: s.newQueue(t, maxReceives).Queue}
}

func (b *bundle) send(msgs ...queue.Message) {
	b.t.Helper()
	if err := b.q.Send(b.ctx, msgs...); err != nil {
		b.t.Fatalf("send: %v", err)
	}
}

func (b *bundle) receive(opts queue.ReceiveOptions) []queue.Delivery {
	b.t.Helper()
	got, err := b.q.Receive(b.ctx, opts)
	if err != nil {
		b.t.Fatalf("receive: %v", err)
	}
	return got
}

// arrivalWait bounds the wait for messages that were sent: generous,
// since it only runs out when a message is lost, and an emulator shares
// two cores with every parallel case (and, in CI, the other packages).
const arrivalWait = 30 * time.Second

// receiveOne long-polls until one message arrives, failing after
// arrivalWait.
func (b *bundle) receiveOne(visibility time.Duration) queue.Delivery {
	b.t.Helper()
	return b.receiveN(1, 1, visibility)[0]
}

// receiveN receives, max at a time, until it has n messages (in the order
// received), failing after arrivalWait.
func (b *bundle) receiveN(n, max int, visibility time.Duration) []queue.Delivery {
	b.t.Helper()
	var got []queue.Delivery
	deadline := time.Now().Add(arrivalWait)
	for len(got) < n {
		if time.Now().After(deadline) {
			b.t.Fatalf("received %d of %d messages in %s", len(got), n, arrivalWait)
		}
		got = append(got, b.receive(queue.ReceiveOptions{Max: min(max, n-len(got)), Visibility: visibility, Wait: time.Second})...)
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
func (b *bundle) expectStats(want stats) {
	b.t.Helper()
	eventually(b.t, 5*time.Second, func() error {
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
