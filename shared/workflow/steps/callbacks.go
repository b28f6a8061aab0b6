package steps

import (
	"context"
	"math"
	"time"

	"github.com/videoai/mediatasks/shared/callback"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/workflow"
)

// Callbacks let the providers that can call back report their jobs' end
// to the platform, so that the workflow waits instead of polling.
type Callbacks struct {
	// BaseURL is the API's public base URL (the providers' servers call
	// it); the callback URL is under it.
	BaseURL string
	Keys    callback.Keys
	// Waits record each task's wait (see callback.Waits).
	Waits callback.Waits
	// Fallback is how long a wait lasts before the job is polled once
	// (default callback.DefaultFallback).
	Fallback time.Duration
}

// callbackFor is the callback a provider's Start is told for a task, nil
// when callbacks are off or the provider cannot call back.
func (a *Actions) callbackFor(name, taskID string) *provider.Callback {
	if a.callbacks == nil || a.callbacks.BaseURL == "" {
		return nil
	}
	if _, ok := a.providers.Caller(name); !ok {
		return nil
	}
	return &provider.Callback{
		URL:    a.callbacks.Keys.URL(a.callbacks.BaseURL, name, taskID),
		Secret: a.callbacks.Keys.ProviderSecret(name),
	}
}

// awaiting turns a pending step into a wait for the job's callback.
func (a *Actions) awaiting(step workflow.Step) workflow.Step {
	fallback := a.callbacks.Fallback
	if fallback <= 0 {
		fallback = callback.DefaultFallback
	}
	secs := int(math.Ceil(fallback.Seconds()))
	// poll_after_seconds stays: an Express workflow, which cannot wait
	// for a token, polls the job as before.
	step.State, step.CallbackSeconds = workflow.StepAwaiting, &secs
	return step
}

type awaitInput struct {
	TaskID   string `json:"task_id"`
	Provider string `json:"provider"`
	Job      string `json:"job"`
	Token    string `json:"token"`
}

// awaitCallback records the token of the workflow's wait for the job's
// callback. When the callback came first (or the task ended meanwhile) it
// fails with Callback.Arrived: the definitions then poll at once.
func (a *Actions) awaitCallback(ctx context.Context, in awaitInput) (struct{}, error) {
	if in.Token == "" || in.Job == "" || in.Provider == "" {
		return struct{}{}, stepError(workflow.ErrNameBadInput, Cause{Message: "await_callback needs task_id, provider, job and token"})
	}
	if a.callbacks == nil || a.callbacks.Waits == nil {
		// Callbacks were turned off since the start: poll instead.
		return struct{}{}, stepError(workflow.ErrNameCallbackArrived, Cause{Provider: in.Provider, Message: "callbacks are off: poll"})
	}
	t, err := a.getTask(ctx, in.TaskID)
	if err != nil {
		return struct{}{}, err
	}
	if t.Status.Terminal() {
		return struct{}{}, stepError(workflow.ErrNameCallbackArrived, Cause{Provider: in.Provider, Message: "the task ended"})
	}
	arrived, err := a.callbacks.Waits.Arm(ctx, in.TaskID, in.Provider, in.Job, in.Token)
	if err != nil {
		return struct{}{}, err
	}
	if arrived {
		return struct{}{}, stepError(workflow.ErrNameCallbackArrived, Cause{Provider: in.Provider, Message: "the job's end arrived before the wait"})
	}
	return struct{}{}, nil
}

// forgetWait removes an ended task's wait record; a failure only leaves
// a small row behind (the cloud's TTL removes it), so it is logged.
func (a *Actions) forgetWait(ctx context.Context, taskID string) {
	if a.callbacks == nil || a.callbacks.Waits == nil {
		return
	}
	if err := a.callbacks.Waits.Forget(ctx, taskID); err != nil {
		a.log.WarnContext(ctx, "forget a callback wait", "task_id", taskID, "err", err)
	}
}
