// Package runnertest is the conformance suite of the workflow runner port
// (app.Runner): every runner (the local engine, Step Functions) runs Run
// against itself and must pass it unchanged, so that the dispatcher and a
// cancel behave the same whichever runner is behind them.
//
//	func TestConformance(t *testing.T) {
//		runnertest.Run(t, func(t *testing.T, batchConcurrency int) runnertest.Adapter { ... })
//	}
//
// A runner drives something the suite cannot see through the port (an
// engine, a service): each adapter's test gives the suite a Harness onto
// it. Conventions the suite pins down where the port's comments leave
// room:
//   - a task's workflow is the execution of workflow.TaskMachine named by
//     the task id, with a workflow.TaskInput; a batch's, of
//     workflow.BatchMachine named by the batch id, with a
//     workflow.BatchInput carrying the runner's batch concurrency
//     (workflow.DefaultBatchConcurrency when it is not set);
//   - a second start of a task or batch finds the first execution and is
//     no error, since a queue message may be delivered twice;
//   - a runner ends a wait for a provider's callback (callback.Resumer),
//     and a token no workflow waits on is callback.ErrNotWaiting, which
//     the callback endpoint answers 200 (a provider's retried call);
//   - a stop aborts the execution and cancels the provider job its last
//     step was waiting on (more than once is allowed: a provider's cancel
//     is idempotent); a stop of a workflow never started is no error and
//     starts nothing.
package runnertest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/callback"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/workflow"
)

// Adapter is one fresh runner under test, with nothing started yet, and
// the harness onto what it drives.
type Adapter struct {
	Runner  app.Runner
	Harness Harness
}

// Harness is how the suite sets up and observes what one runner drives.
type Harness interface {
	// NewTask returns a task the runner's workflow can run (stored where
	// its step actions read it, for a runner whose steps run in the test),
	// not started.
	NewTask(t *testing.T) *task.Task
	// NewBatch returns a batch of n such tasks, not started.
	NewBatch(t *testing.T, n int) *task.Batch
	// Execution returns the execution of the machine (workflow.TaskMachine
	// or workflow.BatchMachine) named name, and whether there is one.
	Execution(t *testing.T, machine, name string) (Execution, bool)
	// Executions counts the executions there are, of every machine.
	Executions(t *testing.T) int
	// Pending brings the running workflow of tk to wait on a pending job
	// of a provider, and returns the provider and the job.
	Pending(t *testing.T, tk *task.Task) (provider, job string)
	// CanceledJobs returns the provider jobs the runner has canceled so
	// far (its CancelJob calls), in order.
	CanceledJobs(t *testing.T) []Job
}

// Execution is what the suite reads of an execution.
type Execution struct {
	// Status is RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED, as Step
	// Functions names them.
	Status string
	Input  json.RawMessage
}

// Job is one provider job that a runner canceled.
type Job struct{ TaskID, Provider, Job string }

// The statuses the suite looks for.
const (
	statusRunning = "RUNNING"
	statusAborted = "ABORTED"
)

// Run runs the whole suite. newRunner must return a runner of the test's
// own whose batch workflows run at most batchConcurrency tasks at once (0:
// the runner's default), registering its cleanup on t.
func Run(t *testing.T, newRunner func(t *testing.T, batchConcurrency int) Adapter) {
	s := &suite{newRunner: newRunner}
	t.Run("StartRunsTheTaskWorkflow", s.testStartRunsTheTaskWorkflow)
	t.Run("StartTwiceFindsTheFirstExecution", s.testStartTwice)
	t.Run("StartBatchWithItsConcurrencyCap", s.testStartBatchWithItsCap)
	t.Run("StartBatchWithTheDefaultCap", s.testStartBatchWithTheDefaultCap)
	t.Run("StartBatchTwiceFindsTheFirstExecution", s.testStartBatchTwice)
	t.Run("StopCancelsThePendingJob", s.testStopCancelsThePendingJob)
	t.Run("StopOfATaskNeverStarted", s.testStopOfATaskNeverStarted)
	t.Run("ResumeWaitOfATokenNoOneWaitsOn", s.testResumeWaitOfAnUnknownToken)
}

type suite struct {
	newRunner func(t *testing.T, batchConcurrency int) Adapter
}

// bundle is one case's runner, harness and helpers.
type bundle struct {
	Harness
	t      *testing.T
	ctx    context.Context
	runner app.Runner
}

func (s *suite) setup(t *testing.T, batchConcurrency int) *bundle {
	t.Helper()
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	a := s.newRunner(t, batchConcurrency)
	return &bundle{Harness: a.Harness, t: t, ctx: ctx, runner: a.Runner}
}

func (b *bundle) start(tk *task.Task) {
	b.t.Helper()
	if err := b.runner.Start(b.ctx, tk); err != nil {
		b.t.Fatalf("start task %s: %v", tk.ID, err)
	}
}

func (b *bundle) startBatch(batch *task.Batch) {
	b.t.Helper()
	if err := b.runner.StartBatch(b.ctx, batch); err != nil {
		b.t.Fatalf("start batch %s: %v", batch.ID, err)
	}
}

// execution returns the execution that must be there.
func (b *bundle) execution(machine, name string) Execution {
	b.t.Helper()
	e, ok := b.Execution(b.t, machine, name)
	if !ok {
		b.t.Fatalf("no execution %s/%s", machine, name)
	}
	return e
}

// assertInput fails unless input is want's JSON, as a value: the runners
// need not agree on the order or spacing of the keys.
func assertInput(t *testing.T, what string, input json.RawMessage, want any) {
	t.Helper()
	raw, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got, wanted any
	if err := json.Unmarshal(input, &got); err != nil {
		t.Fatalf("%s: input %s: %v", what, input, err)
	}
	if err := json.Unmarshal(raw, &wanted); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wanted) {
		t.Errorf("%s: input %s, want %s", what, input, raw)
	}
}

func (s *suite) testStartRunsTheTaskWorkflow(t *testing.T) {
	b := s.setup(t, 0)
	tk := b.NewTask(t)
	b.start(tk)
	e := b.execution(workflow.TaskMachine, tk.ID)
	if e.Status != statusRunning {
		t.Errorf("execution of task %s is %s, want %s", tk.ID, e.Status, statusRunning)
	}
	assertInput(t, "task execution", e.Input, workflow.TaskInput{TaskID: tk.ID, Tried: []string{}, Priority: tk.Priority, TaskType: tk.Type})
}

// A queue message delivered twice starts its task twice: the second start
// finds the first execution.
func (s *suite) testStartTwice(t *testing.T) {
	b := s.setup(t, 0)
	tk := b.NewTask(t)
	b.start(tk)
	b.start(tk)
	if n := b.Executions(t); n != 1 {
		t.Fatalf("%d executions after two starts of one task, want 1", n)
	}
	if e := b.execution(workflow.TaskMachine, tk.ID); e.Status != statusRunning {
		t.Errorf("execution of task %s is %s after a second start, want %s", tk.ID, e.Status, statusRunning)
	}
}

func (s *suite) testStartBatchWithItsCap(t *testing.T) {
	const limit = 3
	b := s.setup(t, limit)
	batch := b.NewBatch(t, 4)
	b.startBatch(batch)
	assertInput(t, "batch execution", b.execution(workflow.BatchMachine, batch.ID).Input,
		workflow.BatchInput{BatchID: batch.ID, TaskIDs: batch.TaskIDs, MaxConcurrency: limit})
}

func (s *suite) testStartBatchWithTheDefaultCap(t *testing.T) {
	b := s.setup(t, 0)
	batch := b.NewBatch(t, 2)
	b.startBatch(batch)
	assertInput(t, "batch execution", b.execution(workflow.BatchMachine, batch.ID).Input,
		workflow.BatchInput{BatchID: batch.ID, TaskIDs: batch.TaskIDs, MaxConcurrency: workflow.DefaultBatchConcurrency})
}

func (s *suite) testStartBatchTwice(t *testing.T) {
	b := s.setup(t, 2)
	batch := b.NewBatch(t, 2)
	b.startBatch(batch)
	b.startBatch(batch)
	assertInput(t, "batch execution after two starts", b.execution(workflow.BatchMachine, batch.ID).Input,
		workflow.BatchInput{BatchID: batch.ID, TaskIDs: batch.TaskIDs, MaxConcurrency: 2})
}

// A cancel stops the workflow and the provider's job it was waiting on.
func (s *suite) testStopCancelsThePendingJob(t *testing.T) {
	b := s.setup(t, 0)
	tk := b.NewTask(t)
	b.start(tk)
	provider, job := b.Pending(t, tk)
	if err := b.runner.Stop(b.ctx, tk.ID); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if e := b.execution(workflow.TaskMachine, tk.ID); e.Status != statusAborted {
		t.Errorf("execution of task %s is %s after the stop, want %s", tk.ID, e.Status, statusAborted)
	}
	want := Job{TaskID: tk.ID, Provider: provider, Job: job}
	got := b.CanceledJobs(t)
	if len(got) == 0 {
		t.Fatalf("no job canceled, want %+v", want)
	}
	for _, c := range got {
		if c != want {
			t.Errorf("canceled %+v, want %+v alone", c, want)
		}
	}
}

// A task canceled before the dispatcher started it: its start will find
// it canceled.
func (s *suite) testStopOfATaskNeverStarted(t *testing.T) {
	b := s.setup(t, 0)
	tk := b.NewTask(t)
	if err := b.runner.Stop(b.ctx, tk.ID); err != nil {
		t.Fatalf("stop of a task never started: %v", err)
	}
	if n := b.Executions(t); n != 0 {
		t.Errorf("%d executions after the stop of a task never started, want none", n)
	}
	if got := b.CanceledJobs(t); len(got) != 0 {
		t.Errorf("canceled jobs %+v, want none", got)
	}
}

func (s *suite) testResumeWaitOfAnUnknownToken(t *testing.T) {
	b := s.setup(t, 0)
	r, ok := b.runner.(callback.Resumer)
	if !ok {
		t.Fatal("the runner cannot end a callback wait (callback.Resumer)")
	}
	if err := r.ResumeWait(b.ctx, "AAAAnot-a-token-anyone-waits-on"); !errors.Is(err, callback.ErrNotWaiting) {
		t.Fatalf("ResumeWait of an unknown token: %v, want callback.ErrNotWaiting", err)
	}
}
