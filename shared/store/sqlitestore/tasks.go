package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

const taskColumns = `id, user_id, task_type, status, progress, priority, input, output, error,
	provider, attempts, batch_id, metadata, webhook_url, webhook_events,
	created_at, updated_at, started_at, completed_at, version, attempt_history, optimized_prompt, cost,
	run_key, run_deadline`

const insertTaskSQL = `INSERT INTO tasks (` + taskColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// updateTaskSQL leaves id, user_id, task_type, batch_id and created_at
// alone: they never change after submit.
const updateTaskSQL = `UPDATE tasks SET status = ?, progress = ?, priority = ?, input = ?,
	output = ?, error = ?, provider = ?, attempts = ?, metadata = ?, webhook_url = ?,
	webhook_events = ?, updated_at = ?, started_at = ?, completed_at = ?, version = ?,
	attempt_history = ?, optimized_prompt = ?, cost = ?, run_key = ?, run_deadline = ?
	WHERE id = ? AND version = ? AND status NOT IN ('completed', 'failed', 'canceled')`

const insertEventSQL = `INSERT INTO events (subject_id, seq, id, user_id, type, created_at, data)
	VALUES (?, ?, ?, ?, ?, ?, ?)`

// taskRow is a task encoded for its row. Encoding happens before the
// write, so that the single writer spends its time in SQLite only.
type taskRow struct {
	input, output, errorJSON, metadata, webhookEvents, attemptHistory, optimizedPrompt, cost any
}

func encodeTask(t *task.Task) (taskRow, error) {
	var r taskRow
	if len(t.Input) > 0 {
		r.input = string(t.Input)
	}
	var err error
	if t.Output != nil {
		if r.output, err = jsonText(t.Output); err != nil {
			return r, fmt.Errorf("encode output: %w", err)
		}
	}
	if t.Error != nil {
		if r.errorJSON, err = jsonText(t.Error); err != nil {
			return r, fmt.Errorf("encode error: %w", err)
		}
	}
	if t.Metadata != nil {
		if r.metadata, err = jsonText(t.Metadata); err != nil {
			return r, fmt.Errorf("encode metadata: %w", err)
		}
	}
	if t.WebhookEvents != nil {
		if r.webhookEvents, err = jsonText(t.WebhookEvents); err != nil {
			return r, fmt.Errorf("encode webhook events: %w", err)
		}
	}
	if t.AttemptHistory != nil {
		if r.attemptHistory, err = jsonText(t.AttemptHistory); err != nil {
			return r, fmt.Errorf("encode attempt history: %w", err)
		}
	}
	if t.OptimizedPrompt != nil {
		if r.optimizedPrompt, err = jsonText(t.OptimizedPrompt); err != nil {
			return r, fmt.Errorf("encode optimized prompt: %w", err)
		}
	}
	if t.Cost != nil {
		if r.cost, err = jsonText(t.Cost); err != nil {
			return r, fmt.Errorf("encode cost: %w", err)
		}
	}
	return r, nil
}

func jsonText(v any) (string, error) {
	b, err := task.EncodeJSON(v)
	return string(b), err
}

func (r taskRow) insertArgs(t *task.Task) []any {
	return []any{
		t.ID, t.UserID, string(t.Type), string(t.Status), t.Progress, string(t.Priority),
		r.input, r.output, r.errorJSON, t.Provider, t.Attempts, nullString(t.BatchID),
		r.metadata, t.WebhookURL, r.webhookEvents,
		nanos(t.CreatedAt), nanos(t.UpdatedAt), nullNanos(t.StartedAt), nullNanos(t.CompletedAt), t.Version,
		r.attemptHistory, r.optimizedPrompt, r.cost, t.Run.Key, nullNanos(t.Run.Deadline),
	}
}

func (r taskRow) updateArgs(next *task.Task, prevVersion int64) []any {
	return []any{
		string(next.Status), next.Progress, string(next.Priority), r.input,
		r.output, r.errorJSON, next.Provider, next.Attempts, r.metadata, next.WebhookURL,
		r.webhookEvents, nanos(next.UpdatedAt), nullNanos(next.StartedAt), nullNanos(next.CompletedAt), next.Version,
		r.attemptHistory, r.optimizedPrompt, r.cost, next.Run.Key, nullNanos(next.Run.Deadline), next.ID, prevVersion,
	}
}

func eventArgs(e task.Event) []any {
	return []any{e.SubjectID, e.Seq, e.ID, e.UserID, string(e.Type), nanos(e.CreatedAt), string(e.Data)}
}

type scanner interface{ Scan(dest ...any) error }

func scanTask(row scanner) (*task.Task, error) {
	var (
		t                                                  task.Task
		typ, status, priority                              string
		input, output, errorJSON, batchID, metadata, hooks sql.NullString
		history, optimized, cost                           sql.NullString
		createdAt, updatedAt                               int64
		startedAt, completedAt, runDeadline                sql.NullInt64
	)
	err := row.Scan(&t.ID, &t.UserID, &typ, &status, &t.Progress, &priority, &input, &output, &errorJSON,
		&t.Provider, &t.Attempts, &batchID, &metadata, &t.WebhookURL, &hooks,
		&createdAt, &updatedAt, &startedAt, &completedAt, &t.Version, &history, &optimized, &cost,
		&t.Run.Key, &runDeadline)
	if err != nil {
		return nil, err
	}
	t.Type, t.Status, t.Priority = task.Type(typ), task.Status(status), task.Priority(priority)
	if input.Valid {
		t.Input = json.RawMessage(input.String)
	}
	t.BatchID = batchID.String
	t.CreatedAt, t.UpdatedAt = fromNanos(createdAt), fromNanos(updatedAt)
	t.StartedAt, t.CompletedAt = fromNullNanos(startedAt), fromNullNanos(completedAt)
	t.Run.Deadline = fromNullNanos(runDeadline)
	for _, field := range []struct {
		text sql.NullString
		dst  any
	}{{output, &t.Output}, {errorJSON, &t.Error}, {metadata, &t.Metadata}, {hooks, &t.WebhookEvents}, {history, &t.AttemptHistory}, {optimized, &t.OptimizedPrompt}, {cost, &t.Cost}} {
		if !field.text.Valid {
			continue
		}
		if err := json.Unmarshal([]byte(field.text.String), field.dst); err != nil {
			return nil, fmt.Errorf("decode task %s: %w", t.ID, err)
		}
	}
	return &t, nil
}

// Create stores the submit's tasks, batch, events and idempotency record in
// one transaction.
func (s *Store) Create(ctx context.Context, c task.Creation) error {
	return s.create(ctx, c, nil)
}

// create writes c, and runs also (if any) in the same transaction.
func (s *Store) create(ctx context.Context, c task.Creation, also func(tx *sql.Tx) error) error {
	what := creationName(c)
	rows := make([]taskRow, len(c.Tasks))
	for i, t := range c.Tasks {
		var err error
		if rows[i], err = encodeTask(t); err != nil {
			return fmt.Errorf("create %s: task %s: %w", what, t.ID, err)
		}
	}
	var batch *batchRow
	if c.Batch != nil {
		b, err := encodeBatch(c.Batch)
		if err != nil {
			return fmt.Errorf("create %s: %w", what, err)
		}
		batch = &b
	}
	var idem *idempotencyRow
	if c.Idempotency != nil {
		r, err := encodeIdempotency(c.Idempotency)
		if err != nil {
			return fmt.Errorf("create %s: %w", what, err)
		}
		idem = &r
	}
	now := s.now()
	var deliveries []webhook.Delivery
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		// The idempotency record goes first: a retried request learns that
		// its key is taken rather than that its ids are.
		if idem != nil {
			if err := putIdempotency(tx, s.putIdempotency, *idem, now); err != nil {
				return err
			}
		}
		if batch != nil {
			if _, err := tx.Exec(insertBatchSQL, batch.insertArgs(c.Batch)...); err != nil {
				if isConstraint(err) {
					return fmt.Errorf("batch %s: %w", c.Batch.ID, task.ErrDuplicateID)
				}
				return fmt.Errorf("insert batch %s: %w", c.Batch.ID, err)
			}
		}
		if len(c.Tasks) > 0 {
			insert := tx.Stmt(s.insertTask)
			for i, t := range c.Tasks {
				if _, err := insert.Exec(rows[i].insertArgs(t)...); err != nil {
					if isConstraint(err) {
						return fmt.Errorf("task %s: %w", t.ID, task.ErrDuplicateID)
					}
					return fmt.Errorf("insert task %s: %w", t.ID, err)
				}
			}
		}
		pending, err := s.insertEventsAndDeliveries(tx, c.Events)
		if err != nil {
			return err
		}
		deliveries = pending
		if also != nil {
			return also(tx)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", what, err)
	}
	s.deliveriesCommitted(ctx, deliveries)
	return nil
}

func creationName(c task.Creation) string {
	switch {
	case c.Batch != nil:
		return "batch " + c.Batch.ID
	case len(c.Tasks) == 1:
		return "task " + c.Tasks[0].ID
	default:
		return strconv.Itoa(len(c.Tasks)) + " tasks"
	}
}

func insertEvents(tx *sql.Tx, prepared *sql.Stmt, events []task.Event) error {
	if len(events) == 0 {
		return nil
	}
	insert := tx.Stmt(prepared)
	for _, e := range events {
		if _, err := insert.Exec(eventArgs(e)...); err != nil {
			if isConstraint(err) {
				return fmt.Errorf("event %s of %s: %w", e.ID, e.SubjectID, task.ErrConflict)
			}
			return fmt.Errorf("insert event %s: %w", e.ID, err)
		}
	}
	return nil
}

// GetTask returns the task; with a userID, only if that user owns it.
func (s *Store) GetTask(ctx context.Context, userID, id string) (*task.Task, error) {
	// A row holds its connection until it is scanned: exactly one query.
	var row *sql.Row
	if userID == "" {
		row = s.getTaskAny.QueryRowContext(ctx, id) // any user's: the workflow's steps read by id alone
	} else {
		row = s.getTask.QueryRowContext(ctx, id, userID)
	}
	t, err := scanTask(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get task %s: %w", id, task.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	return t, nil
}

// UpdateTask writes next over prev if the stored task is still prev and not
// terminal, with its events and its batch's counters, in one transaction.
func (s *Store) UpdateTask(ctx context.Context, prev, next *task.Task, events ...task.Event) error {
	if err := task.CheckUpdate(prev, next); err != nil {
		return err
	}
	row, err := encodeTask(next)
	if err != nil {
		return fmt.Errorf("update task %s: %w", prev.ID, err)
	}
	batchID := prev.BatchID
	moves := batchID != "" && prev.Status != next.Status
	now := s.now()
	var deliveries []webhook.Delivery
	// Events, the batch's included, commit with their deliveries.
	appendEvents := func(tx *sql.Tx, events []task.Event) error {
		pending, err := s.insertEventsAndDeliveries(tx, events)
		deliveries = append(deliveries, pending...)
		return err
	}
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Stmt(s.updateTask).Exec(row.updateArgs(next, prev.Version)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return whyNotUpdated(tx, prev.ID)
		}
		if err := appendEvents(tx, events); err != nil {
			return err
		}
		if moves {
			return moveBatch(tx, appendEvents, batchID, prev.Status, next.Status, now)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update task %s: %w", prev.ID, err)
	}
	s.deliveriesCommitted(ctx, deliveries)
	return nil
}

// whyNotUpdated tells apart the three reasons a conditional update matched
// no row. A terminal task wins over a moved version: retrying cannot help.
func whyNotUpdated(tx *sql.Tx, id string) error {
	var status string
	var version int64
	err := tx.QueryRow(`SELECT status, version FROM tasks WHERE id = ?`, id).Scan(&status, &version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return task.ErrNotFound
	case err != nil:
		return fmt.Errorf("re-read: %w", err)
	case task.Status(status).Terminal():
		return fmt.Errorf("stored status %s: %w", status, task.ErrTerminal)
	default:
		return fmt.Errorf("stored version %d: %w", version, task.ErrConflict)
	}
}

// Listing pages.
const (
	defaultLimit = 20
	maxLimit     = 100
)

// ListTasks returns the user's tasks newest first (ties broken by id,
// descending), after the cursor's position. An empty userID lists the tasks
// stored without an owner, not everyone's.
func (s *Store) ListTasks(ctx context.Context, userID string, f task.ListFilter) (task.Page, error) {
	query, args, limit, err := s.newestFirst(`SELECT `+taskColumns+` FROM tasks`, "tasks", userID,
		[]filter{{"status", string(f.Status)}, {"task_type", string(f.Type)}, {"batch_id", f.BatchID}}, f.Cursor, f.Limit)
	if err != nil {
		return task.Page{}, fmt.Errorf("list tasks: %w", err)
	}
	tasks, err := s.queryTasks(ctx, query, args...)
	if err != nil {
		return task.Page{}, fmt.Errorf("list tasks: %w", err)
	}
	var page task.Page
	page.Tasks, page.NextCursor = pageOf(s, "tasks", userID, tasks, limit, func(t *task.Task) (time.Time, string) { return t.CreatedAt, t.ID })
	return page, nil
}

// filter is an equality condition of a listing, left out when its value
// is empty.
type filter struct{ column, value string }

// newestFirst builds a keyset-paginated listing of a user's rows, newest
// first (ties by id, descending), after the cursor's position: the query
// asks for one row more than the page, which tells whether another
// follows (see pageOf). The table must have created_at and id columns;
// listing names the listing the cursor was signed for.
func (s *Store) newestFirst(selectFrom, listing, userID string, filters []filter, cursor string, limit int) (string, []any, int, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	var b strings.Builder
	b.WriteString(selectFrom + ` WHERE user_id = ?`)
	args := []any{userID}
	for _, f := range filters {
		if f.value != "" {
			b.WriteString(` AND ` + f.column + ` = ?`)
			args = append(args, f.value)
		}
	}
	if cursor != "" {
		createdAt, id, err := s.decodeCursor(listing, userID, cursor)
		if err != nil {
			return "", nil, 0, err
		}
		b.WriteString(` AND (created_at, id) < (?, ?)`)
		args = append(args, createdAt, id)
	}
	b.WriteString(` ORDER BY created_at DESC, id DESC LIMIT ?`)
	return b.String(), append(args, limit+1), limit, nil
}

// pageOf cuts the rows of a newestFirst query to the page, and gives the
// cursor of the next page when there is one.
func pageOf[T any](s *Store, listing, userID string, rows []T, limit int, key func(T) (time.Time, string)) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	createdAt, id := key(rows[limit-1])
	return rows[:limit], s.encodeCursor(listing, userID, nanos(createdAt), id)
}

func (s *Store) queryTasks(ctx context.Context, query string, args ...any) ([]*task.Task, error) {
	rows, err := s.db.Read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tasks []*task.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, t)
	}
	return tasks, rows.Err()
}

// A cursor is the position of the last row shown, its creation time in
// Unix nanoseconds and its id ("nanos.id"), signed for the user and the
// listing (shared/store/cursor): a cursor the store did not issue to the
// user is refused.
func (s *Store) encodeCursor(listing, userID string, createdAt int64, id string) string {
	return s.cursors.Encode(listing, userID, strconv.FormatInt(createdAt, 10)+"."+id)
}

func (s *Store) decodeCursor(listing, userID, cursor string) (int64, string, error) {
	position, ok := s.cursors.Decode(listing, userID, cursor)
	if !ok {
		return 0, "", fmt.Errorf("cursor %q: not issued to this user by this store: %w", cursor, task.ErrBadCursor)
	}
	at, id, ok := strings.Cut(position, ".")
	createdAt, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || id == "" {
		return 0, "", fmt.Errorf("cursor %q: %w", cursor, task.ErrBadCursor)
	}
	return createdAt, id, nil
}

// StaleQueued returns the oldest queued tasks last updated before the time.
func (s *Store) StaleQueued(ctx context.Context, updatedBefore time.Time, limit int) ([]*task.Task, error) {
	if limit <= 0 {
		limit = maxLimit
	}
	tasks, err := s.queryTasks(ctx, `SELECT `+taskColumns+` FROM tasks
		WHERE status = 'queued' AND updated_at < ? ORDER BY updated_at, id LIMIT ?`,
		nanos(updatedBefore), limit)
	if err != nil {
		return nil, fmt.Errorf("stale queued tasks: %w", err)
	}
	return tasks, nil
}

const overdueRunsSQL = `SELECT ` + taskColumns + ` FROM tasks
	WHERE status = 'running' AND run_deadline IS NOT NULL AND run_deadline < ? ORDER BY run_deadline, id LIMIT ?`

// OverdueRuns returns the running tasks whose bounded run's deadline is
// before the time, earliest first (a partial index holds only those).
func (s *Store) OverdueRuns(ctx context.Context, deadlineBefore time.Time, limit int) ([]*task.Task, error) {
	if limit <= 0 {
		limit = maxLimit
	}
	tasks, err := s.queryTasks(ctx, overdueRunsSQL, nanos(deadlineBefore), limit)
	if err != nil {
		return nil, fmt.Errorf("overdue runs: %w", err)
	}
	return tasks, nil
}

// ExpiredOutputs lists the completed tasks, oldest first, completed before
// the time whose output files are still kept (app.OutputExpirer).
func (s *Store) ExpiredOutputs(ctx context.Context, completedBefore time.Time, limit int) ([]*task.Task, error) {
	tasks, err := s.queryTasks(ctx, `SELECT `+taskColumns+` FROM tasks
		WHERE status = 'completed' AND json_extract(output, '$.files_removed') IS NULL AND completed_at < ?
		ORDER BY completed_at LIMIT ?`, nanos(completedBefore), limit)
	if err != nil {
		return nil, fmt.Errorf("outputs past %s: %w", completedBefore.Format(time.RFC3339), err)
	}
	return tasks, nil
}

// MarkFilesRemoved lists no files for the completed task any more and says
// they were removed (app.OutputExpirer). A task not completed, or already
// marked, is left as it is.
func (s *Store) MarkFilesRemoved(ctx context.Context, taskID string) error {
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE tasks
			SET output = json_set(coalesce(output, '{}'), '$.files', json('[]'), '$.files_removed', json('true')),
				version = version + 1, updated_at = ?
			WHERE id = ? AND status = 'completed' AND json_extract(output, '$.files_removed') IS NULL`,
			nanos(s.now()), taskID)
		return err
	})
	if err != nil {
		return fmt.Errorf("mark the files of task %s removed: %w", taskID, err)
	}
	return nil
}
