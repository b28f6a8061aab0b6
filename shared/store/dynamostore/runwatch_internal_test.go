package dynamostore

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/testkit/awstest"
)

// A task on a bounded run has its run watch from the change that starts
// it to the change that ends it, and none before or after: the sweep's
// reads stay as small as the Express tasks running.
func TestRunWatchLastsWhileTheRunDoes(t *testing.T) {
	t.Parallel()
	db := awstest.DynamoDB(t)
	table := awstest.Name(t)
	ctx := context.Background()
	if err := CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	s := New(db, table, Options{})
	now := time.Now().UTC()
	tk := &task.Task{ID: "tsk_watched", UserID: "u", Type: task.TypeImageGeneration, Status: task.StatusQueued,
		Priority: task.PriorityNormal, CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := s.Create(ctx, task.Creation{Tasks: []*task.Task{tk}}); err != nil {
		t.Fatal(err)
	}
	watches := func() int {
		t.Helper()
		out, err := db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(table),
			KeyConditionExpression:    aws.String("PK = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(runWatchPK(shardOf(tk.ID, queuedShards)))},
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Items)
	}
	deadline := now.Add(5 * time.Minute)
	prev := tk
	for i, step := range []struct {
		change  func(*task.Task) (task.Event, error)
		watches int
	}{
		{func(t *task.Task) (task.Event, error) {
			if err := t.Claim(task.Run{Key: task.RunKey("exec"), Deadline: &deadline}); err != nil {
				return task.Event{}, err
			}
			return t.Transition(task.StatusRunning, now)
		}, 1},
		{func(t *task.Task) (task.Event, error) { return t.SetProgress(0.5, now) }, 1},
		{func(t *task.Task) (task.Event, error) { return t.Transition(task.StatusCompleted, now) }, 0},
	} {
		if n := watches(); i == 0 && n != 0 {
			t.Fatalf("%d watches of a queued task", n)
		}
		next := prev.Clone()
		ev, err := step.change(next)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateTask(ctx, prev, next, ev); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		if n := watches(); n != step.watches {
			t.Fatalf("after change %d: %d watches, want %d", i, n, step.watches)
		}
		prev = next
	}
}
