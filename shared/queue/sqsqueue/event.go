package sqsqueue

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/task"
)

// EventDelivery is a message that a Lambda event source mapping received
// from one of this queue's SQS queues, as a Delivery whose receipt works
// with Delete and ChangeVisibility like one Receive returns. The queue is
// known by the record's eventSourceARN, whose last part is the queue's
// name, the last part of its URL. receivedAt starts SQS's 12-hour
// visibility window; the invocation's start is a little after the
// mapping's receive, which the window's margin covers.
func (q *Queue) EventDelivery(m events.SQSMessage, receivedAt time.Time) (queue.Delivery, error) {
	p, ok := q.priorityOf(m.EventSourceARN)
	if !ok {
		return queue.Delivery{}, fmt.Errorf("sqs event message %s: source %q is none of this queue's", m.MessageId, m.EventSourceARN)
	}
	var encoding string
	if a, ok := m.MessageAttributes[bodyEncodingAttribute]; ok && a.StringValue != nil {
		encoding = *a.StringValue
	}
	body, err := decodeBody(m.Body, encoding)
	if err != nil {
		return queue.Delivery{}, fmt.Errorf("sqs event message %s: %w", m.MessageId, err)
	}
	d := queue.Delivery{
		ID:       m.MessageId,
		Priority: p,
		Body:     body,
		Receipt:  makeReceipt(p, receivedAt, m.ReceiptHandle),
	}
	if n, err := strconv.Atoi(m.Attributes["ApproximateReceiveCount"]); err == nil {
		d.ReceiveCount = n
	}
	if ms, err := strconv.ParseInt(m.Attributes["SentTimestamp"], 10, 64); err == nil {
		d.SentAt = time.UnixMilli(ms)
	}
	return d, nil
}

// priorityOf finds the priority whose queue an event source ARN
// (arn:aws:sqs:REGION:ACCOUNT:NAME) names.
func (q *Queue) priorityOf(sourceARN string) (task.Priority, bool) {
	name := sourceARN[strings.LastIndexByte(sourceARN, ':')+1:]
	if name == "" {
		return "", false
	}
	for _, p := range q.priorities {
		url := q.urls.Queues[p]
		if url[strings.LastIndexByte(url, '/')+1:] == name {
			return p, true
		}
	}
	return "", false
}
