package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
	"github.com/videoai/mediatasks/shared/workflow"
)

const (
	// maxInlineOutput is the largest staged output carried in the state.
	maxInlineOutput = 32 << 10
	// maxOutputBytes bounds one output file.
	maxOutputBytes = 4 << 30
	// maxPollAfter bounds the wait between polls.
	maxPollAfter = time.Hour
	// maxTried bounds failovers when a failing call names no provider
	// (every breaker open): the task fails rather than loop.
	maxTried = 8
)

type startInput struct {
	TaskID string   `json:"task_id"`
	Tried  []string `json:"tried"`
	// Execution is the id of the workflow execution ($$.Execution.Id).
	Execution string `json:"execution"`
}

// start chooses a provider (never one already tried) and calls its Start.
// The attempt is recorded before the call, so a crash after the call shows
// in the task's attempt history. The same write claims the task for the
// execution: a task another execution has claimed (Express executions are
// at least once, and a duplicated message starts one more) answers ended,
// with no provider called and nothing changed.
func (a *Actions) start(ctx context.Context, in startInput) (workflow.Step, error) {
	t, err := a.getTask(ctx, in.TaskID)
	if err != nil {
		return workflow.Step{}, err
	}
	if t.Status.Terminal() {
		return ended(t), nil
	}
	run := a.runOf(in.Execution)
	if t.ClaimedByAnother(run) {
		// Checked on the read too, so that a second execution that comes
		// later spends no prompt optimisation either.
		return a.claimedElsewhere(ctx, t.ID, run)
	}
	if src := transcriptSource(t); src != "" {
		return a.formatTranscript(ctx, t, src, run)
	}
	name, err := a.providers.Choose(t.Type, t.ID, pinnedProvider(t.Input), in.Tried, inputOf(t))
	if err != nil {
		return workflow.Step{}, providerError("", err)
	}
	op, err := a.optimize(ctx, t, name)
	if err != nil {
		return workflow.Step{}, err
	}
	t, err = a.app.StartAttemptFor(ctx, t.ID, run, name, op)
	if errors.Is(err, task.ErrClaimed) {
		return a.claimedElsewhere(ctx, in.TaskID, run)
	}
	if end, err := terminal(err); err != nil || end {
		return a.endedOr(ctx, in.TaskID, err)
	}
	req, err := a.request(ctx, t)
	if err != nil {
		return workflow.Step{}, err
	}
	req.Callback = a.callbackFor(name, t.ID)
	resp, err := a.providers.Start(ctx, name, req)
	if err != nil {
		a.recordOutcome(ctx, t.ID, err)
		return workflow.Step{}, providerError(name, err)
	}
	return a.answer(ctx, t, name, resp, 0, req.Callback != nil)
}

// runOf is the claim of the execution executionID: its key, and the
// deadline of a bounded one. The deadline counts from now, the claim,
// which is no earlier than the execution's start: the execution has ended
// by then.
func (a *Actions) runOf(executionID string) task.Run {
	run := task.Run{Key: task.RunKey(executionID)}
	if bound := a.runBound(executionID); bound > 0 && run.Key != "" {
		deadline := a.now().UTC().Add(bound)
		run.Deadline = &deadline
	}
	return run
}

// claimedElsewhere is the answer of a start whose task another execution
// has claimed: ended, the task left to that execution.
func (a *Actions) claimedElsewhere(ctx context.Context, id string, run task.Run) (workflow.Step, error) {
	a.log.InfoContext(ctx, "start: the task is claimed by another workflow execution; this one ends", "task_id", id, "run_key", run.Key)
	return a.endedOr(ctx, id, nil)
}

type pollInput struct {
	TaskID string `json:"task_id"`
	// State is the step's that led here: awaiting_callback for a job
	// whose provider calls back (polled as the fallback).
	State    string `json:"state"`
	Provider string `json:"provider"`
	Job      string `json:"job"`
	Polls    int    `json:"polls"`
}

// poll asks the provider about its job and records progress.
func (a *Actions) poll(ctx context.Context, in pollInput) (workflow.Step, error) {
	t, err := a.getTask(ctx, in.TaskID)
	if err != nil {
		return workflow.Step{}, err
	}
	if t.Status.Terminal() {
		if t.Status == task.StatusCanceled {
			a.cancelJob(ctx, t, in.Provider, in.Job)
		}
		return ended(t), nil
	}
	if t.StartedAt != nil && a.now().Sub(*t.StartedAt) > a.maxJob {
		err := provider.NewPermanent("job_timeout", fmt.Sprintf("the job did not finish within %s", a.maxJob), nil)
		a.recordOutcome(ctx, t.ID, err)
		return workflow.Step{}, providerError(in.Provider, err)
	}
	req, err := a.request(ctx, t)
	if err != nil {
		return workflow.Step{}, err
	}
	resp, err := a.providers.Poll(ctx, in.Provider, req, in.Job)
	if err != nil {
		if provider.KindOf(err) == provider.Permanent {
			a.recordOutcome(ctx, t.ID, err)
		}
		return workflow.Step{}, providerError(in.Provider, err)
	}
	if resp.Job == "" {
		resp.Job = in.Job
	}
	return a.answer(ctx, t, in.Provider, resp, in.Polls+1, in.State == workflow.StepAwaiting && a.callbacks != nil)
}

// answer turns a provider's response into the step's answer: the result
// staged in the blob store, or the job to poll (with progress recorded),
// or to wait for when its provider calls back.
func (a *Actions) answer(ctx context.Context, t *task.Task, name string, resp provider.Response, polls int, callsBack bool) (workflow.Step, error) {
	if resp.Result != nil {
		step, err := a.stage(ctx, t, name, resp.Result)
		step.Awaited = callsBack
		return step, err
	}
	if resp.Job == "" {
		err := provider.NewPermanent("bad_answer", "the provider answered neither a result nor a job", nil)
		a.recordOutcome(ctx, t.ID, err)
		return workflow.Step{}, providerError(name, err)
	}
	wait := int(math.Ceil(min(max(resp.PollAfter, 0), maxPollAfter).Seconds()))
	pending := workflow.Step{State: workflow.StepPending, Provider: name, Job: resp.Job, PollAfterSeconds: &wait, Polls: &polls}
	if ctx.Err() != nil {
		// Stopped while the provider answered: hand the job back as it is,
		// so that whoever stopped the execution can cancel it.
		return pending, nil
	}
	if polls == 0 {
		// A cancel that came while the provider was starting the job has
		// stopped the execution, which drops this answer (Step Functions
		// records no result after a stop): the job would run on, billed,
		// with no one to cancel it. One read here closes most of that gap;
		// the runner's Stop covers an answer recorded before the stop.
		if now, err := a.getTask(ctx, t.ID); err == nil && now.Status == task.StatusCanceled {
			a.cancelJob(ctx, now, name, resp.Job)
			return ended(now), nil
		}
	}
	if p := min(max(resp.Progress, 0), 1); p > t.Progress {
		_, err := a.app.Progress(ctx, t.ID, p)
		if end, err := terminal(err); end {
			return a.endedOr(ctx, t.ID, nil)
		} else if err != nil && !errors.Is(err, app.ErrUnchanged) {
			return workflow.Step{}, err
		}
	}
	if callsBack {
		return a.awaiting(pending), nil
	}
	return pending, nil
}

// stage puts the bytes of a result in the blob store, at the task's output
// keys (a step run twice writes the same keys), so that only references
// travel in the workflow's state.
func (a *Actions) stage(ctx context.Context, t *task.Task, name string, res *provider.Result) (workflow.Step, error) {
	if res.Transcript != nil {
		var err error
		if res, err = a.transcriptFiles(t, res); err != nil {
			return workflow.Step{}, err
		}
	}
	out := &workflow.StagedOutput{Files: make([]workflow.StagedFile, 0, len(res.Files)), Text: res.Text, Extra: res.Extra}
	if c := res.Cost; c != nil && c.USD >= 0 && !math.IsInf(c.USD, 0) {
		out.Cost = &task.Cost{USD: math.Round(c.USD*1e6) / 1e6, PriceVersion: c.PriceVersion, Estimated: true}
	}
	for i, f := range res.Files {
		sf := workflow.StagedFile{ContentType: f.ContentType, Ext: f.Ext}
		if f.Data == nil && f.URL != "" {
			sf.SourceURL = f.URL
			out.Files = append(out.Files, sf)
			continue
		}
		obj, err := a.blobs.Put(ctx, app.OutputKey(t, i, f.Ext), f.ContentType, bytes.NewReader(f.Data), maxOutputBytes)
		if err != nil {
			return workflow.Step{}, fmt.Errorf("stage output %d of task %s: %w", i, t.ID, err)
		}
		sf.Key, sf.SizeBytes = obj.Key, obj.Size
		out.Files = append(out.Files, sf)
	}
	step := workflow.Step{State: workflow.StepDone, Provider: name, Output: out}
	body, err := json.Marshal(out)
	if err != nil {
		return workflow.Step{}, fmt.Errorf("stage output of task %s: %w", t.ID, err)
	}
	if len(body) > maxInlineOutput {
		key := app.OutputPrefix(t) + "result.json"
		if _, err := a.blobs.Put(ctx, key, "application/json", bytes.NewReader(body), maxOutputBytes); err != nil {
			return workflow.Step{}, fmt.Errorf("stage output of task %s: %w", t.ID, err)
		}
		step.Output, step.OutputKey = nil, key
	}
	return step, nil
}

type completeInput struct {
	TaskID string        `json:"task_id"`
	Step   workflow.Step `json:"step"`
}

// Outcome is what complete, fail and an ended task answer.
type Outcome struct {
	TaskID string      `json:"task_id"`
	Status task.Status `json:"status"`
}

// complete fetches the files still at the provider, then completes the
// task with its output. A result that arrives after a cancel is dropped:
// the conditional write refuses to change a terminal task.
func (a *Actions) complete(ctx context.Context, in completeInput) (Outcome, error) {
	t, err := a.getTask(ctx, in.TaskID)
	if err != nil {
		return Outcome{}, err
	}
	if t.Status.Terminal() {
		return Outcome{TaskID: t.ID, Status: t.Status}, nil
	}
	staged, err := a.loadStaged(ctx, in.Step)
	if err != nil {
		return Outcome{}, err
	}
	out := &task.Output{Files: make([]task.File, 0, len(staged.Files)), Text: staged.Text, Extra: staged.Extra}
	for i, f := range staged.Files {
		if f.Key == "" {
			if f.Key, f.SizeBytes, err = a.fetch(ctx, t, i, f); err != nil {
				return Outcome{}, err
			}
		}
		out.Files = append(out.Files, task.File{Key: f.Key, ContentType: f.ContentType, SizeBytes: f.SizeBytes})
	}
	if err := a.moveLargeResult(ctx, t, out); err != nil {
		return Outcome{}, err
	}
	done, err := a.app.Complete(ctx, t.ID, out, in.Step.Provider, staged.Cost)
	if err == nil && in.Step.Awaited {
		a.forgetWait(ctx, t.ID)
	}
	if end, err := terminal(err); end {
		return a.outcome(ctx, in.TaskID)
	} else if err != nil {
		return Outcome{}, err
	}
	return Outcome{TaskID: done.ID, Status: done.Status}, nil
}

// moveLargeResult puts a text and extra larger than task.MaxInlineResult
// in an output file of their own, so that the task's record, its events
// and its webhooks stay small. The file's key is fixed by the task, so a
// step run twice writes it once.
func (a *Actions) moveLargeResult(ctx context.Context, t *task.Task, out *task.Output) error {
	result, err := json.Marshal(struct {
		Text  string         `json:"text"`
		Extra map[string]any `json:"extra,omitempty"`
	}{out.Text, out.Extra})
	if err != nil {
		return fmt.Errorf("encode the result of %s: %w", t.ID, err)
	}
	if len(result) <= task.MaxInlineResult {
		return nil
	}
	key := app.OutputKey(t, len(out.Files), ".json")
	obj, err := a.blobs.Put(ctx, key, "application/json", bytes.NewReader(result), 0)
	if err != nil {
		return fmt.Errorf("store the result of %s: %w", t.ID, err)
	}
	out.Files = append(out.Files, task.File{Key: key, ContentType: "application/json", SizeBytes: obj.Size, Role: task.RoleResult})
	out.Text, out.Extra, out.ResultInFile = "", nil, true
	return nil
}

func (a *Actions) loadStaged(ctx context.Context, s workflow.Step) (*workflow.StagedOutput, error) {
	if s.Output != nil {
		return s.Output, nil
	}
	if s.OutputKey == "" {
		return nil, stepError(workflow.ErrNameBadInput, Cause{Message: "complete: the step has neither output nor output_key"})
	}
	rc, _, err := a.blobs.Get(ctx, s.OutputKey)
	if err != nil {
		return nil, fmt.Errorf("read staged output %s: %w", s.OutputKey, err)
	}
	defer rc.Close()
	var out workflow.StagedOutput
	if err := json.NewDecoder(rc).Decode(&out); err != nil {
		return nil, fmt.Errorf("decode staged output %s: %w", s.OutputKey, err)
	}
	return &out, nil
}

// fetch downloads a file a provider returned as a URL into the task's
// outputs (provider URLs expire within hours).
func (a *Actions) fetch(ctx context.Context, t *task.Task, n int, f workflow.StagedFile) (string, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.SourceURL, nil)
	if err != nil {
		return "", 0, providerError("", provider.NewPermanent("bad_output_url", "the provider's output URL is invalid", err))
	}
	resp, err := a.http.Do(req)
	if errors.Is(err, webhook.ErrBlocked) {
		return "", 0, providerError("", provider.NewPermanent("output_url_refused", "the provider's output URL names an address the server does not call", err))
	}
	if err != nil {
		return "", 0, providerError("", provider.NewTransient("output_download", "download the provider's output", err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		e := provider.NewPermanent("output_download", fmt.Sprintf("the provider's output URL answered %d", resp.StatusCode), nil)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout {
			e.Kind = provider.Transient
		}
		return "", 0, providerError("", e)
	}
	ct := f.ContentType
	if ct == "" {
		ct = resp.Header.Get("Content-Type")
	}
	obj, err := a.blobs.Put(ctx, app.OutputKey(t, n, f.Ext), ct, resp.Body, maxOutputBytes)
	if err != nil {
		return "", 0, fmt.Errorf("store output %d of task %s: %w", n, t.ID, err)
	}
	return obj.Key, obj.Size, nil
}

type failoverInput struct {
	TaskID string          `json:"task_id"`
	Tried  []string        `json:"tried"`
	Error  json.RawMessage `json:"error"`
}

// FailoverAnswer replaces the workflow's state: Next is "retry" (start
// again with another provider), "none" or "ended".
type FailoverAnswer struct {
	TaskID string          `json:"task_id"`
	Tried  []string        `json:"tried"`
	Next   string          `json:"next"`
	Error  json.RawMessage `json:"error"`
}

// failover adds the provider that failed to those tried and says whether
// another is left. A task pinned to a provider never fails over.
func (a *Actions) failover(ctx context.Context, in failoverInput) (FailoverAnswer, error) {
	cause := causeOf(in.Error)
	failed := cause.Provider
	if failed == "" {
		failed = "-" // the call failed before a provider was chosen
	}
	ans := FailoverAnswer{TaskID: in.TaskID, Tried: append(in.Tried, failed), Error: in.Error}
	if ans.Tried == nil {
		ans.Tried = []string{}
	}
	t, err := a.getTask(ctx, in.TaskID)
	if err != nil {
		return FailoverAnswer{}, err
	}
	switch {
	case t.Status.Terminal():
		ans.Next = "ended"
	case pinnedProvider(t.Input) != "", len(ans.Tried) >= maxTried:
		ans.Next = "none"
	case cause.Safety && t.Refusals() >= maxSafetyRefusals:
		ans.Next = "none"
	default:
		ans.Next = "retry"
		if _, err := a.providers.Choose(t.Type, t.ID, "", ans.Tried, inputOf(t)); errors.Is(err, provider.ErrNoProvider) {
			ans.Next = "none"
		}
	}
	return ans, nil
}

type failInput struct {
	TaskID string          `json:"task_id"`
	Error  json.RawMessage `json:"error"`
}

// fail ends the task failed, with the error that ended its workflow.
func (a *Actions) fail(ctx context.Context, in failInput) (Outcome, error) {
	e := taskErrorOf(in.Error)
	t, err := a.app.Fail(ctx, in.TaskID, e)
	if errors.Is(err, task.ErrNotFound) {
		return Outcome{TaskID: in.TaskID, Status: ""}, nil // nothing left to fail
	}
	end, err := terminal(err)
	if end {
		return a.outcome(ctx, in.TaskID)
	}
	if err != nil {
		return Outcome{}, err
	}
	a.forgetWait(ctx, t.ID)
	return Outcome{TaskID: t.ID, Status: t.Status}, nil
}

func (a *Actions) outcome(ctx context.Context, id string) (Outcome, error) {
	t, err := a.getTask(ctx, id)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{TaskID: t.ID, Status: t.Status}, nil
}

// endedOr answers ended when the task turned terminal under a change, or
// returns err.
func (a *Actions) endedOr(ctx context.Context, id string, err error) (workflow.Step, error) {
	if err != nil {
		return workflow.Step{}, err
	}
	t, err := a.getTask(ctx, id)
	if err != nil {
		return workflow.Step{}, err
	}
	return ended(t), nil
}

func ended(t *task.Task) workflow.Step {
	return workflow.Step{State: workflow.StepEnded, TaskID: t.ID, Status: t.Status}
}

// recordOutcome notes on the task's last attempt how its call failed. A
// call cut short by the step's own context (a stop, a shutdown) has no
// outcome to note: the step runs again.
func (a *Actions) recordOutcome(ctx context.Context, id string, callErr error) {
	if provider.KindOf(callErr) == provider.Canceled {
		return
	}
	// A call cut by its deadline has a context that ended too: the
	// outcome is still recorded, within a bound of its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := a.app.RecordOutcome(ctx, id, outcomeOf(callErr), truncate(callErr.Error(), 500))
	if _, err := terminal(err); err != nil && !errors.Is(err, app.ErrUnchanged) {
		a.log.WarnContext(ctx, "record a provider call's outcome", "task_id", id, "err", err)
	}
}

// CancelJob asks the provider to stop a canceled task's job (best effort:
// the task is canceled whatever the provider says).
func (a *Actions) CancelJob(ctx context.Context, taskID, providerName, job string) {
	a.forgetWait(ctx, taskID) // a stopped workflow waits for no callback
	t, err := a.app.Task(ctx, taskID)
	if err != nil {
		a.log.WarnContext(ctx, "cancel provider job: read task", "task_id", taskID, "err", err)
		return
	}
	a.cancelJob(ctx, t, providerName, job)
}

func (a *Actions) cancelJob(ctx context.Context, t *task.Task, name, job string) {
	if name == "" || job == "" {
		return
	}
	req, err := a.request(ctx, t)
	if err == nil {
		err = a.providers.Cancel(ctx, name, req, job)
	}
	if err != nil {
		a.log.WarnContext(ctx, "cancel provider job", "task_id", t.ID, "provider", name, "err", err)
	}
}
