package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/videoai/mediatasks/shared/task"
)

// Stats counts the user's tasks by type and status, and per provider the
// tasks that ended and how long the completed ones ran.
func (s *Store) Stats(ctx context.Context, userID string) (task.Stats, error) {
	// One read transaction, so that the figures describe one moment.
	tx, err := s.db.Read.BeginTx(ctx, nil)
	if err != nil {
		return task.Stats{}, fmt.Errorf("stats: %w", err)
	}
	defer tx.Rollback()
	st := task.Stats{Counts: make(map[task.Type]map[task.Status]int, len(task.Types)), Providers: map[string]task.ProviderStats{}}
	for _, typ := range task.Types {
		st.Counts[typ] = task.NewCounts(0)
	}
	if err := countByTypeAndStatus(ctx, tx, userID, &st); err != nil {
		return task.Stats{}, fmt.Errorf("stats: %w", err)
	}
	if st.Succeeded+st.Failed > 0 {
		st.SuccessRate = float64(st.Succeeded) / float64(st.Succeeded+st.Failed)
	}
	if err := summariseProviders(ctx, tx, userID, st.Providers); err != nil {
		return task.Stats{}, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}

func countByTypeAndStatus(ctx context.Context, tx *sql.Tx, userID string, st *task.Stats) error {
	rows, err := tx.QueryContext(ctx, `SELECT task_type, status, count(*) FROM tasks
		WHERE user_id = ? GROUP BY task_type, status`, userID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var typ, status string
		var n int
		if err := rows.Scan(&typ, &status, &n); err != nil {
			return err
		}
		counts := st.Counts[task.Type(typ)]
		if counts == nil {
			counts = task.NewCounts(0)
			st.Counts[task.Type(typ)] = counts
		}
		counts[task.Status(status)] += n
		st.Total += n
		switch task.Status(status) {
		case task.StatusCompleted:
			st.Succeeded += n
		case task.StatusFailed:
			st.Failed += n
		}
	}
	return rows.Err()
}

// summariseProviders fills per-provider figures. Tasks that never reached a
// provider (no provider recorded) are left out.
func summariseProviders(ctx context.Context, tx *sql.Tx, userID string, providers map[string]task.ProviderStats) error {
	rows, err := tx.QueryContext(ctx, `SELECT provider, status, started_at, completed_at FROM tasks
		WHERE user_id = ? AND status IN ('completed', 'failed') AND provider != ''`, userID)
	if err != nil {
		return err
	}
	defer rows.Close()
	durations := map[string][]time.Duration{}
	for rows.Next() {
		var provider, status string
		var startedAt, completedAt sql.NullInt64
		if err := rows.Scan(&provider, &status, &startedAt, &completedAt); err != nil {
			return err
		}
		p := providers[provider]
		if task.Status(status) == task.StatusFailed {
			p.Failed++
		} else {
			p.Completed++
			if startedAt.Valid && completedAt.Valid {
				durations[provider] = append(durations[provider], time.Duration(completedAt.Int64-startedAt.Int64))
			}
		}
		providers[provider] = p
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for provider, ds := range durations {
		p := providers[provider]
		p.MeanSeconds, p.P95Seconds = task.MeanAndP95(ds)
		providers[provider] = p
	}
	return nil
}

// CountByStatus counts every user's tasks by status (for /metrics).
func (s *Store) CountByStatus(ctx context.Context) (map[task.Status]int, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT status, n FROM task_counts`)
	if err != nil {
		return nil, fmt.Errorf("count tasks by status: %w", err)
	}
	defer rows.Close()
	counts := make(map[task.Status]int, len(task.Statuses))
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("count tasks by status: %w", err)
		}
		counts[task.Status(status)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count tasks by status: %w", err)
	}
	return counts, nil
}
