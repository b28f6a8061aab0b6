package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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

// Listing page sizes: Filter.Limit 0 means the default, and more than the
// most is cut to it.
const (
	defaultDeliveryPage = 20
	maxDeliveryPage     = 100
)

// GetDelivery returns the user's delivery with its attempts, oldest
// first: one strongly consistent query of the delivery's partition, which
// holds the delivery and its numbered attempts.
func (s *Store) GetDelivery(ctx context.Context, userID, id string) (webhook.Delivery, error) {
	keyCond := expression.Key("PK").Equal(expression.Value(deliveryPK(id)))
	expr, err := expression.NewBuilder().WithKeyCondition(keyCond).Build()
	if err != nil {
		return webhook.Delivery{}, fmt.Errorf("get delivery %s: %w", id, err)
	}
	input := &dynamodb.QueryInput{
		TableName: aws.String(s.table), KeyConditionExpression: expr.KeyCondition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(), ConsistentRead: aws.Bool(true),
	}
	var (
		d        webhook.Delivery
		found    bool
		data     []byte
		attempts []webhook.Attempt
	)
	for {
		res, err := s.db.Query(ctx, input)
		if err != nil {
			return webhook.Delivery{}, fmt.Errorf("get delivery %s: %w", id, err)
		}
		for _, av := range res.Items {
			sk, _ := av["SK"].(*types.AttributeValueMemberS)
			switch {
			case sk != nil && sk.Value == deliverySK:
				if d, err = decodeDelivery(av); err != nil {
					return webhook.Delivery{}, fmt.Errorf("get delivery %s: %w", id, err)
				}
				found = true
			case sk != nil && sk.Value == deliveryEventSK:
				var it deliveryEventItem
				if err := attributevalue.UnmarshalMap(av, &it); err != nil {
					return webhook.Delivery{}, fmt.Errorf("get delivery %s: decode event data: %w", id, err)
				}
				if data, err = it.eventData(); err != nil {
					return webhook.Delivery{}, fmt.Errorf("get delivery %s: %w", id, err)
				}
			case sk != nil && strings.HasPrefix(sk.Value, "A#"):
				var it webhookAttemptItem
				if err := attributevalue.UnmarshalMap(av, &it); err != nil {
					return webhook.Delivery{}, fmt.Errorf("get delivery %s: decode attempt: %w", id, err)
				}
				attempts = append(attempts, it.Attempt.attempt())
			}
		}
		if len(res.LastEvaluatedKey) == 0 {
			break
		}
		input.ExclusiveStartKey = res.LastEvaluatedKey
	}
	if !found || userID != "" && d.UserID != userID {
		return webhook.Delivery{}, fmt.Errorf("get delivery %s: %w", id, webhook.ErrNotFound)
	}
	d.Attempts, d.Event.Data = attempts, data
	return d, nil
}

// ListDeliveries returns the user's deliveries newest first (ties by id,
// descending), after the cursor's position: from GSI1 (all of a user's),
// GSI2 (a user's of one status), or a subject's links.
func (s *Store) ListDeliveries(ctx context.Context, userID string, f webhook.Filter) (webhook.Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultDeliveryPage
	}
	limit = min(limit, maxDeliveryPage)
	var after string
	if f.Cursor != "" {
		var ok bool
		if after, ok = s.decodeDeliveryCursor(userID, f.Cursor); !ok {
			return webhook.Page{}, fmt.Errorf("list deliveries: cursor %q: %w", f.Cursor, webhook.ErrBadCursor)
		}
	}
	var (
		ds  []webhook.Delivery
		err error
	)
	switch {
	case f.SubjectID != "":
		ds, err = s.listSubjectDeliveries(ctx, userID, f.SubjectID, f.Status, after, limit+1)
	case f.Status != "":
		ds, err = s.listIndexedDeliveries(ctx, GSI2, userStatusDeliveriesPK(userID, f.Status), f.Status, after, limit+1)
	default:
		ds, err = s.listIndexedDeliveries(ctx, GSI1, userDeliveriesPK(userID), "", after, limit+1)
	}
	if err != nil {
		return webhook.Page{}, fmt.Errorf("list deliveries: %w", err)
	}
	var page webhook.Page
	if len(ds) > limit {
		ds = ds[:limit]
		last := ds[limit-1]
		page.NextCursor = s.cursors.Encode("deliveries", userID, deliveryListKey(last.CreatedAt, last.ID))
	}
	if err := s.withEventData(ctx, ds); err != nil {
		return webhook.Page{}, fmt.Errorf("list deliveries: %w", err)
	}
	page.Deliveries = ds
	return page, nil
}

// decodeDeliveryCursor returns the position of a delivery cursor this
// store issued to the user (signed as task cursors are), and false for
// any other string.
func (s *Store) decodeDeliveryCursor(userID, c string) (string, bool) {
	position, ok := s.cursors.Decode("deliveries", userID, c)
	if !ok {
		return "", false
	}
	nanos, id, ok := strings.Cut(position, "#")
	if !ok || len(nanos) != 19 || id == "" {
		return "", false
	}
	if _, err := strconv.ParseUint(nanos, 10, 64); err != nil {
		return "", false
	}
	return position, true
}

// listIndexedDeliveries reads up to n deliveries of one index partition
// (of one status, when given), newest first, before the position after
// (none when empty): the index's keys, then the deliveries they name
// (BatchGetItem).
func (s *Store) listIndexedDeliveries(ctx context.Context, index, pk string, status webhook.Status, after string, n int) ([]webhook.Delivery, error) {
	keyCond := expression.Key(index + "PK").Equal(expression.Value(pk))
	if after != "" {
		keyCond = keyCond.And(expression.Key(index + "SK").LessThan(expression.Value(after)))
	}
	expr, err := expression.NewBuilder().WithKeyCondition(keyCond).Build()
	if err != nil {
		return nil, err
	}
	input := &dynamodb.QueryInput{
		TableName: aws.String(s.table), IndexName: aws.String(index), KeyConditionExpression: expr.KeyCondition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ScanIndexForward: aws.Bool(false), Limit: aws.Int32(int32(n)),
	}
	var ds []webhook.Delivery
	for len(ds) < n {
		res, err := s.db.Query(ctx, input)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", index, err)
		}
		ids := make([]string, 0, len(res.Items))
		for _, av := range res.Items {
			pk, _ := av["PK"].(*types.AttributeValueMemberS)
			id, ok := "", false
			if pk != nil {
				id, ok = strings.CutPrefix(pk.Value, deliveryPK(""))
			}
			if !ok {
				return nil, fmt.Errorf("%s entry without a delivery key", index)
			}
			ids = append(ids, id)
		}
		page, err := s.deliveriesByID(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, d := range page {
			// The index lags the table: a delivery that has moved to
			// another status since is left out of this status's listing.
			if status == "" || d.Status == status {
				ds = append(ds, d)
			}
		}
		if len(res.LastEvaluatedKey) == 0 {
			break
		}
		input.ExclusiveStartKey = res.LastEvaluatedKey
	}
	return ds[:min(len(ds), n)], nil
}

// deliveriesByID reads deliveries by id (strongly consistent), in the
// order of ids; missing ones are left out.
func (s *Store) deliveriesByID(ctx context.Context, ids []string) ([]webhook.Delivery, error) {
	keys := make([]map[string]types.AttributeValue, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, webhookKey(deliveryPK(id), deliverySK))
	}
	items, err := s.batchGetWebhookItems(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	byID := make(map[string]webhook.Delivery, len(items))
	for _, av := range items {
		d, err := decodeDelivery(av)
		if err != nil {
			return nil, err
		}
		byID[d.ID] = d
	}
	ds := make([]webhook.Delivery, 0, len(ids))
	for _, id := range ids {
		if d, ok := byID[id]; ok {
			ds = append(ds, d)
		}
	}
	return ds, nil
}

// listSubjectDeliveries reads up to n of the user's deliveries of one
// subject (of one status, when given), newest first, before the position
// after: the subject's links, newest first, then the deliveries they name
// (BatchGetItem). A subject has few deliveries, so the status is matched
// here rather than by an index.
func (s *Store) listSubjectDeliveries(ctx context.Context, userID, subjectID string, status webhook.Status, after string, n int) ([]webhook.Delivery, error) {
	sk := expression.Key("SK").BeginsWith(deliveryLinkPrefix)
	if after != "" {
		// Between is inclusive: the link at the cursor is dropped below.
		sk = expression.Key("SK").Between(expression.Value(deliveryLinkPrefix), expression.Value(deliveryLinkPrefix+after))
	}
	keyCond := expression.Key("PK").Equal(expression.Value(webhookSubjectPK(subjectID))).And(sk)
	expr, err := expression.NewBuilder().WithKeyCondition(keyCond).Build()
	if err != nil {
		return nil, err
	}
	input := &dynamodb.QueryInput{
		TableName: aws.String(s.table), KeyConditionExpression: expr.KeyCondition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ScanIndexForward: aws.Bool(false), Limit: aws.Int32(int32(n)), ConsistentRead: aws.Bool(true),
	}
	var ds []webhook.Delivery
	for len(ds) < n {
		res, err := s.db.Query(ctx, input)
		if err != nil {
			return nil, fmt.Errorf("query links of %s: %w", subjectID, err)
		}
		var links []deliveryLinkItem
		if err := attributevalue.UnmarshalListOfMaps(res.Items, &links); err != nil {
			return nil, fmt.Errorf("decode links of %s: %w", subjectID, err)
		}
		var order []string
		for _, l := range links {
			if l.UserID != userID || l.SK == deliveryLinkPrefix+after {
				continue
			}
			order = append(order, l.DeliveryID)
		}
		page, err := s.deliveriesByID(ctx, order)
		if err != nil {
			return nil, fmt.Errorf("read deliveries of %s: %w", subjectID, err)
		}
		for _, d := range page {
			if status == "" || d.Status == status {
				ds = append(ds, d)
			}
		}
		if len(res.LastEvaluatedKey) == 0 {
			break
		}
		input.ExclusiveStartKey = res.LastEvaluatedKey
	}
	return ds[:min(len(ds), n)], nil
}

// OldestPendingDelivery returns the creation time of the oldest pending
// delivery. The due index orders pending deliveries by due time, not by
// creation, so this reads every entry of it (only created_at): a metric's
// read, whose cost grows with the backlog (see TABLE.md).
func (s *Store) OldestPendingDelivery(ctx context.Context) (time.Time, bool, error) {
	oldest := make([]int64, deliveryDueShards)
	errs := make([]error, deliveryDueShards)
	var wg sync.WaitGroup
	for shard := range deliveryDueShards {
		wg.Go(func() { oldest[shard], errs[shard] = s.oldestInDueShard(ctx, shard) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return time.Time{}, false, fmt.Errorf("oldest pending delivery: %w", err)
	}
	var least int64
	found := false
	for _, n := range oldest {
		if n != 0 && (!found || n < least) {
			least, found = n, true
		}
	}
	if !found {
		return time.Time{}, false, nil
	}
	return webhookTime(least), true, nil
}

// oldestInDueShard returns the least created_at in one due shard, 0 when
// it is empty.
func (s *Store) oldestInDueShard(ctx context.Context, shard int) (int64, error) {
	keyCond := expression.Key("GSI3PK").Equal(expression.Value(deliveryDuePK(shard)))
	proj := expression.NamesList(expression.Name("created_at"))
	expr, err := expression.NewBuilder().WithKeyCondition(keyCond).WithProjection(proj).Build()
	if err != nil {
		return 0, err
	}
	paginator := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName: aws.String(s.table), IndexName: aws.String(GSI3), KeyConditionExpression: expr.KeyCondition(),
		ProjectionExpression: expr.Projection(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	var oldest int64
	for paginator.HasMorePages() {
		res, err := paginator.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("query due shard %d: %w", shard, err)
		}
		var page []struct {
			CreatedAt int64 `dynamodbav:"created_at"`
		}
		if err := attributevalue.UnmarshalListOfMaps(res.Items, &page); err != nil {
			return 0, fmt.Errorf("decode due shard %d: %w", shard, err)
		}
		for _, p := range page {
			if oldest == 0 || p.CreatedAt < oldest {
				oldest = p.CreatedAt
			}
		}
	}
	return oldest, nil
}

// CountDeliveries counts every user's deliveries by status: the sum of
// the counter shards, one BatchGetItem.
func (s *Store) CountDeliveries(ctx context.Context) (map[webhook.Status]int, error) {
	keys := make([]map[string]types.AttributeValue, deliveryCounterShards)
	for shard := range deliveryCounterShards {
		keys[shard] = webhookKey(webhookCounterPK(shard), webhookCounterSK)
	}
	items, err := s.batchGetWebhookItems(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	counts := make(map[webhook.Status]int, len(webhook.Statuses))
	for _, st := range webhook.Statuses {
		counts[st] = 0
	}
	for _, av := range items {
		var shard map[string]int
		if err := attributevalue.UnmarshalMap(withoutKeys(av), &shard); err != nil {
			return nil, fmt.Errorf("count deliveries: %w", err)
		}
		for _, st := range webhook.Statuses {
			counts[st] += shard[string(st)]
		}
	}
	return counts, nil
}

// withoutKeys is an item without its PK and SK.
func withoutKeys(av map[string]types.AttributeValue) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(av))
	for k, v := range av {
		if k != "PK" && k != "SK" {
			out[k] = v
		}
	}
	return out
}
