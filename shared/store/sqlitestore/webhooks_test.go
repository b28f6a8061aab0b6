package sqlitestore_test

import (
	"context"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/store/sqlitestore"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
	"github.com/videoai/mediatasks/shared/webhook/webhooktest"
)

func TestWebhookConformance(t *testing.T) {
	webhooktest.Run(t, func(t *testing.T, hook webhook.CommitHook) webhooktest.Adapter {
		s, _ := openStore(t, sqlitedb.Options{}, sqlitestore.Options{OnDeliveries: hook})
		return webhooktest.Adapter{Store: s, Tasks: s}
	})
}

// After a crash, the deliveries the last run had claimed are due at once:
// released, not left until their lease lapses; others keep their times.
func TestReleaseDeliveryLeases(t *testing.T) {
	s, _ := open(t, sqlitedb.Options{})
	ctx := context.Background()
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for i, url := range []string{"https://hooks.example.com/a", "https://hooks.example.com/b"} {
		tk := &task.Task{ID: "tsk_" + url, UserID: "u", Type: task.TypeImageGeneration, Status: task.StatusQueued,
			Priority: task.PriorityNormal, WebhookURL: url, WebhookEvents: []task.EventType{task.EventTaskQueued},
			CreatedAt: at.Add(time.Duration(i) * time.Second), UpdatedAt: at, Version: 1}
		if err := s.Create(ctx, task.Creation{Tasks: []*task.Task{tk}, Events: []task.Event{task.NewTaskEvent(tk, task.EventTaskQueued, tk.CreatedAt)}}); err != nil {
			t.Fatal(err)
		}
	}
	claimed, err := s.ClaimDue(ctx, at.Add(2*time.Second), 1, time.Hour)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claimed %v, %v", claimed, err)
	}
	restart := at.Add(time.Minute)
	if got, err := s.ClaimDue(ctx, restart, 10, time.Hour); err != nil || len(got) != 1 {
		t.Fatalf("before the release: claimed %d (%v), want only the unclaimed one", len(got), err)
	}
	n, err := s.ReleaseDeliveryLeases(ctx, restart)
	if err != nil || n != 2 {
		t.Fatalf("released %d, %v; want both claims", n, err)
	}
	got, err := s.ClaimDue(ctx, restart, 10, time.Hour)
	if err != nil || len(got) != 2 {
		t.Fatalf("after the release: claimed %d (%v), want 2", len(got), err)
	}
	if got[0].EventID != claimed[0].EventID && got[1].EventID != claimed[0].EventID {
		t.Fatal("the released delivery changed its webhook-id")
	}
}
