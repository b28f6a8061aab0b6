package sqlitestore_test

import (
	"context"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook/webhooktest"
)

func TestWebhookConformance(t *testing.T) {
	webhooktest.Run(t, func(t *testing.T) webhooktest.Adapter {
		s, _ := open(t, sqlitedb.Options{})
		return webhooktest.Adapter{Store: s, Tasks: s}
	})
}

// The notifier hears of a write that created deliveries, after its
// commit, and of no other.
func TestOnDeliveries(t *testing.T) {
	s, _ := open(t, sqlitedb.Options{})
	ctx := context.Background()
	calls := 0
	s.OnDeliveries(func() { calls++ })
	at := time.Now()
	submit := func(url string) {
		t.Helper()
		tk := &task.Task{ID: "tsk_" + url + at.String(), UserID: "u", Type: task.TypeImageGeneration, Status: task.StatusQueued,
			Priority: task.PriorityNormal, WebhookURL: url, WebhookEvents: []task.EventType{task.EventTaskQueued},
			CreatedAt: at, UpdatedAt: at, Version: 1}
		if err := s.Create(ctx, task.Creation{Tasks: []*task.Task{tk}, Events: []task.Event{task.NewTaskEvent(tk, task.EventTaskQueued, at)}}); err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Second)
	}
	submit("")
	if calls != 0 {
		t.Errorf("notified %d times for a task without a webhook", calls)
	}
	submit("https://hooks.example.com/a")
	if calls != 1 {
		t.Errorf("notified %d times for one delivery, want 1", calls)
	}
	if err := s.DisableEndpoint(ctx, "u", "https://hooks.example.com/a", at); err != nil {
		t.Fatal(err)
	}
	submit("https://hooks.example.com/a")
	if calls != 1 {
		t.Errorf("notified for a skipped delivery (%d calls)", calls)
	}
}
