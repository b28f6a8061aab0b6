// Package dynamostore keeps task records, batches, events, idempotency
// records, API keys, webhook deliveries and cached prompts in one DynamoDB
// table: the task.Store, auth.KeyStore, webhook.Store and prompt.Cache of
// the cloud runtime.
//
// The table's design (keys, indexes, each access pattern and the request
// that serves it) is written up in the README's "DynamoDB table" section.
// Every item has a string partition key PK and sort key SK; three
// overloaded global secondary indexes (GSI1, GSI2, GSI3, each on
// <name>PK/<name>SK strings, all attributes projected) serve the listings;
// the number attribute expires_at (epoch seconds) is the table's TTL.
package dynamostore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/auth"
	"github.com/videoai/mediatasks/shared/store/cursor"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

var (
	_ task.Store    = (*Store)(nil)
	_ auth.KeyStore = (*Store)(nil)
)

// TTLAttribute is the number attribute (epoch seconds) that DynamoDB's
// time to live deletes items by.
const TTLAttribute = "expires_at"

// Index names.
const (
	GSI1 = "GSI1"
	GSI2 = "GSI2"
	GSI3 = "GSI3"
)

// IndexProjections are the attributes each index holds besides the keys
// (the table's and its own): only attributes that never change once
// written, so that an item's update writes an index only when it moves
// the item's index keys. A whole-item projection would rewrite the index
// entry on every change, at up to a write unit per KB; a listing instead
// reads its page from the table (BatchGetItem), at a fifth of a write's
// price. GSI1 and GSI2 keep the task type for the listings' type filter,
// GSI3 the creation time for the oldest pending delivery.
var IndexProjections = map[string][]string{
	GSI1: {"task_type"},
	GSI2: {"task_type"},
	GSI3: {"created_at"},
}

// Options shape a Store.
type Options struct {
	// OnDeliveries is told of the pending webhook deliveries each
	// committed write created or made due again (the cloud sends their
	// queue messages from it); nil: no one is told.
	OnDeliveries webhook.CommitHook
	// Now is the store's clock (idempotency and prompt cache expiry,
	// batch changes, deliveries); time.Now when nil.
	Now func() time.Time
	Log *slog.Logger
	// CursorKey signs listing cursors, so that a cursor the store did not
	// issue is refused. Every instance over one table must share it; when
	// empty it is derived from the table's name, which still refuses
	// corrupted cursors (a cursor never reaches another user's tasks
	// whatever its key: see cursor.go).
	CursorKey []byte
	// DurationSample is how many of a provider's most recent completed
	// tasks Stats's duration figures cover (default 1,000).
	DurationSample int
}

// Store is the DynamoDB adapter. It is safe for concurrent use.
type Store struct {
	db    *dynamodb.Client
	table string
	now   func() time.Time
	log   *slog.Logger
	// onDeliveries is told of committed pending deliveries.
	onDeliveries webhook.CommitHook
	// cursors signs listing cursors (see Options.CursorKey).
	cursors cursor.Signer
	// durationSample bounds Stats's read of durations (see Options).
	durationSample int
}

// New returns a store over an existing table (see CreateTable).
func New(db *dynamodb.Client, table string, opts Options) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if len(opts.CursorKey) == 0 {
		derived := sha256.Sum256([]byte("mediatasks listing cursor\x00" + table))
		opts.CursorKey = derived[:]
	}
	if opts.DurationSample <= 0 {
		opts.DurationSample = DefaultDurationSample
	}
	return &Store{db: db, table: table, now: opts.Now, log: opts.Log, cursors: cursor.New(opts.CursorKey),
		durationSample: opts.DurationSample, onDeliveries: opts.OnDeliveries}
}

// Table is the name of the store's table.
func (s *Store) Table() string { return s.table }

// CreateTable creates the table with its indexes, on demand, and turns on
// its TTL; the cloud stack (infra/) declares the same table. It waits until
// the table is active. An existing table is left as it is.
func CreateTable(ctx context.Context, db *dynamodb.Client, table string) error {
	str := func(name string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeS}
	}
	key := func(pk, sk string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange},
		}
	}
	gsi := func(name string) types.GlobalSecondaryIndex {
		return types.GlobalSecondaryIndex{
			IndexName:  aws.String(name),
			KeySchema:  key(name+"PK", name+"SK"),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: IndexProjections[name]},
		}
	}
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{
			str("PK"), str("SK"),
			str("GSI1PK"), str("GSI1SK"), str("GSI2PK"), str("GSI2SK"), str("GSI3PK"), str("GSI3SK"),
		},
		KeySchema:              key("PK", "SK"),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{gsi(GSI1), gsi(GSI2), gsi(GSI3)},
		BillingMode:            types.BillingModePayPerRequest,
		SSESpecification:       &types.SSESpecification{Enabled: aws.Bool(true)},
	})
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", table, err)
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(TTLAttribute), Enabled: aws.Bool(true),
		},
	})
	if err != nil {
		return fmt.Errorf("turn on ttl of %s: %w", table, err)
	}
	return nil
}

// Ping checks that the table answers.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)})
	if err != nil {
		return fmt.Errorf("ping table %s: %w", s.table, err)
	}
	return nil
}
