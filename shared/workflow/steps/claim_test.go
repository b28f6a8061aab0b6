package steps_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/workflow"
	"github.com/videoai/mediatasks/shared/workflow/steps"
)

// The execution ids of two executions of one Express workflow (Express
// runs one at least once, and a duplicated message starts another) and
// of a Standard one.
const (
	expressA = "arn:aws:states:us-east-1:123456789012:express:mediatasks-task:tsk_x:0b6a6a52-0d0b-4d0e-9d39-8c7d1f2b1e01"
	expressB = "arn:aws:states:us-east-1:123456789012:express:mediatasks-task:tsk_x:5f1c0c7e-7f62-4a55-8c8e-2f4a3c9d2b02"
	standard = "arn:aws:states:us-east-1:123456789012:execution:mediatasks-task-long:tsk_x"
)

// expressBound bounds Express executions to 5 minutes, as sfnrunner does.
func expressBound(id string) time.Duration {
	if strings.Contains(id, ":express:") {
		return 5 * time.Minute
	}
	return 0
}

// countingStart makes the provider answer a result at once and counts
// its Start calls.
func countingStart(b *bundle) *atomic.Int32 {
	var calls atomic.Int32
	b.prov.start = func(provider.Request) (provider.Response, error) {
		calls.Add(1)
		return provider.Response{Result: &provider.Result{Files: []provider.File{{ContentType: "image/png", Ext: ".png", Data: []byte("png")}}}}, nil
	}
	return &calls
}

func startStep(t *testing.T, b *bundle, taskID, execution string) workflow.Step {
	t.Helper()
	out, err := b.invoke(t, map[string]any{"action": "start", "task_id": taskID, "tried": []string{}, "execution": execution})
	if err != nil {
		t.Fatalf("start in %s: %v", execution, err)
	}
	var step workflow.Step
	if err := json.Unmarshal(out, &step); err != nil {
		t.Fatal(err)
	}
	return step
}

// A second execution of a task, after the first claimed it, calls no
// provider and changes nothing; the first execution's own retries, and a
// failover's next start in it, go on calling.
func TestASecondExecutionOfATaskDoesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	calls := countingStart(b)
	tk := b.submit(t)

	if step := startStep(t, b, tk.ID, expressA); step.State != workflow.StepDone {
		t.Fatalf("first execution's start: %+v, want done", step)
	}
	claimed, err := b.app.Task(context.Background(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if claimed.Run.Key != task.RunKey(expressA) {
		t.Fatalf("task run %+v, want the first execution's key %q", claimed.Run, task.RunKey(expressA))
	}

	step := startStep(t, b, tk.ID, expressB)
	if step.State != workflow.StepEnded || step.TaskID != tk.ID || step.Status != task.StatusRunning {
		t.Fatalf("second execution's start: %+v, want ended with the task running", step)
	}
	after, err := b.app.Task(context.Background(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 || after.Version != claimed.Version || after.Attempts != 1 {
		t.Fatalf("after the second execution: %d provider calls, version %d (was %d), %d attempts; want 1 call and nothing changed",
			calls.Load(), after.Version, claimed.Version, after.Attempts)
	}

	if step := startStep(t, b, tk.ID, expressA); step.State != workflow.StepDone {
		t.Fatalf("the first execution's start again: %+v, want done", step)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d provider calls after the first execution started again, want 2", calls.Load())
	}
}

// Two executions starting one task at once race on the write that
// starts it: one calls the provider, the other ends.
func TestTwoExecutionsAtOnceMakeOneProviderCall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	calls := countingStart(b)
	tk := b.submit(t)

	outs := make([]json.RawMessage, 2)
	errs := make([]error, 2)
	var ready, wg sync.WaitGroup
	ready.Add(2)
	for i, exec := range []string{expressA, expressB} {
		in, _ := json.Marshal(map[string]any{"action": "start", "task_id": tk.ID, "tried": []string{}, "execution": exec})
		wg.Go(func() {
			ready.Done()
			ready.Wait() // both read the task before either writes, as far as the scheduler allows
			outs[i], errs[i] = b.actions.Invoke(context.Background(), in)
		})
	}
	wg.Wait()
	steps := make([]workflow.Step, 2)
	for i := range steps {
		if errs[i] != nil {
			t.Fatalf("start %d: %v", i, errs[i])
		}
		if err := json.Unmarshal(outs[i], &steps[i]); err != nil {
			t.Fatal(err)
		}
	}
	states := []string{steps[0].State, steps[1].State}
	if calls.Load() != 1 || !(states[0] == workflow.StepDone && states[1] == workflow.StepEnded || states[0] == workflow.StepEnded && states[1] == workflow.StepDone) {
		t.Fatalf("%d provider calls, steps %v; want 1 call, one done and one ended", calls.Load(), states)
	}
	got, err := b.app.Task(context.Background(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	winner := expressA
	if states[1] == workflow.StepDone {
		winner = expressB
	}
	if got.Run.Key != task.RunKey(winner) || got.Attempts != 1 {
		t.Fatalf("task run %q with %d attempts, want the winner's key %q and 1 attempt", got.Run.Key, got.Attempts, task.RunKey(winner))
	}
}

// A bounded execution's claim carries its deadline, counted from the
// claim; a durable one's none.
func TestAClaimKnowsItsExecutionsBound(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	for name, tc := range map[string]struct {
		execution string
		deadline  *time.Time
	}{
		"express":  {expressA, new(now.Add(5 * time.Minute))},
		"standard": {standard, nil},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			countingStart(b)
			b.actions = steps.New(steps.Deps{App: b.app, Blobs: b.blobs, Providers: b.prov, AllowPrivateOutputs: true,
				RunBound: expressBound, Now: func() time.Time { return now }})
			tk := b.submit(t)
			startStep(t, b, tk.ID, tc.execution)
			got, err := b.app.Task(context.Background(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Run.Key != task.RunKey(tc.execution) || (got.Run.Deadline == nil) != (tc.deadline == nil) ||
				got.Run.Deadline != nil && !got.Run.Deadline.Equal(*tc.deadline) {
				t.Fatalf("run %+v, want key %q until %v", got.Run, task.RunKey(tc.execution), tc.deadline)
			}
		})
	}
}
