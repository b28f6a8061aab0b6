// Package sqsqueue is the queue.Queue adapter on Amazon SQS. One logical
// queue is six SQS standard queues: one per priority (high, normal, low),
// each with its own dead-letter queue that SQS fills through the queue's
// RedrivePolicy (maxReceiveCount).
//
// A dead-letter queue per priority, rather than one shared: the priority
// of a dead message is then where it lies, with nothing to carry in the
// message, each priority has its own depth and alarm, and a redrive
// (StartMessageMoveTask) sends each message back to its own queue.
//
// Receive merges the three queues by a weighted rotation (six high, three
// normal, one low in every ten messages, the same as the SQLite adapter),
// never taking more than it returns: see Receive.
package sqsqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/task"
)

var _ queue.Queue = (*Queue)(nil)

// SQS's limits.
const (
	maxBatch      = 10               // messages per send or receive request
	maxDelay      = 15 * time.Minute // DelaySeconds
	maxVisibility = 12 * time.Hour   // a message's hidden time, counted from its receive
	maxPollWait   = 20 * time.Second // WaitTimeSeconds
	// maxBatchBytes bounds the bodies of one SendMessageBatch: SQS's
	// long-standing 256 KiB request limit, which its newer 1 MiB limit
	// (and fauxqs's) also accepts.
	maxBatchBytes = 256 << 10
)

// windowMargin is kept back from the end of SQS's 12-hour window when
// ChangeVisibility computes what is left of it: the receive time in a
// receipt is this process's clock, read just before the request, and the
// receipt may be used by another process.
const windowMargin = time.Minute

// requestSlack is how long a receive request may take beyond its own
// long-poll wait before it is abandoned.
const requestSlack = 30 * time.Second

// shortPollInterval paces the short polls that fill a wait of less than a
// second, which SQS's whole-second long polls cannot.
const shortPollInterval = 100 * time.Millisecond

// rotation is the weighted order in which Receive fills its slots: high 6,
// normal 3, low 1 out of 10, spread so that one-message receives also
// interleave; low gets a slot in every ten, so it is never starved. It is
// the SQLite adapter's rotation, so that both runtimes admit alike.
var rotation = [10]task.Priority{
	task.PriorityHigh, task.PriorityNormal, task.PriorityHigh, task.PriorityHigh, task.PriorityNormal,
	task.PriorityHigh, task.PriorityLow, task.PriorityHigh, task.PriorityNormal, task.PriorityHigh,
}

// URLs names the SQS queues of one logical queue, as the cloud stack
// creates them and passes them to the functions.
type URLs struct {
	// Queues holds the queue URL of each priority.
	Queues map[task.Priority]string
	// DeadLetters holds the dead-letter queue URL of each priority: the
	// target of that queue's RedrivePolicy.
	DeadLetters map[task.Priority]string
}

func (u URLs) validate() error {
	var errs []error
	seen := map[string]bool{}
	check := func(url, what string) {
		switch {
		case url == "":
			errs = append(errs, fmt.Errorf("no %s URL", what))
		case seen[url]:
			errs = append(errs, fmt.Errorf("%s URL %s names a queue already named", what, url))
		}
		seen[url] = true
	}
	for _, p := range u.priorities() {
		check(u.Queues[p], string(p)+" queue")
		check(u.DeadLetters[p], string(p)+" dead-letter queue")
	}
	return errors.Join(errs...)
}

// priorities are the priorities urls has queues for: all of them, or
// only normal for a plain queue without priorities (the webhook queue),
// which takes messages of every priority.
func (u URLs) priorities() []task.Priority {
	if len(u.Queues) == 1 && u.Queues[task.PriorityNormal] != "" {
		return []task.Priority{task.PriorityNormal}
	}
	return task.Priorities
}

// PlainURLs are the URLs of a plain queue without priorities.
func PlainURLs(queueURL, deadLetterURL string) URLs {
	return URLs{
		Queues:      map[task.Priority]string{task.PriorityNormal: queueURL},
		DeadLetters: map[task.Priority]string{task.PriorityNormal: deadLetterURL},
	}
}

// Options tune a Queue.
type Options struct {
	// DefaultVisibility is used when ReceiveOptions.Visibility is zero
	// (default 30s, SQS's default).
	DefaultVisibility time.Duration
	// PollWait is the long-poll wait of each round of a waiting Receive
	// (default 1s, whole seconds up to 20s). It bounds how late a waiting
	// Receive returns a message that arrived in one queue while it polled
	// the others; longer rounds mean fewer requests from idle consumers.
	PollWait time.Duration
	// Now is the clock that stamps receipts and measures SQS's 12-hour
	// visibility window (default time.Now).
	Now func() time.Time
	// Logger receives the errors Receive does not return because it has
	// messages to return (default: discarded).
	Logger *slog.Logger
}

// Queue is one logical queue over six SQS queues. It is safe for
// concurrent use.
type Queue struct {
	client *sqs.Client
	urls   URLs
	opts   Options

	// priorities are those the queue has SQS queues for, most urgent
	// first, and rotation the weighted order of Receive among them.
	priorities []task.Priority
	rotation   []task.Priority

	mu   sync.Mutex
	next int // position in rotation
}

// New returns the queue over the SQS queues urls names; it makes no
// request.
func New(client *sqs.Client, urls URLs, opts Options) (*Queue, error) {
	if client == nil {
		return nil, errors.New("sqs queue: nil client")
	}
	if err := urls.validate(); err != nil {
		return nil, fmt.Errorf("sqs queue: %w", err)
	}
	if opts.DefaultVisibility <= 0 {
		opts.DefaultVisibility = 30 * time.Second
	}
	opts.PollWait = min(max(opts.PollWait.Truncate(time.Second), time.Second), maxPollWait)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	q := &Queue{client: client, urls: urls, opts: opts, priorities: urls.priorities()}
	for _, p := range rotation {
		if slices.Contains(q.priorities, p) {
			q.rotation = append(q.rotation, p)
		}
	}
	return q, nil
}

// outgoing is one message of a Send, ready for SQS.
type outgoing struct {
	index    int // in the Send call, to name it in errors
	body     string
	encoding string
	delay    int32 // seconds
}

// Send enqueues msgs with SendMessageBatch, up to ten messages (and
// maxBatchBytes) per request. Every message is checked before any is
// sent; after that, SQS takes each message on its own: the error names
// the messages it refused (by their index in msgs), and the others are
// sent.
func (q *Queue) Send(ctx context.Context, msgs ...queue.Message) error {
	byPriority := make(map[task.Priority][]outgoing, len(task.Priorities))
	for i, m := range msgs {
		p := m.Priority
		if p == "" {
			p = task.PriorityNormal
		}
		if !p.Valid() {
			return fmt.Errorf("send message %d: unknown priority %q", i, p)
		}
		if !slices.Contains(q.priorities, p) {
			p = task.PriorityNormal // a plain queue
		}
		if m.Delay < 0 || m.Delay > maxDelay {
			return fmt.Errorf("send message %d: delay %s is not between 0 and SQS's %s", i, m.Delay, maxDelay)
		}
		body, encoding := encodeBody(m.Body)
		byPriority[p] = append(byPriority[p], outgoing{
			index: i, body: body, encoding: encoding,
			delay: int32(ceilSeconds(m.Delay)), // never visible before its delay
		})
	}
	var errs []error
	for _, p := range q.priorities {
		for batch := range batches(byPriority[p]) {
			errs = append(errs, q.sendBatch(ctx, p, batch)...)
		}
	}
	return errors.Join(errs...)
}

// batches cuts msgs into SendMessageBatch requests: at most ten messages
// and maxBatchBytes of bodies each (a single larger message goes alone,
// for SQS to judge).
func batches(msgs []outgoing) func(yield func([]outgoing) bool) {
	return func(yield func([]outgoing) bool) {
		start, size := 0, 0
		for i, m := range msgs {
			n := len(m.body) + len(bodyEncodingAttribute) + len(m.encoding)
			if i > start && (i-start == maxBatch || size+n > maxBatchBytes) {
				if !yield(msgs[start:i]) {
					return
				}
				start, size = i, 0
			}
			size += n
		}
		if start < len(msgs) {
			yield(msgs[start:])
		}
	}
}

func (q *Queue) sendBatch(ctx context.Context, p task.Priority, batch []outgoing) []error {
	entries := make([]types.SendMessageBatchRequestEntry, len(batch))
	for i, m := range batch {
		entries[i] = types.SendMessageBatchRequestEntry{
			Id:           aws.String(strconv.Itoa(i)),
			MessageBody:  aws.String(m.body),
			DelaySeconds: m.delay,
		}
		if m.encoding != "" {
			entries[i].MessageAttributes = map[string]types.MessageAttributeValue{
				bodyEncodingAttribute: {DataType: aws.String("String"), StringValue: aws.String(m.encoding)},
			}
		}
	}
	out, err := q.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.urls.Queues[p]), Entries: entries})
	if err != nil {
		return []error{fmt.Errorf("send messages %s (%s priority): %w", indexes(batch), p, err)}
	}
	var errs []error
	for _, f := range out.Failed {
		i, convErr := strconv.Atoi(aws.ToString(f.Id))
		if convErr != nil || i < 0 || i >= len(batch) {
			errs = append(errs, fmt.Errorf("send messages %s (%s priority): SQS refused unknown entry %q: %s: %s",
				indexes(batch), p, aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message)))
			continue
		}
		errs = append(errs, fmt.Errorf("send message %d (%s priority): %s: %s",
			batch[i].index, p, aws.ToString(f.Code), aws.ToString(f.Message)))
	}
	return errs
}

func indexes(batch []outgoing) string {
	s := make([]string, len(batch))
	for i, m := range batch {
		s[i] = strconv.Itoa(m.index)
	}
	return strings.Join(s, ", ")
}

// Receive returns up to opts.Max messages, most urgent first.
//
// It first asks each priority's queue for its share of the slots by the
// rotation (short polls, at once), then fills any slots left from the
// queues that answered in full, most urgent first. If that finds nothing
// and opts.Wait allows, it long-polls in rounds of Options.PollWait:
// each round polls every queue at once when opts.Max is at least three
// (each queue asked for at least one message, the shares adding up to
// opts.Max), or opts.Max queues in turn otherwise, and returns what the
// first fruitful round got. A request is never asked for more messages
// than its share, so Receive never takes (and hides) a message it does
// not return.
//
// On SQS a short poll asks only some of its servers and may miss the
// messages of a nearly empty queue; the long polls of the rounds ask them
// all. An idle Receive makes up to three requests per PollWait.
//
// So as never to hide what it does not return, a request in progress is
// never cancelled: a cancelled ctx ends the wait between rounds, up to
// PollWait late. Were a long poll cut off, SQS could still hand its
// messages to a response nobody reads, hiding them for the visibility
// timeout.
//
// A visibility above SQS's 12 hours is cut to 12 hours.
func (q *Queue) Receive(ctx context.Context, opts queue.ReceiveOptions) ([]queue.Delivery, error) {
	if opts.Max == 0 {
		opts.Max = 1
	}
	if opts.Max < 0 || opts.Max > maxBatch {
		return nil, fmt.Errorf("receive: max %d is not between 1 and %d", opts.Max, maxBatch)
	}
	if opts.Visibility < 0 || opts.Wait < 0 {
		return nil, errors.New("receive: negative visibility or wait")
	}
	if opts.Visibility == 0 {
		opts.Visibility = q.opts.DefaultVisibility
	}
	visibility := int32(ceilSeconds(min(opts.Visibility, maxVisibility)))
	deadline := time.Now().Add(opts.Wait)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("receive: %w", ctx.Err())
	}

	got, err := q.receiveByRotation(ctx, opts.Max, visibility)
	for round := 0; err == nil && len(got) == 0; round++ {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("receive: %w", ctx.Err())
		}
		wait := min(left, q.opts.PollWait).Truncate(time.Second)
		if wait == 0 {
			// Less than a second left: SQS long-polls in whole seconds.
			timer := time.NewTimer(min(left, shortPollInterval))
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil, fmt.Errorf("receive: %w", ctx.Err())
			case <-timer.C:
			}
			got, err = q.receiveByRotation(ctx, opts.Max, visibility)
			continue
		}
		got, err = q.receiveShares(ctx, q.waitShares(round, opts.Max), visibility, int32(wait/time.Second))
	}
	q.advance(len(got))
	return got, err
}

// receiveByRotation short-polls each priority for its share of slots by the
// rotation, then fills the slots left from the queues that gave all they
// were asked for (one that gave less has no more for now).
func (q *Queue) receiveByRotation(ctx context.Context, slots int, visibility int32) ([]queue.Delivery, error) {
	shares := q.plan(slots)
	byPriority, errs := q.receiveEach(ctx, shares, visibility, 0)
	got := concat(byPriority)
	for _, p := range q.priorities {
		left := slots - len(got)
		if left == 0 {
			break
		}
		if shares[p] > 0 && len(byPriority[p]) < shares[p] {
			continue
		}
		more, err := q.receiveFrom(ctx, q.urls.Queues[p], p, left, visibility, 0)
		if err != nil {
			errs = append(errs, err)
		}
		got = append(got, more...)
	}
	return q.settle(got, errs)
}

// receiveShares polls the queues in shares at once, each for its share,
// and waits for all of them.
func (q *Queue) receiveShares(ctx context.Context, shares map[task.Priority]int, visibility, wait int32) ([]queue.Delivery, error) {
	byPriority, errs := q.receiveEach(ctx, shares, visibility, wait)
	return q.settle(concat(byPriority), errs)
}

// settle returns the messages received even if some requests failed: they
// are hidden now, and only the caller can use or release them. The
// errors then go to the log.
func (q *Queue) settle(got []queue.Delivery, errs []error) ([]queue.Delivery, error) {
	err := errors.Join(errs...)
	if err != nil && len(got) > 0 {
		q.opts.Logger.Warn("sqs queue: some receive requests failed", "received", len(got), "error", err)
		return got, nil
	}
	return got, err
}

func (q *Queue) receiveEach(ctx context.Context, shares map[task.Priority]int, visibility, wait int32) (map[task.Priority][]queue.Delivery, []error) {
	var (
		mu         sync.Mutex
		wg         sync.WaitGroup
		byPriority = make(map[task.Priority][]queue.Delivery, len(shares))
		errs       []error
	)
	for p, n := range shares {
		if n <= 0 {
			continue
		}
		wg.Go(func() {
			got, err := q.receiveFrom(ctx, q.urls.Queues[p], p, n, visibility, wait)
			mu.Lock()
			defer mu.Unlock()
			byPriority[p] = got
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	return byPriority, errs
}

func concat(byPriority map[task.Priority][]queue.Delivery) []queue.Delivery {
	var got []queue.Delivery
	for _, p := range task.Priorities {
		got = append(got, byPriority[p]...)
	}
	return got
}

// waitShares says which queues a waiting round polls and for how many
// messages each: with three slots or more, every queue gets one and the
// rest follow the rotation's weights; with fewer, the rounds take the
// queues in turn so that every queue is polled within three rounds.
func (q *Queue) waitShares(round, slots int) map[task.Priority]int {
	n := len(q.priorities)
	shares := make(map[task.Priority]int, n)
	if slots >= n {
		for i := range slots {
			if i < n {
				shares[q.priorities[i]]++
			} else {
				shares[q.rotation[(i-n)%len(q.rotation)]]++
			}
		}
		return shares
	}
	for i := range slots {
		shares[q.priorities[(round*slots+i)%n]]++
	}
	return shares
}

// plan says how many of the slots each priority gets, following the
// rotation from where the last delivery left it.
func (q *Queue) plan(slots int) map[task.Priority]int {
	q.mu.Lock()
	defer q.mu.Unlock()
	shares := make(map[task.Priority]int, len(task.Priorities))
	for i := range slots {
		shares[q.rotation[(q.next+i)%len(q.rotation)]]++
	}
	return shares
}

// advance moves the rotation on by the messages delivered, so that empty
// polls skip nobody's turn.
func (q *Queue) advance(n int) {
	q.mu.Lock()
	q.next = (q.next + n) % len(q.rotation)
	q.mu.Unlock()
}

// receiveFrom makes one ReceiveMessage request for up to n messages. The
// request does not follow ctx's cancellation (see Receive); its own
// deadline is its wait plus requestSlack.
func (q *Queue) receiveFrom(ctx context.Context, url string, p task.Priority, n int, visibility, wait int32) ([]queue.Delivery, error) {
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(wait)*time.Second+requestSlack)
	defer cancel()
	receivedAt := q.opts.Now()
	out, err := q.client.ReceiveMessage(callCtx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(url),
		MaxNumberOfMessages: int32(n),
		VisibilityTimeout:   visibility,
		WaitTimeSeconds:     wait,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameSentTimestamp,
			types.MessageSystemAttributeNameApproximateReceiveCount,
		},
		MessageAttributeNames: []string{bodyEncodingAttribute},
	})
	if err != nil {
		return nil, fmt.Errorf("receive %s messages: %w", p, err)
	}
	got := make([]queue.Delivery, 0, len(out.Messages))
	for _, m := range out.Messages {
		d, err := delivery(m, p, receivedAt)
		if err != nil {
			// Not a message this adapter sent: it comes back after its
			// visibility timeout and dies after the maximum receives.
			q.opts.Logger.Error("sqs queue: undecodable message left to the dead-letter queue",
				"priority", p, "id", aws.ToString(m.MessageId), "error", err)
			continue
		}
		got = append(got, d)
	}
	return got, nil
}

func delivery(m types.Message, p task.Priority, receivedAt time.Time) (queue.Delivery, error) {
	var encoding string
	if a, ok := m.MessageAttributes[bodyEncodingAttribute]; ok {
		encoding = aws.ToString(a.StringValue)
	}
	body, err := decodeBody(aws.ToString(m.Body), encoding)
	if err != nil {
		return queue.Delivery{}, err
	}
	d := queue.Delivery{
		ID:       aws.ToString(m.MessageId),
		Priority: p,
		Body:     body,
		Receipt:  makeReceipt(p, receivedAt, aws.ToString(m.ReceiptHandle)),
	}
	if n, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil {
		d.ReceiveCount = n
	}
	if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		d.SentAt = time.UnixMilli(ms)
	}
	return d, nil
}

// Delete removes the message received under receipt. SQS answers success
// for a stale receipt (the message was received again since) and deletes
// nothing; a receipt it cannot read is ErrReceiptInvalid.
func (q *Queue) Delete(ctx context.Context, receipt string) error {
	p, _, handle, ok := parseReceipt(receipt)
	if !ok || q.urls.Queues[p] == "" {
		return fmt.Errorf("delete: %w", queue.ErrReceiptInvalid)
	}
	_, err := q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.urls.Queues[p]), ReceiptHandle: aws.String(handle)})
	if err != nil {
		return fmt.Errorf("delete %s message: %w", p, receiptError(err))
	}
	return nil
}

// ChangeVisibility hides the message received under receipt for d from
// now, rounded up to whole seconds; the receipt stays valid.
//
// SQS keeps a message hidden at most 12 hours counted from its receive
// (the receive time rides in the receipt). A longer d, or one past what
// is left of that window (less windowMargin), hides the message to the
// window's end instead: it is then received again early, its receive
// count one higher, and a consumer that waits that long checks its own
// due time and hides it again. Re-sending a delayed copy was the other
// way; it would break the receipt, the id and the receive count, and SQS
// delays by 15 minutes at most.
func (q *Queue) ChangeVisibility(ctx context.Context, receipt string, d time.Duration) error {
	p, receivedAt, handle, ok := parseReceipt(receipt)
	if !ok || q.urls.Queues[p] == "" {
		return fmt.Errorf("change visibility: %w", queue.ErrReceiptInvalid)
	}
	if d < 0 {
		return fmt.Errorf("change visibility of a %s message: negative duration %s", p, d)
	}
	hide := ceilSeconds(d)
	if left := receivedAt.Add(maxVisibility - windowMargin).Sub(q.opts.Now()); hide > int64(left/time.Second) {
		hide = max(int64(left/time.Second), 0)
	}
	_, err := q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(q.urls.Queues[p]),
		ReceiptHandle:     aws.String(handle),
		VisibilityTimeout: int32(hide),
	})
	if err != nil {
		return fmt.Errorf("change visibility of a %s message: %w", p, receiptError(err))
	}
	return nil
}

// receiptError maps SQS's answers to a receipt it will not act on to
// ErrReceiptInvalid: ReceiptHandleIsInvalid (malformed), MessageNotInflight
// (deleted, or visible again), and the InvalidParameterValue that SQS
// gives for an expired ReceiptHandle.
func receiptError(err error) error {
	var (
		invalid     *types.ReceiptHandleIsInvalid
		notInflight *types.MessageNotInflight
		api         smithy.APIError
	)
	switch {
	case errors.As(err, &invalid), errors.As(err, &notInflight):
		return fmt.Errorf("%w: %w", queue.ErrReceiptInvalid, err)
	case errors.As(err, &api) && strings.HasSuffix(api.ErrorCode(), "InvalidParameterValue") &&
		strings.Contains(api.ErrorMessage(), "ReceiptHandle"):
		return fmt.Errorf("%w: %w", queue.ErrReceiptInvalid, err)
	}
	return err
}

// Stats reads the six queues' approximate counts (GetQueueAttributes).
// Delayed messages count as in flight, as the port says; a dead-letter
// queue's messages are all dead, however they are hidden.
// OldestVisibleAge is 0: SQS shows it only in CloudWatch.
func (q *Queue) Stats(ctx context.Context) (queue.Stats, error) {
	st := queue.Stats{
		Visible:  make(map[task.Priority]int, len(task.Priorities)),
		InFlight: make(map[task.Priority]int, len(task.Priorities)),
	}
	type counts struct{ visible, hidden, delayed int }
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		live = map[task.Priority]counts{}
		dead = map[task.Priority]counts{}
		errs []error
	)
	for _, p := range q.priorities {
		for url, into := range map[string]map[task.Priority]counts{q.urls.Queues[p]: live, q.urls.DeadLetters[p]: dead} {
			wg.Go(func() {
				c, err := q.counts(ctx, url)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Errorf("stats of %s: %w", url, err))
					return
				}
				into[p] = counts{c[0], c[1], c[2]}
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return queue.Stats{}, err
	}
	for _, p := range q.priorities {
		st.Visible[p] = live[p].visible
		st.InFlight[p] = live[p].hidden + live[p].delayed
		st.Dead += dead[p].visible + dead[p].hidden + dead[p].delayed
	}
	return st, nil
}

var countAttributes = []types.QueueAttributeName{
	types.QueueAttributeNameApproximateNumberOfMessages,
	types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
	types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
}

// zeroAttributes are the queue defaults that must be 0. The SDK leaves a
// zero WaitTimeSeconds or DelaySeconds out of a request, and SQS then
// applies the queue's default: with a default receive wait, every short
// poll of an empty priority would wait it out, and with a default delay,
// every message would be delayed.
var zeroAttributes = []types.QueueAttributeName{
	types.QueueAttributeNameReceiveMessageWaitTimeSeconds,
	types.QueueAttributeNameDelaySeconds,
}

// ErrQueueSettings: a queue has a default receive wait or delivery delay
// (see zeroAttributes); Stats reports it, so that /health shows it.
var ErrQueueSettings = errors.New("queue settings")

// counts returns a queue's visible, not visible and delayed messages,
// and checks its defaults.
func (q *Queue) counts(ctx context.Context, url string) ([3]int, error) {
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: append(slices.Clone(countAttributes), zeroAttributes...)})
	if err != nil {
		return [3]int{}, err
	}
	for _, name := range zeroAttributes {
		if v := out.Attributes[string(name)]; v != "" && v != "0" {
			return [3]int{}, fmt.Errorf("%w: %s is %s, must be 0 (the adapter waits and delays itself)", ErrQueueSettings, name, v)
		}
	}
	var c [3]int
	for i, name := range countAttributes {
		n, err := strconv.Atoi(out.Attributes[string(name)])
		if err != nil {
			return [3]int{}, fmt.Errorf("attribute %s = %q: %w", name, out.Attributes[string(name)], err)
		}
		c[i] = n
	}
	return c, nil
}

// peekVisibility hides dead letters while DeadLetters gathers them, so
// that one call sees each once; they are made visible again before it
// returns.
const peekVisibility = 30

// DeadLetters returns up to limit messages from the dead-letter queues, the
// most urgent priority first, and leaves them there. SQS can only show a
// message by receiving it: each is hidden while the call gathers them and
// made visible again at the end (which two concurrent calls may see as
// fewer messages). They carry no receipt; ReceiveCount leaves out this
// look at them.
func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]queue.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	var (
		out  []queue.Delivery
		held = map[task.Priority][]string{} // SQS receipt handles to release
		seen = map[string]bool{}
		errs []error
	)
	for _, p := range q.priorities {
		url := q.urls.DeadLetters[p]
		c, err := q.counts(ctx, url)
		if err != nil {
			errs = append(errs, fmt.Errorf("dead letters of priority %s: %w", p, err))
			break
		}
		// Stop at the count SQS gave: asking once more would wait out
		// the long poll for messages this call has hidden itself.
		for found := 0; found < c[0] && len(out) < limit; {
			// A one-second long poll: it asks every SQS server, where a
			// short poll may miss messages, and answers at once here
			// since there are some.
			got, err := q.receiveFrom(ctx, url, p, min(limit-len(out), maxBatch), peekVisibility, 1)
			if err != nil {
				errs = append(errs, fmt.Errorf("dead letters: %w", err))
				break
			}
			fresh := 0
			for _, d := range got {
				_, _, handle, _ := parseReceipt(d.Receipt)
				held[p] = append(held[p], handle)
				if seen[d.ID] {
					continue
				}
				seen[d.ID] = true
				d.Receipt = ""
				d.ReceiveCount = max(d.ReceiveCount-1, 0)
				out = append(out, d)
				fresh++
			}
			found += fresh
			if fresh == 0 {
				break
			}
		}
		if len(errs) > 0 || len(out) >= limit {
			break
		}
	}
	if err := q.release(ctx, held); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// release makes the dead letters DeadLetters hid visible again, even if
// ctx has ended.
func (q *Queue) release(ctx context.Context, held map[task.Priority][]string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestSlack)
	defer cancel()
	var errs []error
	for p, handles := range held {
		for start := 0; start < len(handles); start += maxBatch {
			chunk := handles[start:min(start+maxBatch, len(handles))]
			entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
			for i, h := range chunk {
				entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h)}
			}
			out, err := q.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
				QueueUrl: aws.String(q.urls.DeadLetters[p]), Entries: entries,
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("release %d %s dead letters: %w", len(chunk), p, err))
				continue
			}
			for _, f := range out.Failed {
				errs = append(errs, fmt.Errorf("release a %s dead letter: %s: %s", p, aws.ToString(f.Code), aws.ToString(f.Message)))
			}
		}
	}
	return errors.Join(errs...)
}

// A receipt is "<priority>:<receive time, unix ms>:<SQS receipt handle>":
// the priority picks the queue, the receive time measures SQS's 12-hour
// visibility window.
func makeReceipt(p task.Priority, receivedAt time.Time, handle string) string {
	return string(p) + ":" + strconv.FormatInt(receivedAt.UnixMilli(), 10) + ":" + handle
}

func parseReceipt(r string) (p task.Priority, receivedAt time.Time, handle string, ok bool) {
	parts := strings.SplitN(r, ":", 3)
	if len(parts) != 3 || parts[2] == "" {
		return "", time.Time{}, "", false
	}
	p = task.Priority(parts[0])
	ms, err := strconv.ParseInt(parts[1], 10, 64)
	if !p.Valid() || err != nil || ms <= 0 {
		return "", time.Time{}, "", false
	}
	return p, time.UnixMilli(ms), parts[2], true
}

// ceilSeconds is d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}
