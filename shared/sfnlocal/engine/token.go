package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/videoai/mediatasks/shared/sfnlocal/asl"
)

// TokenSuffix ends the Resource of a Task that waits for a task token
// ("arn:aws:states:::lambda:invoke.waitForTaskToken"): its Action is
// given `$$.Task.Token`, and the state ends when SendTaskSuccess or
// SendTaskFailure is called with that token, not when the Action returns.
const TokenSuffix = ".waitForTaskToken"

func isTokenResource(resource string) bool { return strings.HasSuffix(resource, TokenSuffix) }

// ErrTaskTokenNotFound: no Task waits on the token (never issued, already
// answered, timed out, or its execution ended). Step Functions answers
// TaskDoesNotExist or TaskTimedOut there.
var ErrTaskTokenNotFound = errors.New("no task waits on this token")

const (
	outcomeSuccess = "success"
	outcomeFailure = "failure"
)

// SendTaskSuccess ends the Task waiting on token with output as its
// result: what Step Functions' SendTaskSuccess does.
func (e *Engine) SendTaskSuccess(ctx context.Context, token string, output json.RawMessage) error {
	if !json.Valid(output) {
		return fmt.Errorf("send task success: the output is not JSON")
	}
	return e.sendTask(ctx, token, outcomeSuccess, output)
}

// SendTaskFailure fails the Task waiting on token with an error its
// Retry and Catch match.
func (e *Engine) SendTaskFailure(ctx context.Context, token, errName, cause string) error {
	b, _ := json.Marshal(asl.Error{Name: errName, Cause: cause}) // strings: cannot fail
	return e.sendTask(ctx, token, outcomeFailure, b)
}

// SendTaskHeartbeat tells the Task waiting on token that its work goes on:
// its HeartbeatSeconds count again from now.
func (e *Engine) SendTaskHeartbeat(ctx context.Context, token string) error {
	var id int64
	err := e.db.Write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRow(`UPDATE workflow_executions SET token_beat = ?
			WHERE token = ? AND status = 'RUNNING' AND token_outcome = '' RETURNING id`, nanos(e.opts.Now()), token).Scan(&id)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("send task heartbeat: %w", ErrTaskTokenNotFound)
	}
	if err != nil {
		return fmt.Errorf("send task heartbeat: %w", err)
	}
	e.wakeIDs([]int64{id}) // its timer moves
	return nil
}

// sendTask records a token's outcome, once, and wakes its run.
func (e *Engine) sendTask(ctx context.Context, token, outcome string, output []byte) error {
	var id int64
	err := e.db.Write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRow(`UPDATE workflow_executions SET token_outcome = ?, token_output = ?
			WHERE token = ? AND status = 'RUNNING' AND token_outcome = '' RETURNING id`, outcome, output, token).Scan(&id)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("send task %s: %w", outcome, ErrTaskTokenNotFound)
	}
	if err != nil {
		return fmt.Errorf("send task %s: %w", outcome, err)
	}
	e.wakeIDs([]int64{id})
	return nil
}

// tokenState runs a waitForTaskToken Task. Stored before it begins, it
// issues a token (stored too, so a restart keeps it), runs the Action
// with it (again after a crash before the Action returned: at least once,
// as Step Functions invokes), then parks until the token's outcome comes
// or the timeout (TimeoutSeconds from the state's entry, HeartbeatSeconds
// from the last beat) ends it with States.Timeout or
// States.HeartbeatTimeout.
func (e *Engine) tokenState(ctx context.Context, r *run, st *asl.State) (bool, error) {
	if !r.stored {
		if err := e.store(ctx, r); err != nil {
			return false, err
		}
	}
	if r.token == "" && e.delayed(r) {
		return false, nil // a retry delay
	}
	v, err := r.in.value()
	if err != nil {
		return false, e.finishErr(ctx, r, err)
	}
	actx := e.context(r)
	timeout, err := st.Timeout(v, actx)
	if err != nil {
		return e.fail(ctx, r, st, evalErr(err))
	}
	if r.token == "" {
		if err := e.issueToken(ctx, r); err != nil {
			return false, err
		}
	}
	actx.TaskToken = r.token

	outcome, output, beat, err := e.readToken(ctx, r)
	if err != nil {
		return false, err
	}
	r.tokenBeat = beat
	switch outcome {
	case outcomeSuccess:
		return e.tokenDone(ctx, r, st, actx, output, nil)
	case outcomeFailure:
		var aerr asl.Error
		if err := json.Unmarshal(output, &aerr); err != nil {
			return false, e.finishErr(ctx, r, fmt.Errorf("read the failure of token: %w", err))
		}
		return e.tokenDone(ctx, r, st, actx, nil, &aerr)
	}

	// The Action runs first (as Step Functions invokes the function and
	// then times the wait); an Action that answers the token itself ends
	// the state on the next pass.
	if !r.tokenInvoked {
		input, err := st.EffectiveInput(v, actx)
		if err != nil {
			return e.fail(ctx, r, st, evalErr(err))
		}
		raw, err := asl.Marshal(input)
		if err != nil {
			return false, e.finishErr(ctx, r, err)
		}
		e.actions.Add(1)
		go func() {
			defer e.actions.Done()
			_, aerr := e.runAction(ctx, r, st, raw, timeout, r.token)
			var err error
			more := false
			switch {
			case r.stopped.Load() || ctx.Err() != nil:
				// Runs again from the stored position.
			case aerr != nil:
				// The call itself failed: the state fails with its error.
				more, err = e.tokenDone(ctx, r, st, actx, nil, aerr)
			default:
				if err = e.markInvoked(ctx, r); err == nil {
					more = true // look at the outcome again, then park
				}
			}
			switch {
			case err != nil:
				e.stepFailed(ctx, r, err)
			case more:
				e.enqueue(r)
			}
			e.release(r)
		}()
		return false, errHandedOff
	}
	now := e.opts.Now()
	due, name := time.Time{}, ""
	if timeout > 0 {
		due, name = r.entered.Add(timeout), asl.ErrTimeout
	}
	if st.HeartbeatSeconds > 0 {
		if beatDue := r.tokenBeat.Add(time.Duration(st.HeartbeatSeconds) * time.Second); due.IsZero() || beatDue.Before(due) {
			due, name = beatDue, asl.ErrHeartbeatTimeout
		}
	}
	if !due.IsZero() && !due.After(now) {
		cause := fmt.Sprintf("no task success or failure within %s", timeout)
		if name == asl.ErrHeartbeatTimeout {
			cause = fmt.Sprintf("no heartbeat within %d seconds", st.HeartbeatSeconds)
		}
		if err := e.retireToken(ctx, r); err != nil {
			return false, err
		}
		return e.tokenDone(ctx, r, st, actx, nil, &asl.Error{Name: name, Cause: cause})
	}

	if !due.IsZero() {
		e.timers.add(due, r)
		e.Wake()
	}
	return false, nil
}

// tokenDone ends a waitForTaskToken Task with its outcome, as taskDone
// ends a Task with its Action's answer.
func (e *Engine) tokenDone(ctx context.Context, r *run, st *asl.State, actx *asl.Context, result json.RawMessage, aerr *asl.Error) (bool, error) {
	if aerr != nil {
		return e.fail(ctx, r, st, aerr)
	}
	out, err := e.output(r, st, result, actx)
	if err != nil {
		return e.fail(ctx, r, st, evalErr(err))
	}
	return e.advance(ctx, r, st, valueDoc(out))
}

func (e *Engine) issueToken(ctx context.Context, r *run) error {
	token, now := uuid.NewString(), e.opts.Now()
	err := e.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE workflow_executions SET token = ?, token_beat = ?
			WHERE id = ? AND status = 'RUNNING' AND seq = ? AND token IS NULL`, token, nanos(now), r.id, r.seq)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errStopped
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("issue a task token for %s: %w", r.name, err)
	}
	r.token, r.tokenBeat, r.tokenInvoked = token, now, false
	return nil
}

func (e *Engine) readToken(ctx context.Context, r *run) (outcome string, output []byte, beat time.Time, err error) {
	var b sql.NullInt64
	err = e.db.Read.QueryRowContext(ctx, `SELECT token_outcome, token_output, token_beat FROM workflow_executions
		WHERE id = ? AND token = ?`, r.id, r.token).Scan(&outcome, &output, &b)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, time.Time{}, errStopped
	}
	if err != nil {
		return "", nil, time.Time{}, fmt.Errorf("read the task token of %s: %w", r.name, err)
	}
	if b.Valid {
		beat = fromNanos(b.Int64)
	}
	return outcome, output, beat, nil
}

func (e *Engine) markInvoked(ctx context.Context, r *run) error {
	err := e.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE workflow_executions SET token_invoked = 1 WHERE id = ? AND token = ?`, r.id, r.token)
		return err
	})
	if err != nil {
		return fmt.Errorf("record the call of %s's token task: %w", r.name, err)
	}
	r.tokenInvoked = true
	return nil
}

// retireToken makes a timed-out token answer ErrTaskTokenNotFound, as
// Step Functions' TaskTimedOut: the state moves on without it.
func (e *Engine) retireToken(ctx context.Context, r *run) error {
	err := e.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE workflow_executions SET token = NULL WHERE id = ? AND token = ?`, r.id, r.token)
		return err
	})
	if err != nil {
		return fmt.Errorf("retire the task token of %s: %w", r.name, err)
	}
	return nil
}
