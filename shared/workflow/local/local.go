// Package local runs the workflows on one machine: the platform's
// definitions on the embedded engine (package sfnlocal/engine), durably
// in the data folder's database, with the step actions in process.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/callback"
	"github.com/videoai/mediatasks/shared/sfnlocal/engine"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/workflow"
	"github.com/videoai/mediatasks/shared/workflow/steps"
)

// Substitutions are the ARNs of the definitions on one machine: every
// step action is the in-process process function, and the batch workflow
// starts the in-process task workflow.
var Substitutions = map[string]string{
	workflow.ProcessFunctionArn:  "arn:aws:lambda:local:000000000000:function:process",
	workflow.TaskStateMachineArn: "arn:aws:states:local:000000000000:stateMachine:" + workflow.TaskMachine,
}

// Options configure the local runner.
type Options struct {
	Actions *steps.Actions
	// Workers is how many executions step at once (default 16).
	Workers int
	// BatchConcurrency is the Map's MaxConcurrency: the tasks of one batch
	// running at once (default 10).
	BatchConcurrency int
	// MaxInProgress bounds the task and batch workflows the dispatcher
	// starts that have not ended (default DefaultInProgressPerWorker per
	// worker): past it, task messages wait in the queue, by priority.
	MaxInProgress int
	// MaxInProgressPerType bounds the task workflows of one task type
	// among them (default: MaxInProgress, no bound of its own), so that
	// one type's slow work (long local jobs, a provider that hangs) leaves
	// room for the others. Below MaxInProgress, a single-type backlog runs
	// only this many at once.
	MaxInProgressPerType int
	Now                  func() time.Time
	Rand                 func() float64 // retry jitter (tests)
	Log                  *slog.Logger
}

// Runner runs the workflows in process, durably, on the embedded engine:
// it is the app's Runner on one machine.
type Runner struct {
	engine   *engine.Engine
	max      int // workflows in progress
	maxType  int // task workflows in progress of one type
	actions  *steps.Actions
	batchCap int
	log      *slog.Logger
}

var (
	_ app.Runner        = (*Runner)(nil)
	_ callback.Resumer  = (*Runner)(nil)
	_ app.Admission     = (*Runner)(nil)
	_ app.TypeAdmission = (*Runner)(nil)
)

// DefaultInProgressPerWorker is how many workflows in progress each engine
// worker is given by default: most wait for a poll most of the time, so a
// few per worker keep the workers busy while what waits stays in the
// queue.
const DefaultInProgressPerWorker = 4

// New loads the definitions into an engine on db.
func New(ctx context.Context, db *sqlitedb.DB, o Options) (*Runner, error) {
	if o.BatchConcurrency <= 0 {
		o.BatchConcurrency = workflow.DefaultBatchConcurrency
	}
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.MaxInProgress <= 0 {
		o.MaxInProgress = DefaultInProgressPerWorker * o.Workers
	}
	if o.MaxInProgressPerType <= 0 {
		o.MaxInProgressPerType = o.MaxInProgress
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	invoke := func(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
		out, err := o.Actions.Invoke(ctx, input)
		var se *workflow.StepError
		if errors.As(err, &se) {
			return nil, &engine.TaskError{Name: se.Name, Cause: se.Cause}
		}
		return out, err
	}
	// The AwaitCallback state calls the process function through the
	// lambda:invoke integration, whose Parameters carry the function's
	// input as Payload.
	invokePayload := func(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
		var call struct {
			Payload json.RawMessage `json:"Payload"`
		}
		if err := json.Unmarshal(input, &call); err != nil || len(call.Payload) == 0 {
			return nil, &engine.TaskError{Name: workflow.ErrNameBadInput, Cause: "a lambda:invoke call without a Payload"}
		}
		return invoke(ctx, call.Payload)
	}
	e, err := engine.New(ctx, db, engine.Options{
		Workers: o.Workers,
		Resources: map[string]engine.Action{
			Substitutions[workflow.ProcessFunctionArn]: invoke,
			workflow.InvokeWaitForTaskToken:            invokePayload,
		},
		Now:  o.Now,
		Rand: o.Rand,
		Log:  o.Log,
		// The dispatcher starts executions: after a power loss that takes
		// a start back, its message comes back and starts it again.
		RelaxedStart: true,
		// Ready steps go high priority first, then the oldest execution:
		// work in progress finishes before new work starts.
		Rank:  rankByPriority,
		Class: classByType,
		// A task canceled while its provider's Start was in flight: the
		// job that Start made is canceled too.
		Dropped: func(machine, name, _ string, result json.RawMessage) {
			var step workflow.Step
			if machine != workflow.TaskMachine || json.Unmarshal(result, &step) != nil {
				return
			}
			if p, job, ok := step.PendingJob(); ok {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				o.Actions.CancelJob(ctx, name, p, job)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("workflow engine: %w", err)
	}
	for name, def := range map[string][]byte{workflow.TaskMachine: workflow.TaskDefinition, workflow.BatchMachine: workflow.BatchDefinition} {
		if err := e.Load(name, def, Substitutions); err != nil {
			return nil, fmt.Errorf("load the %s workflow: %w", name, err)
		}
	}
	return &Runner{engine: e, max: o.MaxInProgress, maxType: o.MaxInProgressPerType, actions: o.Actions, batchCap: o.BatchConcurrency, log: o.Log}, nil
}

// Room is how many more task and batch workflows the dispatcher may start
// (app.Admission). A batch's tasks run inside its workflow, under its
// own cap (BatchConcurrency), and are not counted again.
func (l *Runner) Room() int {
	return l.max - l.engine.Running(workflow.TaskMachine) - l.engine.Running(workflow.BatchMachine)
}

// RoomFor is how many more task workflows of type typ may start
// (app.TypeAdmission), within Room.
func (l *Runner) RoomFor(typ task.Type) int {
	return min(l.Room(), l.maxType-l.engine.RunningClass(string(typ)))
}

// classByType classes a task workflow by its task's type (batches: the
// batch machine's name, apart from every type).
func classByType(machine string, input json.RawMessage) string {
	if machine != workflow.TaskMachine {
		return machine
	}
	var in struct {
		TaskType task.Type `json:"task_type"`
	}
	_ = json.Unmarshal(input, &in) // one started before types were recorded: a class of its own
	return string(in.TaskType)
}

// Freed is signalled when a workflow ends.
func (l *Runner) Freed() <-chan struct{} { return l.engine.Freed() }

// rankByPriority ranks a task workflow by its task's priority (high
// first); a batch's tasks, and batches, rank as normal.
func rankByPriority(_ string, input json.RawMessage) int {
	var in struct {
		Priority task.Priority `json:"priority"`
	}
	_ = json.Unmarshal(input, &in) // an input without one ranks as normal
	switch in.Priority {
	case task.PriorityHigh:
		return 0
	case task.PriorityLow:
		return 2
	}
	return 1
}

// Engine is the engine under the runner (for stats and tests).
func (l *Runner) Engine() *engine.Engine { return l.engine }

// Run resumes the stored executions and runs them until ctx ends.
func (l *Runner) Run(ctx context.Context) error { return l.engine.Run(ctx) }

// Start starts the task's workflow, named by the task id: a second start
// finds the first.
func (l *Runner) Start(ctx context.Context, t *task.Task) error {
	if _, _, err := l.engine.Start(ctx, workflow.TaskMachine, t.ID, workflow.StartInput(t)); err != nil {
		return fmt.Errorf("start the workflow of task %s: %w", t.ID, err)
	}
	return nil
}

// StartBatch starts the batch's workflow, named by the batch id.
func (l *Runner) StartBatch(ctx context.Context, b *task.Batch) error {
	in, _ := json.Marshal(workflow.BatchInput{BatchID: b.ID, TaskIDs: b.TaskIDs, MaxConcurrency: l.batchCap}) // cannot fail
	if _, _, err := l.engine.Start(ctx, workflow.BatchMachine, b.ID, in); err != nil {
		return fmt.Errorf("start the workflow of batch %s: %w", b.ID, err)
	}
	return nil
}

// Stop stops a canceled task's workflow and asks its provider to drop the
// job it was polling.
func (l *Runner) Stop(ctx context.Context, taskID string) error {
	// Where the execution was tells which provider job to cancel.
	before, err := l.engine.Describe(ctx, workflow.TaskMachine, taskID)
	if errors.Is(err, engine.ErrExecutionNotFound) {
		return nil // not started yet: its start will find it canceled
	}
	if err != nil {
		return fmt.Errorf("stop the workflow of task %s: %w", taskID, err)
	}
	after, err := l.engine.Stop(ctx, workflow.TaskMachine, taskID, "Task.Canceled", "the task was canceled")
	if err != nil {
		return fmt.Errorf("stop the workflow of task %s: %w", taskID, err)
	}
	if after.Status != engine.StatusAborted {
		// It ended first: a poll that found the task canceled has
		// already canceled the job.
		return nil
	}
	var state struct {
		Step workflow.Step `json:"step"`
	}
	if json.Unmarshal(before.StateInput, &state) != nil {
		return nil
	}
	if p, job, ok := state.Step.PendingJob(); ok {
		l.actions.CancelJob(ctx, taskID, p, job)
	}
	return nil
}

// ResumeWait ends a workflow's wait on token (callback.Resumer): the
// provider's callback came.
func (l *Runner) ResumeWait(ctx context.Context, token string) error {
	err := l.engine.SendTaskSuccess(ctx, token, json.RawMessage(`{"callback":"received"}`))
	if errors.Is(err, engine.ErrTaskTokenNotFound) {
		return fmt.Errorf("resume a workflow: %w", callback.ErrNotWaiting)
	}
	if err != nil {
		return fmt.Errorf("resume a workflow: %w", err)
	}
	return nil
}

// KeepExecutions is how long the local engine keeps an ended execution.
const KeepExecutions = 7 * 24 * time.Hour

// RunRetention deletes, every interval until ctx ends, the executions that
// ended more than keep ago: the tasks keep their own records and events.
func (l *Runner) RunRetention(ctx context.Context, keep, interval time.Duration, now func() time.Time) {
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
