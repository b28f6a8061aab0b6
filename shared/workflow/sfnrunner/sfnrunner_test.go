package sfnrunner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/workflow"
	"github.com/videoai/mediatasks/shared/workflow/runnertest"
	"github.com/videoai/mediatasks/shared/workflow/sfnrunner"
	"github.com/videoai/mediatasks/shared/workflow/sfnrunner/sfntest"
)

type fixture struct {
	srv      *sfntest.Server
	arns     sfnrunner.ARNs
	runner   *sfnrunner.Runner
	mu       sync.Mutex
	canceled []runnertest.Job // the runner's CancelJob calls
}

func newFixture(t *testing.T, o sfnrunner.Options) *fixture {
	t.Helper()
	f := &fixture{srv: sfntest.New(t)}
	f.arns = sfnrunner.ARNs{Task: f.srv.AddStateMachine(workflow.TaskMachine), Batch: f.srv.AddStateMachine(workflow.BatchMachine)}
	o.CancelJob = func(_ context.Context, taskID, provider, job string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.canceled = append(f.canceled, runnertest.Job{TaskID: taskID, Provider: provider, Job: job})
	}
	r, err := sfnrunner.New(f.srv.Client(), f.arns, o)
	if err != nil {
		t.Fatal(err)
	}
	f.runner = r
	return f
}

func (f *fixture) canceledJobs() []runnertest.Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]runnertest.Job(nil), f.canceled...)
}

func taskExecution(id string) string {
	return "arn:aws:states:us-east-1:" + sfntest.Account + ":execution:" + workflow.TaskMachine + ":" + id
}

func batchExecution(id string) string {
	return "arn:aws:states:us-east-1:" + sfntest.Account + ":execution:" + workflow.BatchMachine + ":" + id
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStartRunsTheTaskMachineWithTheLocalRunnersInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sfnrunner.Options{})
	ctx := context.Background()
	tk := &task.Task{ID: "0190a8b2-7c3e-7d4f-9a1b-2c3d4e5f6a7b"}

	if err := f.runner.Start(ctx, tk); err != nil {
		t.Fatal(err)
	}
	e, ok := f.srv.Execution(taskExecution(tk.ID))
	if !ok {
		t.Fatalf("no execution %s; have %+v", taskExecution(tk.ID), f.srv.Executions())
	}
	if want := mustJSON(t, workflow.TaskInput{TaskID: tk.ID, Tried: []string{}}); e.Input != want {
		t.Fatalf("input %s, want the local runner's %s", e.Input, want)
	}
	if e.StateMachineARN != f.arns.Task || e.Status != sfntest.StatusRunning {
		t.Fatalf("execution of %s is %s", e.StateMachineARN, e.Status)
	}
}

func TestRedeliveredStartStartsNothingNew(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sfnrunner.Options{})
	ctx := context.Background()
	tk := &task.Task{ID: "t-redelivered"}

	for i := range 2 {
		if err := f.runner.Start(ctx, tk); err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
	}
	// After the workflow ended, Step Functions refuses the name: still no
	// new execution, and no error for the dispatcher.
	f.srv.End(taskExecution(tk.ID), sfntest.StatusSucceeded, `{}`)
	if err := f.runner.Start(ctx, tk); err != nil {
		t.Fatalf("start after the workflow ended: %v", err)
	}
	if n := len(f.srv.Calls("StartExecution")); n != 3 {
		t.Fatalf("%d StartExecution calls, want 3", n)
	}
	if n := len(f.srv.Executions()); n != 1 {
		t.Fatalf("%d executions, want 1", n)
	}
	if e, _ := f.srv.Execution(taskExecution(tk.ID)); e.Status != sfntest.StatusSucceeded {
		t.Fatalf("the execution is %s, want it left SUCCEEDED", e.Status)
	}
}

func TestStartBatchRunsTheBatchMachine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		configure int
		want      int
	}{{"default", 0, workflow.DefaultBatchConcurrency}, {"set", 3, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, sfnrunner.Options{BatchConcurrency: tc.configure})
			b := &task.Batch{ID: "b1", TaskIDs: []string{"t1", "t2", "t3"}}
			if err := f.runner.StartBatch(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			e, ok := f.srv.Execution(batchExecution(b.ID))
			if !ok {
				t.Fatalf("no execution %s; have %+v", batchExecution(b.ID), f.srv.Executions())
			}
			want := mustJSON(t, workflow.BatchInput{BatchID: b.ID, TaskIDs: b.TaskIDs, MaxConcurrency: tc.want})
			if e.Input != want || e.StateMachineARN != f.arns.Batch {
				t.Fatalf("execution of %s with input %s, want %s with %s", e.StateMachineARN, e.Input, f.arns.Batch, want)
			}
		})
	}
}

// A batch redelivered after the operator changed the concurrency: the
// input differs, Step Functions refuses, and the running batch goes on.
func TestRedeliveredBatchWithAnotherInputStartsNothingNew(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sfnrunner.Options{BatchConcurrency: 10})
	ctx := context.Background()
	b := &task.Batch{ID: "b1", TaskIDs: []string{"t1", "t2"}}
	if err := f.runner.StartBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	other, err := sfnrunner.New(f.srv.Client(), f.arns, sfnrunner.Options{BatchConcurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.StartBatch(ctx, b); err != nil {
		t.Fatalf("start with another input: %v", err)
	}
	calls := f.srv.Calls("StartExecution")
	if len(calls) != 2 || calls[1].Failed != nil {
		t.Fatalf("calls %+v, want two served", calls)
	}
	e, _ := f.srv.Execution(batchExecution(b.ID))
	if want := mustJSON(t, workflow.BatchInput{BatchID: b.ID, TaskIDs: b.TaskIDs, MaxConcurrency: 10}); e.Input != want || len(f.srv.Executions()) != 1 {
		t.Fatalf("input %s of %d executions, want the first start's %s alone", e.Input, len(f.srv.Executions()), want)
	}
}

// taskState is the task workflow's state document at a state.
func taskState(t *testing.T, taskID string, step any) string {
	t.Helper()
	doc := map[string]any{"task_id": taskID, "tried": []string{}}
	if step != nil {
		doc["step"] = step
	}
	return mustJSON(t, doc)
}

const processFunction = "arn:aws:lambda:us-east-1:123456789012:function:process"

func pendingStep(job string) map[string]any {
	return map[string]any{"state": "pending", "provider": "acme", "job": job, "poll_after_seconds": 5, "polls": 0}
}

// startedAndPending is the history of a task workflow whose Start answered
// a job to poll, up to its WaitForJob state.
func startedAndPending(t *testing.T, taskID, job string) []sfntest.Event {
	return []sfntest.Event{
		sfntest.StateEntered("Task", "Start", taskState(t, taskID, nil)),
		sfntest.LambdaScheduled(processFunction, `{"action":"start"}`),
		sfntest.LambdaStarted(),
		sfntest.LambdaSucceeded(mustJSON(t, pendingStep(job))),
		sfntest.StateExited("Task", "Start", taskState(t, taskID, pendingStep(job))),
		sfntest.StateEntered("Choice", "Route", taskState(t, taskID, pendingStep(job))),
		sfntest.StateExited("Choice", "Route", taskState(t, taskID, pendingStep(job))),
		sfntest.StateEntered("Wait", "WaitForJob", taskState(t, taskID, pendingStep(job))),
	}
}

func TestStopCancelsTheJobTheWorkflowWaitedOn(t *testing.T) {
	t.Parallel()
	lambdaFailed := sfntest.Event{Type: "LambdaFunctionFailed", Details: map[string]any{"error": "Provider.Transient", "cause": "{}"}}
	cases := map[string]func(t *testing.T, id string) []sfntest.Event{
		"waiting": func(t *testing.T, id string) []sfntest.Event {
			return startedAndPending(t, id, "job-1")
		},
		"polling, after many retries": func(t *testing.T, id string) []sfntest.Event {
			evs := append(startedAndPending(t, id, "job-1"),
				sfntest.Event{Type: "WaitStateExited", Details: map[string]any{"name": "WaitForJob", "output": taskState(t, id, pendingStep("job-1"))}},
				sfntest.StateEntered("Task", "Poll", taskState(t, id, pendingStep("job-1"))))
			// More events than one page of history after the state.
			for range 15 {
				evs = append(evs, sfntest.LambdaScheduled(processFunction, `{"action":"poll"}`), sfntest.LambdaStarted(), lambdaFailed)
			}
			return evs
		},
		"start answered, state not yet left": func(t *testing.T, id string) []sfntest.Event {
			return []sfntest.Event{
				sfntest.StateEntered("Task", "Start", taskState(t, id, nil)),
				sfntest.LambdaScheduled(processFunction, `{"action":"start"}`),
				sfntest.LambdaStarted(),
				sfntest.LambdaSucceeded(mustJSON(t, pendingStep("job-1"))),
			}
		},
	}
	for name, history := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, sfnrunner.Options{})
			ctx := context.Background()
			id := "t-pending"
			if err := f.runner.Start(ctx, &task.Task{ID: id}); err != nil {
				t.Fatal(err)
			}
			f.srv.Append(taskExecution(id), history(t, id)...)

			if err := f.runner.Stop(ctx, id); err != nil {
				t.Fatal(err)
			}
			e, _ := f.srv.Execution(taskExecution(id))
			if e.Status != sfntest.StatusAborted || e.Error != sfnrunner.StopError || e.Cause != sfnrunner.StopCause {
				t.Fatalf("execution %s with error %q cause %q", e.Status, e.Error, e.Cause)
			}
			want := []runnertest.Job{{TaskID: id, Provider: "acme", Job: "job-1"}}
			if got := f.canceledJobs(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("canceled jobs %v, want %v", got, want)
			}
		})
	}
}

func TestStopCancelsNoJobWhenNoneIsPending(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		history func(t *testing.T, id string) []sfntest.Event
		end     string // the execution ended by itself before the stop
		status  string // the status the stop leaves
	}{
		"still starting": {
			history: func(t *testing.T, id string) []sfntest.Event {
				return []sfntest.Event{
					sfntest.StateEntered("Task", "Start", taskState(t, id, nil)),
					sfntest.LambdaScheduled(processFunction, `{"action":"start"}`),
					sfntest.LambdaStarted(),
				}
			},
			status: sfntest.StatusAborted,
		},
		"job finished, completing": {
			history: func(t *testing.T, id string) []sfntest.Event {
				done := map[string]any{"state": "done", "provider": "acme", "job": "job-1", "output": map[string]any{"files": []any{}}}
				return append(startedAndPending(t, id, "job-1"),
					sfntest.StateEntered("Task", "Poll", taskState(t, id, pendingStep("job-1"))),
					sfntest.LambdaScheduled(processFunction, `{"action":"poll"}`),
					sfntest.LambdaStarted(),
					sfntest.LambdaSucceeded(mustJSON(t, done)),
					sfntest.StateExited("Task", "Poll", taskState(t, id, done)),
					sfntest.StateEntered("Task", "Complete", taskState(t, id, done)),
					sfntest.LambdaScheduled(processFunction, `{"action":"complete"}`),
				)
			},
			status: sfntest.StatusAborted,
		},
		// The workflow ended while it waited on a job (its poll found the
		// task canceled and canceled the job itself): the stop changes
		// nothing and cancels nothing.
		"ended before the stop": {
			history: func(t *testing.T, id string) []sfntest.Event {
				return startedAndPending(t, id, "job-1")
			},
			end:    sfntest.StatusSucceeded,
			status: sfntest.StatusSucceeded,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, sfnrunner.Options{})
			ctx := context.Background()
			id := "t-no-job"
			if err := f.runner.Start(ctx, &task.Task{ID: id}); err != nil {
				t.Fatal(err)
			}
			f.srv.Append(taskExecution(id), tc.history(t, id)...)
			if tc.end != "" {
				f.srv.End(taskExecution(id), tc.end, `{}`)
			}

			if err := f.runner.Stop(ctx, id); err != nil {
				t.Fatal(err)
			}
			if e, _ := f.srv.Execution(taskExecution(id)); e.Status != tc.status {
				t.Fatalf("execution %s, want %s", e.Status, tc.status)
			}
			// One page read: the SDK may send a request twice (a retry
			// on a loaded machine), never for another page.
			pages := map[string]bool{}
			for _, c := range f.srv.Calls("GetExecutionHistory") {
				var in struct{ NextToken string }
				_ = json.Unmarshal(c.Body, &in)
				pages[in.NextToken] = true
			}
			if len(pages) != 1 || !pages[""] {
				t.Fatalf("history pages read %v, want the first alone", pages)
			}
			if got := f.canceledJobs(); len(got) != 0 {
				t.Fatalf("canceled jobs %v, want none", got)
			}
		})
	}
}

func TestStopOfAWorkflowNotStarted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sfnrunner.Options{})
	if err := f.runner.Stop(context.Background(), "t-never-started"); err != nil {
		t.Fatalf("stop of a workflow not started: %v", err)
	}
	calls := f.srv.Calls()
	if len(calls) != 1 || calls[0].Op != "StopExecution" {
		t.Fatalf("calls %+v, want one StopExecution", calls)
	}
	var in struct{ ExecutionArn string }
	if err := json.Unmarshal(calls[0].Body, &in); err != nil || in.ExecutionArn != taskExecution("t-never-started") {
		t.Fatalf("stopped %q (%v), want %s", in.ExecutionArn, err, taskExecution("t-never-started"))
	}
	if len(f.canceledJobs()) != 0 || len(f.srv.Executions()) != 0 {
		t.Fatalf("the stop canceled jobs %v or made executions %v", f.canceledJobs(), f.srv.Executions())
	}
}

func TestThrottlingAndServerErrorsAreRetried(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sfnrunner.Options{})
	ctx := context.Background()
	id := "t-throttled"

	f.srv.FailNext("StartExecution", 2, sfntest.Throttled)
	if err := f.runner.Start(ctx, &task.Task{ID: id}); err != nil {
		t.Fatalf("start after two throttles: %v", err)
	}
	f.srv.Append(taskExecution(id), startedAndPending(t, id, "job-1")...)
	f.srv.FailNext("StopExecution", 1, sfntest.Unavailable)
	f.srv.FailNext("GetExecutionHistory", 1, sfntest.Throttled)
	if err := f.runner.Stop(ctx, id); err != nil {
		t.Fatalf("stop after a 503 and a throttle: %v", err)
	}
	for op, want := range map[string]int{"StartExecution": 3, "StopExecution": 2, "GetExecutionHistory": 2} {
		if n := len(f.srv.Calls(op)); n != want {
			t.Errorf("%d %s calls, want %d", n, op, want)
		}
	}
	if got := f.canceledJobs(); len(got) != 1 {
		t.Fatalf("canceled jobs %v, want job-1", got)
	}

	// Past the retryer's attempts, the error reaches the dispatcher, which
	// tries again when the message comes back.
	f.srv.FailNext("StartExecution", 3, sfntest.Throttled)
	err := f.runner.Start(ctx, &task.Task{ID: "t-throttled-2"})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ThrottlingException" || !strings.Contains(err.Error(), "task t-throttled-2") {
		t.Fatalf("three throttles: %v, want ThrottlingException naming the task", err)
	}
}

func TestErrorsNameTheTaskOrBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, sfnrunner.Options{})

	for _, id := range []string{"has space", "has/slash", strings.Repeat("x", 81), ""} {
		err := f.runner.Start(ctx, &task.Task{ID: id})
		var bad *types.InvalidName
		if !errors.As(err, &bad) || !strings.Contains(err.Error(), "task "+id+":") {
			t.Errorf("task id %q: %v, want InvalidName naming the task", id, err)
		}
	}

	// State machines that do not exist (a deployment's wrong setting).
	srv := sfntest.New(t)
	gone, err := sfnrunner.New(srv.Client(), sfnrunner.ARNs{
		Task:  "arn:aws:states:us-east-1:123456789012:stateMachine:gone-task",
		Batch: "arn:aws:states:us-east-1:123456789012:stateMachine:gone-batch",
	}, sfnrunner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var missing *types.StateMachineDoesNotExist
	if err := gone.Start(ctx, &task.Task{ID: "t9"}); !errors.As(err, &missing) || !strings.Contains(err.Error(), "task t9") {
		t.Errorf("start on a missing machine: %v, want StateMachineDoesNotExist naming the task", err)
	}
	if err := gone.StartBatch(ctx, &task.Batch{ID: "b9", TaskIDs: []string{"t9"}}); !errors.As(err, &missing) || !strings.Contains(err.Error(), "batch b9") {
		t.Errorf("start batch on a missing machine: %v, want StateMachineDoesNotExist naming the batch", err)
	}

	// The stop went through but the history could not be read.
	if err := f.runner.Start(ctx, &task.Task{ID: "t-history"}); err != nil {
		t.Fatal(err)
	}
	f.srv.FailNext("GetExecutionHistory", 3, sfntest.Internal)
	err = f.runner.Stop(ctx, "t-history")
	if err == nil || !strings.Contains(err.Error(), "task t-history") {
		t.Errorf("stop with the history unreadable: %v, want an error naming the task", err)
	}
	f.srv.FailNext("StopExecution", 3, sfntest.Internal)
	if err := f.runner.Stop(ctx, "t-history-2"); err == nil || !strings.Contains(err.Error(), "task t-history-2") {
		t.Errorf("stop failing: %v, want an error naming the task", err)
	}
}

func TestNewRefusesWhatIsNotAStateMachine(t *testing.T) {
	t.Parallel()
	srv := sfntest.New(t)
	good := srv.AddStateMachine("task")
	for _, bad := range []string{
		"",
		"task",
		"arn:aws:lambda:us-east-1:123456789012:function:task",
		"arn:aws:states:us-east-1:123456789012:execution:task:t1",
		"arn:aws:states:us-east-1:123456789012:stateMachine:",
	} {
		if _, err := sfnrunner.New(srv.Client(), sfnrunner.ARNs{Task: good, Batch: bad}, sfnrunner.Options{}); err == nil {
			t.Errorf("batch machine %q accepted", bad)
		}
		if _, err := sfnrunner.New(srv.Client(), sfnrunner.ARNs{Task: bad, Batch: good}, sfnrunner.Options{}); err == nil {
			t.Errorf("task machine %q accepted", bad)
		}
	}
}

// A machine named by an alias or version ARN: its executions are named by
// the machine alone, so the stop finds the execution the start made.
func TestQualifiedMachineARN(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sfnrunner.Options{})
	ctx := context.Background()
	r, err := sfnrunner.New(f.srv.Client(), sfnrunner.ARNs{Task: f.arns.Task + ":live", Batch: f.arns.Batch + ":7"}, sfnrunner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, &task.Task{ID: "t-alias"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(ctx, "t-alias"); err != nil {
		t.Fatal(err)
	}
	if e, ok := f.srv.Execution(taskExecution("t-alias")); !ok || e.Status != sfntest.StatusAborted {
		t.Fatalf("execution %+v (found %v), want it aborted", e, ok)
	}
}

func TestHealthDescribesBothMachines(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sfnrunner.Options{})
	ctx := context.Background()
	if err := f.runner.Health(ctx); err != nil {
		t.Fatal(err)
	}
	calls := f.srv.Calls()
	if len(calls) != 2 || calls[0].Op != "DescribeStateMachine" || calls[1].Op != "DescribeStateMachine" {
		t.Fatalf("calls %+v, want two DescribeStateMachine", calls)
	}

	srv := sfntest.New(t)
	half, err := sfnrunner.New(srv.Client(), sfnrunner.ARNs{
		Task:  srv.AddStateMachine("task"),
		Batch: "arn:aws:states:us-east-1:123456789012:stateMachine:batch",
	}, sfnrunner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var missing *types.StateMachineDoesNotExist
	if err := half.Health(ctx); !errors.As(err, &missing) {
		t.Fatalf("health without the batch machine: %v, want StateMachineDoesNotExist", err)
	}
}

// With an Express machine, image tasks run there and the others on the
// Standard one; a cancel of an Express task stops nothing and fails
// nothing (its next step ends it). The ids of Express executions say
// that they last ExpressLimit at most; Standard ones are unbounded.
func TestShortTasksRunAsExpressWorkflows(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sfnrunner.Options{})
	f.arns.Express = f.srv.AddExpressStateMachine("task-express")
	r, err := sfnrunner.New(f.srv.Client(), f.arns, sfnrunner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	machines := map[string]string{}
	bounds := map[string]time.Duration{}
	for i, typ := range task.Types {
		tk := &task.Task{ID: fmt.Sprintf("0190a8b2-7c3e-7d4f-9a1b-2c3d4e5f6a7%d", i), Type: typ}
		if err := r.Start(ctx, tk); err != nil {
			t.Fatal(err)
		}
		for _, e := range f.srv.Executions() {
			if e.Name == tk.ID {
				machines[string(typ)] = e.StateMachineARN
				bounds[string(typ)] = sfnrunner.ExecutionBound(e.ARN)
			}
		}
		if err := r.Stop(ctx, tk.ID); err != nil {
			t.Fatalf("stop %s: %v", typ, err)
		}
	}
	for _, typ := range task.Types {
		want, bound := f.arns.Task, time.Duration(0)
		if typ == task.TypeImageGeneration {
			want, bound = f.arns.Express, sfnrunner.ExpressLimit
		}
		if machines[string(typ)] != want {
			t.Errorf("%s ran on %q, want %q", typ, machines[string(typ)], want)
		}
		if bounds[string(typ)] != bound {
			t.Errorf("%s's execution is bounded by %s, want %s", typ, bounds[string(typ)], bound)
		}
	}
	if err := r.Health(ctx); err != nil {
		t.Fatal(err)
	}
}
