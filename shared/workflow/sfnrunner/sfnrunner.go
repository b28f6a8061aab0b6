// Package sfnrunner runs the workflows on AWS Step Functions: it is the
// app's Runner in the cloud, over the same ASL definitions that the local
// runner runs in process. Each task's workflow is the execution of the task
// state machine named by the task id, each batch's the execution of the
// batch state machine named by the batch id.
package sfnrunner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/workflow"
)

// ARNs are the ARNs of the state machines.
type ARNs struct {
	Task  string // runs one task: a Standard workflow
	Batch string // runs the tasks of a batch, each as an execution of Task
	// Express, when set, runs the tasks of the types in ExpressTypes
	// alone (not in a batch): an Express workflow of the same definition.
	// Express workflows cost a millionth of a dollar per execution plus
	// their duration, where Standard ones cost $25 per million state
	// transitions; they last 5 minutes at most, and StopExecution does
	// not apply to them (a canceled task's next step ends its workflow and
	// cancels its provider job).
	Express string
}

// ExpressTypes are the task types that may run as Express workflows:
// image generation, whose providers answer in seconds. Transcription and
// subtitles poll jobs that can run for many minutes, video longer still.
// Express's two limits are made safe around it: executions are at least
// once (and a duplicated task message starts one more, where a Standard
// start would be refused by name), so the start step claims the task for
// its execution and any other execution of it ends at once; and an
// execution ends at ExpressLimit without its Catch running, so the claim
// records that deadline (ExecutionBound) and the sweep fails a task still
// running past it.
var ExpressTypes = []task.Type{task.TypeImageGeneration}

// ExpressLimit is how long an Express execution lasts at most: Step
// Functions ends it then, whatever state it is in.
const ExpressLimit = 5 * time.Minute

// ExecutionBound is the longest the execution with that id can last
// ($$.Execution.Id, its ARN): ExpressLimit for an Express execution
// (arn:...:express:MACHINE:NAME:UUID), 0 for a Standard one, which lasts
// as long as its work.
func ExecutionBound(executionID string) time.Duration {
	p, err := arn.Parse(executionID)
	if err == nil && p.Service == "states" && strings.HasPrefix(p.Resource, "express:") {
		return ExpressLimit
	}
	return 0
}

// CancelJobFunc asks a provider to drop the job of a canceled task, best
// effort (the step actions' CancelJob).
type CancelJobFunc func(ctx context.Context, taskID, provider, job string)

// Options configure the runner.
type Options struct {
	// BatchConcurrency is the batch workflow's max_concurrency: the tasks
	// of one batch running at once (default 10).
	BatchConcurrency int
	// CancelJob cancels the provider job a stopped workflow was waiting
	// on; nil cancels none.
	CancelJob CancelJobFunc
	Log       *slog.Logger
}

// Runner starts and stops executions of the state machines.
type Runner struct {
	client    *sfn.Client
	arns      ARNs
	batchCap  int
	cancelJob CancelJobFunc
	log       *slog.Logger
}

var _ app.Runner = (*Runner)(nil)

// New returns a runner of the state machines arns names. It fails on an
// ARN that is not a state machine's, so that a wrong setting stops the
// process at start rather than every start of a workflow.
func New(client *sfn.Client, arns ARNs, o Options) (*Runner, error) {
	for _, a := range arns.all() {
		if _, err := executionARN(a, "x"); err != nil {
			return nil, fmt.Errorf("new step functions runner: %w", err)
		}
	}
	if o.BatchConcurrency <= 0 {
		o.BatchConcurrency = workflow.DefaultBatchConcurrency
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Runner{client: client, arns: arns, batchCap: o.BatchConcurrency, cancelJob: o.CancelJob, log: o.Log}, nil
}

func (a ARNs) all() []string {
	all := []string{a.Task, a.Batch}
	if a.Express != "" {
		all = append(all, a.Express)
	}
	return all
}

// Start starts the task's workflow, named by the task id: an Express
// workflow for the types in ExpressTypes when there is one, a Standard
// workflow otherwise.
func (r *Runner) Start(ctx context.Context, t *task.Task) error {
	in := workflow.StartInput(t)
	machine := r.arns.Task
	if r.arns.Express != "" && slices.Contains(ExpressTypes, t.Type) {
		machine = r.arns.Express
	}
	if err := r.start(ctx, machine, t.ID, in); err != nil {
		return fmt.Errorf("start the workflow of task %s: %w", t.ID, err)
	}
	return nil
}

// StartBatch starts the batch's workflow, named by the batch id; it starts
// the workflow of each task.
func (r *Runner) StartBatch(ctx context.Context, b *task.Batch) error {
	in, _ := json.Marshal(workflow.BatchInput{BatchID: b.ID, TaskIDs: b.TaskIDs, MaxConcurrency: r.batchCap}) // cannot fail
	if err := r.start(ctx, r.arns.Batch, b.ID, in); err != nil {
		return fmt.Errorf("start the workflow of batch %s: %w", b.ID, err)
	}
	return nil
}

// start starts an execution. Step Functions answers a second start of a
// running execution with the same input as the first; it refuses with
// ExecutionAlreadyExists a start whose name a closed execution holds, or
// whose input differs. Either way the execution named by this task or
// batch exists or existed, and it owns the task: ids are never reused, so
// a redelivered queue message must start nothing new. The input can only
// differ when the operator changed the batch concurrency in between, and
// the running batch keeps the cap it started with.
func (r *Runner) start(ctx context.Context, machineARN, name string, input []byte) error {
	_, err := r.client.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(machineARN),
		Name:            aws.String(name),
		Input:           aws.String(string(input)),
	})
	var exists *types.ExecutionAlreadyExists
	if errors.As(err, &exists) {
		r.log.InfoContext(ctx, "workflow already started", "execution", name, "detail", exists.ErrorMessage())
		return nil
	}
	return err
}

// Errors and causes of a stopped execution.
const (
	StopError = "Task.Canceled"
	StopCause = "the task was canceled"
)

// Stop stops a canceled task's workflow and asks its provider to drop the
// job the workflow was waiting on. An Express workflow cannot be stopped:
// its Standard execution does not exist, and its next step ends it.
func (r *Runner) Stop(ctx context.Context, taskID string) error {
	execARN, _ := executionARN(r.arns.Task, taskID) // New checked the ARN
	_, err := r.client.StopExecution(ctx, &sfn.StopExecutionInput{
		ExecutionArn: aws.String(execARN),
		Error:        aws.String(StopError),
		Cause:        aws.String(StopCause),
	})
	var missing *types.ExecutionDoesNotExist
	if errors.As(err, &missing) {
		return nil // not started yet: its start will find the task canceled
	}
	if err != nil {
		return fmt.Errorf("stop the workflow of task %s: %w", taskID, err)
	}
	step, err := r.lastStep(ctx, execARN)
	if err != nil {
		return fmt.Errorf("stop the workflow of task %s: find its provider job: %w", taskID, err)
	}
	if p, job, ok := step.PendingJob(); ok && r.cancelJob != nil {
		r.cancelJob(ctx, taskID, p, job)
	}
	return nil
}

// How much of a stopped execution's history is read, newest first, to
// find its last step. A state's events and its retries are a few dozen at
// most; the state that carries the step comes well within.
const (
	historyPage  = 25
	historyPages = 4
)

// lastStep is the last step of a stopped task workflow, read from its
// history: the step in the state document of the newest state entered or
// exited, or the result of a step action that returned after it. A
// workflow that ended by itself (it succeeded or failed before the stop)
// has no step to cancel: the poll that found the task canceled has
// canceled the job already.
func (r *Runner) lastStep(ctx context.Context, execARN string) (workflow.Step, error) {
	pages := sfn.NewGetExecutionHistoryPaginator(r.client, &sfn.GetExecutionHistoryInput{
		ExecutionArn:         aws.String(execARN),
		ReverseOrder:         true,
		IncludeExecutionData: aws.Bool(true),
		MaxResults:           historyPage,
	})
	first := true
	for n := 0; n < historyPages && pages.HasMorePages(); n++ {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return workflow.Step{}, fmt.Errorf("history of %s: %w", execARN, err)
		}
		for _, ev := range page.Events {
			if first {
				first = false
				switch ev.Type {
				case types.HistoryEventTypeExecutionSucceeded, types.HistoryEventTypeExecutionFailed, types.HistoryEventTypeExecutionTimedOut:
					return workflow.Step{}, nil
				}
			}
			if step, ok := stepIn(ev); ok {
				return step, nil
			}
		}
	}
	return workflow.Step{}, nil
}

// stepIn reads the step an event carries, if it is one that carries the
// workflow's state: a state's input or output (the state document, with
// the step under "step"), or a step action's result (the step itself).
func stepIn(ev types.HistoryEvent) (workflow.Step, bool) {
	var doc struct {
		Step workflow.Step `json:"step"`
	}
	var step workflow.Step
	switch {
	case ev.StateEnteredEventDetails != nil:
		return doc.Step, decode(ev.StateEnteredEventDetails.Input, &doc)
	case ev.StateExitedEventDetails != nil:
		return doc.Step, decode(ev.StateExitedEventDetails.Output, &doc)
	case ev.LambdaFunctionSucceededEventDetails != nil:
		return step, decode(ev.LambdaFunctionSucceededEventDetails.Output, &step)
	case ev.TaskSucceededEventDetails != nil:
		return step, decode(ev.TaskSucceededEventDetails.Output, &step)
	}
	return step, false
}

// decode reads JSON that the history may have left out (data too large,
// or not included); it says whether the event counted, read or not.
func decode(data *string, v any) bool {
	if data != nil {
		_ = json.Unmarshal([]byte(*data), v) // what is not a step is no pending job
	}
	return true
}

// Health checks that Step Functions answers and holds the state machines
// (DescribeStateMachine: a read that needs only the runner's own
// permissions and moves nothing).
func (r *Runner) Health(ctx context.Context) error {
	for _, a := range r.arns.all() {
		if _, err := r.client.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(a)}); err != nil {
			return fmt.Errorf("step functions: describe state machine %s: %w", a, err)
		}
	}
	return nil
}

// executionARN is the ARN of the execution name of the state machine
// machineARN: arn:PARTITION:states:REGION:ACCOUNT:execution:MACHINE:NAME.
// A version or alias qualifier of the machine is no part of it.
func executionARN(machineARN, name string) (string, error) {
	p, err := arn.Parse(machineARN)
	if err != nil {
		return "", fmt.Errorf("state machine ARN %q: %w", machineARN, err)
	}
	rest, ok := strings.CutPrefix(p.Resource, "stateMachine:")
	machine, _, _ := strings.Cut(rest, ":")
	if p.Service != "states" || !ok || machine == "" {
		return "", fmt.Errorf("%q is not the ARN of a state machine", machineARN)
	}
	p.Resource = "execution:" + machine + ":" + name
	return p.String(), nil
}
