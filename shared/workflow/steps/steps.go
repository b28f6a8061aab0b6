// Package steps holds the step actions the workflows call: start (prompt
// optimisation, provider choice, the provider's Start), poll, failover,
// complete, fail and finalize_batch. The local engine calls them in
// process; in the cloud the process function calls the same code. Each
// action is idempotent: a step that runs again after a crash or a retry
// finds the task where the first run left it.
package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/storage"
	"github.com/videoai/mediatasks/shared/subtitle"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/workflow"
)

// Providers is the provider registry as the actions use it.
type Providers interface {
	Choose(taskType task.Type, taskID, pinned string, exclude []string, in task.Input) (string, error)
	Start(ctx context.Context, name string, req provider.Request) (provider.Response, error)
	Poll(ctx context.Context, name string, req provider.Request, job string) (provider.Response, error)
	Cancel(ctx context.Context, name string, req provider.Request, job string) error
	PromptLimits(name string, taskType task.Type) prompt.Limits
	Type(name string) string
	// Caller is the provider called name if it can call back.
	Caller(name string) (provider.Caller, bool)
}

// PromptOptimizer makes the prompt a provider is sent, as the task's
// prompt_optimization asks (prompt.Optimizer).
type PromptOptimizer interface {
	Optimize(ctx context.Context, r prompt.Request) (*task.OptimizedPrompt, error)
	// Assign is the optimisation an A/B experiment gives a task that
	// asked for none, and its arm; false when none applies.
	Assign(taskType task.Type, taskID string) (task.PromptOptimization, *task.PromptExperiment, bool)
}

// Deps are what the actions work with.
type Deps struct {
	// App is the one door to tasks: every read and status change goes
	// through its use cases.
	App       *app.App
	Blobs     blob.Store
	Providers Providers
	Optimizer PromptOptimizer // nil: inputs go to the provider as written
	// HTTP downloads the files providers return as URLs (default: the
	// SSRF-guarded client, with a 5-minute timeout).
	HTTP *http.Client
	// AllowPrivateOutputs lets the default client fetch from private
	// addresses (local development only).
	AllowPrivateOutputs bool
	// MaxJobDuration fails a job still pending this long after the task
	// started (default 6 h).
	MaxJobDuration time.Duration
	// Subtitles are the formatter's rules (nil or zero:
	// subtitle.DefaultOptions); a task's max_line_chars replaces their line
	// length.
	Subtitles *subtitle.Options
	// RunBound is the longest a workflow execution with the given id can
	// last, for runners whose executions are bounded (Step Functions
	// Express: 5 minutes); 0 for a durable one. Nil: every execution is
	// durable (the embedded engine).
	RunBound func(executionID string) time.Duration
	// Callbacks, when set, tell the providers that can call back where to
	// (nil: every job is polled).
	Callbacks *Callbacks
	Now       func() time.Time
	Log       *slog.Logger
}

// Actions runs the step actions.
type Actions struct {
	app       *app.App
	blobs     blob.Store
	providers Providers
	optimizer PromptOptimizer
	http      *http.Client
	maxJob    time.Duration
	subtitles subtitle.Options
	runBound  func(executionID string) time.Duration
	callbacks *Callbacks
	now       func() time.Time
	log       *slog.Logger
}

// New returns the actions over d.
func New(d Deps) *Actions {
	if d.HTTP == nil {
		d.HTTP = httpapi.GuardedClient(5*time.Minute, d.AllowPrivateOutputs)
	}
	if d.MaxJobDuration <= 0 {
		d.MaxJobDuration = 6 * time.Hour
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	subs := subtitle.DefaultOptions()
	if d.Subtitles != nil && *d.Subtitles != (subtitle.Options{}) {
		subs = *d.Subtitles
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.RunBound == nil {
		d.RunBound = func(string) time.Duration { return 0 }
	}
	return &Actions{app: d.App, blobs: d.Blobs, providers: d.Providers, optimizer: d.Optimizer,
		http: d.HTTP, maxJob: d.MaxJobDuration, subtitles: subs, runBound: d.RunBound, callbacks: d.Callbacks, now: d.Now, log: d.Log}
}

// Cause is the JSON in an Error's cause: which provider failed, and how.
type Cause struct {
	Provider          string  `json:"provider,omitempty"`
	Kind              string  `json:"kind,omitempty"`
	Code              string  `json:"code,omitempty"`
	Message           string  `json:"message"`
	RetryAfterSeconds float64 `json:"retry_after_seconds,omitempty"`
	// Safety: the provider refused the content on its rules.
	Safety bool `json:"safety,omitempty"`
}

func stepError(name string, c Cause) *workflow.StepError {
	b, _ := json.Marshal(c) // strings and numbers: cannot fail
	return &workflow.StepError{Name: name, Cause: string(b)}
}

// Invoke runs the action named by input's "action" field: the single entry
// point of the process function and of the local engine's resource.
func (a *Actions) Invoke(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
	var head struct {
		Action string `json:"action"`
	}
	if err := json.Unmarshal(input, &head); err != nil {
		return nil, stepError(workflow.ErrNameBadInput, Cause{Message: "input is not a JSON object: " + err.Error()})
	}
	var (
		out any
		err error
	)
	switch head.Action {
	case workflow.ActionStart:
		out, err = run(ctx, input, a.start)
	case workflow.ActionPoll:
		out, err = run(ctx, input, a.poll)
	case workflow.ActionAwaitCallback:
		out, err = run(ctx, input, a.awaitCallback)
	case workflow.ActionFailover:
		out, err = run(ctx, input, a.failover)
	case workflow.ActionComplete:
		out, err = run(ctx, input, a.complete)
	case workflow.ActionFail:
		out, err = run(ctx, input, a.fail)
	case workflow.ActionFinalizeBatch:
		out, err = run(ctx, input, a.finalizeBatch)
	default:
		return nil, stepError(workflow.ErrNameBadInput, Cause{Message: fmt.Sprintf("unknown action %q", head.Action)})
	}
	if err != nil {
		var se *workflow.StepError
		if !errors.As(err, &se) {
			// A failure of the platform itself (the store, the blob
			// store): worth retrying, as Lambda service errors are.
			a.log.ErrorContext(ctx, "step action failed", "action", head.Action, "err", err)
			name := workflow.ErrNameStore
			if storage.Fault(err) {
				name = workflow.ErrNameStorageFault
			}
			se = stepError(name, Cause{Message: err.Error()})
		}
		return nil, se
	}
	return json.Marshal(out)
}

func run[In, Out any](ctx context.Context, raw json.RawMessage, fn func(context.Context, In) (Out, error)) (Out, error) {
	var in In
	if err := json.Unmarshal(raw, &in); err != nil {
		var zero Out
		return zero, stepError(workflow.ErrNameBadInput, Cause{Message: "decode input: " + err.Error()})
	}
	return fn(ctx, in)
}

// getTask reads a task for a step; a task that is gone is a bad input (it
// cannot come back).
func (a *Actions) getTask(ctx context.Context, id string) (*task.Task, error) {
	t, err := a.app.Task(ctx, id)
	if errors.Is(err, task.ErrNotFound) {
		return nil, stepError(workflow.ErrNameBadInput, Cause{Code: "task_not_found", Message: "task " + id + " does not exist"})
	}
	return t, err
}

// terminal tells whether a use case found the task already terminal
// (canceled meanwhile, or finished by an earlier run of the step), and
// otherwise passes its error on.
func terminal(err error) (bool, error) {
	if errors.Is(err, task.ErrTerminal) {
		return true, nil
	}
	return false, err
}
