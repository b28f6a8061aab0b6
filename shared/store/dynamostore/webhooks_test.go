package dynamostore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/store/dynamostore"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
	"github.com/videoai/mediatasks/shared/webhook/webhooktest"
)

func TestWebhookConformance(t *testing.T) {
	webhooktest.Run(t, func(t *testing.T) webhooktest.Adapter {
		s, _ := open(t, dynamostore.Options{})
		return webhooktest.Adapter{Store: s, Tasks: s}
	})
}

// The hook hears, after the commit, of each write that created pending
// deliveries, with those deliveries, and of a replay; not of a write
// without deliveries, nor of a skipped one.
func TestOnDeliveries(t *testing.T) {
	t.Parallel()
	s, _ := open(t, dynamostore.Options{})
	ctx := context.Background()
	var (
		mu    sync.Mutex
		heard [][]string
	)
	s.OnDeliveries(func(_ context.Context, pending []webhook.Delivery) {
		mu.Lock()
		defer mu.Unlock()
		var ids []string
		for _, d := range pending {
			ids = append(ids, d.ID)
			if stored, err := s.GetDelivery(ctx, "", d.ID); err != nil || stored.Status != webhook.StatusPending {
				t.Errorf("hook ran before delivery %s was stored as pending: %v, %v", d.ID, stored.Status, err)
			}
		}
		heard = append(heard, ids)
	})
	calls := func() [][]string {
		mu.Lock()
		defer mu.Unlock()
		return append([][]string(nil), heard...)
	}
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	submit := func(id, url string) string {
		t.Helper()
		tk := newTask(id, "u", at)
		tk.WebhookURL, tk.WebhookEvents = url, []task.EventType{task.EventTaskQueued}
		ev := task.NewTaskEvent(tk, task.EventTaskQueued, at)
		if err := s.Create(ctx, task.Creation{Tasks: []*task.Task{tk}, Events: []task.Event{ev}}); err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Second)
		return webhook.DeliveryID(ev.ID)
	}
	submit("tsk_none", "")
	if got := calls(); len(got) != 0 {
		t.Errorf("heard %v for a task without a webhook", got)
	}
	id := submit("tsk_hooked", "https://hooks.example.com/a")
	if got := calls(); len(got) != 1 || len(got[0]) != 1 || got[0][0] != id {
		t.Fatalf("heard %v, want [[%s]]", got, id)
	}
	if err := s.DisableEndpoint(ctx, "u", "https://hooks.example.com/a", at); err != nil {
		t.Fatal(err)
	}
	submit("tsk_skipped", "https://hooks.example.com/a")
	if got := calls(); len(got) != 1 {
		t.Errorf("heard %v after a skipped delivery", got)
	}
	if _, err := s.RetryDelivery(ctx, "u", id, at); err != nil {
		t.Fatal(err)
	}
	if got := calls(); len(got) != 2 || len(got[1]) != 1 || got[1][0] != id {
		t.Errorf("heard %v after a replay, want the replayed delivery", got)
	}
	s.OnDeliveries(nil)
	submit("tsk_unheard", "https://hooks.example.com/b")
	if got := calls(); len(got) != 2 {
		t.Errorf("heard %v after the hook was removed", got)
	}
}
