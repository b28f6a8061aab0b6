package sqlitestore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/task"
)

// Storing an event's delivery twice stores it once: the outbox may be
// written again for an event without sending it twice.
func TestDeliveryOncePerEvent(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "mediatasks.db"), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := New(ctx, db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := task.Event{ID: task.EventID("tsk_1", 2), SubjectID: "tsk_1", UserID: "u", Seq: 2, Type: task.EventTaskCompleted,
		CreatedAt: time.Now(), Data: []byte(`{"id":"tsk_1"}`), WebhookURL: "https://hooks.example.com/"}
	var created []int
	for range 2 {
		err := db.Write(ctx, func(tx *sql.Tx) error {
			n, err := s.createDeliveriesTx(tx, []task.Event{ev, ev})
			created = append(created, len(n))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if created[0] != 1 || created[1] != 0 {
		t.Errorf("created = %v, want [1 0]", created)
	}
	var n int
	if err := db.Read.QueryRow(`SELECT count(*) FROM webhook_deliveries`).Scan(&n); err != nil || n != 1 {
		t.Errorf("deliveries stored = %d (%v), want 1", n, err)
	}
}
