package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/auth"
	"github.com/videoai/mediatasks/shared/task"
)

// An API key is the item (APIKEY#<hash>, APIKEY), read by its hash on
// every authenticated request. A second item (APIKEYID#<id>) keeps ids
// unique, and a counter item (APIKEYS, COUNT) counts the keys, all three
// written in one transaction.

// CreateAPIKey stores a key's record. A key whose hash or id is taken is
// refused with task.ErrDuplicateID.
func (s *Store) CreateAPIKey(ctx context.Context, k auth.APIKey) error {
	record := item{
		"PK": str(apiKeyPK(k.Hash)), "SK": str(apiKeySK),
		"id": str(k.ID), "user_id": str(k.UserID), "hash": str(k.Hash),
		"created_at": num(nanos(k.CreatedAt)),
	}
	byID := item{"PK": str(apiKeyIDPK(k.ID)), "SK": str(apiKeySK), "hash": str(k.Hash)}
	err := s.transactRetrying(ctx, []types.TransactWriteItem{
		putNew(s.table, record),
		putNew(s.table, byID),
		{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       apiKeyCountKey(),
			UpdateExpression:          aws.String("ADD #n :one"),
			ExpressionAttributeNames:  map[string]string{"#n": "count"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)},
		}},
	})
	if reasons, canceled := cancellation(err); canceled {
		switch {
		case code(reasons, 0) == reasonCondition:
			err = fmt.Errorf("hash taken: %w", task.ErrDuplicateID)
		case code(reasons, 1) == reasonCondition:
			err = fmt.Errorf("id taken: %w", task.ErrDuplicateID)
		}
	}
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	return nil
}

// APIKeyByHash returns the key stored with that hash, or auth.ErrKeyNotFound.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*auth.APIKey, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            itemKey(apiKeyPK(hash), apiKeySK),
		ConsistentRead: aws.Bool(true), // a key works as soon as it is made
	})
	if err != nil {
		return nil, fmt.Errorf("look up api key: %w", err)
	}
	if len(out.Item) == 0 {
		return nil, auth.ErrKeyNotFound
	}
	d := decoder{item: out.Item}
	k := &auth.APIKey{ID: d.str("id"), UserID: d.str("user_id"), Hash: d.str("hash"), CreatedAt: d.time("created_at")}
	if d.err != nil {
		return nil, fmt.Errorf("decode api key %s: %w", k.ID, d.err)
	}
	return k, nil
}

// CountAPIKeys reads the key counter (the server makes a first key when
// there is none).
func (s *Store) CountAPIKeys(ctx context.Context) (int, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            apiKeyCountKey(),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, fmt.Errorf("count api keys: %w", err)
	}
	d := decoder{item: out.Item}
	n := d.int("count")
	if d.err != nil {
		return 0, fmt.Errorf("count api keys: %w", d.err)
	}
	return int(n), nil
}
