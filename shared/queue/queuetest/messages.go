package queuetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/task"
)

func (s *suite) testSendReceiveDelete(t *testing.T) {
	b := s.setup(t, defaultMaxReceives)
	before := time.Now()
	b.send(queue.Message{Body: []byte("hello")}) // empty priority means normal
	d := b.receiveOne(long)
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
	if got := b.receive(queue.ReceiveOptions{Visibility: long}); len(got) != 0 {
		t.Fatalf("in-flight message received again: %+v", got)
	}
	if err := b.q.Delete(b.ctx, d.Receipt); err != nil {
		t.Fatalf("delete: %v", err)
	}
	// Deleting twice is harmless: SQS answers success, others may
	// say the receipt is no longer valid.
	if err := b.q.Delete(b.ctx, d.Receipt); err != nil && !errors.Is(err, queue.ErrReceiptInvalid) {
		t.Errorf("second delete: err = %v, want nil or ErrReceiptInvalid", err)
	}
	if err := b.q.ChangeVisibility(b.ctx, d.Receipt, 0); !errors.Is(err, queue.ErrReceiptInvalid) {
		t.Errorf("change visibility after delete: err = %v, want ErrReceiptInvalid", err)
	}
	b.expectStats(stats{})
}

func (s *suite) testMalformedReceipt(t *testing.T) {
	b := s.setup(t, defaultMaxReceives)
	for name, receipt := range map[string]string{
		"empty":   "",
		"garbage": "not a receipt",
		"long":    string(bytes.Repeat([]byte("f"), 64)),
	} {
		if err := b.q.Delete(b.ctx, receipt); !errors.Is(err, queue.ErrReceiptInvalid) {
			t.Errorf("%s: delete: err = %v, want ErrReceiptInvalid", name, err)
		}
		if err := b.q.ChangeVisibility(b.ctx, receipt, time.Second); !errors.Is(err, queue.ErrReceiptInvalid) {
			t.Errorf("%s: change visibility: err = %v, want ErrReceiptInvalid", name, err)
		}
	}
}

func (s *suite) testVisibilityTimeout(t *testing.T) {
	b := s.setup(t, defaultMaxReceives)
	b.send(queue.Message{Priority: task.PriorityHigh, Body: []byte("again")})
	first := b.receiveOne(time.Second)
	received := time.Now()
	if got := b.receive(queue.ReceiveOptions{Visibility: long}); len(got) != 0 {
		t.Fatalf("hidden message received: %+v", got)
	}
	second := b.receiveOne(long) // reappears after the second has passed
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
	if err := b.q.ChangeVisibility(b.ctx, first.Receipt, 0); !errors.Is(err, queue.ErrReceiptInvalid) {
		t.Errorf("change visibility with the stale receipt: err = %v, want ErrReceiptInvalid", err)
	}
	// A stale receipt never deletes the message (SQS answers success
	// and keeps it; others refuse the receipt).
	if err := b.q.Delete(b.ctx, first.Receipt); err != nil && !errors.Is(err, queue.ErrReceiptInvalid) {
		t.Errorf("delete with the stale receipt: err = %v, want nil or ErrReceiptInvalid", err)
	}
	b.expectStats(stats{inFlight: counts{second.Priority: 1}})
	if err := b.q.Delete(b.ctx, second.Receipt); err != nil {
		t.Fatalf("delete with the current receipt: %v", err)
	}
	b.expectStats(stats{})
}

func (s *suite) testChangeVisibilityToZero(t *testing.T) {
	b := s.setup(t, defaultMaxReceives)
	b.send(queue.Message{Body: []byte("x")})
	first := b.receiveOne(long)
	if err := b.q.ChangeVisibility(b.ctx, first.Receipt, 0); err != nil {
		t.Fatalf("change visibility: %v", err)
	}
	second := b.receiveOne(long)
	if second.ID != first.ID || second.ReceiveCount != 2 {
		t.Errorf("got %s (count %d), want %s again (count 2)", second.ID, second.ReceiveCount, first.ID)
	}
}

func (s *suite) testChangeVisibilityExtends(t *testing.T) {
	b := s.setup(t, defaultMaxReceives)
	b.send(queue.Message{Body: []byte("x")})
	d := b.receiveOne(time.Second)
	if err := b.q.ChangeVisibility(b.ctx, d.Receipt, long); err != nil {
		t.Fatalf("change visibility: %v", err)
	}
	// Without the extension the message would come back after 1s.
	got := b.receive(queue.ReceiveOptions{Visibility: long, Wait: 2500 * time.Millisecond})
	if len(got) != 0 {
		t.Fatalf("message came back despite the extension: %+v", got)
	}
	// The receipt stays valid after a change, as in SQS.
	if err := b.q.Delete(b.ctx, d.Receipt); err != nil {
		t.Fatalf("delete after extending: %v", err)
	}
}

func (s *suite) testDelay(t *testing.T) {
	b := s.setup(t, defaultMaxReceives)
	sent := time.Now()
	b.send(queue.Message{Priority: task.PriorityLow, Body: []byte("later"), Delay: time.Second})
	if got := b.receive(queue.ReceiveOptions{Visibility: long}); len(got) != 0 {
		t.Fatalf("delayed message received at once: %+v", got)
	}
	b.expectStats(stats{inFlight: counts{task.PriorityLow: 1}})
	d := b.receiveOne(long)
	if early := time.Since(sent); early < 500*time.Millisecond {
		t.Errorf("delayed message received after %s, before its 1s delay", early)
	}
	if string(d.Body) != "later" || d.Priority != task.PriorityLow {
		t.Errorf("got %q %s, want later low", d.Body, d.Priority)
	}
}

func (s *suite) testDeadLetter(t *testing.T) {
	const maxReceives = 2
	b := s.setup(t, maxReceives)
	b.send(queue.Message{Priority: task.PriorityHigh, Body: []byte("poison")})
	var id string
	for i := 1; i <= maxReceives; i++ {
		d := b.receiveOne(long)
		if d.ReceiveCount != i {
			t.Fatalf("receive %d: count = %d", i, d.ReceiveCount)
		}
		id = d.ID
		if err := b.q.ChangeVisibility(b.ctx, d.Receipt, 0); err != nil {
			t.Fatalf("receive %d: change visibility: %v", i, err)
		}
	}
	// The next attempt moves it to the dead-letter queue instead of
	// delivering it a third time.
	eventually(t, 10*time.Second, func() error {
		if got := b.receive(queue.ReceiveOptions{Visibility: long, Wait: 200 * time.Millisecond}); len(got) != 0 {
			t.Fatalf("message delivered %d times, past its maximum of %d", got[0].ReceiveCount, maxReceives)
		}
		st, err := b.q.Stats(b.ctx)
		if err != nil {
			return err
		}
		if st.Dead != 1 {
			return fmt.Errorf("dead = %d, want 1", st.Dead)
		}
		return nil
	})
	b.expectStats(stats{dead: 1})
	dead, err := b.q.DeadLetters(b.ctx, 10)
	if err != nil {
		t.Fatalf("dead letters: %v", err)
	}
	if len(dead) != 1 || dead[0].ID != id || string(dead[0].Body) != "poison" || dead[0].Priority != task.PriorityHigh {
		t.Fatalf("dead letters = %+v, want the poison message %s", dead, id)
	}
	if dead[0].ReceiveCount < maxReceives {
		t.Errorf("dead letter's receive count = %d, want at least %d", dead[0].ReceiveCount, maxReceives)
	}
	if none, err := b.q.DeadLetters(b.ctx, 0); err != nil || len(none) != 0 {
		t.Errorf("dead letters (max 0) = %v, %v; want none", none, err)
	}
}
