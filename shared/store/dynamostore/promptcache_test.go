package dynamostore_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/prompt/cachetest"
	"github.com/videoai/mediatasks/shared/store/dynamostore"
	"github.com/videoai/mediatasks/shared/testkit/awstest"
)

func TestPromptCacheConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T, now func() time.Time) cachetest.Adapter {
		s, _ := open(t, dynamostore.Options{Now: now})
		// PurgeExpired stays nil: the table's TTL deletes expired entries.
		return cachetest.Adapter{Cache: s}
	})
}

// An entry that expires carries the TTL attribute, its expiry in seconds
// rounded up; one that never expires has none, and an overwrite without
// expiry drops it.
func TestPromptCacheTTL(t *testing.T) {
	t.Parallel()
	s, _ := open(t, dynamostore.Options{})
	ctx := context.Background()
	key := "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
	ttl := func() types.AttributeValue {
		t.Helper()
		out, err := awstest.DynamoDB(t).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table()),
			Key: map[string]types.AttributeValue{
				"PK": &types.AttributeValueMemberS{Value: "PROMPT#" + key},
				"SK": &types.AttributeValueMemberS{Value: "PROMPT"},
			}, ConsistentRead: aws.Bool(true)})
		if err != nil || len(out.Item) == 0 {
			t.Fatalf("read the item: %v, %d attributes", err, len(out.Item))
		}
		return out.Item[dynamostore.TTLAttribute]
	}
	e := prompt.CacheEntry{Key: key, Value: []byte(`{"prompt":"a harbour at dawn"}`), CreatedAt: time.Now(),
		ExpiresAt: time.Unix(2000000000, 1)}
	if err := s.PutCached(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got, ok := ttl().(*types.AttributeValueMemberN); !ok || got.Value != "2000000001" {
		t.Errorf("%s = %#v, want N 2000000001", dynamostore.TTLAttribute, ttl())
	}
	e.ExpiresAt = time.Time{}
	if err := s.PutCached(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got := ttl(); got != nil {
		t.Errorf("%s = %#v on an entry that never expires", dynamostore.TTLAttribute, got)
	}
}
