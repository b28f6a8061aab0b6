package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/videoai/mediatasks/shared/sfnlocal/asl"
)

// maxInMemory bounds the Choice and Pass states passed through in one
// step: a loop of them alone would otherwise never end or be stored.
const maxInMemory = 10000

// retryWrite is how long a run waits after a failed store before it is
// stepped again.
const retryWrite = time.Second

// step moves r on until it ends, parks (Wait, retry delay, Map items,
// child execution) or has run one Task (then it queues again, so that one
// long execution does not hold a worker while others wait).
// step runs r's states until one waits, ends it, or hands the run off:
// a Task's Action runs on a goroutine of its own, so that an Action that
// hangs or waits for its provider holds no worker. It reports a hand-off:
// the Action's goroutine then ends the step (release) itself.
func (e *Engine) step(ctx context.Context, r *run) bool {
	for range maxInMemory {
		if r.stopped.Load() || ctx.Err() != nil {
			return false
		}
		st, ok := r.m.States[r.state]
		if !ok {
			e.finish(ctx, r, StatusFailed, nil, asl.ErrRuntime, fmt.Sprintf("state %q is not in the definition", r.state))
			return false
		}
		var more bool
		var err error
		switch st.Type {
		case asl.TypePass:
			more, err = e.passState(ctx, r, st)
		case asl.TypeChoice:
			more, err = e.choiceState(ctx, r, st)
		case asl.TypeSucceed:
			err = e.succeedState(ctx, r, st)
		case asl.TypeFail:
			err = e.failState(ctx, r, st)
		case asl.TypeWait:
			more, err = e.waitState(ctx, r, st)
		case asl.TypeTask:
			switch {
			case st.Resource == StartExecutionSync:
				more, err = e.childState(ctx, r, st)
			case isTokenResource(st.Resource):
				more, err = e.tokenState(ctx, r, st)
			default:
				more, err = e.taskState(ctx, r, st)
			}
		case asl.TypeMap:
			more, err = e.mapState(ctx, r, st)
		}
		if errors.Is(err, errHandedOff) {
			return true
		}
		if err != nil {
			e.stepFailed(ctx, r, err)
			return false
		}
		if !more {
			return false
		}
	}
	e.finish(ctx, r, StatusFailed, nil, asl.ErrRuntime,
		fmt.Sprintf("more than %d Choice and Pass states in a row without a Task, Wait or Map", maxInMemory))
	return false
}

// stepFailed handles an error of the engine itself (a store failing): the
// run is tried again later from its stored position.
func (e *Engine) stepFailed(ctx context.Context, r *run, err error) {
	if errors.Is(err, errStopped) || ctx.Err() != nil {
		e.forget(r)
		return
	}
	e.log.Error("workflow: step failed, trying again", "machine", r.machine, "execution", r.name, "state", r.state, "err", err)
	e.timers.add(e.opts.Now().Add(retryWrite), r)
	e.Wake()
}

func (e *Engine) context(r *run) *asl.Context {
	n := 0
	for _, c := range r.retries {
		n += c
	}
	return &asl.Context{
		ExecutionID:        executionArn(r.machine, r.execName),
		ExecutionName:      r.execName,
		ExecutionStartTime: r.execStart,
		ExecutionInput:     r.execInput,
		StateMachineID:     machineArn(r.machine),
		StateMachineName:   r.machine,
		StateName:          r.state,
		StateEnteredTime:   r.entered,
		RetryCount:         n,
	}
}

// moveTo puts r at the start of state next, in memory.
func (e *Engine) moveTo(r *run, next string, input doc) {
	r.state = next
	r.in = input
	r.entered = e.opts.Now()
	r.retries = nil
	r.due = time.Time{}
	r.stored = false
	r.waitingSet, r.waiting = false, 0
	r.token, r.tokenInvoked, r.tokenBeat = "", false, time.Time{}
}

// advance leaves st with output: to its Next state, or the end.
func (e *Engine) advance(ctx context.Context, r *run, st *asl.State, output doc) (bool, error) {
	if st.End {
		return false, e.finish(ctx, r, StatusSucceeded, &output, "", "")
	}
	e.moveTo(r, st.Next, output)
	return true, nil
}

// store writes r's position; a run stopped meanwhile gets errStopped.
func (e *Engine) store(ctx context.Context, r *run) error {
	input, err := r.in.json()
	if err != nil {
		return fmt.Errorf("store position %s: %w", r.state, err)
	}
	var due any
	if !r.due.IsZero() {
		due = nanos(r.due)
	}
	retries := formatRetries(r.retries)
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Stmt(e.stmt.position).Exec(r.state, []byte(input), nanos(r.entered), retries, due, r.id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errStopped
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store position %s of %s: %w", r.state, r.name, err)
	}
	r.stored = true
	r.seq++
	r.waitingSet, r.waiting = false, 0
	r.token, r.tokenInvoked, r.tokenBeat = "", false, time.Time{}
	return nil
}

// finish ends r with a status, and wakes whoever waits for it: the Map
// running it (an item), executions waiting on it as a child.
func (e *Engine) finish(ctx context.Context, r *run, status string, output *doc, errName, cause string) error {
	var out []byte
	if output != nil {
		b, err := output.json()
		if err != nil {
			return fmt.Errorf("finish %s: %w", r.name, err)
		}
		out = b
	}
	now := e.opts.Now()
	var ready, promoted []int64
	err := e.db.Write(ctx, func(tx *sql.Tx) error {
		ready, promoted = ready[:0], promoted[:0]
		res, err := tx.Stmt(e.stmt.finish).Exec(status, out, errName, cause, nanos(now), r.id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errStopped
		}
		if r.kind == kindItem {
			if status == StatusSucceeded {
				var left int64
				err := tx.Stmt(e.stmt.itemDone).QueryRow(r.parent).Scan(&left)
				switch {
				case errors.Is(err, sql.ErrNoRows):
				case err != nil:
					return err
				case left == 0:
					ready = append(ready, r.parent)
				default:
					var next int64
					err := tx.Stmt(e.stmt.promote).QueryRow(nanos(now), nanos(now), r.parent).Scan(&next)
					if err != nil && !errors.Is(err, sql.ErrNoRows) {
						return err
					}
					if err == nil {
						promoted = append(promoted, next)
					}
				}
			} else {
				res, err := tx.Stmt(e.stmt.itemFailed).Exec(r.parent)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n > 0 {
					ready = append(ready, r.parent)
				}
			}
		}
		ids, err := scanIDs(tx.Stmt(e.stmt.notifyWaiters).Query(r.id))
		ready = append(ready, ids...)
		return err
	})
	if err != nil {
		if errors.Is(err, errStopped) {
			e.forget(r)
			return nil
		}
		return fmt.Errorf("finish %s: %w", r.name, err)
	}
	e.forget(r)
	e.wakeIDs(ready)
	for _, id := range promoted {
		e.loadAndQueue(ctx, id)
	}
	return nil
}

// loadAndQueue reads a stored run (a Map item given a slot) and queues it.
func (e *Engine) loadAndQueue(ctx context.Context, id int64) {
	r, _, err := scanRun(e.db.Read.QueryRowContext(ctx, runColumns+`WHERE e.id = ?`, id))
	if err == nil {
		err = e.bind(r)
	}
	if err != nil {
		e.log.Error("workflow: cannot load a Map item", "id", id, "err", err)
		return
	}
	e.schedule(r)
}

// fail handles an error raised by state st: Retry (store the position
// with the delay's end), Catch (move on in memory), or the end of r.
func (e *Engine) fail(ctx context.Context, r *run, st *asl.State, aerr *asl.Error) (bool, error) {
	if i, ok := st.RetrierFor(aerr.Name, r.retries); ok {
		retries := make([]int, len(st.Retry))
		copy(retries, r.retries)
		delay := st.Retry[i].Delay(retries[i], e.opts.Rand)
		retries[i]++
		r.retries = retries
		r.due = e.opts.Now().Add(delay)
		if err := e.store(ctx, r); err != nil {
			return false, err
		}
		e.timers.add(r.due, r)
		e.Wake()
		return false, nil
	}
	if c := st.CatcherFor(aerr.Name); c != nil {
		input, err := r.in.value()
		if err != nil {
			return false, e.finish(ctx, r, StatusFailed, nil, asl.ErrRuntime, err.Error())
		}
		out, err := c.CaughtOutput(input, aerr)
		if err != nil {
			return false, e.finishErr(ctx, r, err)
		}
		e.moveTo(r, c.Next, valueDoc(out))
		return true, nil
	}
	return false, e.finish(ctx, r, StatusFailed, nil, aerr.Name, aerr.Cause)
}

// finishErr ends r with an evaluation error (States.Runtime and the like).
func (e *Engine) finishErr(ctx context.Context, r *run, err error) error {
	name, cause := asl.ErrRuntime, err.Error()
	var aerr *asl.Error
	if errors.As(err, &aerr) {
		name, cause = aerr.Name, aerr.Cause
	}
	return e.finish(ctx, r, StatusFailed, nil, name, cause)
}

// evalErr turns an evaluation error into the ASL error it raises.
func evalErr(err error) *asl.Error {
	var aerr *asl.Error
	if errors.As(err, &aerr) {
		return aerr
	}
	return &asl.Error{Name: asl.ErrRuntime, Cause: err.Error()}
}

func (e *Engine) passState(ctx context.Context, r *run, st *asl.State) (bool, error) {
	input, err := r.in.value()
	if err != nil {
		return false, e.finishErr(ctx, r, err)
	}
	out, err := st.PassOutput(input, e.context(r))
	if err != nil {
		return false, e.finishErr(ctx, r, err)
	}
	return e.advance(ctx, r, st, valueDoc(out))
}

func (e *Engine) choiceState(ctx context.Context, r *run, st *asl.State) (bool, error) {
	input, err := r.in.value()
	if err == nil {
		var next string
		var out any
		if next, out, err = st.Choose(input, e.context(r)); err == nil {
			d := valueDoc(out)
			if st.InputPath.IsIdentity() && st.OutputPath.IsIdentity() {
				d.raw = r.in.raw // unchanged: keep its text
			}
			e.moveTo(r, next, d)
			return true, nil
		}
	}
	return false, e.finishErr(ctx, r, err)
}

func (e *Engine) succeedState(ctx context.Context, r *run, st *asl.State) error {
	input, err := r.in.value()
	if err != nil {
		return e.finishErr(ctx, r, err)
	}
	out, err := st.PassThrough(input, e.context(r))
	if err != nil {
		return e.finishErr(ctx, r, err)
	}
	d := valueDoc(out)
	return e.finish(ctx, r, StatusSucceeded, &d, "", "")
}

func (e *Engine) failState(ctx context.Context, r *run, st *asl.State) error {
	input, err := r.in.value()
	if err != nil {
		return e.finishErr(ctx, r, err)
	}
	aerr, err := st.FailError(input, e.context(r))
	if err != nil {
		return e.finishErr(ctx, r, err)
	}
	return e.finish(ctx, r, StatusFailed, nil, aerr.Name, aerr.Cause)
}

func (e *Engine) waitState(ctx context.Context, r *run, st *asl.State) (bool, error) {
	input, err := r.in.value()
	if err != nil {
		return false, e.finishErr(ctx, r, err)
	}
	if r.due.IsZero() {
		due, err := st.WaitUntil(input, e.context(r), r.entered)
		if err != nil {
			return false, e.finishErr(ctx, r, err)
		}
		if due.After(e.opts.Now()) {
			r.due = due
			if err := e.store(ctx, r); err != nil {
				r.due = time.Time{}
				return false, err
			}
		}
	}
	if !r.due.IsZero() && r.due.After(e.opts.Now()) {
		e.timers.add(r.due, r)
		e.Wake()
		return false, nil
	}
	out, err := st.PassThrough(input, e.context(r))
	if err != nil {
		return false, e.finishErr(ctx, r, err)
	}
	return e.advance(ctx, r, st, valueDoc(out))
}

// delayed reports whether r is in a retry delay that has not ended, and
// then waits for it on a timer.
func (e *Engine) delayed(r *run) bool {
	if r.due.IsZero() {
		return false
	}
	if r.due.After(e.opts.Now()) {
		e.timers.add(r.due, r)
		e.Wake()
		return true
	}
	r.due = time.Time{}
	return false
}

func (e *Engine) taskState(ctx context.Context, r *run, st *asl.State) (bool, error) {
	if !r.stored {
		if err := e.store(ctx, r); err != nil {
			return false, err
		}
	}
	if e.delayed(r) {
		return false, nil
	}
	actx := e.context(r)
	var input json.RawMessage
	if st.InputIsEffective() {
		raw, err := r.in.json()
		if err != nil {
			return false, e.finishErr(ctx, r, err)
		}
		input = raw
	} else {
		v, err := r.in.value()
		if err != nil {
			return false, e.finishErr(ctx, r, err)
		}
		eff, err := st.EffectiveInput(v, actx)
		if err != nil {
			return e.fail(ctx, r, st, evalErr(err))
		}
		if input, err = asl.Marshal(eff); err != nil {
			return false, e.finishErr(ctx, r, err)
		}
	}

	timeout := time.Duration(st.TimeoutSeconds) * time.Second
	if st.TimeoutSecondsPath != nil {
		v, err := r.in.value()
		if err != nil {
			return false, e.finishErr(ctx, r, err)
		}
		if timeout, err = st.Timeout(v, actx); err != nil {
			return e.fail(ctx, r, st, evalErr(err))
		}
	}
	e.actions.Add(1)
	go func() {
		defer e.actions.Done()
		result, aerr := e.runAction(ctx, r, st, input, timeout, "")
		more, err := e.taskDone(ctx, r, st, actx, result, aerr)
		switch {
		case err != nil:
			e.stepFailed(ctx, r, err)
		case more:
			e.enqueue(r) // the run is busy: it is queued again once released
		}
		e.release(r)
	}()
	return false, errHandedOff
}

// errHandedOff: the state's Action runs on a goroutine of its own, which
// ends the step.
var errHandedOff = errors.New("handed off to the action's goroutine")

// taskDone records what a Task's Action answered: the next state, a retry
// or a catch; more says the run goes on at once.
func (e *Engine) taskDone(ctx context.Context, r *run, st *asl.State, actx *asl.Context, result json.RawMessage, aerr *asl.Error) (bool, error) {
	if r.stopped.Load() || ctx.Err() != nil {
		// Stopped, or the engine is closing: the stored position stays,
		// and the Task runs again when the engine runs next.
		if r.stopped.Load() && aerr == nil && e.opts.Dropped != nil {
			e.opts.Dropped(r.machine, r.execName, st.Name, result)
		}
		return false, nil
	}
	if aerr != nil {
		return e.fail(ctx, r, st, aerr)
	}
	if st.ResultIsOutput() {
		if _, err := e.advance(ctx, r, st, doc{raw: result}); err != nil {
			return false, err
		}
	} else {
		out, err := e.output(r, st, result, actx)
		if err != nil {
			return e.fail(ctx, r, st, evalErr(err))
		}
		if _, err := e.advance(ctx, r, st, valueDoc(out)); err != nil {
			return false, err
		}
	}
	if !st.End {
		e.enqueue(r) // after the step ends: yield to other executions
	}
	return false, nil
}

// output applies ResultSelector, ResultPath and OutputPath to a result.
func (e *Engine) output(r *run, st *asl.State, result json.RawMessage, actx *asl.Context) (any, error) {
	res, err := asl.Decode(result)
	if err != nil {
		return nil, err
	}
	input, err := r.in.value()
	if err != nil {
		return nil, err
	}
	return st.Output(input, res, actx)
}

// runAction calls the Task's Action under a context canceled by Stop, by
// the end of Run, and by TimeoutSeconds.
func (e *Engine) runAction(ctx context.Context, r *run, st *asl.State, input json.RawMessage, timeout time.Duration, token string) (json.RawMessage, *asl.Error) {
	action := e.opts.Resources[st.Resource]
	if action == nil {
		return nil, &asl.Error{Name: asl.ErrTaskFailed, Cause: fmt.Sprintf("no action for resource %q", st.Resource)}
	}
	actx, cancel := context.WithCancel(context.WithValue(ctx, stepKey{}, &stepInfo{machine: r.machine, execution: r.execName, state: st.Name, token: token}))
	defer cancel()
	if timeout > 0 {
		var cancelTimeout context.CancelFunc
		actx, cancelTimeout = context.WithTimeout(actx, timeout)
		defer cancelTimeout()
	}
	e.mu.Lock()
	r.cancel = cancel
	e.mu.Unlock()
	if r.stopped.Load() {
		cancel()
	}
	e.inFlight.Add(1)
	out, err := callAction(action, actx, input)
	e.inFlight.Add(-1)
	e.mu.Lock()
	r.cancel = nil
	e.mu.Unlock()

	if errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, &asl.Error{Name: asl.ErrTimeout, Cause: fmt.Sprintf("the task did not end within %s", timeout)}
	}
	if err != nil {
		var te *TaskError
		if errors.As(err, &te) {
			return nil, &asl.Error{Name: te.Name, Cause: te.Cause}
		}
		return nil, &asl.Error{Name: asl.ErrTaskFailed, Cause: err.Error()}
	}
	if len(out) == 0 {
		return json.RawMessage("null"), nil
	}
	if !json.Valid(out) {
		return nil, &asl.Error{Name: asl.ErrTaskFailed, Cause: "the task's result is not JSON"}
	}
	return out, nil
}

// callAction runs an Action, turning its panic into its error: it runs on
// a worker, where nothing else would recover it.
func callAction(a Action, ctx context.Context, input json.RawMessage) (out json.RawMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the action panicked: %v", p)
		}
	}()
	return a(ctx, input)
}

// refreshWaiting reads how many of r's items (or its child) are still to
// end: they update the stored count as they end.
func (e *Engine) refreshWaiting(ctx context.Context, r *run) error {
	var waiting sql.NullInt64
	if err := e.db.Read.QueryRowContext(ctx, `SELECT waiting FROM workflow_executions WHERE id = ?`, r.id).Scan(&waiting); err != nil {
		return fmt.Errorf("read waiting of %s: %w", r.name, err)
	}
	r.waitingSet, r.waiting = waiting.Valid, waiting.Int64
	return nil
}

func (e *Engine) mapState(ctx context.Context, r *run, st *asl.State) (bool, error) {
	return e.awaitOthers(ctx, r, st, e.startItems, e.collectItems)
}

// awaitOthers runs a state that waits for executions it starts (a Map's
// items, a startExecution.sync child): stored before it begins, it starts
// them on its first entry, parks while they run (the last to end queues
// r again), and collects their results once none is left.
func (e *Engine) awaitOthers(ctx context.Context, r *run, st *asl.State, start, collect func(context.Context, *run, *asl.State) (bool, error)) (bool, error) {
	if !r.stored {
		if err := e.store(ctx, r); err != nil {
			return false, err
		}
	}
	if e.delayed(r) {
		return false, nil
	}
	if r.waitingSet {
		if err := e.refreshWaiting(ctx, r); err != nil {
			return false, err
		}
	}
	if !r.waitingSet {
		return start(ctx, r, st)
	}
	if r.waiting > 0 {
		return false, nil
	}
	return collect(ctx, r, st)
}

func (e *Engine) startItems(ctx context.Context, r *run, st *asl.State) (bool, error) {
	input, err := r.in.value()
	if err != nil {
		return false, e.finishErr(ctx, r, err)
	}
	actx := e.context(r)
	eff, items, maxc, err := st.MapItems(input, actx)
	if err != nil {
		return e.fail(ctx, r, st, evalErr(err))
	}
	if len(items) == 0 {
		out, err := st.Output(input, []any{}, actx)
		if err != nil {
			return e.fail(ctx, r, st, evalErr(err))
		}
		return e.advance(ctx, r, st, valueDoc(out))
	}
	inputs := make([][]byte, len(items))
	for i, item := range items {
		v, err := st.ItemInput(eff, i, item, actx)
		if err != nil {
			return e.fail(ctx, r, st, evalErr(err))
		}
		if inputs[i], err = asl.Marshal(v); err != nil {
			return false, e.finishErr(ctx, r, err)
		}
	}
	if maxc == 0 || maxc > len(items) {
		maxc = len(items)
	}
	scope := append(append([]string(nil), r.scope...), st.Name)
	scopeText := formatScope(scope)
	root := r.id
	if r.kind == kindItem {
		if err := e.db.Read.QueryRowContext(ctx, `SELECT root FROM workflow_executions WHERE id = ?`, r.id).Scan(&root); err != nil {
			return false, fmt.Errorf("map %s: read root: %w", st.Name, err)
		}
	}
	now := e.opts.Now()
	ids := make([]int64, maxc)
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE workflow_executions SET waiting = ? WHERE id = ? AND status = 'RUNNING' AND seq = ? AND waiting IS NULL`,
			len(items), r.id, r.seq)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errStopped
		}
		insert := tx.Stmt(e.stmt.insert)
		for i, in := range inputs {
			status := StatusRunning
			if i >= maxc {
				status = statusPending
			}
			name := fmt.Sprintf("%s/%s/%d/%d", r.name, st.Name, r.seq, i)
			var id int64
			if err := insert.QueryRow(r.machine, name, kindItem, scopeText, r.id, r.seq, root, i, status,
				in, st.Processor.StartAt, in, nanos(now), nanos(now)).Scan(&id); err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
			if i < maxc {
				ids[i] = id
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("start %d items of map %s: %w", len(items), st.Name, err)
	}
	r.waitingSet, r.waiting = true, int64(len(items))
	for i, id := range ids {
		e.adopt(&run{
			id: id, machine: r.machine, name: fmt.Sprintf("%s/%s/%d/%d", r.name, st.Name, r.seq, i), kind: kindItem,
			scope: scope, m: st.Processor, parent: r.id,
			execName: r.execName, execInput: r.execInput, execStart: r.execStart,
			state: st.Processor.StartAt, in: doc{raw: inputs[i]}, entered: now, stored: true,
		}, true)
	}
	return false, nil
}

func (e *Engine) collectItems(ctx context.Context, r *run, st *asl.State) (bool, error) {
	rows, err := e.db.Read.QueryContext(ctx, `SELECT status, output, error, cause, stopped_at FROM workflow_executions
		WHERE parent = ? AND parent_seq = ? ORDER BY item_index`, r.id, r.seq)
	if err != nil {
		return false, fmt.Errorf("map %s: read items: %w", st.Name, err)
	}
	var results []any
	var failed *asl.Error
	var failedAt int64
	unfinished := false
	for rows.Next() {
		var status, errName, cause string
		var output []byte
		var stopped sql.NullInt64
		if err := rows.Scan(&status, &output, &errName, &cause, &stopped); err != nil {
			rows.Close()
			return false, fmt.Errorf("map %s: read items: %w", st.Name, err)
		}
		switch status {
		case StatusSucceeded:
			v, err := asl.Decode(output)
			if err != nil {
				rows.Close()
				return false, fmt.Errorf("map %s: item output: %w", st.Name, err)
			}
			results = append(results, v)
		case StatusRunning, statusPending:
			unfinished = true
		default:
			// The item that failed first fails the Map, with its error.
			if failed == nil || stopped.Int64 < failedAt {
				failed, failedAt = &asl.Error{Name: errName, Cause: cause}, stopped.Int64
			}
		}
	}
	if err := rows.Close(); err != nil {
		return false, fmt.Errorf("map %s: read items: %w", st.Name, err)
	}
	if failed != nil {
		if unfinished {
			var aborted, ready []int64
			err := e.db.Write(ctx, func(tx *sql.Tx) error {
				var err error
				aborted, ready, err = abortTree(tx, `SELECT id FROM workflow_executions WHERE parent = ? AND parent_seq = ? AND status IN ('RUNNING', 'PENDING')`,
					[]any{r.id, r.seq}, nanos(e.opts.Now()), "States.Aborted", "another item of the Map failed")
				return err
			})
			if err != nil {
				return false, fmt.Errorf("map %s: stop the other items: %w", st.Name, err)
			}
			e.dropAborted(aborted)
			e.wakeIDs(ready)
		}
		return e.fail(ctx, r, st, failed)
	}
	if unfinished {
		return false, fmt.Errorf("map %s: items are still running", st.Name)
	}
	if results == nil {
		results = []any{}
	}
	input, err := r.in.value()
	if err != nil {
		return false, e.finishErr(ctx, r, err)
	}
	out, err := st.Output(input, results, e.context(r))
	if err != nil {
		return e.fail(ctx, r, st, evalErr(err))
	}
	return e.advance(ctx, r, st, valueDoc(out))
}

// childState runs a startExecution.sync:2 Task: it starts (or attaches to)
// a child execution in this engine and parks until the child ends.
func (e *Engine) childState(ctx context.Context, r *run, st *asl.State) (bool, error) {
	return e.awaitOthers(ctx, r, st, e.startChild, e.collectChild)
}

// collectChild ends a startExecution.sync:2 Task with its child's result,
// or fails it as the child failed.
func (e *Engine) collectChild(ctx context.Context, r *run, st *asl.State) (bool, error) {
	var childID int64
	if err := e.db.Read.QueryRowContext(ctx, `SELECT waiting_on FROM workflow_executions WHERE id = ?`, r.id).Scan(&childID); err != nil {
		return false, fmt.Errorf("task %s: read child: %w", st.Name, err)
	}
	_, child, err := scanExecution(e.db.Read.QueryRowContext(ctx, execColumns+`WHERE id = ?`, childID))
	if err != nil {
		return false, fmt.Errorf("task %s: read child: %w", st.Name, err)
	}
	if child.Status != StatusSucceeded {
		return e.fail(ctx, r, st, &asl.Error{Name: asl.ErrTaskFailed, Cause: string(describeJSON(child))})
	}
	var output any
	if len(child.Output) > 0 {
		if output, err = asl.Decode(child.Output); err != nil {
			return false, e.finishErr(ctx, r, err)
		}
	}
	res := childResult(child)
	res["Output"] = output
	input, err := r.in.value()
	if err != nil {
		return false, e.finishErr(ctx, r, err)
	}
	out, err := st.Output(input, res, e.context(r))
	if err != nil {
		return e.fail(ctx, r, st, evalErr(err))
	}
	return e.advance(ctx, r, st, valueDoc(out))
}

func childResult(x Execution) map[string]any {
	res := map[string]any{
		"ExecutionArn":    executionArn(x.Machine, x.Name),
		"StateMachineArn": machineArn(x.Machine),
		"Name":            x.Name,
		"Status":          x.Status,
		"StartDate":       json.Number(fmt.Sprint(x.StartedAt.UnixMilli())),
	}
	if x.StoppedAt != nil {
		res["StopDate"] = json.Number(fmt.Sprint(x.StoppedAt.UnixMilli()))
	}
	return res
}

// describeJSON is a child's description, as the cause of the failure of
// the Task that waited for it.
func describeJSON(x Execution) []byte {
	res := childResult(x)
	res["Input"] = string(x.Input)
	if x.Output != nil {
		res["Output"] = string(x.Output)
	}
	if x.Error != "" {
		res["Error"] = x.Error
	}
	if x.Cause != "" {
		res["Cause"] = x.Cause
	}
	b, _ := json.Marshal(res)
	return b
}

func (e *Engine) startChild(ctx context.Context, r *run, st *asl.State) (bool, error) {
	v, err := r.in.value()
	if err != nil {
		return false, e.finishErr(ctx, r, err)
	}
	eff, err := st.EffectiveInput(v, e.context(r))
	if err != nil {
		return e.fail(ctx, r, st, evalErr(err))
	}
	params, _ := eff.(map[string]any)
	arn, _ := params["StateMachineArn"].(string)
	machine := machineName(arn)
	if _, err := e.machine(machine); err != nil {
		return e.fail(ctx, r, st, &asl.Error{Name: "StepFunctions.StateMachineDoesNotExistException", Cause: fmt.Sprintf("state machine %q is not loaded", arn)})
	}
	name, _ := params["Name"].(string)
	if name == "" {
		// Named by the position, so that running the Task again (after a
		// crash) attaches to the same child; a retry starts a new one.
		name = uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%d/%d", r.id, r.seq)).String()
	}
	var input json.RawMessage
	switch in := params["Input"].(type) {
	case nil:
		input = json.RawMessage("{}")
	case string:
		if !json.Valid([]byte(in)) {
			return e.fail(ctx, r, st, &asl.Error{Name: asl.ErrTaskFailed, Cause: "Input is a string that is not JSON"})
		}
		input = json.RawMessage(in)
	default:
		if input, err = asl.Marshal(in); err != nil {
			return false, e.finishErr(ctx, r, err)
		}
	}
	// Start (or find) the child first; then, in a second write, wait on
	// it. A crash between the two runs this again, which attaches to the
	// child by name.
	_, existed, newID, err := e.start(ctx, machine, name, input, r.id)
	if err != nil {
		return e.fail(ctx, r, st, &asl.Error{Name: asl.ErrTaskFailed, Cause: err.Error()})
	}
	childID := newID
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		if existed {
			if err := tx.QueryRow(`SELECT id FROM workflow_executions WHERE machine = ? AND name = ?`, machine, name).Scan(&childID); err != nil {
				return err
			}
		}
		var status string
		if err := tx.QueryRow(`SELECT status FROM workflow_executions WHERE id = ?`, childID).Scan(&status); err != nil {
			return err
		}
		waiting := 0
		if status == StatusRunning {
			waiting = 1
		}
		res, err := tx.Exec(`UPDATE workflow_executions SET waiting_on = ?, waiting = ? WHERE id = ? AND status = 'RUNNING' AND seq = ?`,
			childID, waiting, r.id, r.seq)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errStopped
		}
		r.waiting = int64(waiting)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("task %s: wait on child %s: %w", st.Name, name, err)
	}
	r.waitingSet = true
	// With waiting 0 the child has ended: the next pass collects it.
	return r.waiting == 0, nil
}
