package dynamostore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/webhook"
)

// maxClaimRounds bounds how often ClaimDue looks at the due index again
// after losing candidates to concurrent claimers.
const maxClaimRounds = 3

// ClaimDue leases up to limit pending deliveries due at now, oldest due
// first: candidates come from the due index (GSI3, eventually
// consistent), and each is claimed by an update on condition that it is
// still pending and due, so that one delivery never goes to two claimers.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]webhook.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	var claimed []webhook.Delivery
	mine := map[string]bool{}
	// "<now>$" sorts after every "<now>#id": due at now is included.
	below := deliveryTimeKey(now) + "$"
	for round := 0; round < maxClaimRounds && len(claimed) < limit; round++ {
		candidates, err := s.dueDeliveries(ctx, below, limit)
		if err != nil {
			return nil, fmt.Errorf("claim due deliveries: %w", err)
		}
		// The index may lag: never claim one delivery twice in one call.
		candidates = slices.DeleteFunc(candidates, func(id string) bool { return mine[id] })
		won, lost, err := s.claimEach(ctx, candidates[:min(len(candidates), limit-len(claimed))], now, lease)
		if err != nil {
			return nil, fmt.Errorf("claim due deliveries: %w", err)
		}
		for _, d := range won {
			mine[d.ID] = true
		}
		claimed = append(claimed, won...)
		if !lost || len(candidates) < limit {
			break
		}
	}
	if err := s.withEventData(ctx, claimed); err != nil {
		return nil, fmt.Errorf("claim due deliveries: %w", err)
	}
	return claimed, nil
}

// claimWorkers bounds the conditional updates one ClaimDue runs at once.
const claimWorkers = 8

// claimEach claims the candidates, a few at a time, and returns those it
// won (in the candidates' order) and whether it lost any to another
// claimer.
func (s *Store) claimEach(ctx context.Context, candidates []string, now time.Time, lease time.Duration) ([]webhook.Delivery, bool, error) {
	results := make([]webhook.Delivery, len(candidates))
	won := make([]bool, len(candidates))
	errs := make([]error, len(candidates))
	slots := make(chan struct{}, claimWorkers)
	var wg sync.WaitGroup
	for i, c := range candidates {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			results[i], won[i], errs[i] = s.claimDelivery(ctx, c, now, lease)
			if errors.Is(errs[i], webhook.ErrNotFound) {
				errs[i] = nil // deleted since the index was read
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, false, err
	}
	var claimed []webhook.Delivery
	lost := false
	for i := range candidates {
		if won[i] {
			claimed = append(claimed, results[i])
		} else {
			lost = true
		}
	}
	return claimed, lost, nil
}

// ClaimDelivery leases the delivery id until now+lease when it is pending
// and due at now (one conditional update); otherwise it returns the
// delivery as the failed condition found it, unclaimed.
func (s *Store) ClaimDelivery(ctx context.Context, id string, now time.Time, lease time.Duration) (webhook.Delivery, bool, error) {
	d, claimed, err := s.claimDelivery(ctx, id, now, lease)
	if err == nil {
		one := []webhook.Delivery{d}
		err = s.withEventData(ctx, one)
		d = one[0]
	}
	if err != nil {
		return webhook.Delivery{}, false, fmt.Errorf("claim delivery %s: %w", id, err)
	}
	return d, claimed, nil
}

func (s *Store) claimDelivery(ctx context.Context, id string, now time.Time, lease time.Duration) (webhook.Delivery, bool, error) {
	token, err := webhook.NewLease()
	if err != nil {
		return webhook.Delivery{}, false, err
	}
	until := now.Add(lease)
	update := expression.Set(expression.Name("lease"), expression.Value(token)).
		Set(expression.Name("next_attempt_at"), expression.Value(until.UnixNano())).
		Set(expression.Name("GSI3SK"), expression.Value(deliveryDueKey(until, id)))
	// A missing item fails the condition too (and is not created).
	due := expression.Name("status").Equal(expression.Value(string(webhook.StatusPending))).
		And(expression.Name("next_attempt_at").LessThanEqual(expression.Value(now.UnixNano())))
	expr, err := expression.NewBuilder().WithUpdate(update).WithCondition(due).Build()
	if err != nil {
		return webhook.Delivery{}, false, err
	}
	res, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: webhookKey(deliveryPK(id), deliverySK),
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		if len(failed.Item) == 0 {
			return webhook.Delivery{}, false, webhook.ErrNotFound
		}
		d, err := decodeDelivery(failed.Item)
		return d, false, err
	}
	if err != nil {
		return webhook.Delivery{}, false, err
	}
	d, err := decodeDelivery(res.Attributes)
	return d, err == nil, err
}

// DueDeliveries returns up to limit pending deliveries due before the
// given time, oldest due first, from the due index, without claiming
// them. The index is eventually consistent: a delivery claimed a moment
// ago may still show, which a sweeper re-sending messages can afford.
func (s *Store) DueDeliveries(ctx context.Context, before time.Time, limit int) ([]webhook.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	ids, err := s.dueDeliveries(ctx, deliveryTimeKey(before), limit)
	if err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	due, err := s.deliveriesByID(ctx, ids)
	if err == nil {
		// Claimed, put off or ended since the index was written: not due.
		due = slices.DeleteFunc(due, func(d webhook.Delivery) bool {
			return d.Status != webhook.StatusPending || !d.NextAttemptAt.Before(before)
		})
		err = s.withEventData(ctx, due)
	}
	if err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	return due, nil
}

// dueDeliveries reads the first limit entries below the due key from
// every shard of the due index, at once, and returns the ids of the limit
// earliest.
func (s *Store) dueDeliveries(ctx context.Context, below string, limit int) ([]string, error) {
	shards := make([][]dueEntry, deliveryDueShards)
	errs := make([]error, deliveryDueShards)
	var wg sync.WaitGroup
	for shard := range deliveryDueShards {
		wg.Go(func() { shards[shard], errs[shard] = s.queryDueShard(ctx, shard, below, limit) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	items := slices.Concat(shards...)
	slices.SortFunc(items, func(a, b dueEntry) int { return cmp.Compare(a.GSI3SK, b.GSI3SK) })
	items = items[:min(len(items), limit)]
	ids := make([]string, 0, len(items))
	for _, it := range items {
		id, ok := strings.CutPrefix(it.PK, deliveryPK(""))
		if !ok {
			return nil, fmt.Errorf("due index entry %q is not a delivery", it.PK)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// dueEntry is an entry of the due index: keys only (IndexProjections).
type dueEntry struct {
	PK     string `dynamodbav:"PK"`
	GSI3SK string `dynamodbav:"GSI3SK"`
}

func (s *Store) queryDueShard(ctx context.Context, shard int, below string, limit int) ([]dueEntry, error) {
	keyCond := expression.Key("GSI3PK").Equal(expression.Value(deliveryDuePK(shard))).
		And(expression.Key("GSI3SK").LessThan(expression.Value(below)))
	expr, err := expression.NewBuilder().WithKeyCondition(keyCond).Build()
	if err != nil {
		return nil, err
	}
	input := &dynamodb.QueryInput{
		TableName: aws.String(s.table), IndexName: aws.String(GSI3),
		KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(),
		ExpressionAttributeValues: expr.Values(), Limit: aws.Int32(int32(limit)),
	}
	var items []dueEntry
	for len(items) < limit {
		res, err := s.db.Query(ctx, input)
		if err != nil {
			return nil, fmt.Errorf("query due shard %d: %w", shard, err)
		}
		var page []dueEntry
		if err := attributevalue.UnmarshalListOfMaps(res.Items, &page); err != nil {
			return nil, fmt.Errorf("decode due shard %d: %w", shard, err)
		}
		items = append(items, page...)
		if len(res.LastEvaluatedKey) == 0 {
			break
		}
		input.ExclusiveStartKey = res.LastEvaluatedKey
	}
	return items, nil
}

// maxRecordTries bounds RecordAttempt's reads and writes when other
// writers keep changing the delivery in between.
const maxRecordTries = 8

// RecordAttempt appends a to d's attempts and stores d's new state, unless
// d's lease has lapsed (then only the attempt is kept: it did happen).
//
// Attempts are numbered items under the delivery, so the number of the
// next one is read first; the transaction then writes the attempt and
// updates the delivery on condition that neither its lease, its status
// nor its attempt number changed since. When another write came in
// between, it reads and tries again.
func (s *Store) RecordAttempt(ctx context.Context, d webhook.Delivery, a webhook.Attempt) error {
	for try := 0; ; try++ {
		current, err := s.getDeliveryItem(ctx, d.ID)
		if err != nil {
			return fmt.Errorf("record attempt of delivery %s: %w", d.ID, err)
		}
		live := current.Lease == d.Lease
		writes, err := s.attemptWrites(current, d, a, live)
		if err != nil {
			return fmt.Errorf("record attempt of delivery %s: %w", d.ID, err)
		}
		err = s.transactWebhook(ctx, writes)
		if errors.Is(err, errWebhookCondition) && try+1 < maxRecordTries {
			continue
		}
		if err != nil {
			return fmt.Errorf("record attempt of delivery %s: %w", d.ID, err)
		}
		if !live {
			return fmt.Errorf("record attempt of delivery %s: %w", d.ID, webhook.ErrLeaseLost)
		}
		return nil
	}
}

// attemptWrites are the writes of one attempt of the delivery stored as
// current: the attempt's item, and either d's new state (live) or only
// the delivery's attempt number (a lapsed lease).
func (s *Store) attemptWrites(current deliveryItem, d webhook.Delivery, a webhook.Attempt, live bool) ([]types.TransactWriteItem, error) {
	n := current.Attempts + 1
	attempt, err := putWebhookItem(s.table, webhookAttemptItem{PK: deliveryPK(d.ID), SK: deliveryAttemptSK(n), Attempt: attemptRecordOf(a)})
	if err != nil {
		return nil, err
	}
	unchanged := expression.Name("attempts").Equal(expression.Value(current.Attempts)).
		And(expression.Name("lease").Equal(expression.Value(current.Lease))).
		And(expression.Name("status").Equal(expression.Value(current.Status)))
	update := expression.Set(expression.Name("attempts"), expression.Value(n))
	var move *types.TransactWriteItem
	if live {
		last, err := attributevalue.Marshal(attemptRecordOf(a))
		if err != nil {
			return nil, fmt.Errorf("encode attempt: %w", err)
		}
		update = update.
			Set(expression.Name("status"), expression.Value(string(d.Status))).
			Set(expression.Name("attempt_count"), expression.Value(d.AttemptCount)).
			Set(expression.Name("next_attempt_at"), expression.Value(d.NextAttemptAt.UnixNano())).
			Set(expression.Name("lease"), expression.Value("")).
			Set(expression.Name("last_attempt"), expression.Value(last)).
			Set(expression.Name("updated_at"), expression.Value(a.At.UnixNano())).
			Set(expression.Name("GSI2PK"), expression.Value(userStatusDeliveriesPK(current.UserID, d.Status)))
		update = dueIndexUpdate(update, d.ID, d.Status, d.NextAttemptAt)
		if move, err = s.statusMove(d.ID, webhook.Status(current.Status), d.Status); err != nil {
			return nil, err
		}
	}
	expr, err := expression.NewBuilder().WithUpdate(update).WithCondition(unchanged).Build()
	if err != nil {
		return nil, err
	}
	writes := []types.TransactWriteItem{attempt, {Update: &types.Update{
		TableName: aws.String(s.table), Key: webhookKey(deliveryPK(d.ID), deliverySK),
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}}}
	if move != nil {
		writes = append(writes, *move)
	}
	return writes, nil
}

// dueIndexUpdate puts a pending delivery in the due index at next, and
// takes any other out of it.
func dueIndexUpdate(update expression.UpdateBuilder, id string, status webhook.Status, next time.Time) expression.UpdateBuilder {
	if status == webhook.StatusPending {
		return update.Set(expression.Name("GSI3PK"), expression.Value(deliveryDuePK(webhookShard(id, deliveryDueShards)))).
			Set(expression.Name("GSI3SK"), expression.Value(deliveryDueKey(next, id)))
	}
	return update.Remove(expression.Name("GSI3PK")).Remove(expression.Name("GSI3SK"))
}

// getDeliveryItem reads a delivery item, strongly consistent.
func (s *Store) getDeliveryItem(ctx context.Context, id string) (deliveryItem, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: webhookKey(deliveryPK(id), deliverySK), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return deliveryItem{}, err
	}
	if len(res.Item) == 0 {
		return deliveryItem{}, webhook.ErrNotFound
	}
	var it deliveryItem
	if err := attributevalue.UnmarshalMap(res.Item, &it); err != nil {
		return deliveryItem{}, fmt.Errorf("decode delivery: %w", err)
	}
	return it, nil
}
