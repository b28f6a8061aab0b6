package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/task"
)

// An idempotency record is the item (IDEM#<user>, <key>). expires_ns is
// its exact expiry, which reads and the put's condition compare with the
// store's clock; expires_at, the same instant in whole seconds rounded up,
// is the table's TTL attribute, so that DynamoDB deletes the record some
// time after it expired (never before). Until then a read treats an
// expired record as absent and a put may replace it.

// ttlSeconds is t as TTL epoch seconds, rounded up.
func ttlSeconds(t time.Time) int64 {
	secs := t.Unix()
	if t.Nanosecond() > 0 {
		secs++
	}
	return secs
}

func encodeIdempotency(rec *task.IdempotencyRecord) map[string]types.AttributeValue {
	it := item{
		"PK": str(idempotencyPK(rec.UserID)), "SK": str(rec.Key),
		"user_id":      str(rec.UserID),
		"key":          str(rec.Key),
		"request_hash": str(rec.RequestHash),
		"status_code":  num(int64(rec.StatusCode)),
		"created_at":   num(nanos(rec.CreatedAt)),
		"expires_ns":   num(nanos(rec.ExpiresAt)),
		TTLAttribute:   num(ttlSeconds(rec.ExpiresAt)),
	}
	if rec.Headers != nil {
		headers := make(map[string]types.AttributeValue, len(rec.Headers))
		for k, v := range rec.Headers {
			headers[k] = str(v)
		}
		it["headers"] = &types.AttributeValueMemberM{Value: headers}
	}
	if len(rec.Body) > 0 {
		// Deflated (compact.go): the body is the answer's JSON, often a
		// task of about 1 KB, and the record is written in the submit's
		// transaction, at 2 units per started KB.
		it["body"] = &types.AttributeValueMemberB{Value: deflate(rec.Body)}
	}
	return it
}

func decodeIdempotency(it map[string]types.AttributeValue) (*task.IdempotencyRecord, error) {
	d := decoder{item: it}
	rec := &task.IdempotencyRecord{
		UserID:      d.str("user_id"),
		Key:         d.str("key"),
		RequestHash: d.str("request_hash"),
		StatusCode:  int(d.int("status_code")),
		CreatedAt:   d.time("created_at"),
		ExpiresAt:   d.time("expires_ns"),
	}
	switch headers := it["headers"].(type) {
	case nil:
	case *types.AttributeValueMemberM:
		rec.Headers = make(map[string]string, len(headers.Value))
		for k := range headers.Value {
			rec.Headers[k] = (&decoder{item: headers.Value}).str(k)
		}
	default:
		d.fail(fmt.Errorf("headers is %T, want a map", headers))
	}
	if body, ok := it["body"].(*types.AttributeValueMemberB); ok {
		b, err := inflate(body.Value)
		if err != nil {
			d.fail(fmt.Errorf("body: %w", err))
		}
		rec.Body = b
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode idempotency record %s: %w", rec.Key, d.err)
	}
	return rec, nil
}

// idempotencyPut writes rec unless a record live at now holds its key
// (live while now <= ExpiresAt).
func (s *Store) idempotencyPut(rec *task.IdempotencyRecord, now time.Time) types.TransactWriteItem {
	return put(s.table, encodeIdempotency(rec), "attribute_not_exists(PK) OR expires_ns < :now",
		nil, map[string]types.AttributeValue{":now": num(nanos(now))})
}

// GetIdempotency returns the user's live record for key.
func (s *Store) GetIdempotency(ctx context.Context, userID, key string) (*task.IdempotencyRecord, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            itemKey(idempotencyPK(userID), key),
		ConsistentRead: aws.Bool(true), // a retried request must see the first one's record
	})
	if err != nil {
		return nil, fmt.Errorf("get idempotency record %s: %w", key, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("get idempotency record %s: %w", key, task.ErrNotFound)
	}
	rec, err := decodeIdempotency(out.Item)
	if err != nil {
		return nil, err
	}
	if rec.ExpiresAt.Before(s.now()) {
		return nil, fmt.Errorf("get idempotency record %s: expired: %w", key, task.ErrNotFound)
	}
	return rec, nil
}

// PutIdempotency stores the record unless a live one holds its key.
func (s *Store) PutIdempotency(ctx context.Context, rec task.IdempotencyRecord) error {
	w := s.idempotencyPut(&rec, s.now()).Put
	in := &dynamodb.PutItemInput{
		TableName:                 w.TableName,
		Item:                      w.Item,
		ConditionExpression:       w.ConditionExpression,
		ExpressionAttributeValues: w.ExpressionAttributeValues,
	}
	_, err := s.db.PutItem(ctx, in)
	// A submit's transaction writing the same key at this moment refuses
	// the put for as long as it runs: try again, to learn its outcome.
	var inFlight *types.TransactionConflictException
	for attempt := 0; errors.As(err, &inFlight) && attempt < maxTransactAttempts; attempt++ {
		if err := pause(ctx, attempt); err != nil {
			return fmt.Errorf("put idempotency record %s: %w", rec.Key, err)
		}
		_, err = s.db.PutItem(ctx, in)
	}
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return fmt.Errorf("idempotency key %s: %w", rec.Key, task.ErrIdempotencyKeyExists)
	}
	if err != nil {
		return fmt.Errorf("put idempotency record %s: %w", rec.Key, err)
	}
	return nil
}
