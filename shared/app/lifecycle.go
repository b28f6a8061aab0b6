package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/videoai/mediatasks/shared/task"
)

// A task's life after its submit, as the workflow's steps drive it: every
// status change of a task is one of these use cases (or Cancel), each a
// conditional write through change. A task that has already ended answers
// task.ErrTerminal; the step then reports the task as ended.

// ErrUnchanged: a use case found nothing to change (a progress no higher
// than the task's, an outcome with no attempt to note it on).
var ErrUnchanged = errors.New("unchanged")

// Task returns any user's task as stored (storage keys, not signed URLs),
// for the workflow's steps.
func (a *App) Task(ctx context.Context, id string) (*task.Task, error) {
	t, err := a.store.GetTask(ctx, "", id)
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	return t, nil
}

// Batch returns any user's batch, for the workflow's steps.
func (a *App) Batch(ctx context.Context, id string) (*task.Batch, error) {
	b, err := a.store.GetBatch(ctx, "", id)
	if err != nil {
		return nil, fmt.Errorf("get batch %s: %w", id, err)
	}
	return b, nil
}

// StartAttempt records a call to provider about to be made: a queued task
// starts running (task.started), a running one gets one more attempt,
// with the prompt optimised for that provider when the task asked for
// optimisation (op; nil keeps what the task has). It is recorded before
// the call, so that a crash during the call shows in the task's attempt
// history.
func (a *App) StartAttempt(ctx context.Context, id, provider string, op *task.OptimizedPrompt) (*task.Task, error) {
	return a.StartAttemptFor(ctx, id, task.Run{}, provider, op)
}

// StartAttemptFor is StartAttempt made by the workflow execution run,
// which claims the task in the same write (task.Claim): the version
// check lets one of two executions racing to start a task win, and the
// other gets task.ErrClaimed with nothing changed, before it calls any
// provider.
func (a *App) StartAttemptFor(ctx context.Context, id string, run task.Run, provider string, op *task.OptimizedPrompt) (*task.Task, error) {
	return a.change(ctx, "", id, func(t *task.Task, now time.Time) ([]task.Event, error) {
		if t.Status.Terminal() {
			return nil, fmt.Errorf("task %s is %s: %w", t.ID, t.Status, task.ErrTerminal)
		}
		if err := t.Claim(run); err != nil {
			return nil, err
		}
		var events []task.Event
		if t.Status == task.StatusQueued {
			ev, err := t.Transition(task.StatusRunning, now)
			if err != nil {
				return nil, err
			}
			events = append(events, ev)
		} else {
			touch(t, now)
		}
		t.Provider = provider
		t.AddAttempt(provider, now)
		if op != nil {
			t.OptimizedPrompt = op
		}
		return events, nil
	})
}

// RecordOutcome notes on the task's last attempt how its call failed
// (outcome: timeout, throttled, permanent or transient).
func (a *App) RecordOutcome(ctx context.Context, id, outcome, message string) error {
	_, err := a.change(ctx, "", id, func(t *task.Task, now time.Time) ([]task.Event, error) {
		n := len(t.AttemptHistory)
		if n == 0 {
			return nil, ErrUnchanged
		}
		t.AttemptHistory[n-1].Outcome = outcome
		t.AttemptHistory[n-1].Error = message
		touch(t, now)
		return nil, nil
	})
	return err
}

// Progress raises a running task's progress to p (0 to 1), with a
// task.progress event; a progress no higher than the task's is
// ErrUnchanged.
func (a *App) Progress(ctx context.Context, id string, p float64) (*task.Task, error) {
	p = min(max(p, 0), 1)
	return a.change(ctx, "", id, func(t *task.Task, now time.Time) ([]task.Event, error) {
		if t.Status != task.StatusRunning || p <= t.Progress {
			return nil, ErrUnchanged
		}
		ev, err := t.SetProgress(p, now)
		return []task.Event{ev}, err
	})
}

// Complete ends the task completed with out, its files already stored.
// provider is the one that made it, when the task names none yet. The
// prompt a provider says it really used (out's revised_prompt or
// actual_prompt) is kept on the task's optimised prompt; cost is its
// estimated price (nil when the provider knows none).
func (a *App) Complete(ctx context.Context, id string, out *task.Output, provider string, cost *task.Cost) (*task.Task, error) {
	return a.change(ctx, "", id, func(t *task.Task, now time.Time) ([]task.Event, error) {
		t.Output = out
		t.Error = nil
		t.Cost = cost
		if t.Provider == "" {
			t.Provider = provider
		}
		if t.OptimizedPrompt != nil && out != nil {
			for _, k := range []string{"revised_prompt", "actual_prompt"} {
				if p, ok := out.Extra[k].(string); ok && p != "" {
					t.OptimizedPrompt.ProviderRevisedPrompt = &p
					break
				}
			}
		}
		ev, err := t.Transition(task.StatusCompleted, now)
		return []task.Event{ev}, err
	})
}

// Fail ends the task failed with e.
func (a *App) Fail(ctx context.Context, id string, e *task.Error) (*task.Task, error) {
	return a.change(ctx, "", id, func(t *task.Task, now time.Time) ([]task.Event, error) {
		t.Error = e
		ev, err := t.Transition(task.StatusFailed, now)
		return []task.Event{ev}, err
	})
}

// FinishBatch makes sure the batch has ended once its workflow has: the
// store completes a batch (and appends batch.completed) in the write that
// ends its last task, so this only has work when a task's workflow ended
// without ending the task, and such a task fails.
func (a *App) FinishBatch(ctx context.Context, id string) (*task.Batch, error) {
	b, err := a.Batch(ctx, id)
	if err != nil {
		return nil, err
	}
	if b.Status != task.BatchCompleted {
		for _, tid := range b.TaskIDs {
			_, err := a.Fail(ctx, tid, &task.Error{Code: "workflow_ended", Message: "the task's workflow ended before the task did"})
			if err != nil && !errors.Is(err, task.ErrTerminal) && !errors.Is(err, task.ErrNotFound) {
				return nil, err // the step is tried again: the batch keeps its slot
			}
		}
		if b, err = a.Batch(ctx, id); err != nil {
			return nil, err
		}
	}
	a.give(ctx, batchHolder(id)) // the batch's workflow ends here
	return b, nil
}

// touch marks a change that appends no event: the version moves on.
func touch(t *task.Task, now time.Time) {
	t.UpdatedAt = now
	t.Version++
}
