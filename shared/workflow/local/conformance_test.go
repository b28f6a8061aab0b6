package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/sfnlocal/engine"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/workflow"
	"github.com/videoai/mediatasks/shared/workflow/runnertest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	runnertest.Run(t, func(t *testing.T, batchConcurrency int) runnertest.Adapter {
		h := &harness{parked: &parked{}}
		h.p = newPlatform(t, []config.Provider{{Name: "parked", Type: "parked", TaskTypes: task.Types, Weight: 1}},
			platformOptions{batchConcurrency: batchConcurrency, factories: map[string]provider.Factory{
				"parked": func(config.Provider) (provider.Provider, error) { return h.parked, nil },
			}})
		return runnertest.Adapter{Runner: h.p.runner, Harness: h}
	})
}

// harness shows the suite the engine under the runner. Its tasks are
// stored without a queue message, so that only the suite starts them.
type harness struct {
	p      *platform
	parked *parked
}

func (h *harness) NewTask(t *testing.T) *task.Task {
	t.Helper()
	tk := newTask()
	h.create(t, task.Creation{Tasks: []*task.Task{tk}})
	return tk
}

func (h *harness) NewBatch(t *testing.T, n int) *task.Batch {
	t.Helper()
	now := time.Now().UTC()
	b := &task.Batch{ID: app.NewID(), UserID: "alice", Status: task.BatchRunning, Counts: task.NewCounts(n),
		CreatedAt: now, UpdatedAt: now, Version: 1}
	c := task.Creation{Batch: b}
	for range n {
		tk := newTask()
		tk.BatchID = b.ID
		b.TaskIDs = append(b.TaskIDs, tk.ID)
		c.Tasks = append(c.Tasks, tk)
	}
	h.create(t, c)
	return b
}

func newTask() *task.Task {
	now := time.Now().UTC()
	return &task.Task{ID: app.NewID(), UserID: "alice", Type: task.TypeImageGeneration, Status: task.StatusQueued,
		Priority: task.PriorityNormal, Input: json.RawMessage(`{"prompt":"a lighthouse"}`), CreatedAt: now, UpdatedAt: now, Version: 1}
}

// create stores the tasks (and batch) of c with their queued events.
func (h *harness) create(t *testing.T, c task.Creation) {
	t.Helper()
	for _, tk := range c.Tasks {
		c.Events = append(c.Events, task.NewTaskEvent(tk, task.EventTaskQueued, tk.CreatedAt))
	}
	if err := h.p.store.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) Execution(t *testing.T, machine, name string) (runnertest.Execution, bool) {
	t.Helper()
	e, err := h.p.runner.Engine().Describe(context.Background(), machine, name)
	if errors.Is(err, engine.ErrExecutionNotFound) {
		return runnertest.Execution{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return runnertest.Execution{Status: e.Status, Input: e.Input}, true
}

func (h *harness) Executions(t *testing.T) int {
	t.Helper()
	st, err := h.p.runner.Engine().Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range st.Executions {
		n += c
	}
	return n
}

// Pending waits for the task's workflow to wait on its job: the parked
// provider's jobs stay pending for an hour.
func (h *harness) Pending(t *testing.T, tk *task.Task) (string, string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		e, err := h.p.runner.Engine().Describe(context.Background(), workflow.TaskMachine, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.Status == engine.StatusRunning && e.State == "WaitForJob" {
			return "parked", parkedJob(tk.ID)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the workflow of task %s is %s at %q after 30 s, not waiting on its job", tk.ID, e.Status, e.State)
		}
	}
}

func (h *harness) CanceledJobs(*testing.T) []runnertest.Job { return h.parked.canceledJobs() }

// parked is a provider whose jobs stay pending, recording their cancels.
type parked struct {
	mu       sync.Mutex
	canceled []runnertest.Job
}

func parkedJob(taskID string) string { return "job-" + taskID }

func (p *parked) Name() string           { return "parked" }
func (p *parked) TaskTypes() []task.Type { return task.Types }

func (p *parked) Start(_ context.Context, req provider.Request) (provider.Response, error) {
	return provider.Response{Job: parkedJob(req.TaskID), PollAfter: time.Hour}, nil
}

func (p *parked) Poll(context.Context, provider.Request, string) (provider.Response, error) {
	return provider.Response{PollAfter: time.Hour}, nil
}

func (p *parked) Cancel(_ context.Context, req provider.Request, job string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.canceled = append(p.canceled, runnertest.Job{TaskID: req.TaskID, Provider: p.Name(), Job: job})
	return nil
}

func (p *parked) canceledJobs() []runnertest.Job {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]runnertest.Job(nil), p.canceled...)
}
