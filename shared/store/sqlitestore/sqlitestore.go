// Package sqlitestore keeps task records, batches, events, idempotency
// records, API keys, webhook deliveries and cached prompts in the embedded
// SQLite database: the task.Store, auth.KeyStore, webhook.Store and
// prompt.Cache of the one-machine runtime.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/videoai/mediatasks/shared/auth"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/store/cursor"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

var (
	_ task.Store    = (*Store)(nil)
	_ auth.KeyStore = (*Store)(nil)
)

// component names this package's schema in the shared database.
const component = "store"

// migrations are append-only: a released step is never edited.
var migrations = []string{
	`CREATE TABLE tasks (
		id             TEXT PRIMARY KEY,
		user_id        TEXT NOT NULL,
		task_type      TEXT NOT NULL,
		status         TEXT NOT NULL,
		progress       REAL NOT NULL,
		priority       TEXT NOT NULL,
		input          TEXT,
		output         TEXT,
		error          TEXT,
		provider       TEXT NOT NULL,
		attempts       INTEGER NOT NULL,
		batch_id       TEXT,
		metadata       TEXT,
		webhook_url    TEXT NOT NULL,
		webhook_events TEXT,
		created_at     INTEGER NOT NULL,
		updated_at     INTEGER NOT NULL,
		started_at     INTEGER,
		completed_at   INTEGER,
		version        INTEGER NOT NULL
	)`,
	`CREATE INDEX tasks_by_user ON tasks (user_id, created_at DESC, id DESC)`,
	`CREATE INDEX tasks_by_user_status ON tasks (user_id, status, created_at DESC, id DESC)`,
	`CREATE INDEX tasks_by_user_type ON tasks (user_id, task_type, created_at DESC, id DESC)`,
	// batch_id is NULL for tasks outside a batch, so they cost this index nothing.
	`CREATE INDEX tasks_by_user_batch ON tasks (user_id, batch_id, created_at DESC, id DESC) WHERE batch_id IS NOT NULL`,
	`CREATE INDEX tasks_queued ON tasks (updated_at, id) WHERE status = 'queued'`,
	`CREATE TABLE batches (
		id             TEXT PRIMARY KEY,
		user_id        TEXT NOT NULL,
		task_ids       TEXT NOT NULL,
		status         TEXT NOT NULL,
		counts         TEXT NOT NULL,
		webhook_url    TEXT NOT NULL,
		webhook_events TEXT,
		created_at     INTEGER NOT NULL,
		updated_at     INTEGER NOT NULL,
		completed_at   INTEGER,
		version        INTEGER NOT NULL
	)`,
	`CREATE TABLE events (
		subject_id TEXT NOT NULL,
		seq        INTEGER NOT NULL,
		id         TEXT NOT NULL,
		user_id    TEXT NOT NULL,
		type       TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		data       TEXT NOT NULL,
		PRIMARY KEY (subject_id, seq)
	)`,
	`CREATE TABLE idempotency_records (
		user_id      TEXT NOT NULL,
		key          TEXT NOT NULL,
		request_hash TEXT NOT NULL,
		status_code  INTEGER NOT NULL,
		headers      TEXT,
		body         BLOB,
		created_at   INTEGER NOT NULL,
		expires_at   INTEGER NOT NULL,
		PRIMARY KEY (user_id, key)
	)`,
	`CREATE INDEX idempotency_records_by_expiry ON idempotency_records (expires_at)`,
	`CREATE TABLE api_keys (
		id         TEXT PRIMARY KEY,
		user_id    TEXT NOT NULL,
		hash       TEXT NOT NULL UNIQUE,
		created_at INTEGER NOT NULL
	)`,
	// Tasks per status, for /metrics: kept by triggers in the writes that
	// change them, so that reading them never scans the tasks.
	`CREATE TABLE task_counts (status TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID`,
	`INSERT INTO task_counts (status, n)
		SELECT column1, (SELECT count(*) FROM tasks WHERE status = column1)
		FROM (VALUES ('queued'), ('running'), ('completed'), ('failed'), ('canceled'))`,
	`CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks BEGIN
		UPDATE task_counts SET n = n + 1 WHERE status = NEW.status;
	END`,
	`CREATE TRIGGER task_counts_update AFTER UPDATE OF status ON tasks WHEN OLD.status <> NEW.status BEGIN
		UPDATE task_counts SET n = n - 1 WHERE status = OLD.status;
		UPDATE task_counts SET n = n + 1 WHERE status = NEW.status;
	END`,
	`CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks BEGIN
		UPDATE task_counts SET n = n - 1 WHERE status = OLD.status;
	END`,
	// The provider calls of each task, with their outcomes (JSON).
	`ALTER TABLE tasks ADD COLUMN attempt_history TEXT`,
	`ALTER TABLE tasks ADD COLUMN optimized_prompt TEXT`,
	// The estimated cost of a completed task (JSON), summed for spend.
	`ALTER TABLE tasks ADD COLUMN cost TEXT`,
	// The completed tasks whose output files are still kept, oldest
	// first: what the retention sweep reads (it stays small: removed ones
	// leave it).
	`CREATE INDEX tasks_files_kept ON tasks (completed_at)
		WHERE status = 'completed' AND json_extract(output, '$.files_removed') IS NULL`,
	// The workflow execution that claimed the task (task.Run): its key,
	// and the deadline of a bounded one. Only running tasks with a
	// deadline are indexed, for the sweep of lost runs.
	`ALTER TABLE tasks ADD COLUMN run_key TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE tasks ADD COLUMN run_deadline INTEGER`,
	`CREATE INDEX tasks_run_deadline ON tasks (run_deadline, id)
		WHERE status = 'running' AND run_deadline IS NOT NULL`,
}

// Options tune New.
type Options struct {
	// Now is the clock (default time.Now): it decides which idempotency
	// records and cached prompts have expired and stamps batch changes.
	Now func() time.Time
	// OnDeliveries is told of the pending webhook deliveries each
	// committed write created or made due again (the server wakes its
	// deliverer from it); nil: no one is told.
	OnDeliveries webhook.CommitHook
	// CursorKey signs listing cursors, so that a cursor the store did not
	// issue to the user is refused; empty: a random key, and cursors do
	// not outlive the process. The server derives it from its secret.
	CursorKey []byte
}

// Store is the SQLite task store. It is safe for concurrent use.
type Store struct {
	db      *sqlitedb.DB
	now     func() time.Time
	cursors cursor.Signer

	// Statements of the submit and update paths, prepared once on the
	// writer: compiling them costs about as much as running them.
	insertTask     *sql.Stmt
	updateTask     *sql.Stmt
	insertEvent    *sql.Stmt
	putIdempotency *sql.Stmt
	// Reads of one task, the most frequent query, prepared on each read
	// connection once rather than parsed on every call.
	getTask, getTaskAny *sql.Stmt

	webhooks     webhookState // deliveries' outbox (webhooks.go)
	prompts      promptState  // the prompt cache (promptcache.go)
	onDeliveries webhook.CommitHook
}

// New applies the store's migrations to db and returns the store.
func New(ctx context.Context, db *sqlitedb.DB, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := db.Migrate(ctx, component, migrations); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	s := &Store{db: db, now: opts.Now, cursors: cursor.New(opts.CursorKey), onDeliveries: opts.OnDeliveries}
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{{&s.insertTask, insertTaskSQL}, {&s.updateTask, updateTaskSQL}, {&s.insertEvent, insertEventSQL}, {&s.putIdempotency, putIdempotencySQL}} {
		stmt, err := db.PrepareWrite(ctx, p.query)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: %w", err)
		}
		*p.stmt = stmt
	}
	var err error
	if s.getTask, err = db.Read.PrepareContext(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = ? AND user_id = ?`); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	if s.getTaskAny, err = db.Read.PrepareContext(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = ?`); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	if err := s.initWebhooks(ctx); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	if err := s.initPromptCache(ctx); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	return s, nil
}

// Ping checks that the database answers reads and writes.
// StorageFault is nil while the database's writes succeed, and else the
// storage fault that makes them fail (app.StorageState).
func (s *Store) StorageFault() error { return s.db.StorageFault() }

// StorageDowns counts the times the database's writes started failing.
func (s *Store) StorageDowns() uint64 { return s.db.StorageDowns() }

func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.Ping(ctx); err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	return nil
}

// isConstraint reports whether err is SQLite refusing a duplicate primary
// key or unique value.
func isConstraint(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return true
	}
	return false
}

// deleteInChunks runs del, a DELETE whose arguments are now and a row
// limit, until it deletes fewer rows than the limit, and says how many
// went. Each chunk is its own write: one long delete would hold
// the single writer, and every submit would wait behind it.
func (s *Store) deleteInChunks(ctx context.Context, del string, now int64) (int, error) {
	const chunk = 1000
	total := 0
	for {
		var n int64
		err := s.db.Write(ctx, func(tx *sql.Tx) error {
			res, err := tx.Exec(del, now, chunk)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, err
		}
		total += int(n)
		if n < chunk {
			return total, nil
		}
	}
}

// Times are stored as Unix nanoseconds (UTC): compact, and they sort.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func nullNanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixNano()
}

func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
