package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/task"
)

// GetBatch reads the batch, strongly consistent.
func (s *Store) GetBatch(ctx context.Context, userID, id string) (*task.Batch, error) {
	b, err := s.readBatch(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get batch %s: %w", id, err)
	}
	if userID != "" && b.UserID != userID {
		return nil, fmt.Errorf("get batch %s: %w", id, task.ErrNotFound)
	}
	return b, nil
}

func (s *Store) readBatch(ctx context.Context, id string) (*task.Batch, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            itemKey(batchPK(id), batchSK),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, task.ErrNotFound
	}
	return decodeBatch(out.Item)
}

// batchAsStored decodes the batch that a refused condition returned, or
// reads it when the answer carried none.
func (s *Store) batchAsStored(ctx context.Context, id string, old map[string]types.AttributeValue) (*task.Batch, error) {
	if len(old) > 0 {
		return decodeBatch(old)
	}
	b, err := s.readBatch(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("batch %s: %w", id, err)
	}
	return b, nil
}

// Attribute names of a batch's updates.
var batchNames = map[string]string{
	"#v": "version", "#p": "pending", "#u": "updated_at", "#st": "status", "#done": "completed_at",
}

// batchIncrement moves one task of the batch from one status to another
// by atomic increments, without reading the batch. Entering a terminal
// status it is conditional on other tasks still pending: the last one
// fails the condition and goes through batchMove, which completes the
// batch.
func (s *Store) batchIncrement(id string, from, to task.Status, now time.Time) types.TransactWriteItem {
	names := map[string]string{"#v": "version", "#u": "updated_at", "#from": countAttr(from), "#to": countAttr(to)}
	values := map[string]types.AttributeValue{":one": num(1), ":now": num(nanos(now))}
	update := "SET #from = #from - :one, #to = #to + :one, #v = #v + :one, #u = :now"
	condition := "attribute_exists(PK)"
	if to.Terminal() && !from.Terminal() {
		names["#p"] = "pending"
		update += ", #p = #p - :one"
		condition += " AND #p > :one"
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                           aws.String(s.table),
		Key:                                 itemKey(batchPK(id), batchSK),
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String(condition),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
}

// batchMove moves one task of the batch from its stored state b (Batch.Move),
// conditional on the batch's version, and appends batch.completed when
// that change ends the batch; it returns that event too, whose delivery
// the caller writes with the task's (one outbox write per transaction:
// two would both move a delivery counter).
func (s *Store) batchMove(b *task.Batch, from, to task.Status, now time.Time) ([]types.TransactWriteItem, *task.Event, error) {
	prevVersion := b.Version
	completed, _ := b.Move(from, to, now)
	values := map[string]types.AttributeValue{
		":prev": num(prevVersion), ":v": num(b.Version), ":p": num(int64(pendingOf(b))),
		":u": num(nanos(b.UpdatedAt)), ":st": str(string(b.Status)),
	}
	update := "SET #v = :v, #p = :p, #u = :u, #st = :st"
	names := map[string]string{}
	for k, v := range batchNames {
		names[k] = v
	}
	for i, st := range task.Statuses {
		n, v := fmt.Sprintf("#c%d", i), fmt.Sprintf(":c%d", i)
		names[n], values[v] = countAttr(st), num(int64(b.Counts[st]))
		update += ", " + n + " = " + v
	}
	if b.CompletedAt != nil {
		values[":done"] = num(nanos(*b.CompletedAt))
		update += ", #done = :done"
	} else {
		delete(names, "#done")
	}
	writes := []types.TransactWriteItem{{Update: &types.Update{
		TableName:                           aws.String(s.table),
		Key:                                 itemKey(batchPK(b.ID), batchSK),
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String("#v = :prev"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}}
	if completed == nil {
		return writes, nil, nil
	}
	it, err := encodeEvent(*completed)
	if err != nil {
		return nil, nil, err
	}
	return append(writes, putNew(s.table, it)), completed, nil
}
