package sqsqueue_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/queue/queuetest"
	"github.com/videoai/mediatasks/shared/queue/sqsqueue"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/testkit/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// createQueues makes a fresh set of six queues for tb, deleted when it ends.
func createQueues(tb testing.TB, client *sqs.Client, maxReceives int) sqsqueue.URLs {
	tb.Helper()
	urls, err := sqsqueue.CreateQueues(context.Background(), client, awstest.Name(tb), maxReceives)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := sqsqueue.DeleteQueues(context.Background(), client, urls); err != nil {
			tb.Error(err)
		}
	})
	return urls
}

func newQueue(tb testing.TB, client *sqs.Client, urls sqsqueue.URLs, opts sqsqueue.Options) *sqsqueue.Queue {
	tb.Helper()
	q, err := sqsqueue.New(client, urls, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return q
}

func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T, maxReceives int) queuetest.Adapter {
		client := awstest.SQS(t)
		return queuetest.Adapter{Queue: newQueue(t, client, createQueues(t, client, maxReceives), sqsqueue.Options{})}
	})
}

type bundle struct {
	ctx    context.Context
	client *sqs.Client
	urls   sqsqueue.URLs
}

func setup(t *testing.T, opts sqsqueue.Options) (*sqsqueue.Queue, *bundle) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	client := awstest.SQS(t)
	b := &bundle{ctx: ctx, client: client, urls: createQueues(t, client, 5)}
	return newQueue(t, client, b.urls, opts), b
}

func send(t *testing.T, b *bundle, q queue.Queue, msgs ...queue.Message) {
	t.Helper()
	if err := q.Send(b.ctx, msgs...); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func receive(t *testing.T, b *bundle, q queue.Queue, opts queue.ReceiveOptions) []queue.Delivery {
	t.Helper()
	got, err := q.Receive(b.ctx, opts)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return got
}

func many(p task.Priority, n int) []queue.Message {
	msgs := make([]queue.Message, n)
	for i := range msgs {
		msgs[i] = queue.Message{Priority: p, Body: fmt.Appendf(nil, "%s-%d", p, i)}
	}
	return msgs
}

// eventually calls check until it returns nil, failing with its last
// error after timeout.
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

func inFlight(t *testing.T, b *bundle, q queue.Queue) int {
	t.Helper()
	st, err := q.Stats(b.ctx)
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	n := 0
	for _, c := range st.InFlight {
		n += c
	}
	return n
}

// While all three priorities wait, each run of ten received messages holds
// six high, three normal and one low, for any batch size that divides ten
// (within a batch, the most urgent come first).
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
			q, b := setup(t, sqsqueue.Options{})
			for _, p := range task.Priorities {
				send(t, b, q, many(p, 40)...)
			}
			var got []queue.Delivery
			for len(got) < 30 {
				batch := receive(t, b, q, queue.ReceiveOptions{Max: min(tt.max, 30-len(got)), Visibility: time.Hour})
				if len(batch) == 0 {
					t.Fatalf("nothing received after %d messages", len(got))
				}
				for i := 1; i < len(batch); i++ {
					if rank(batch[i].Priority) < rank(batch[i-1].Priority) {
						t.Errorf("batch not most urgent first: %s after %s", batch[i].Priority, batch[i-1].Priority)
					}
				}
				got = append(got, batch...)
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

func rank(p task.Priority) int {
	for i, q := range task.Priorities {
		if q == p {
			return i
		}
	}
	return -1
}

// An empty priority's slots go to the others, most urgent first.
func TestPriorityFallback(t *testing.T) {
	t.Parallel()
	q, b := setup(t, sqsqueue.Options{})
	send(t, b, q, many(task.PriorityLow, 12)...)
	send(t, b, q, many(task.PriorityNormal, 2)...)
	got := receive(t, b, q, queue.ReceiveOptions{Max: 10, Visibility: time.Hour})
	c := map[task.Priority]int{}
	for _, d := range got {
		c[d.Priority]++
	}
	if c[task.PriorityNormal] != 2 || c[task.PriorityLow] != 8 {
		t.Fatalf("received %v with max 10, want normal 2 low 8", c)
	}
}

// A waiting receive finds a message soon whatever its priority, also when
// its max is too small to poll every queue at once.
func TestLongPollCoversEveryPriority(t *testing.T) {
	t.Parallel()
	for _, max := range []int{1, 2, 3, 10} {
		for _, p := range task.Priorities {
			t.Run(fmt.Sprintf("max %d %s", max, p), func(t *testing.T) {
				t.Parallel()
				q, b := setup(t, sqsqueue.Options{})
				timer := time.AfterFunc(300*time.Millisecond, func() {
					if err := q.Send(b.ctx, queue.Message{Priority: p, Body: []byte("wake")}); err != nil {
						t.Errorf("send: %v", err)
					}
				})
				t.Cleanup(func() { timer.Stop() })
				const wait = 20 * time.Second
				start := time.Now()
				got := receive(t, b, q, queue.ReceiveOptions{Max: max, Visibility: time.Hour, Wait: wait})
				if len(got) != 1 || got[0].Priority != p {
					t.Fatalf("got %+v, want the %s message sent during the wait", got, p)
				}
				// Every queue is polled within three rounds of a second:
				// the receive must not sit out its wait.
				if took := time.Since(start); took > wait/2 {
					t.Errorf("receive took %s of its %s wait after a send", took, wait)
				}
			})
		}
	}
}

// Receive hides only the messages it returns: after each receive, the
// messages in flight are exactly those returned so far, both when
// messages wait and when they arrive during a long poll.
func TestReceiveHidesOnlyWhatItReturns(t *testing.T) {
	t.Parallel()

	t.Run("waiting", func(t *testing.T) {
		t.Parallel()
		q, b := setup(t, sqsqueue.Options{})
		for _, p := range task.Priorities {
			send(t, b, q, many(p, 5)...)
		}
		total := 0
		for _, max := range []int{1, 2, 4, 3} {
			got := receive(t, b, q, queue.ReceiveOptions{Max: max, Visibility: time.Hour})
			if len(got) != max {
				t.Fatalf("max %d: received %d of 15 waiting", max, len(got))
			}
			total += len(got)
			if n := inFlight(t, b, q); n != total {
				t.Fatalf("after receiving %d messages, %d are in flight", total, n)
			}
		}
	})

	t.Run("arriving", func(t *testing.T) {
		t.Parallel()
		q, b := setup(t, sqsqueue.Options{})
		timer := time.AfterFunc(300*time.Millisecond, func() {
			for _, p := range task.Priorities {
				if err := q.Send(b.ctx, many(p, 4)...); err != nil {
					t.Errorf("send: %v", err)
				}
			}
		})
		t.Cleanup(func() { timer.Stop() })
		got := receive(t, b, q, queue.ReceiveOptions{Max: 4, Visibility: time.Hour, Wait: 15 * time.Second})
		if len(got) == 0 || len(got) > 4 {
			t.Fatalf("received %d messages with max 4", len(got))
		}
		if n := inFlight(t, b, q); n != len(got) {
			t.Fatalf("received %d messages, %d are in flight", len(got), n)
		}
	})
}

// shiftedClock is a clock that a test moves ahead of the real one.
type shiftedClock struct{ shift atomic.Int64 }

func (c *shiftedClock) Now() time.Time            { return time.Now().Add(time.Duration(c.shift.Load())) }
func (c *shiftedClock) Set(shift time.Duration)   { c.shift.Store(int64(shift)) }
func (c *shiftedClock) Options() sqsqueue.Options { return sqsqueue.Options{Now: c.Now} }

// SQS keeps a message hidden at most 12 hours from its receive. A longer
// visibility is accepted and hides the message to the end of that
// window, after which it comes back early, received once more.
func TestLongVisibility(t *testing.T) {
	t.Parallel()

	t.Run("BeyondTwelveHours", func(t *testing.T) {
		t.Parallel()
		q, b := setup(t, sqsqueue.Options{})
		send(t, b, q, queue.Message{Body: []byte("webhook")})
		d := receive(t, b, q, queue.ReceiveOptions{Visibility: time.Second, Wait: 5 * time.Second})
		if len(d) != 1 {
			t.Fatalf("received %d", len(d))
		}
		// SQS refuses a VisibilityTimeout above 43200s outright.
		if err := q.ChangeVisibility(b.ctx, d[0].Receipt, 36*time.Hour); err != nil {
			t.Fatalf("change visibility to 36h: %v", err)
		}
		if got := receive(t, b, q, queue.ReceiveOptions{Visibility: time.Hour, Wait: 2 * time.Second}); len(got) != 0 {
			t.Fatalf("message came back despite the long visibility: %+v", got)
		}
		if err := q.Delete(b.ctx, d[0].Receipt); err != nil {
			t.Fatalf("delete: %v", err)
		}
	})

	t.Run("WindowSpentComesBackEarly", func(t *testing.T) {
		t.Parallel()
		var clock shiftedClock
		q, b := setup(t, clock.Options())
		send(t, b, q, queue.Message{Body: []byte("webhook")})
		first := receive(t, b, q, queue.ReceiveOptions{Visibility: 12 * time.Hour, Wait: 5 * time.Second})
		if len(first) != 1 {
			t.Fatalf("received %d", len(first))
		}
		// Twelve hours less three seconds (and the adapter's margin of a
		// minute) later, only those three seconds of the window are left.
		clock.Set(12*time.Hour - time.Minute - 3*time.Second)
		if err := q.ChangeVisibility(b.ctx, first[0].Receipt, time.Hour); err != nil {
			t.Fatalf("change visibility: %v", err)
		}
		if got := receive(t, b, q, queue.ReceiveOptions{Visibility: time.Hour}); len(got) != 0 {
			t.Fatalf("message visible at once: %+v", got)
		}
		// Without the window's limit it would stay hidden an hour.
		again := receive(t, b, q, queue.ReceiveOptions{Visibility: time.Hour, Wait: 15 * time.Second})
		if len(again) != 1 || again[0].ID != first[0].ID || again[0].ReceiveCount != 2 {
			t.Fatalf("got %+v, want %s back early with receive count 2", again, first[0].ID)
		}
	})

	t.Run("WithinWindowHidesForAll", func(t *testing.T) {
		t.Parallel()
		var clock shiftedClock
		q, b := setup(t, clock.Options())
		send(t, b, q, queue.Message{Body: []byte("webhook")})
		first := receive(t, b, q, queue.ReceiveOptions{Visibility: time.Second, Wait: 5 * time.Second})
		if len(first) != 1 {
			t.Fatalf("received %d", len(first))
		}
		// Ten hours into the window, ninety minutes are still left.
		clock.Set(10 * time.Hour)
		if err := q.ChangeVisibility(b.ctx, first[0].Receipt, 90*time.Minute); err != nil {
			t.Fatalf("change visibility: %v", err)
		}
		if got := receive(t, b, q, queue.ReceiveOptions{Visibility: time.Hour, Wait: 2 * time.Second}); len(got) != 0 {
			t.Fatalf("message came back: %+v", got)
		}
	})
}

// Bodies SQS cannot carry as text round-trip; text goes as it is, so
// that the console and other consumers read it.
func TestBodies(t *testing.T) {
	t.Parallel()
	q, b := setup(t, sqsqueue.Options{})
	bodies := map[string][]byte{
		"empty":           {},
		"json":            []byte(`{"task":"t1","prompt":"café, naïve"}` + "\n\t\r"),
		"astral":          []byte("a cat 🐈 on a mat"),
		"control":         {'a', 0x01, 'b'},
		"replacement":     []byte("\uFFFD"),
		"last of the BMP": []byte("\uFFFD\uE000"),
	}
	for name, body := range bodies {
		send(t, b, q, queue.Message{Body: body})
		got := receive(t, b, q, queue.ReceiveOptions{Visibility: time.Hour, Wait: 5 * time.Second})
		if len(got) != 1 || string(got[0].Body) != string(body) {
			t.Fatalf("%s: got %+v, want body %q", name, got, body)
		}
		if err := q.Delete(b.ctx, got[0].Receipt); err != nil {
			t.Fatalf("%s: delete: %v", name, err)
		}
	}
	// Text is the SQS body itself, with no encoding attribute.
	send(t, b, q, queue.Message{Body: bodies["json"]})
	out, err := b.client.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(b.urls.Queues[task.PriorityNormal]), WaitTimeSeconds: 5, MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != string(bodies["json"]) || len(out.Messages[0].MessageAttributes) != 0 {
		t.Fatalf("SQS holds %+v, want the text as it is", out.Messages)
	}
}

func TestSendChecksBeforeSending(t *testing.T) {
	t.Parallel()
	q, b := setup(t, sqsqueue.Options{})
	for name, m := range map[string]queue.Message{
		"delay past SQS's 15 minutes": {Body: []byte("x"), Delay: 16 * time.Minute},
		"negative delay":              {Body: []byte("x"), Delay: -time.Second},
		"unknown priority":            {Body: []byte("x"), Priority: "urgent"},
	} {
		err := q.Send(b.ctx, queue.Message{Body: []byte("fine")}, m)
		if err == nil || !strings.Contains(err.Error(), "message 1") {
			t.Errorf("%s: err = %v, want one naming message 1", name, err)
		}
	}
	if st, err := q.Stats(b.ctx); err != nil || st.Visible[task.PriorityNormal] != 0 {
		t.Errorf("stats %+v, %v: a refused send sent something", st, err)
	}
}

// SQS judges each message of a batch on its own: the error names the
// messages it refused, and the others are sent.
func TestSendReportsRefusedMessages(t *testing.T) {
	t.Parallel()
	q, b := setup(t, sqsqueue.Options{})
	if _, err := b.client.SetQueueAttributes(b.ctx, &sqs.SetQueueAttributesInput{
		QueueUrl:   aws.String(b.urls.Queues[task.PriorityHigh]),
		Attributes: map[string]string{string(types.QueueAttributeNameMaximumMessageSize): "1024"},
	}); err != nil {
		t.Fatal(err)
	}
	msgs := many(task.PriorityHigh, 12)
	msgs[3].Body = []byte(strings.Repeat("x", 2000))
	msgs[11].Body = []byte(strings.Repeat("y", 2000))
	err := q.Send(b.ctx, msgs...)
	if err == nil {
		t.Fatal("oversized messages sent")
	}
	for _, want := range []string{"message 3 ", "message 11 "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("error %q names more than the two refused messages", err)
	}
	eventually(t, 5*time.Second, func() error {
		st, err := q.Stats(b.ctx)
		if err != nil {
			return err
		}
		if st.Visible[task.PriorityHigh] != 10 {
			return fmt.Errorf("%d high messages visible, want the 10 accepted", st.Visible[task.PriorityHigh])
		}
		return nil
	})
}

// Looking at the dead letters leaves them in the dead-letter queue, for
// the next look and for a redrive.
func TestDeadLettersStay(t *testing.T) {
	t.Parallel()
	client := awstest.SQS(t)
	q := newQueue(t, client, createQueues(t, client, 1), sqsqueue.Options{})
	ctx := context.Background()
	b := &bundle{ctx: ctx, client: client}
	for _, p := range task.Priorities {
		send(t, b, q, many(p, 2)...)
	}
	for range 6 {
		d := receive(t, b, q, queue.ReceiveOptions{Visibility: time.Hour, Wait: 5 * time.Second})
		if len(d) != 1 {
			t.Fatalf("received %d", len(d))
		}
		if err := q.ChangeVisibility(ctx, d[0].Receipt, 0); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, func() error {
		if got := receive(t, b, q, queue.ReceiveOptions{Max: 10, Wait: 200 * time.Millisecond}); len(got) != 0 {
			t.Fatalf("received %d messages past their maximum receives", len(got))
		}
		st, err := q.Stats(ctx)
		if err != nil {
			return err
		}
		if st.Dead != 6 {
			return fmt.Errorf("dead = %d, want 6", st.Dead)
		}
		return nil
	})
	for look := range 2 {
		dead, err := q.DeadLetters(ctx, 10)
		if err != nil {
			t.Fatalf("look %d: %v", look, err)
		}
		if len(dead) != 6 {
			t.Fatalf("look %d: %d dead letters, want 6", look, len(dead))
		}
		for i, d := range dead {
			if d.Priority != task.Priorities[i/2] || !strings.HasPrefix(string(d.Body), string(d.Priority)) || d.Receipt != "" {
				t.Errorf("look %d: dead letter %d is %+v, want the %s ones first, without a receipt", look, i, d, task.Priorities[i/2])
			}
		}
		if few, err := q.DeadLetters(ctx, 3); err != nil || len(few) != 3 || few[2].Priority != task.PriorityNormal {
			t.Errorf("look %d: dead letters (max 3) = %+v, %v; want two high and a normal", look, few, err)
		}
	}
}

// A receipt names its priority's queue: one of another priority, or of
// another queue, deletes nothing.
func TestReceiptNamesItsQueue(t *testing.T) {
	t.Parallel()
	q, b := setup(t, sqsqueue.Options{})
	send(t, b, q, queue.Message{Priority: task.PriorityLow, Body: []byte("x")})
	d := receive(t, b, q, queue.ReceiveOptions{Visibility: time.Hour, Wait: 5 * time.Second})
	if len(d) != 1 {
		t.Fatalf("received %d", len(d))
	}
	forged := strings.Replace(d[0].Receipt, "low:", "high:", 1)
	if err := q.Delete(b.ctx, forged); err != nil && !errors.Is(err, queue.ErrReceiptInvalid) {
		t.Fatalf("delete with the receipt under another priority: %v", err)
	}
	if err := q.ChangeVisibility(b.ctx, forged, 0); !errors.Is(err, queue.ErrReceiptInvalid) {
		t.Fatalf("change visibility with the receipt under another priority: err = %v, want ErrReceiptInvalid", err)
	}
	if n := inFlight(t, b, q); n != 1 {
		t.Fatalf("%d in flight, want the low message still", n)
	}
}

func TestNewRefusesMissingOrSharedURLs(t *testing.T) {
	t.Parallel()
	client := sqs.NewFromConfig(awstest.Config()) // New makes no request
	urls := sqsqueue.URLs{
		Queues:      map[task.Priority]string{task.PriorityHigh: "h", task.PriorityNormal: "n", task.PriorityLow: "l"},
		DeadLetters: map[task.Priority]string{task.PriorityHigh: "hd", task.PriorityNormal: "nd"},
	}
	if _, err := sqsqueue.New(client, urls, sqsqueue.Options{}); err == nil || !strings.Contains(err.Error(), "no low dead-letter queue URL") {
		t.Fatalf("err = %v, want one naming the missing low dead-letter queue", err)
	}
	urls.DeadLetters[task.PriorityLow] = "h"
	if _, err := sqsqueue.New(client, urls, sqsqueue.Options{}); err == nil || !strings.Contains(err.Error(), "low dead-letter queue URL h ") {
		t.Fatalf("err = %v, want one naming the low dead-letter queue that is the high queue", err)
	}
}

// BenchmarkSendReceiveDelete measures one message's way through fauxqs:
// a send, a receive and a delete, each a request.
func BenchmarkSendReceiveDelete(b *testing.B) {
	ctx := context.Background()
	client := awstest.SQS(b)
	body := make([]byte, 256)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	b.Run("serial", func(b *testing.B) {
		q := newQueue(b, client, createQueues(b, client, 5), sqsqueue.Options{})
		for b.Loop() {
			sendReceiveDelete(ctx, b, q, body)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		q := newQueue(b, client, createQueues(b, client, 5), sqsqueue.Options{})
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				sendReceiveDelete(ctx, b, q, body)
			}
		})
	})
	// Ten at a time: one batch send, one receive of ten, ten deletes.
	b.Run("batch of 10", func(b *testing.B) {
		q := newQueue(b, client, createQueues(b, client, 5), sqsqueue.Options{})
		msgs := make([]queue.Message, 10)
		for i := range msgs {
			msgs[i] = queue.Message{Body: body}
		}
		for b.Loop() {
			if err := q.Send(ctx, msgs...); err != nil {
				b.Fatal(err)
			}
			for left := len(msgs); left > 0; {
				got, err := q.Receive(ctx, queue.ReceiveOptions{Max: 10, Visibility: time.Minute, Wait: time.Second})
				if err != nil {
					b.Fatal(err)
				}
				for _, d := range got {
					if err := q.Delete(ctx, d.Receipt); err != nil {
						b.Fatal(err)
					}
				}
				left -= len(got)
			}
		}
		b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "msgs/s")
	})
}

func sendReceiveDelete(ctx context.Context, b *testing.B, q *sqsqueue.Queue, body []byte) {
	if err := q.Send(ctx, queue.Message{Body: body}); err != nil {
		b.Error(err)
		return
	}
	got, err := q.Receive(ctx, queue.ReceiveOptions{Visibility: time.Minute, Wait: time.Second})
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

// A plain queue (the webhook queue) is one SQS queue and its dead-letter
// queue: messages of any priority go to it, come back with the visibility
// they were given, and move to its dead-letter queue after maxReceives.
func TestPlainQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := awstest.SQS(t)
	urls, err := sqsqueue.CreatePlainQueue(ctx, client, awstest.Name(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(urls.Queues) != 1 || len(urls.DeadLetters) != 1 {
		t.Fatalf("plain queue URLs %+v", urls)
	}
	q, err := sqsqueue.New(client, urls, sqsqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Send(ctx, queue.Message{Priority: task.PriorityHigh, Body: []byte("a")},
		queue.Message{Priority: task.PriorityLow, Body: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	got, err := q.Receive(ctx, queue.ReceiveOptions{Max: 10, Visibility: time.Second, Wait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for len(got) < 2 {
		more, err := q.Receive(ctx, queue.ReceiveOptions{Max: 10, Visibility: time.Second, Wait: 2 * time.Second})
		if err != nil || len(more) == 0 {
			t.Fatalf("received %d of 2 messages (%v)", len(got), err)
		}
		got = append(got, more...)
	}
	if err := q.Delete(ctx, got[0].Receipt); err != nil {
		t.Fatal(err)
	}
	// The other comes back after its second of visibility, once more,
	// then goes to the dead-letter queue.
	deadline := time.Now().Add(20 * time.Second)
	for {
		stats, err := q.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if stats.Dead == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter after 20s: %+v", stats)
		}
		if _, err := q.Receive(ctx, queue.ReceiveOptions{Max: 10, Visibility: time.Second, Wait: time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	dead, err := q.DeadLetters(ctx, 10)
	if err != nil || len(dead) != 1 || string(dead[0].Body) != string(got[1].Body) {
		t.Fatalf("dead letters %+v (%v), want %q", dead, err, got[1].Body)
	}
}

// A queue with a default receive wait or delivery delay would make every
// short poll wait and every message late (the SDK leaves zero waits and
// delays out of requests): Stats, and so /health, names the setting.
func TestStatsReportsQueueDefaults(t *testing.T) {
	t.Parallel()
	q, b := setup(t, sqsqueue.Options{})
	if _, err := q.Stats(b.ctx); err != nil {
		t.Fatalf("stats of queues made by CreateQueues: %v", err)
	}
	url := b.urls.Queues[task.PriorityLow]
	if _, err := b.client.SetQueueAttributes(b.ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url,
		Attributes: map[string]string{"ReceiveMessageWaitTimeSeconds": "5"}}); err != nil {
		t.Fatal(err)
	}
	_, err := q.Stats(b.ctx)
	if !errors.Is(err, sqsqueue.ErrQueueSettings) || !strings.Contains(err.Error(), "ReceiveMessageWaitTimeSeconds") {
		t.Fatalf("stats with a default wait: %v, want ErrQueueSettings naming the attribute", err)
	}
}

// A receipt naming a priority the queue has no SQS queue for (a plain
// queue's receipt altered) is ErrReceiptInvalid, not a request without a
// queue URL.
func TestReceiptOfAnotherPriorityOnAPlainQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := awstest.SQS(t)
	urls, err := sqsqueue.CreatePlainQueue(ctx, client, awstest.Name(t), 5)
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqsqueue.New(client, urls, sqsqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Send(ctx, queue.Message{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	got, err := q.Receive(ctx, queue.ReceiveOptions{Visibility: time.Hour, Wait: 3 * time.Second})
	if err != nil || len(got) != 1 {
		t.Fatalf("receive: %d, %v", len(got), err)
	}
	forged := strings.Replace(got[0].Receipt, string(task.PriorityNormal)+":", string(task.PriorityHigh)+":", 1)
	if err := q.ChangeVisibility(ctx, forged, 0); !errors.Is(err, queue.ErrReceiptInvalid) {
		t.Errorf("change visibility: %v, want ErrReceiptInvalid", err)
	}
	if err := q.Delete(ctx, forged); !errors.Is(err, queue.ErrReceiptInvalid) {
		t.Errorf("delete: %v, want ErrReceiptInvalid", err)
	}
}
