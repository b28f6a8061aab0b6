package workflow

import (
	"encoding/json"

	"github.com/videoai/mediatasks/shared/task"
)

// The step contract: what the definitions send the process function and
// what it answers. The step actions (package steps) implement it; the
// runners read it to start workflows and to find the provider job a
// stopped execution was waiting on.

// The action names, as the definitions give them in the "action" field.
const (
	ActionStart = "start"
	ActionPoll  = "poll"
	// ActionAwaitCallback records the token of a wait for a provider's
	// callback (the AwaitCallback state's waitForTaskToken call).
	ActionAwaitCallback = "await_callback"
	ActionFailover      = "failover"
	ActionComplete      = "complete"
	ActionFail          = "fail"
	ActionFinalizeBatch = "finalize_batch"
)

// DefaultBatchConcurrency is how many tasks of a batch run at once unless
// the operator says otherwise, on either runner.
const DefaultBatchConcurrency = 10

// TaskInput is the task workflow's input.
type TaskInput struct {
	TaskID string   `json:"task_id"`
	Tried  []string `json:"tried"`
	// Priority is the task's, for a runner that steps ready workflows by
	// priority (the definitions do not read it).
	Priority task.Priority `json:"priority,omitempty"`
	// TaskType is the task's, for a runner that bounds each type's
	// workflows apart (the definitions do not read it).
	TaskType task.Type `json:"task_type,omitempty"`
}

// StartInput is the input that starts a task's workflow, on either
// runner.
func StartInput(t *task.Task) json.RawMessage {
	in, _ := json.Marshal(TaskInput{TaskID: t.ID, Tried: []string{}, Priority: t.Priority, TaskType: t.Type}) // cannot fail
	return in
}

// BatchInput is the batch workflow's input.
type BatchInput struct {
	BatchID        string   `json:"batch_id"`
	TaskIDs        []string `json:"task_ids"`
	MaxConcurrency int      `json:"max_concurrency"`
}

// Step is what start and poll answer; the definitions route on State.
type Step struct {
	// State is "pending" (poll Job after PollAfterSeconds),
	// "awaiting_callback" (the provider calls back when Job ends; poll it
	// if no call came within CallbackSeconds), "done" (the output is
	// staged) or "ended" (the task is already terminal).
	State            string `json:"state"`
	Provider         string `json:"provider,omitempty"`
	Job              string `json:"job,omitempty"`
	PollAfterSeconds *int   `json:"poll_after_seconds,omitempty"`
	Polls            *int   `json:"polls,omitempty"`
	// CallbackSeconds bounds the wait for a callback: the fallback poll's
	// interval.
	CallbackSeconds *int `json:"callback_seconds,omitempty"`
	// Awaited marks a done step of a job the workflow waited for by
	// callback: its wait record is then removed at completion (the others
	// have none, and a delete of nothing still costs a write).
	Awaited bool          `json:"awaited,omitempty"`
	Output  *StagedOutput `json:"output,omitempty"`
	// OutputKey names the staged output in the blob store when it is too
	// large to travel in the workflow's state (Step Functions carries at
	// most 256 KiB).
	OutputKey string      `json:"output_key,omitempty"`
	TaskID    string      `json:"task_id,omitempty"`
	Status    task.Status `json:"status,omitempty"`
}

// The states of a Step.
const (
	StepPending = "pending"
	// StepAwaiting is a pending job whose provider calls back.
	StepAwaiting = "awaiting_callback"
	StepDone     = "done"
	StepEnded    = "ended"
)

// PendingJob is the provider job a step left running, if any: what a
// stopped execution's last step tells the runner to cancel.
func (s Step) PendingJob() (provider, job string, ok bool) {
	if (s.State != StepPending && s.State != StepAwaiting) || s.Provider == "" || s.Job == "" {
		return "", "", false
	}
	return s.Provider, s.Job, true
}

// StagedOutput is a provider's result with its bytes already in the blob
// store; files the provider gave as URLs are fetched by complete.
type StagedOutput struct {
	Files []StagedFile   `json:"files"`
	Text  string         `json:"text,omitempty"`
	Extra map[string]any `json:"extra,omitempty"`
	Cost  *task.Cost     `json:"cost,omitempty"`
}

// StagedFile is one output file: stored (Key) or still at the provider
// (SourceURL).
type StagedFile struct {
	Key         string `json:"key,omitempty"`
	SourceURL   string `json:"source_url,omitempty"`
	ContentType string `json:"content_type"`
	Ext         string `json:"ext,omitempty"`
	SizeBytes   int64  `json:"size_bytes,omitempty"`
}

// StepError is a step's failure under the ASL error name the definitions'
// Retry and Catch blocks match (Provider.Transient, Provider.Permanent,
// Step.BadInput, ...). Cause is JSON.
type StepError struct {
	Name  string
	Cause string
}

func (e *StepError) Error() string { return e.Name + ": " + e.Cause }

// Names of the step errors that are not a provider's.
const (
	// ErrNameBadInput: the action's input is not what the definitions send.
	ErrNameBadInput = "Step.BadInput"
	// ErrNameStore: the task store failed; the definitions retry it.
	ErrNameStore = "Step.StoreUnavailable"
	// ErrNameStorageFault: the storage is full or cannot be written (see
	// package storage); the definitions wait for it for as long as about
	// two hours, since nothing is wrong with the task.
	ErrNameStorageFault = "Step.StorageFault"
	// ErrNameCallbackArrived: the job's end was reported before its wait
	// was armed (or the task ended meanwhile), so there is nothing to
	// wait for; the definitions go on to poll.
	ErrNameCallbackArrived = "Callback.Arrived"
)
