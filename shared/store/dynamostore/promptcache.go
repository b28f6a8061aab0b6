package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/prompt"
)

var _ prompt.Cache = (*Store)(nil)

// A cached prompt is the item (PROMPT#<key>, PROMPT): value (B),
// created_at and, when the entry expires, expires_ns (its exact expiry)
// and expires_at (the same in whole seconds rounded up, the table's TTL).
// An entry that never expires has neither, and TTL leaves it alone. TTL
// deletes late, so a read compares expires_ns with the store's clock and
// an expired item is a miss until TTL takes it (see TABLE.md).

func encodePrompt(e *prompt.CacheEntry) map[string]types.AttributeValue {
	it := item{
		"PK": str(promptPK(e.Key)), "SK": str(promptSK),
		"value": &types.AttributeValueMemberB{Value: e.Value},
	}
	if !e.CreatedAt.IsZero() {
		it["created_at"] = num(nanos(e.CreatedAt))
	}
	if !e.ExpiresAt.IsZero() {
		it["expires_ns"] = num(nanos(e.ExpiresAt))
		it[TTLAttribute] = num(ttlSeconds(e.ExpiresAt))
	}
	return it
}

func decodePrompt(key string, it map[string]types.AttributeValue) (prompt.CacheEntry, error) {
	d := decoder{item: it}
	e := prompt.CacheEntry{Key: key}
	if t := d.timePtr("created_at"); t != nil {
		e.CreatedAt = *t
	}
	if t := d.timePtr("expires_ns"); t != nil {
		e.ExpiresAt = *t
	}
	switch v := it["value"].(type) {
	case *types.AttributeValueMemberB:
		e.Value = v.Value
	default:
		d.fail(fmt.Errorf("value is %T, want binary", v))
	}
	if d.err != nil {
		return prompt.CacheEntry{}, fmt.Errorf("decode cached prompt %s: %w", key, d.err)
	}
	return e, nil
}

// GetCached returns the entry under key unless it has expired by the
// store's clock. The read is eventually consistent (half the read units):
// an entry written a moment ago may read as a miss, which costs its
// result computed once more.
func (s *Store) GetCached(ctx context.Context, key string) (prompt.CacheEntry, error) {
	if err := prompt.CheckCacheKey(key); err != nil {
		return prompt.CacheEntry{}, fmt.Errorf("get cached prompt: %w", err)
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table),
		Key:       itemKey(promptPK(key), promptSK),
	})
	if err != nil {
		return prompt.CacheEntry{}, fmt.Errorf("get cached prompt %s: %w", key, err)
	}
	if len(out.Item) == 0 {
		return prompt.CacheEntry{}, fmt.Errorf("get cached prompt %s: %w", key, prompt.ErrCacheMiss)
	}
	e, err := decodePrompt(key, out.Item)
	if err != nil {
		return prompt.CacheEntry{}, err
	}
	if !e.ExpiresAt.IsZero() && !s.now().Before(e.ExpiresAt) {
		return prompt.CacheEntry{}, fmt.Errorf("get cached prompt %s: expired: %w", key, prompt.ErrCacheMiss)
	}
	return e, nil
}

// PutCached stores the entry with an unconditional PutItem, which
// replaces the whole item: the last write wins, and an entry that no
// longer expires loses its TTL.
func (s *Store) PutCached(ctx context.Context, e prompt.CacheEntry) error {
	if err := e.Check(); err != nil {
		return fmt.Errorf("put cached prompt: %w", err)
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: encodePrompt(&e)})
	if err != nil {
		return fmt.Errorf("put cached prompt %s: %w", e.Key, err)
	}
	return nil
}
