package dynamostore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The workflow budget (app.Budget): one counter item and one lease item
// per holder, in one partition, changed together in a transaction, so
// that the count is always the number of leases and a holder counts once
// however often its message is received.
const (
	budgetPK      = "BUDGET"
	budgetCountSK = "COUNT"
	leasePrefix   = "LEASE#"
)

// Take takes a slot for holder while fewer than limit are taken.
func (s *Store) Take(ctx context.Context, holder string, limit int) (bool, error) {
	lease := item{"PK": str(budgetPK), "SK": str(leasePrefix + holder), "holder": str(holder), "taken_at": num(nanos(s.now()))}
	err := s.transactRetrying(ctx, []types.TransactWriteItem{
		putNew(s.table, lease),
		{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       itemKey(budgetPK, budgetCountSK),
			UpdateExpression:          aws.String("SET n = if_not_exists(n, :zero) + :one"),
			ConditionExpression:       aws.String("attribute_not_exists(n) OR n < :limit"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":zero": num(0), ":one": num(1), ":limit": num(int64(limit))},
		}},
	})
	if err == nil {
		return true, nil
	}
	if reasons, ok := cancellation(err); ok {
		switch {
		case code(reasons, 0) == reasonCondition:
			return true, nil // the holder has its slot already
		case code(reasons, 1) == reasonCondition:
			return false, nil // full
		}
	}
	return false, fmt.Errorf("take a workflow slot for %s: %w", holder, err)
}

// Give gives back holder's slot, if it has one.
func (s *Store) Give(ctx context.Context, holder string) error {
	err := s.transactRetrying(ctx, []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName:           aws.String(s.table),
			Key:                 itemKey(budgetPK, leasePrefix+holder),
			ConditionExpression: aws.String("attribute_exists(PK)"),
		}},
		{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       itemKey(budgetPK, budgetCountSK),
			UpdateExpression:          aws.String("SET n = n - :one"),
			ConditionExpression:       aws.String("n > :zero"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":zero": num(0), ":one": num(1)},
		}},
	})
	if reasons, ok := cancellation(err); ok && code(reasons, 0) == reasonCondition {
		return nil // no slot to give back
	}
	if err != nil {
		return fmt.Errorf("give back the workflow slot of %s: %w", holder, err)
	}
	return nil
}

// Holders lists the holders of slots (one Query of the budget's
// partition, paged).
func (s *Store) Holders(ctx context.Context) ([]string, error) {
	var holders []string
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :lease)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(budgetPK), ":lease": str(leasePrefix)},
		ProjectionExpression:      aws.String("holder"),
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list workflow slots: %w", err)
		}
		for _, it := range page.Items {
			if v, ok := it["holder"].(*types.AttributeValueMemberS); ok {
				holders = append(holders, v.Value)
			}
		}
	}
	return holders, nil
}

// InProgress is the budget's count of slots taken.
func (s *Store) InProgress(ctx context.Context) (int, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: itemKey(budgetPK, budgetCountSK), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, fmt.Errorf("read the workflow budget: %w", err)
	}
	v, ok := out.Item["n"].(*types.AttributeValueMemberN)
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v.Value)
	if err != nil {
		return 0, fmt.Errorf("read the workflow budget: %w", err)
	}
	return n, nil
}
