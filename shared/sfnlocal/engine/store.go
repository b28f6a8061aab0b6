package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// migrations are the "workflow" component's schema steps: append only.
//
// One row per execution and per Map item (an item is a sub-execution of
// its Map's item processor). A RUNNING row's position (state, state_input,
// entered_at, retries, due_at) is where it resumes after a restart:
//   - due_at is the end of a Wait or of a retry delay, kept across restarts;
//   - seq counts the positions stored, so that the items and children a
//     state starts belong to one entry into that state;
//   - waiting is NULL until a Map state has started its items (or a Task
//     its child execution), then the number of them still to end; at 0 the
//     state collects their results;
//   - waiting_on is the child execution a startExecution.sync Task waits
//     for (which may have been started by someone else).
//
// Items are PENDING until a MaxConcurrency slot frees. parent is who stops
// along with a row: the Map's execution for an item, the starting
// execution for a child it started.
var migrations = []string{
	`CREATE TABLE workflow_executions (
		id          INTEGER PRIMARY KEY,
		machine     TEXT NOT NULL,
		name        TEXT NOT NULL,
		kind        INTEGER NOT NULL,            -- 0 execution, 1 Map item
		scope       TEXT NOT NULL DEFAULT '',    -- item: JSON array of the Map state names above it
		parent      INTEGER,
		parent_seq  INTEGER,                     -- item: the Map entry (parent's seq) it belongs to
		root        INTEGER,                     -- item: the execution whose context it shares
		item_index  INTEGER,
		status      TEXT NOT NULL,
		input       BLOB NOT NULL,
		output      BLOB,
		error       TEXT NOT NULL DEFAULT '',
		cause       TEXT NOT NULL DEFAULT '',
		state       TEXT NOT NULL,
		state_input BLOB NOT NULL,
		entered_at  INTEGER NOT NULL,            -- unix nanoseconds
		retries     TEXT NOT NULL DEFAULT '',    -- retry counts, one per retrier: "1,0"
		due_at      INTEGER,
		seq         INTEGER NOT NULL DEFAULT 0,
		waiting     INTEGER,
		waiting_on  INTEGER,
		started_at  INTEGER NOT NULL,
		stopped_at  INTEGER,
		UNIQUE (machine, name)
	);
	CREATE INDEX workflow_executions_status ON workflow_executions (kind, status);
	CREATE INDEX workflow_executions_parent ON workflow_executions (parent, status, item_index) WHERE parent IS NOT NULL;
	CREATE INDEX workflow_executions_waiting_on ON workflow_executions (waiting_on) WHERE waiting_on IS NOT NULL;`,
	// A waitForTaskToken Task's token, issued once per entry into the
	// state (a new position clears it): token_invoked says its Action has
	// run, token_beat is the last heartbeat (or the issue), token_outcome
	// is '' until SendTaskSuccess ('success', token_output the result) or
	// SendTaskFailure ('failure', token_output {"Error","Cause"}).
	`ALTER TABLE workflow_executions ADD COLUMN token TEXT;
	ALTER TABLE workflow_executions ADD COLUMN token_invoked INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE workflow_executions ADD COLUMN token_beat INTEGER;
	ALTER TABLE workflow_executions ADD COLUMN token_outcome TEXT NOT NULL DEFAULT '';
	ALTER TABLE workflow_executions ADD COLUMN token_output BLOB;
	CREATE UNIQUE INDEX workflow_executions_token ON workflow_executions (token) WHERE token IS NOT NULL;`,
}

const (
	kindExecution = 0
	kindItem      = 1
)

// statements are prepared once on the writer: they run on every step.
type statements struct {
	insert, position, finish, notifyWaiters, itemDone, itemFailed, promote *sql.Stmt
}

func (e *Engine) prepare(ctx context.Context) error {
	for _, s := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&e.stmt.insert, `INSERT INTO workflow_executions
			(machine, name, kind, scope, parent, parent_seq, root, item_index, status, input, state, state_input, entered_at, started_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (machine, name) DO NOTHING RETURNING id`},
		{&e.stmt.position, `UPDATE workflow_executions
			SET state = ?, state_input = ?, entered_at = ?, retries = ?, due_at = ?, seq = seq + 1, waiting = NULL, waiting_on = NULL,
				token = NULL, token_invoked = 0, token_beat = NULL, token_outcome = '', token_output = NULL
			WHERE id = ? AND status = 'RUNNING'`},
		{&e.stmt.finish, `UPDATE workflow_executions
			SET status = ?, output = ?, error = ?, cause = ?, stopped_at = ?, due_at = NULL, waiting = NULL
			WHERE id = ? AND status = 'RUNNING'`},
		{&e.stmt.notifyWaiters, `UPDATE workflow_executions SET waiting = 0
			WHERE waiting_on = ? AND status = 'RUNNING' AND waiting > 0 RETURNING id`},
		{&e.stmt.itemDone, `UPDATE workflow_executions SET waiting = waiting - 1
			WHERE id = ? AND status = 'RUNNING' AND waiting > 0 RETURNING waiting`},
		{&e.stmt.itemFailed, `UPDATE workflow_executions SET waiting = 0
			WHERE id = ? AND status = 'RUNNING' AND waiting > 0`},
		{&e.stmt.promote, `UPDATE workflow_executions SET status = 'RUNNING', entered_at = ?, started_at = ?
			WHERE id = (SELECT id FROM workflow_executions WHERE parent = ? AND status = 'PENDING' ORDER BY item_index LIMIT 1)
			RETURNING id`},
	} {
		stmt, err := e.db.PrepareWrite(ctx, s.sql)
		if err != nil {
			return err
		}
		*s.dst = stmt
	}
	return nil
}

// errStopped: the execution is no longer RUNNING (stopped meanwhile), so
// the write was dropped.
var errStopped = errors.New("execution is no longer running")

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func formatRetries(r []int) string {
	if len(r) == 0 {
		return ""
	}
	var b strings.Builder
	for i, n := range r {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

func parseRetries(s string) []int {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	out := make([]int, len(parts))
	for i, p := range parts {
		out[i], _ = strconv.Atoi(p)
	}
	return out
}

func formatScope(scope []string) string {
	if len(scope) == 0 {
		return ""
	}
	b, _ := json.Marshal(scope)
	return string(b)
}

func parseScope(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("scope %q: %w", s, err)
	}
	return out, nil
}

// runColumns load a row to step it, with the context ($$.Execution) of
// its root execution.
const runColumns = `SELECT e.id, e.machine, e.name, e.kind, e.scope, e.parent, e.status, e.state, e.state_input,
	e.entered_at, e.retries, e.due_at, e.seq, e.waiting, e.started_at,
	coalesce(r.name, e.name), coalesce(r.input, e.input), coalesce(r.started_at, e.started_at),
	coalesce(e.token, ''), e.token_invoked, coalesce(e.token_beat, 0)
	FROM workflow_executions e LEFT JOIN workflow_executions r ON r.id = e.root `

func scanRun(row interface{ Scan(...any) error }) (*run, string, error) {
	r := &run{}
	var scope, status, retries string
	var parent, due, waiting sql.NullInt64
	var entered, started, rootStarted, beat int64
	var stateInput, rootInput []byte
	if err := row.Scan(&r.id, &r.machine, &r.name, &r.kind, &scope, &parent, &status, &r.state, &stateInput,
		&entered, &retries, &due, &r.seq, &waiting, &started,
		&r.execName, &rootInput, &rootStarted,
		&r.token, &r.tokenInvoked, &beat); err != nil {
		return nil, "", err
	}
	if beat != 0 {
		r.tokenBeat = fromNanos(beat)
	}
	var err error
	if r.scope, err = parseScope(scope); err != nil {
		return nil, "", err
	}
	r.parent = parent.Int64
	r.in = doc{raw: stateInput}
	r.entered = fromNanos(entered)
	r.retries = parseRetries(retries)
	if due.Valid {
		r.due = fromNanos(due.Int64)
	}
	r.stored = true
	r.waitingSet, r.waiting = waiting.Valid, waiting.Int64
	r.execInput = rootInput
	r.execStart = fromNanos(rootStarted)
	return r, status, nil
}

// execColumns describe an execution.
const execColumns = `SELECT id, machine, name, status, input, output, error, cause, state, state_input, started_at, stopped_at
	FROM workflow_executions `

func scanExecution(row interface{ Scan(...any) error }) (int64, Execution, error) {
	var x Execution
	var id, started int64
	var stopped sql.NullInt64
	var input, output, stateInput []byte
	if err := row.Scan(&id, &x.Machine, &x.Name, &x.Status, &input, &output, &x.Error, &x.Cause, &x.State, &stateInput, &started, &stopped); err != nil {
		return 0, x, err
	}
	x.Input = input
	if output != nil {
		x.Output = output
	}
	if x.Status == StatusRunning {
		x.StateInput = stateInput
	} else {
		x.State = ""
	}
	x.StartedAt = fromNanos(started)
	if stopped.Valid {
		t := fromNanos(stopped.Int64)
		x.StoppedAt = &t
	}
	return id, x, nil
}

// abortTree marks the executions from (and every RUNNING or PENDING
// descendant: Map items, children it started) ABORTED, and readies the
// executions that wait on any of them. from is a query giving the ids to
// start from.
func abortTree(tx *sql.Tx, from string, args []any, now int64, errName, cause string) (aborted, ready []int64, err error) {
	q := `WITH RECURSIVE tree(id) AS (` + from + `
		UNION SELECT c.id FROM workflow_executions c JOIN tree ON c.parent = tree.id WHERE c.status IN ('RUNNING', 'PENDING'))
		UPDATE workflow_executions SET status = 'ABORTED', stopped_at = ?, error = ?, cause = ?, due_at = NULL, waiting = NULL
		WHERE id IN (SELECT id FROM tree) AND status IN ('RUNNING', 'PENDING') RETURNING id`
	rows, err := tx.Query(q, append(args, now, errName, cause)...)
	if err != nil {
		return nil, nil, fmt.Errorf("abort: %w", err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("abort: %w", err)
		}
		aborted = append(aborted, id)
	}
	if err := rows.Close(); err != nil {
		return nil, nil, fmt.Errorf("abort: %w", err)
	}
	for _, id := range aborted {
		r, err := queryIDs(tx, `UPDATE workflow_executions SET waiting = 0
			WHERE waiting_on = ? AND status = 'RUNNING' AND waiting > 0 RETURNING id`, id)
		if err != nil {
			return nil, nil, fmt.Errorf("abort: wake waiters: %w", err)
		}
		ready = append(ready, r...)
	}
	return aborted, ready, nil
}

func queryIDs(tx *sql.Tx, q string, args ...any) ([]int64, error) {
	return scanIDs(tx.Query(q, args...))
}

func scanIDs(rows *sql.Rows, err error) ([]int64, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
