package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/videoai/mediatasks/shared/task"
)

// retention is SQS's longest: a webhook delivery may wait out hours of
// backoff, and a dead letter waits for someone to look. A dead-letter
// queue of a standard queue counts retention from the original send, so
// it keeps at least as long as its source.
const retention = 14 * 24 * 60 * 60 // seconds

// CreateQueues creates (or finds, as CreateQueue is idempotent for the
// same attributes) the six queues of one logical queue for tests and local
// tooling: "<namePrefix>-<priority>" and "<namePrefix>-<priority>-dead",
// with SQS-managed encryption, 14 days' retention, and a RedrivePolicy
// that moves a message to its priority's dead-letter queue on the receive
// after maxReceives. The cloud stack makes the same queues itself.
func CreateQueues(ctx context.Context, client *sqs.Client, namePrefix string, maxReceives int) (URLs, error) {
	if maxReceives < 1 || maxReceives > 1000 {
		return URLs{}, fmt.Errorf("create queues %s: max receives %d is not between 1 and 1000", namePrefix, maxReceives)
	}
	return createQueues(ctx, client, namePrefix, maxReceives, task.Priorities)
}

// CreatePlainQueue creates (or finds) a plain queue without priorities,
// "<name>" and "<name>-dead", as CreateQueues does each of its queues.
func CreatePlainQueue(ctx context.Context, client *sqs.Client, name string, maxReceives int) (URLs, error) {
	if maxReceives < 1 || maxReceives > 1000 {
		return URLs{}, fmt.Errorf("create queue %s: max receives %d is not between 1 and 1000", name, maxReceives)
	}
	return createQueues(ctx, client, name, maxReceives, nil)
}

// createQueues creates a queue and its dead-letter queue per priority, or
// one of each named by namePrefix alone when priorities is nil.
func createQueues(ctx context.Context, client *sqs.Client, namePrefix string, maxReceives int, priorities []task.Priority) (URLs, error) {
	urls := URLs{
		Queues:      make(map[task.Priority]string, len(task.Priorities)),
		DeadLetters: make(map[task.Priority]string, len(task.Priorities)),
	}
	names := map[task.Priority]string{task.PriorityNormal: namePrefix}
	if priorities != nil {
		names = make(map[task.Priority]string, len(priorities))
		for _, p := range priorities {
			names[p] = namePrefix + "-" + string(p)
		}
	}
	for p, name := range names {
		deadURL, err := createQueue(ctx, client, name+"-dead", nil)
		if err != nil {
			return URLs{}, err
		}
		attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(deadURL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
		})
		if err != nil {
			return URLs{}, fmt.Errorf("create queue %s: ARN of its dead-letter queue: %w", name, err)
		}
		redrive, err := json.Marshal(struct {
			DeadLetterTargetArn string `json:"deadLetterTargetArn"`
			MaxReceiveCount     int    `json:"maxReceiveCount"`
		}{attrs.Attributes[string(types.QueueAttributeNameQueueArn)], maxReceives})
		if err != nil {
			return URLs{}, fmt.Errorf("create queue %s: %w", name, err)
		}
		url, err := createQueue(ctx, client, name, map[string]string{string(types.QueueAttributeNameRedrivePolicy): string(redrive)})
		if err != nil {
			return URLs{}, err
		}
		urls.Queues[p], urls.DeadLetters[p] = url, deadURL
	}
	return urls, nil
}

func createQueue(ctx context.Context, client *sqs.Client, name string, extra map[string]string) (string, error) {
	attrs := map[string]string{
		string(types.QueueAttributeNameSqsManagedSseEnabled):   "true",
		string(types.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(retention),
		// The adapter waits and delays per request (see zeroAttributes).
		string(types.QueueAttributeNameReceiveMessageWaitTimeSeconds): "0",
		string(types.QueueAttributeNameDelaySeconds):                  "0",
	}
	for k, v := range extra {
		attrs[k] = v
	}
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("create queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// DeleteQueues deletes the six queues urls names (the ones that exist).
func DeleteQueues(ctx context.Context, client *sqs.Client, urls URLs) error {
	var errs []error
	for _, m := range []map[task.Priority]string{urls.Queues, urls.DeadLetters} {
		for _, p := range task.Priorities {
			if m[p] == "" {
				continue
			}
			_, err := client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(m[p])})
			var gone *types.QueueDoesNotExist
			if err != nil && !errors.As(err, &gone) {
				errs = append(errs, fmt.Errorf("delete queue %s: %w", m[p], err))
			}
		}
	}
	return errors.Join(errs...)
}
