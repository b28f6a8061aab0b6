package sqsqueue_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/videoai/mediatasks/shared/queue/sqsqueue"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/task"
)

// asEvent is what a Lambda event source mapping hands the function for m,
// received from the queue at url.
func asEvent(m types.Message, url string) events.SQSMessage {
	e := events.SQSMessage{
		MessageId:     aws.ToString(m.MessageId),
		ReceiptHandle: aws.ToString(m.ReceiptHandle),
		Body:          aws.ToString(m.Body),
		Attributes:    m.Attributes,
		// arn:aws:sqs:REGION:ACCOUNT:NAME, NAME the URL's last part.
		EventSourceARN:    "arn:aws:sqs:us-east-1:000000000000:" + url[strings.LastIndexByte(url, '/')+1:],
		EventSource:       "aws:sqs",
		MessageAttributes: map[string]events.SQSMessageAttribute{},
	}
	for k, v := range m.MessageAttributes {
		e.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: v.StringValue, DataType: aws.ToString(v.DataType)}
	}
	return e
}

// A message a Lambda event brings reads as Receive would read it (body
// decoded, priority, receive count), and its receipt settles it.
func TestEventDelivery(t *testing.T) {
	t.Parallel()
	q, b := setup(t, sqsqueue.Options{})
	body := []byte("a cat 🐈 \x01") // stored encoded
	send(t, b, q, queue.Message{Priority: task.PriorityLow, Body: body})
	url := b.urls.Queues[task.PriorityLow]
	out, err := b.client.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(url), WaitTimeSeconds: 5, VisibilityTimeout: 60,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("receive: %v, %d messages", err, len(out.Messages))
	}
	d, err := q.EventDelivery(asEvent(out.Messages[0], url), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Body) != string(body) || d.Priority != task.PriorityLow || d.ReceiveCount != 1 || d.SentAt.IsZero() {
		t.Fatalf("delivery %+v", d)
	}
	if err := q.Delete(b.ctx, d.Receipt); err != nil {
		t.Fatal(err)
	}
	if n := inFlight(t, b, q); n != 0 {
		t.Fatalf("%d in flight after delete", n)
	}

	other := asEvent(out.Messages[0], url)
	other.EventSourceARN = "arn:aws:sqs:us-east-1:000000000000:someone-elses-queue"
	if _, err := q.EventDelivery(other, time.Now()); err == nil {
		t.Fatal("a message from another queue was taken")
	}
}
