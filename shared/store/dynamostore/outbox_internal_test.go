package dynamostore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/testkit/awstest"
	"github.com/videoai/mediatasks/shared/webhook"
)

// The change that ends a batch writes the task's deliveries and the
// batch's in one transaction; when they move the same delivery counter
// item, that item is written once (a transaction refuses two actions on
// one item).
func TestLastChangeOfABatchWithTwoDeliveries(t *testing.T) {
	t.Parallel()
	db := awstest.DynamoDB(t)
	table := awstest.Name(t)
	ctx := context.Background()
	if err := CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	s := New(db, table, Options{})
	shard := func(subject string, seq int64) int {
		return webhookShard(webhook.DeliveryID(task.EventID(subject, seq)), deliveryCounterShards)
	}
	taskID := "tsk_outbox"
	batchID := ""
	for i := 0; batchID == ""; i++ {
		if candidate := "bat_outbox_" + strconv.Itoa(i); shard(candidate, 3) == shard(taskID, 3) {
			batchID = candidate
		}
	}
	now := time.Now().UTC()
	b := &task.Batch{ID: batchID, UserID: "u", TaskIDs: []string{taskID}, Status: task.BatchRunning, Counts: task.NewCounts(1),
		WebhookURL: "https://example.com/batch-hooks", CreatedAt: now, UpdatedAt: now, Version: 1}
	tk := &task.Task{ID: taskID, UserID: "u", Type: task.TypeImageGeneration, Status: task.StatusQueued, Priority: task.PriorityNormal,
		BatchID: batchID, WebhookURL: "https://example.com/hooks", CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := s.Create(ctx, task.Creation{Tasks: []*task.Task{tk}, Batch: b}); err != nil {
		t.Fatal(err)
	}
	prev := tk
	for _, to := range []task.Status{task.StatusRunning, task.StatusCompleted} {
		next := prev.Clone()
		ev, err := next.Transition(to, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateTask(ctx, prev, next, ev); err != nil {
			t.Fatalf("UpdateTask -> %s: %v", to, err)
		}
		prev = next
	}
	for _, subject := range []string{taskID, batchID} {
		events, err := s.ListEvents(ctx, subject, 2, 10)
		if err != nil || len(events) != 1 {
			t.Fatalf("last events of %s: %v, %v", subject, events, err)
		}
	}
}
