// Package sqlitewaits keeps callback.Waits in the shared SQLite database:
// one row per task, apart from the task store's tables.
package sqlitewaits

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/videoai/mediatasks/shared/callback"
	"github.com/videoai/mediatasks/shared/sqlitedb"
)

const component = "callback_waits"

// migrations: append only. arrived says the job's end was received
// (perhaps before the wait was armed: token NULL).
var migrations = []string{
	`CREATE TABLE callback_waits (
		task_id  TEXT PRIMARY KEY,
		provider TEXT NOT NULL,
		job      TEXT NOT NULL,
		token    TEXT,
		arrived  INTEGER NOT NULL DEFAULT 0
	)`,
}

// One statement each, so that an arm and an arrival racing each other
// are ordered by the writer: whichever comes second sees the first.
const (
	armSQL = `INSERT INTO callback_waits (task_id, provider, job, token, arrived) VALUES (?, ?, ?, ?, 0)
		ON CONFLICT (task_id) DO UPDATE SET token = excluded.token,
			arrived = CASE WHEN provider = excluded.provider AND job = excluded.job THEN arrived ELSE 0 END,
			provider = excluded.provider, job = excluded.job
		RETURNING arrived`
	arriveSQL = `INSERT INTO callback_waits (task_id, provider, job, token, arrived) VALUES (?, ?, ?, NULL, 1)
		ON CONFLICT (task_id) DO UPDATE SET arrived = 1
			WHERE provider = excluded.provider AND job = excluded.job
		RETURNING coalesce(token, '')`
)

// Waits is callback.Waits on SQLite.
type Waits struct{ db *sqlitedb.DB }

var _ callback.Waits = (*Waits)(nil)

// New returns the waits on db, creating their table if needed.
func New(ctx context.Context, db *sqlitedb.DB) (*Waits, error) {
	if err := db.Migrate(ctx, component, migrations); err != nil {
		return nil, fmt.Errorf("callback waits: %w", err)
	}
	return &Waits{db: db}, nil
}

// Arm records the task's wait on token for provider's job.
func (w *Waits) Arm(ctx context.Context, taskID, provider, job, token string) (bool, error) {
	var arrived bool
	err := w.db.Write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, armSQL, taskID, provider, job, token).Scan(&arrived)
	})
	if err != nil {
		return false, fmt.Errorf("arm the callback wait of task %s: %w", taskID, err)
	}
	return arrived, nil
}

// Arrive records the end of provider's job.
func (w *Waits) Arrive(ctx context.Context, taskID, provider, job string) (string, error) {
	var token string
	err := w.db.Write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, arriveSQL, taskID, provider, job).Scan(&token)
		if errors.Is(err, sql.ErrNoRows) {
			token = "" // the task waits on another job
			return nil
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("record the callback of task %s: %w", taskID, err)
	}
	return token, nil
}

// Forget removes the task's wait.
func (w *Waits) Forget(ctx context.Context, taskID string) error {
	err := w.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM callback_waits WHERE task_id = ?`, taskID)
		return err
	})
	if err != nil {
		return fmt.Errorf("forget the callback wait of task %s: %w", taskID, err)
	}
	return nil
}
