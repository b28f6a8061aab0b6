package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/webhook"
)

// maxWebhookWriteTries bounds the read-then-write loops of retries and
// secrets when concurrent writers keep changing what was read.
const maxWebhookWriteTries = 8

// maxWebhookTransactItems is the most actions one TransactWriteItems takes.
const maxWebhookTransactItems = 100

// RetryDelivery makes the user's delivery pending and due at now, ends
// any claim on it and re-enables its endpoint, in one transaction on
// condition that the delivery's status is still the one read (so that the
// counters move from the right status). The OnDeliveries hook hears of
// the delivery after the commit.
func (s *Store) RetryDelivery(ctx context.Context, userID, id string, now time.Time) (webhook.Delivery, error) {
	for try := 0; ; try++ {
		current, err := s.getDeliveryItem(ctx, id)
		if err == nil && userID != "" && current.UserID != userID {
			err = webhook.ErrNotFound
		}
		if err != nil {
			return webhook.Delivery{}, fmt.Errorf("retry delivery %s: %w", id, err)
		}
		writes, err := s.retryWrites(current, now)
		if err != nil {
			return webhook.Delivery{}, fmt.Errorf("retry delivery %s: %w", id, err)
		}
		err = s.transactWebhook(ctx, writes)
		if errors.Is(err, errWebhookCondition) && try+1 < maxWebhookWriteTries {
			continue
		}
		if err != nil {
			return webhook.Delivery{}, fmt.Errorf("retry delivery %s: %w", id, err)
		}
		break
	}
	d, err := s.GetDelivery(ctx, userID, id)
	if err != nil {
		return d, fmt.Errorf("retry: %w", err)
	}
	s.deliveriesCommitted(ctx, []webhook.Delivery{d})
	return d, nil
}

func (s *Store) retryWrites(current deliveryItem, now time.Time) ([]types.TransactWriteItem, error) {
	pending := webhook.StatusPending
	update := expression.Set(expression.Name("status"), expression.Value(string(pending))).
		Set(expression.Name("next_attempt_at"), expression.Value(now.UnixNano())).
		Set(expression.Name("lease"), expression.Value("")).
		Set(expression.Name("updated_at"), expression.Value(now.UnixNano())).
		Set(expression.Name("GSI2PK"), expression.Value(userStatusDeliveriesPK(current.UserID, pending)))
	update = dueIndexUpdate(update, current.ID, pending, now)
	unchanged := expression.Name("status").Equal(expression.Value(current.Status))
	expr, err := expression.NewBuilder().WithUpdate(update).WithCondition(unchanged).Build()
	if err != nil {
		return nil, err
	}
	writes := []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: aws.String(s.table), Key: webhookKey(deliveryPK(current.ID), deliverySK),
			UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
			ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		}},
		{Delete: &types.Delete{
			TableName: aws.String(s.table), Key: webhookKey(webhookEndpointPK(current.UserID), webhookEndpointSK(current.URL)),
		}},
	}
	move, err := s.statusMove(current.ID, webhook.Status(current.Status), pending)
	if err != nil {
		return nil, err
	}
	if move != nil {
		writes = append(writes, *move)
	}
	return writes, nil
}

// DisableEndpoint records that the user's url answered 410 Gone; the
// first time it did is kept.
func (s *Store) DisableEndpoint(ctx context.Context, userID, url string, at time.Time) error {
	av, err := attributevalue.MarshalMap(disabledEndpointItem{PK: webhookEndpointPK(userID), SK: webhookEndpointSK(url),
		URL: url, DisabledAt: at.UnixNano()})
	if err != nil {
		return fmt.Errorf("disable webhook endpoint: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	var exists *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("disable webhook endpoint: %w", err)
	}
	return nil
}

// EndpointDisabled reports whether the user's url is disabled.
func (s *Store) EndpointDisabled(ctx context.Context, userID, url string) (bool, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: webhookKey(webhookEndpointPK(userID), webhookEndpointSK(url)),
		ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("PK"),
	})
	if err != nil {
		return false, fmt.Errorf("read webhook endpoint: %w", err)
	}
	return len(res.Item) > 0, nil
}

// secretItem is one of a user's signing secrets, numbered from 1 in the
// order made: the number is the sort key, so that two writers making "the
// next" secret collide on one key and only one of them succeeds.
type secretItem struct {
	PK        string `dynamodbav:"PK"`
	SK        string `dynamodbav:"SK"`
	Seq       int    `dynamodbav:"seq"`
	Secret    string `dynamodbav:"secret"`
	CreatedAt int64  `dynamodbav:"created_at"`
	// Until ends the secret (nanoseconds; 0: no end). ExpiresAt is the
	// same instant in seconds, for the table's TTL to delete it later.
	Until     int64 `dynamodbav:"until,omitempty"`
	ExpiresAt int64 `dynamodbav:"expires_at,omitempty"`
}

func (it secretItem) activeAt(now time.Time) bool { return it.Until == 0 || it.Until > now.UnixNano() }

// readSecrets returns all the user's secret items, newest first.
func (s *Store) readSecrets(ctx context.Context, userID string) ([]secretItem, error) {
	keyCond := expression.Key("PK").Equal(expression.Value(webhookSecretPK(userID)))
	expr, err := expression.NewBuilder().WithKeyCondition(keyCond).Build()
	if err != nil {
		return nil, err
	}
	paginator := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName: aws.String(s.table), KeyConditionExpression: expr.KeyCondition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ScanIndexForward: aws.Bool(false), ConsistentRead: aws.Bool(true),
	})
	var all []secretItem
	for paginator.HasMorePages() {
		res, err := paginator.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		var page []secretItem
		if err := attributevalue.UnmarshalListOfMaps(res.Items, &page); err != nil {
			return nil, fmt.Errorf("decode secrets: %w", err)
		}
		all = append(all, page...)
	}
	return all, nil
}

func activeSecrets(all []secretItem, now time.Time) []string {
	var active []string
	for _, it := range all {
		if it.activeAt(now) {
			active = append(active, it.Secret)
		}
	}
	return active
}

// nextSecret is the item of a fresh secret after the user's all.
func nextSecret(userID string, all []secretItem, now time.Time) (secretItem, error) {
	fresh, err := webhook.NewSecret()
	if err != nil {
		return secretItem{}, err
	}
	seq := 1
	if len(all) > 0 {
		seq = all[0].Seq + 1
	}
	return secretItem{PK: webhookSecretPK(userID), SK: webhookSecretSK(seq), Seq: seq, Secret: fresh, CreatedAt: now.UnixNano()}, nil
}

// WebhookSecrets returns the user's active signing secrets, newest
// first, making the first one if the user has none: concurrent first
// calls all try to put secret number 1, one of them succeeds, and the
// others read it.
func (s *Store) WebhookSecrets(ctx context.Context, userID string, now time.Time) ([]string, error) {
	for try := 0; try < maxWebhookWriteTries; try++ {
		all, err := s.readSecrets(ctx, userID)
		if err != nil {
			return nil, fmt.Errorf("webhook secrets: %w", err)
		}
		if active := activeSecrets(all, now); len(active) > 0 {
			return active, nil
		}
		first, err := nextSecret(userID, all, now)
		if err != nil {
			return nil, fmt.Errorf("webhook secrets: %w", err)
		}
		put, err := putNewWebhookItem(s.table, first)
		if err != nil {
			return nil, fmt.Errorf("webhook secrets: %w", err)
		}
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: put.Put.TableName, Item: put.Put.Item,
			ConditionExpression: put.Put.ConditionExpression})
		var taken *types.ConditionalCheckFailedException
		if errors.As(err, &taken) {
			continue // another call made it: read it
		}
		if err != nil {
			return nil, fmt.Errorf("webhook secrets: %w", err)
		}
		return []string{first.Secret}, nil
	}
	return nil, fmt.Errorf("webhook secrets of %s: still changing after %d tries", userID, maxWebhookWriteTries)
}

// RotateWebhookSecret makes a new secret for the user; the ones active
// until now stay active for webhook.RotationGrace, and ended ones are
// deleted, in one transaction.
func (s *Store) RotateWebhookSecret(ctx context.Context, userID string, now time.Time) (string, error) {
	until := now.Add(webhook.RotationGrace)
	for try := 0; try < maxWebhookWriteTries; try++ {
		all, err := s.readSecrets(ctx, userID)
		if err != nil {
			return "", fmt.Errorf("rotate webhook secret: %w", err)
		}
		fresh, err := nextSecret(userID, all, now)
		if err != nil {
			return "", fmt.Errorf("rotate webhook secret: %w", err)
		}
		put, err := putNewWebhookItem(s.table, fresh)
		if err != nil {
			return "", fmt.Errorf("rotate webhook secret: %w", err)
		}
		writes := []types.TransactWriteItem{put}
		for _, it := range all {
			k := webhookKey(it.PK, it.SK)
			switch {
			case !it.activeAt(now):
				writes = append(writes, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.table), Key: k}})
			case it.Until == 0 || it.Until > until.UnixNano():
				end := expression.Set(expression.Name("until"), expression.Value(until.UnixNano())).
					Set(expression.Name(TTLAttribute), expression.Value(until.Unix()+1))
				expr, err := expression.NewBuilder().WithUpdate(end).Build()
				if err != nil {
					return "", fmt.Errorf("rotate webhook secret: %w", err)
				}
				writes = append(writes, types.TransactWriteItem{Update: &types.Update{
					TableName: aws.String(s.table), Key: k, UpdateExpression: expr.Update(),
					ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
				}})
			}
		}
		if len(writes) > maxWebhookTransactItems {
			return "", fmt.Errorf("rotate webhook secret: %d secrets within the grace period, too many to rotate at once", len(all))
		}
		err = s.transactWebhook(ctx, writes)
		if errors.Is(err, errWebhookCondition) {
			continue // a concurrent rotation took the number: read again
		}
		if err != nil {
			return "", fmt.Errorf("rotate webhook secret: %w", err)
		}
		return fresh.Secret, nil
	}
	return "", fmt.Errorf("rotate webhook secret of %s: still changing after %d tries", userID, maxWebhookWriteTries)
}
