package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/workflow/engine"
	"github.com/videoai/mediatasks/shared/workflow/steps"
)

// LocalSubstitutions are the ARNs of the definitions on one machine: every
// step action is the in-process process function, and the batch workflow
// starts the in-process task workflow.
var LocalSubstitutions = map[string]string{
	ProcessFunctionArn:  "arn:aws:lambda:local:000000000000:function:process",
	TaskStateMachineArn: "arn:aws:states:local:000000000000:stateMachine:" + TaskMachine,
}

// DefaultBatchConcurrency is how many tasks of a batch run at once unless
// the operator says otherwise.
const DefaultBatchConcurrency = 10

// LocalOptions configure the local runner.
type LocalOptions struct {
	Actions   *steps.Actions
	Providers *provider.Registry
	// Workers is how many executions step at once (default 16).
	Workers int
	// BatchConcurrency is the Map's MaxConcurrency: the tasks of one batch
	// running at once (default 10).
	BatchConcurrency int
	Now              func() time.Time
	Rand             func() float64 // retry jitter (tests)
	Log              *slog.Logger
}

// Local runs the workflows in process, durably, on the embedded engine:
// it is the app's Runner on one machine.
type Local struct {
	engine    *engine.Engine
	actions   *steps.Actions
	providers *provider.Registry
	batchCap  int
	log       *slog.Logger
}

var _ app.Runner = (*Local)(nil)

// NewLocal loads the definitions into an engine on db.
func NewLocal(ctx context.Context, db *sqlitedb.DB, o LocalOptions) (*Local, error) {
	if o.BatchConcurrency <= 0 {
		o.BatchConcurrency = DefaultBatchConcurrency
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	invoke := func(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
		out, err := o.Actions.Invoke(ctx, input)
		var se *steps.Error
		if errors.As(err, &se) {
			return nil, &engine.TaskError{Name: se.Name, Cause: se.Cause}
		}
		return out, err
	}
	e, err := engine.New(ctx, db, engine.Options{
		Workers:   o.Workers,
		Resources: map[string]engine.Action{LocalSubstitutions[ProcessFunctionArn]: invoke},
		Now:       o.Now,
		Rand:      o.Rand,
		Log:       o.Log,
		// The dispatcher starts executions: after a power loss that takes
		// a start back, its message comes back and starts it again.
		RelaxedStart: true,
		// A task canceled while its provider's Start was in flight: the
		// job that Start made is canceled too.
		Dropped: func(machine, name, _ string, result json.RawMessage) {
			var step steps.Step
			if machine == TaskMachine && json.Unmarshal(result, &step) == nil && step.State == "pending" {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				o.Actions.CancelJob(ctx, name, step.Provider, step.Job)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("workflow engine: %w", err)
	}
	for name, def := range map[string][]byte{TaskMachine: TaskDefinition, BatchMachine: BatchDefinition} {
		if err := e.Load(name, def, LocalSubstitutions); err != nil {
			return nil, fmt.Errorf("load the %s workflow: %w", name, err)
		}
	}
	return &Local{engine: e, actions: o.Actions, providers: o.Providers, batchCap: o.BatchConcurrency, log: o.Log}, nil
}

// Engine is the engine under the runner (for stats and tests).
func (l *Local) Engine() *engine.Engine { return l.engine }

// Run resumes the stored executions and runs them until ctx ends.
func (l *Local) Run(ctx context.Context) error { return l.engine.Run(ctx) }

// TaskInput is the task workflow's input.
type TaskInput struct {
	TaskID string   `json:"task_id"`
	Tried  []string `json:"tried"`
}

// BatchInput is the batch workflow's input.
type BatchInput struct {
	BatchID        string   `json:"batch_id"`
	TaskIDs        []string `json:"task_ids"`
	MaxConcurrency int      `json:"max_concurrency"`
}

// Start starts the task's workflow, named by the task id: a second start
// finds the first.
func (l *Local) Start(ctx context.Context, t *task.Task) error {
	in, _ := json.Marshal(TaskInput{TaskID: t.ID, Tried: []string{}}) // cannot fail
	if _, _, err := l.engine.Start(ctx, TaskMachine, t.ID, in); err != nil {
		return fmt.Errorf("start the workflow of task %s: %w", t.ID, err)
	}
	return nil
}

// StartBatch starts the batch's workflow, named by the batch id.
func (l *Local) StartBatch(ctx context.Context, b *task.Batch) error {
	in, _ := json.Marshal(BatchInput{BatchID: b.ID, TaskIDs: b.TaskIDs, MaxConcurrency: l.batchCap}) // cannot fail
	if _, _, err := l.engine.Start(ctx, BatchMachine, b.ID, in); err != nil {
		return fmt.Errorf("start the workflow of batch %s: %w", b.ID, err)
	}
	return nil
}

// Stop stops a canceled task's workflow and asks its provider to drop the
// job it was polling.
func (l *Local) Stop(ctx context.Context, taskID string) error {
	// Where the execution was tells which provider job to cancel.
	before, err := l.engine.Describe(ctx, TaskMachine, taskID)
	if errors.Is(err, engine.ErrExecutionNotFound) {
		return nil // not started yet: its start will find it canceled
	}
	if err != nil {
		return fmt.Errorf("stop the workflow of task %s: %w", taskID, err)
	}
	after, err := l.engine.Stop(ctx, TaskMachine, taskID, "Task.Canceled", "the task was canceled")
	if err != nil {
		return fmt.Errorf("stop the workflow of task %s: %w", taskID, err)
	}
	if after.Status != engine.StatusAborted {
		// It ended first: a poll that found the task canceled has
		// already canceled the job.
		return nil
	}
	var state struct {
		Step steps.Step `json:"step"`
	}
	if json.Unmarshal(before.StateInput, &state) == nil && state.Step.State == "pending" {
		l.actions.CancelJob(ctx, taskID, state.Step.Provider, state.Step.Job)
	}
	return nil
}

// ProviderHealth reports each provider's breaker and latency.
func (l *Local) ProviderHealth(ctx context.Context) map[string]app.ComponentHealth {
	if l.providers == nil {
		return map[string]app.ComponentHealth{}
	}
	return l.providers.Components(ctx)
}

// KeepExecutions is how long the local engine keeps an ended execution.
const KeepExecutions = 7 * 24 * time.Hour

// RunRetention deletes, every interval until ctx ends, the executions that
// ended more than keep ago: the tasks keep their own records and events.
func (l *Local) RunRetention(ctx context.Context, keep, interval time.Duration, now func() time.Time) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			n, err := l.engine.PurgeEnded(ctx, now().Add(-keep), 1000)
			if err != nil {
				if ctx.Err() == nil {
					l.log.ErrorContext(ctx, "purge ended executions", "err", err)
				}
				break
			}
			if n > 0 {
				l.log.InfoContext(ctx, "purged ended executions", "count", n)
			}
			if n < 1000 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
