// Package dynamowaits keeps callback.Waits in the platform's DynamoDB
// table: one small item per task (PK "WAIT#<task id>", SK "WAIT"), apart
// from the task's own items, expired by the table's TTL.
package dynamowaits

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/callback"
)

const (
	pkPrefix = "WAIT#"
	sk       = "WAIT"
	// keepFor is how long a wait's item outlives its last write: past
	// the longest job (6 h by default), the TTL removes what Forget
	// missed.
	keepFor = 7 * 24 * time.Hour
)

// Waits is callback.Waits on DynamoDB.
type Waits struct {
	db    *dynamodb.Client
	table string
	now   func() time.Time
}

var _ callback.Waits = (*Waits)(nil)

// New returns the waits in table (the store's, with its PK/SK key and its
// expires_at TTL); now is the clock of the TTL (time.Now when nil).
func New(db *dynamodb.Client, table string, now func() time.Time) *Waits {
	if now == nil {
		now = time.Now
	}
	return &Waits{db: db, table: table, now: now}
}

func (w *Waits) key(taskID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: pkPrefix + taskID},
		"SK": &types.AttributeValueMemberS{Value: sk},
	}
}

func (w *Waits) expires() types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(w.now().Add(keepFor).Unix(), 10)}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// sameJob is the condition of a write that keeps the item's job: none
// yet, or this one.
const sameJob = "attribute_not_exists(PK) OR (#provider = :provider AND job = :job)"

// Arm records the task's wait on token for provider's job: an update
// that keeps what arrived for the same job, or else a put that replaces
// another job's wait.
func (w *Waits) Arm(ctx context.Context, taskID, provider, job, token string) (bool, error) {
	out, err := w.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(w.table),
		Key:                      w.key(taskID),
		UpdateExpression:         aws.String("SET #token = :token, #provider = :provider, job = :job, arrived = if_not_exists(arrived, :false), expires_at = :expires"),
		ConditionExpression:      aws.String(sameJob),
		ExpressionAttributeNames: map[string]string{"#provider": "provider", "#token": "token"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":token": s(token), ":provider": s(provider), ":job": s(job),
			":false": &types.AttributeValueMemberBOOL{Value: false}, ":expires": w.expires(),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		item := w.key(taskID)
		item["token"], item["provider"], item["job"] = s(token), s(provider), s(job)
		item["arrived"], item["expires_at"] = &types.AttributeValueMemberBOOL{Value: false}, w.expires()
		if _, err := w.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: item}); err != nil {
			return false, fmt.Errorf("arm the callback wait of task %s: %w", taskID, err)
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("arm the callback wait of task %s: %w", taskID, err)
	}
	arrived, _ := out.Attributes["arrived"].(*types.AttributeValueMemberBOOL)
	return arrived != nil && arrived.Value, nil
}

// Arrive records the end of provider's job, unless the task waits on
// another job.
func (w *Waits) Arrive(ctx context.Context, taskID, provider, job string) (string, error) {
	out, err := w.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(w.table),
		Key:                      w.key(taskID),
		UpdateExpression:         aws.String("SET arrived = :true, #provider = :provider, job = :job, expires_at = :expires"),
		ConditionExpression:      aws.String(sameJob),
		ExpressionAttributeNames: map[string]string{"#provider": "provider"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":provider": s(provider), ":job": s(job),
			":true": &types.AttributeValueMemberBOOL{Value: true}, ":expires": w.expires(),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return "", nil // the task waits on another job
	}
	if err != nil {
		return "", fmt.Errorf("record the callback of task %s: %w", taskID, err)
	}
	token, _ := out.Attributes["token"].(*types.AttributeValueMemberS)
	if token == nil {
		return "", nil
	}
	return token.Value, nil
}

// Forget removes the task's wait.
func (w *Waits) Forget(ctx context.Context, taskID string) error {
	if _, err := w.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(w.table), Key: w.key(taskID)}); err != nil {
		return fmt.Errorf("forget the callback wait of task %s: %w", taskID, err)
	}
	return nil
}
