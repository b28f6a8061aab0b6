package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/videoai/mediatasks/shared/task"
)

// maxTransactItems is the most actions one TransactWriteItems takes.
const maxTransactItems = 100

// Cancellation reason codes of TransactionCanceledException.
const (
	reasonNone        = "None"
	reasonCondition   = "ConditionalCheckFailed"
	reasonConflict    = "TransactionConflict"
	reasonThrottling  = "ThrottlingError"
	reasonProvisioned = "ProvisionedThroughputExceeded"
)

// maxTransactAttempts bounds the retries of a transaction that collided
// with another one on an item they share (a batch's record, a counter).
const maxTransactAttempts = 40

// errContended: a transaction still collided after every retry.
var errContended = errors.New("transaction kept colliding with concurrent writes")

func (s *Store) transact(ctx context.Context, items []types.TransactWriteItem) error {
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	return sizeError(err)
}

// sizeError marks DynamoDB's refusal of an item over 400 KB or a
// transaction over 4 MB as task.ErrTooLarge, the caller's problem rather
// than the store's; other errors pass unchanged.
func sizeError(err error) error {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	tooLarge := func(code, msg string) bool {
		return (code == "ValidationException" || code == "ValidationError") && strings.Contains(strings.ToLower(msg), "size")
	}
	if tooLarge(apiErr.ErrorCode(), apiErr.ErrorMessage()) {
		return fmt.Errorf("%w: %w", task.ErrTooLarge, err)
	}
	if reasons, ok := cancellation(err); ok {
		for _, r := range reasons {
			if tooLarge(aws.ToString(r.Code), aws.ToString(r.Message)) {
				return fmt.Errorf("%w: %w", task.ErrTooLarge, err)
			}
		}
	}
	return err
}

// cancellation returns the per-action reasons of a canceled transaction
// (in the order of its actions), or false when err is something else.
func cancellation(err error) ([]types.CancellationReason, bool) {
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		return nil, false
	}
	return canceled.CancellationReasons, true
}

func code(reasons []types.CancellationReason, i int) string {
	if i < 0 || i >= len(reasons) {
		return ""
	}
	return aws.ToString(reasons[i].Code)
}

// reasonCodes lists the codes of a cancellation, for logs.
func reasonCodes(reasons []types.CancellationReason) []string {
	codes := make([]string, len(reasons))
	for i := range reasons {
		codes[i] = code(reasons, i)
	}
	return codes
}

// retryable reports whether a canceled transaction failed only because
// it collided with another one or was throttled: running it again may
// succeed. A failed condition is never retried here.
func retryable(reasons []types.CancellationReason) bool {
	again := false
	for i := range reasons {
		switch code(reasons, i) {
		case reasonConflict, reasonThrottling, reasonProvisioned:
			again = true
		case reasonNone, "":
		default:
			return false
		}
	}
	return again
}

// transactRetrying runs a transaction, again after a pause while it only
// collides with concurrent transactions.
func (s *Store) transactRetrying(ctx context.Context, items []types.TransactWriteItem) error {
	for attempt := 0; ; attempt++ {
		err := s.transact(ctx, items)
		reasons, canceled := cancellation(err)
		if !canceled || !retryable(reasons) {
			return err
		}
		if attempt+1 >= maxTransactAttempts {
			return errors.Join(errContended, err)
		}
		s.log.DebugContext(ctx, "transaction retried", "attempt", attempt+1, "reasons", reasonCodes(reasons))
		if err := pause(ctx, attempt); err != nil {
			return err
		}
	}
}

// pause waits before retry number attempt: exponential from 5 ms, capped
// at 200 ms, with full jitter so that colliding writers spread out.
func pause(ctx context.Context, attempt int) error {
	ceiling := min(5*time.Millisecond<<min(attempt, 6), 200*time.Millisecond)
	t := time.NewTimer(ceiling/2 + rand.N(ceiling/2+1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func put(table string, it map[string]types.AttributeValue, condition string, names map[string]string, values map[string]types.AttributeValue) types.TransactWriteItem {
	p := &types.Put{
		TableName:                           aws.String(table),
		Item:                                it,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	if condition != "" {
		p.ConditionExpression = aws.String(condition)
		p.ExpressionAttributeNames = names
		p.ExpressionAttributeValues = values
	}
	return types.TransactWriteItem{Put: p}
}

// putNew puts an item that must not exist yet.
func putNew(table string, it map[string]types.AttributeValue) types.TransactWriteItem {
	return put(table, it, "attribute_not_exists(PK)", nil, nil)
}
