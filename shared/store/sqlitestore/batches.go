package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/videoai/mediatasks/shared/task"
)

const batchColumns = `id, user_id, task_ids, status, counts, webhook_url, webhook_events,
	created_at, updated_at, completed_at, version`

const insertBatchSQL = `INSERT INTO batches (` + batchColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

type batchRow struct {
	taskIDs, counts string
	webhookEvents   any
}

func encodeBatch(b *task.Batch) (batchRow, error) {
	var r batchRow
	var err error
	if r.taskIDs, err = jsonText(b.TaskIDs); err != nil {
		return r, fmt.Errorf("encode batch %s: %w", b.ID, err)
	}
	if r.counts, err = jsonText(b.Counts); err != nil {
		return r, fmt.Errorf("encode batch %s: %w", b.ID, err)
	}
	if b.WebhookEvents != nil {
		if r.webhookEvents, err = jsonText(b.WebhookEvents); err != nil {
			return r, fmt.Errorf("encode batch %s: %w", b.ID, err)
		}
	}
	return r, nil
}

func (r batchRow) insertArgs(b *task.Batch) []any {
	return []any{b.ID, b.UserID, r.taskIDs, string(b.Status), r.counts, b.WebhookURL, r.webhookEvents,
		nanos(b.CreatedAt), nanos(b.UpdatedAt), nullNanos(b.CompletedAt), b.Version}
}

func scanBatch(row scanner) (*task.Batch, error) {
	var (
		b                    task.Batch
		taskIDs, counts      string
		status               string
		hooks                sql.NullString
		createdAt, updatedAt int64
		completedAt          sql.NullInt64
	)
	err := row.Scan(&b.ID, &b.UserID, &taskIDs, &status, &counts, &b.WebhookURL, &hooks,
		&createdAt, &updatedAt, &completedAt, &b.Version)
	if err != nil {
		return nil, err
	}
	b.Status = task.BatchStatus(status)
	b.CreatedAt, b.UpdatedAt, b.CompletedAt = fromNanos(createdAt), fromNanos(updatedAt), fromNullNanos(completedAt)
	if err := json.Unmarshal([]byte(taskIDs), &b.TaskIDs); err != nil {
		return nil, fmt.Errorf("decode batch %s task ids: %w", b.ID, err)
	}
	if err := json.Unmarshal([]byte(counts), &b.Counts); err != nil {
		return nil, fmt.Errorf("decode batch %s counts: %w", b.ID, err)
	}
	if hooks.Valid {
		if err := json.Unmarshal([]byte(hooks.String), &b.WebhookEvents); err != nil {
			return nil, fmt.Errorf("decode batch %s webhook events: %w", b.ID, err)
		}
	}
	return &b, nil
}

// GetBatch returns the batch; with a userID, only if that user owns it.
func (s *Store) GetBatch(ctx context.Context, userID, id string) (*task.Batch, error) {
	query := `SELECT ` + batchColumns + ` FROM batches WHERE id = ?`
	args := []any{id}
	if userID != "" {
		query += ` AND user_id = ?`
		args = append(args, userID)
	}
	b, err := scanBatch(s.db.Read.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get batch %s: %w", id, task.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get batch %s: %w", id, err)
	}
	return b, nil
}

// moveBatch shifts one task of the batch from one status to another, inside
// the task's update, and appends batch.completed when it was the last one.
// The single writer serialises it with every other task of the batch.
func moveBatch(tx *sql.Tx, appendEvents func(*sql.Tx, []task.Event) error, batchID string, from, to task.Status, now time.Time) error {
	b, err := scanBatch(tx.QueryRow(`SELECT `+batchColumns+` FROM batches WHERE id = ?`, batchID))
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("batch %s: %w", batchID, task.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("read batch %s: %w", batchID, err)
	}
	prevVersion := b.Version
	completed, moved := b.Move(from, to, now)
	if !moved {
		return nil
	}
	counts, err := jsonText(b.Counts)
	if err != nil {
		return fmt.Errorf("encode batch %s counts: %w", batchID, err)
	}
	res, err := tx.Exec(`UPDATE batches SET status = ?, counts = ?, updated_at = ?, completed_at = ?, version = ?
		WHERE id = ? AND version = ?`,
		string(b.Status), counts, nanos(b.UpdatedAt), nullNanos(b.CompletedAt), b.Version, batchID, prevVersion)
	if err != nil {
		return fmt.Errorf("update batch %s: %w", batchID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("update batch %s: %d rows, %v: %w", batchID, n, err, task.ErrConflict)
	}
	if completed != nil {
		return appendEvents(tx, []task.Event{*completed})
	}
	return nil
}

// ListEvents returns the subject's events after afterSeq, oldest first.
// A limit of 0 or less means 100; more than 1000 means 1000.
func (s *Store) ListEvents(ctx context.Context, subjectID string, afterSeq int64, limit int) ([]task.Event, error) {
	limit = task.EventLimit(limit)
	rows, err := s.db.Read.QueryContext(ctx, `SELECT subject_id, seq, id, user_id, type, created_at, data
		FROM events WHERE subject_id = ? AND seq > ? ORDER BY seq LIMIT ?`, subjectID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("list events of %s: %w", subjectID, err)
	}
	defer rows.Close()
	var events []task.Event
	for rows.Next() {
		var e task.Event
		var typ, data string
		var createdAt int64
		if err := rows.Scan(&e.SubjectID, &e.Seq, &e.ID, &e.UserID, &typ, &createdAt, &data); err != nil {
			return nil, fmt.Errorf("list events of %s: %w", subjectID, err)
		}
		e.Type, e.CreatedAt, e.Data = task.EventType(typ), fromNanos(createdAt), json.RawMessage(data)
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events of %s: %w", subjectID, err)
	}
	return events, nil
}
