package sfnrunner_test

import (
	"encoding/json"
	"testing"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/workflow"
	"github.com/videoai/mediatasks/shared/workflow/runnertest"
	"github.com/videoai/mediatasks/shared/workflow/sfnrunner"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	runnertest.Run(t, func(t *testing.T, batchConcurrency int) runnertest.Adapter {
		f := newFixture(t, sfnrunner.Options{BatchConcurrency: batchConcurrency})
		return runnertest.Adapter{Runner: f.runner, Harness: f}
	})
}

// The fixture shows the suite the test server: it runs no state machine,
// so tasks need storing nowhere and a workflow moves on when the test
// appends its history.

func (f *fixture) NewTask(*testing.T) *task.Task {
	return &task.Task{ID: app.NewID(), Type: task.TypeVideoGeneration}
}

func (f *fixture) NewBatch(_ *testing.T, n int) *task.Batch {
	b := &task.Batch{ID: app.NewID()}
	for range n {
		b.TaskIDs = append(b.TaskIDs, app.NewID())
	}
	return b
}

func (f *fixture) Execution(_ *testing.T, machine, name string) (runnertest.Execution, bool) {
	arn := taskExecution(name)
	if machine == workflow.BatchMachine {
		arn = batchExecution(name)
	}
	e, ok := f.srv.Execution(arn)
	return runnertest.Execution{Status: e.Status, Input: json.RawMessage(e.Input)}, ok
}

func (f *fixture) Executions(*testing.T) int { return len(f.srv.Executions()) }

func (f *fixture) Pending(t *testing.T, tk *task.Task) (string, string) {
	f.srv.Append(taskExecution(tk.ID), startedAndPending(t, tk.ID, "job-1")...)
	return "acme", "job-1"
}

func (f *fixture) CanceledJobs(*testing.T) []runnertest.Job { return f.canceledJobs() }
