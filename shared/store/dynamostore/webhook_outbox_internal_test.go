package dynamostore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/testkit/awstest"
	"github.com/videoai/mediatasks/shared/webhook"
)

// An event's delivery is stored and counted once: an event given twice
// in one write gets one delivery, and a second write of the same event's
// delivery is refused by its condition, leaving the first as it was.
func TestDeliveryOncePerEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := awstest.DynamoDB(t)
	table := awstest.Name(t)
	if err := CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	s := New(db, table, Options{})
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ev := task.Event{ID: task.EventID("tsk_1", 2), SubjectID: "tsk_1", UserID: "u", Seq: 2, Type: task.EventTaskCompleted,
		CreatedAt: at, Data: []byte(`{"id":"tsk_1"}`), WebhookURL: "https://hooks.example.com/"}

	writes, pending, err := s.deliveryWrites(ctx, []task.Event{ev, ev})
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].ID != webhook.DeliveryID(ev.ID) {
		t.Fatalf("pending = %+v, want the one delivery", pending)
	}
	if err := s.transactWebhook(ctx, writes); err != nil {
		t.Fatalf("first write: %v", err)
	}
	claimed, ok, err := s.ClaimDelivery(ctx, pending[0].ID, at, time.Minute)
	if err != nil || !ok {
		t.Fatalf("claim = %v, %v", ok, err)
	}

	again, _, err := s.deliveryWrites(ctx, []task.Event{ev})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.transactWebhook(ctx, again); !errors.Is(err, errWebhookCondition) {
		t.Errorf("second write of the same event's delivery = %v, want refused by its condition", err)
	}
	d, err := s.GetDelivery(ctx, "u", pending[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Lease != claimed.Lease || !d.NextAttemptAt.Equal(claimed.NextAttemptAt) {
		t.Errorf("the delivery changed: lease %q next %s, want %q %s", d.Lease, d.NextAttemptAt, claimed.Lease, claimed.NextAttemptAt)
	}
	counts, err := s.CountDeliveries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[webhook.StatusPending] != 1 {
		t.Errorf("counts = %v, want 1 pending", counts)
	}
}
