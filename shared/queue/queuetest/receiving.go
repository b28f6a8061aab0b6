package queuetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/task"
)

func (s *suite) testPriorities(t *testing.T) {
	b := s.setup(t, defaultMaxReceives)
	// Low first, high last: arrival order alone would favour low.
	for _, p := range []task.Priority{task.PriorityLow, task.PriorityNormal, task.PriorityHigh} {
		msgs := make([]queue.Message, 30)
		for i := range msgs {
			msgs[i] = queue.Message{Priority: p, Body: fmt.Appendf(nil, "%s-%d", p, i)}
		}
		b.send(msgs...)
	}
	got := b.receiveN(20, 10, long)
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
}

func (s *suite) testLongPollReturnsEarlyOnSend(t *testing.T) {
	b := s.setup(t, defaultMaxReceives)
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
	got := b.receive(queue.ReceiveOptions{Visibility: long, Wait: wait})
	if len(got) != 1 || string(got[0].Body) != "wake" {
		t.Fatalf("got %+v, want the message sent during the wait", got)
	}
	if took := time.Since(start); took > wait/2 {
		t.Errorf("receive took %s of its %s wait after a send", took, wait)
	}
}

func (s *suite) testLongPollEmptyAfterWait(t *testing.T) {
	b := s.setup(t, defaultMaxReceives)
	const wait = time.Second
	start := time.Now()
	if got := b.receive(queue.ReceiveOptions{Visibility: long, Wait: wait}); len(got) != 0 {
		t.Fatalf("got %+v from an empty queue", got)
	}
	if took := time.Since(start); took < wait/2 {
		t.Errorf("empty receive returned after %s, not waiting its %s", took, wait)
	}
}

func (s *suite) testLongPollEndsWithItsContext(t *testing.T) {
	b := s.setup(t, defaultMaxReceives)
	ctx, cancel := context.WithTimeout(b.ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	got, err := b.q.Receive(ctx, queue.ReceiveOptions{Visibility: long, Wait: 10 * time.Second})
	if len(got) != 0 {
		t.Fatalf("got %+v from an empty queue", got)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("receive outlived its context by %s (err %v)", took, err)
	}
}

func (s *suite) testMax(t *testing.T) {
	b := s.setup(t, defaultMaxReceives)
	msgs := make([]queue.Message, 15)
	for i := range msgs {
		msgs[i] = queue.Message{Body: fmt.Appendf(nil, "m%d", i)}
	}
	b.send(msgs...)
	if got := b.receive(queue.ReceiveOptions{Visibility: long, Wait: time.Second}); len(got) != 1 {
		t.Errorf("max 0 received %d messages, want 1", len(got))
	}
	seen := map[string]bool{}
	batches := map[int]int{}
	eventually(t, 10*time.Second, func() error {
		got := b.receive(queue.ReceiveOptions{Max: 4, Visibility: long, Wait: 200 * time.Millisecond})
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
		if _, err := b.q.Receive(b.ctx, queue.ReceiveOptions{Max: max, Visibility: long}); err == nil {
			t.Errorf("%s: max %d accepted", name, max)
		}
	}
}

func (s *suite) testConcurrentReceivers(t *testing.T) {
	b := s.setup(t, defaultMaxReceives)
	const n = 40
	msgs := make([]queue.Message, n)
	for i := range msgs {
		msgs[i] = queue.Message{Priority: task.Priorities[i%3], Body: fmt.Appendf(nil, "m%d", i)}
	}
	b.send(msgs...)
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	deadline := time.Now().Add(10 * time.Second)
	for range 4 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				got, err := b.q.Receive(b.ctx, queue.ReceiveOptions{Max: 3, Visibility: long, Wait: 100 * time.Millisecond})
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
}

func (s *suite) testStats(t *testing.T) {
	b := s.setup(t, defaultMaxReceives)
	st, err := b.q.Stats(b.ctx)
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	if st.OldestVisibleAge != 0 || st.Dead != 0 {
		t.Errorf("empty queue: %+v", st)
	}
	b.send(
		queue.Message{Priority: task.PriorityHigh, Body: []byte("h1")},
		queue.Message{Priority: task.PriorityHigh, Body: []byte("h2")},
		queue.Message{Priority: task.PriorityNormal, Body: []byte("n1")},
		queue.Message{Priority: task.PriorityLow, Body: []byte("l1"), Delay: time.Minute},
	)
	d := b.receiveOne(long)
	want := stats{
		visible:  counts{task.PriorityHigh: 2, task.PriorityNormal: 1},
		inFlight: counts{task.PriorityLow: 1},
	}
	want.visible[d.Priority]--
	want.inFlight[d.Priority]++
	b.expectStats(want)
	eventually(t, 5*time.Second, func() error {
		st, err := b.q.Stats(b.ctx)
		if err != nil {
			return err
		}
		// 0 when the adapter cannot tell (SQS has no such attribute).
		if st.OldestVisibleAge < 0 || st.OldestVisibleAge > time.Minute {
			return fmt.Errorf("oldest visible age = %s, want 0 or a little over", st.OldestVisibleAge)
		}
		return nil
	})
}

func (s *suite) testBinaryBodyRoundTrips(t *testing.T) {
	b := s.setup(t, defaultMaxReceives)
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
		b.send(queue.Message{Body: body, Priority: task.PriorityNormal})
		d := b.receiveOne(long)
		if !bytes.Equal(d.Body, body) {
			t.Errorf("%s: body changed on the way (%d bytes in, %d out)", name, len(body), len(d.Body))
		}
		if err := b.q.Delete(b.ctx, d.Receipt); err != nil {
			t.Fatalf("%s: delete: %v", name, err)
		}
	}
}

func (s *suite) testSendRefusesUnknownPriority(t *testing.T) {
	b := s.setup(t, defaultMaxReceives)
	if err := b.q.Send(b.ctx, queue.Message{Priority: "urgent", Body: []byte("x")}); err == nil {
		t.Fatal("unknown priority accepted")
	}
	b.expectStats(stats{})
}
