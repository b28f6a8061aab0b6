package dynamostore

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

// deliveryWrites returns the writes that create the webhook deliveries of
// events (those with a WebhookURL), to go in the same transaction as the
// events themselves (the outbox): the task store calls it from Create and
// UpdateTask, and after the transaction commits calls
// s.deliveriesCommitted with the pending deliveries it returned.
func (s *Store) deliveryWrites(ctx context.Context, events []task.Event) ([]types.TransactWriteItem, []webhook.Delivery, error) {
	return nil, nil, nil
}

// deliveriesCommitted tells the OnDeliveries hook about pending deliveries
// that a committed write created or made due.
func (s *Store) deliveriesCommitted(ctx context.Context, pending []webhook.Delivery) {
}
