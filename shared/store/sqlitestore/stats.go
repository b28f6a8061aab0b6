package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
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
	if err := sumSpend(ctx, tx, userID, s.now(), &st); err != nil {
		return task.Stats{}, fmt.Errorf("stats: %w", err)
	}
	if err := summarisePrompts(ctx, tx, userID, &st); err != nil {
		return task.Stats{}, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}

// endedStatuses are the statuses whose tasks the prompt figures count.
const endedStatuses = `('completed', 'failed', 'canceled')`

// summarisePrompts counts the user's ended tasks whose prompt was
// optimised in a mode that uses the cache, and the outcomes of each
// experiment's arms.
func summarisePrompts(ctx context.Context, tx *sql.Tx, userID string, st *task.Stats) error {
	err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(json_extract(optimized_prompt, '$.cache_hit')), 0)
		FROM tasks WHERE user_id = ? AND status IN `+endedStatuses+` AND optimized_prompt IS NOT NULL
			AND json_extract(optimized_prompt, '$.mode') IN ('template', 'auto')`, userID).
		Scan(&st.Prompts.Optimized, &st.Prompts.CacheHits)
	if err != nil {
		return err
	}
	st.Prompts.Fill()
	rows, err := tx.QueryContext(ctx, `SELECT json_extract(optimized_prompt, '$.experiment.name'),
			json_extract(optimized_prompt, '$.experiment.arm'), status, started_at, completed_at,
			EXISTS (SELECT 1 FROM json_each(attempt_history) WHERE json_extract(value, '$.outcome') = ?)
		FROM tasks WHERE user_id = ? AND status IN `+endedStatuses+` AND optimized_prompt IS NOT NULL
			AND json_extract(optimized_prompt, '$.experiment') IS NOT NULL`, task.OutcomeRefused, userID)
	if err != nil {
		return err
	}
	defer rows.Close()
	type arm struct{ experiment, arm string }
	arms := map[arm]*task.ArmStats{}
	durations := map[arm][]time.Duration{}
	for rows.Next() {
		var k arm
		var status string
		var startedAt, completedAt sql.NullInt64
		var refused bool
		if err := rows.Scan(&k.experiment, &k.arm, &status, &startedAt, &completedAt, &refused); err != nil {
			return err
		}
		a := arms[k]
		if a == nil {
			a = &task.ArmStats{Experiment: k.experiment, Arm: k.arm}
			arms[k] = a
		}
		switch task.Status(status) {
		case task.StatusCompleted:
			a.Completed++
			if startedAt.Valid && completedAt.Valid {
				durations[k] = append(durations[k], time.Duration(completedAt.Int64-startedAt.Int64))
			}
		case task.StatusFailed:
			a.Failed++
		case task.StatusCanceled:
			a.Canceled++
		}
		if refused {
			a.SafetyRefusals++
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	st.Experiments = make([]task.ArmStats, 0, len(arms))
	for k, a := range arms {
		if ds := durations[k]; len(ds) > 0 {
			var sum time.Duration
			for _, d := range ds {
				sum += d
			}
			a.MeanSeconds = task.RoundSeconds((sum / time.Duration(len(ds))).Seconds())
		}
		st.Experiments = append(st.Experiments, *a)
	}
	task.SortArms(st.Experiments)
	return nil
}

// sumSpend totals the cost of the user's tasks completed over the last
// task.SpendDays days, per day, type and provider.
func sumSpend(ctx context.Context, tx *sql.Tx, userID string, now time.Time, st *task.Stats) error {
	from := dayStart(now).AddDate(0, 0, 1-task.SpendDays)
	rows, err := tx.QueryContext(ctx, `SELECT date(completed_at / 1000000000, 'unixepoch') AS day, task_type, provider,
			count(*), sum(json_extract(cost, '$.usd'))
		FROM tasks WHERE user_id = ? AND status = 'completed' AND cost IS NOT NULL AND completed_at >= ?
		GROUP BY day, task_type, provider`, userID, from.UnixNano())
	if err != nil {
		return err
	}
	defer rows.Close()
	st.Spend = []task.Spend{}
	for rows.Next() {
		var sp task.Spend
		var typ string
		if err := rows.Scan(&sp.Day, &typ, &sp.Provider, &sp.Tasks, &sp.USD); err != nil {
			return err
		}
		sp.Type = task.Type(typ)
		st.Spend = append(st.Spend, sp)
		st.SpendUSD += sp.USD
	}
	task.SortSpend(st.Spend)
	st.SpendUSD = math.Round(st.SpendUSD*1e6) / 1e6
	return rows.Err()
}

// SpentOn is the cost of the user's tasks completed on day (UTC).
func (s *Store) SpentOn(ctx context.Context, userID string, day time.Time) (float64, error) {
	from := dayStart(day)
	var usd sql.NullFloat64
	err := s.db.Read.QueryRowContext(ctx, `SELECT sum(json_extract(cost, '$.usd')) FROM tasks
		WHERE user_id = ? AND status = 'completed' AND cost IS NOT NULL AND completed_at >= ? AND completed_at < ?`,
		userID, from.UnixNano(), from.AddDate(0, 0, 1).UnixNano()).Scan(&usd)
	if err != nil {
		return 0, fmt.Errorf("spend of %s: %w", task.DayOf(day), err)
	}
	return usd.Float64, nil
}

func dayStart(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
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
