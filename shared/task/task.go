// Package task holds the domain of mediatasks: tasks, batches, their
// statuses and guarded transitions, the events every change appends, each
// task type's typed input with the rules and limits of its fields, and the
// ports (Store) that the adapters implement.
package task

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Type is the kind of media work a task asks for.
type Type string

const (
	TypeImageGeneration    Type = "image_generation"
	TypeVideoGeneration    Type = "video_generation"
	TypeAudioTranscription Type = "audio_transcription"
	TypeSubtitleGeneration Type = "subtitle_generation"
)

// Types lists every task type, in the order the API documents them.
var Types = []Type{TypeImageGeneration, TypeVideoGeneration, TypeAudioTranscription, TypeSubtitleGeneration}

// Valid reports whether t is a known task type.
func (t Type) Valid() bool { return slices.Contains(Types, t) }

// Status is where a task is in its life.
type Status string

const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusCanceled  Status = "canceled"
)

// Statuses lists every status.
var Statuses = []Status{StatusQueued, StatusRunning, StatusCompleted, StatusFailed, StatusCanceled}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// Terminal reports whether s is final: a terminal status never changes.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCanceled
}

// allowed lists the transitions the domain permits. A running task may be
// put back to queued (a provider failover or a redelivered message), and a
// running task may report progress (running -> running).
var allowed = map[Status][]Status{
	StatusQueued:  {StatusRunning, StatusCanceled, StatusFailed},
	StatusRunning: {StatusRunning, StatusQueued, StatusCompleted, StatusFailed, StatusCanceled},
}

// CanTransition reports whether a task may move from one status to another.
func CanTransition(from, to Status) bool { return slices.Contains(allowed[from], to) }

// Priority orders admission: high before normal before low, without starving low.
type Priority string

const (
	PriorityHigh   Priority = "high"
	PriorityNormal Priority = "normal"
	PriorityLow    Priority = "low"
)

// Priorities lists the priorities from the most to the least urgent.
var Priorities = []Priority{PriorityHigh, PriorityNormal, PriorityLow}

// Valid reports whether p is a known priority.
func (p Priority) Valid() bool { return slices.Contains(Priorities, p) }

// Task is one unit of media work owned by one user.
type Task struct {
	ID       string          `json:"id"`
	UserID   string          `json:"-"`
	Type     Type            `json:"task_type"`
	Status   Status          `json:"status"`
	Progress float64         `json:"progress"`
	Priority Priority        `json:"priority"`
	Input    json.RawMessage `json:"input_data"`
	Output   *Output         `json:"output_data"`
	Error    *Error          `json:"error"`
	Provider string          `json:"provider,omitempty"`
	Attempts int             `json:"attempts"`
	// AttemptHistory lists the provider calls that began the task's work,
	// oldest first: its retries and failovers show here.
	AttemptHistory []Attempt         `json:"attempt_history"`
	BatchID        string            `json:"batch_id,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	WebhookURL     string            `json:"webhook_url,omitempty"`
	WebhookEvents  []EventType       `json:"webhook_events,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	StartedAt      *time.Time        `json:"started_at"`
	CompletedAt    *time.Time        `json:"completed_at"`
	// Version increases by one on every stored change; updates are
	// conditional on it, and each event is numbered by it.
	Version int64 `json:"version"`
	// OptimizedPrompt is what prompt optimisation sent the provider; nil
	// when the task asked for none.
	OptimizedPrompt *OptimizedPrompt `json:"optimized_prompt"`
	// Cost is what the provider charges for the task's work, estimated at
	// its list prices when the task completed; nil when unknown.
	Cost *Cost `json:"cost"`
	// Run is the workflow execution that claimed the task (not shown).
	Run Run `json:"-"`
}

// Cost is a task's estimated price.
type Cost struct {
	USD float64 `json:"usd"`
	// PriceVersion names the price list used, e.g. "openai-2026-12".
	PriceVersion string `json:"price_version"`
	// Estimated: the figure is the platform's reckoning at list prices
	// (or the configured ones), not the provider's invoice.
	Estimated bool `json:"estimated"`
}

// Output is what a completed task produced.
type Output struct {
	Files []File `json:"files"`
	Text  string `json:"text,omitempty"`
	// Extra holds type-specific results (segments, language, seed, ...).
	Extra map[string]any `json:"extra,omitempty"`
	// ResultInFile: Text and Extra together were larger than
	// MaxInlineResult, so they are in the file whose Role is RoleResult
	// (a JSON object with "text" and "extra") instead of here.
	ResultInFile bool `json:"result_in_file,omitempty"`
	// FilesExpireAt is when the files are removed (shown, not stored: the
	// completion plus the retention in force).
	FilesExpireAt *time.Time `json:"files_expire_at,omitempty"`
	// FilesRemoved: the retention has passed and the files are gone.
	FilesRemoved bool `json:"files_removed,omitempty"`
}

// MaxInlineResult is the largest text and extra a task shows inline, as
// JSON: a task's record, its events and its webhooks carry its output,
// and a record must stay well within what every store holds in one item
// (DynamoDB: 400 KB). A long transcript goes to a file instead.
const MaxInlineResult = 64 << 10

// RoleResult marks the output file that holds a result too large to show
// inline (Output.ResultInFile).
const RoleResult = "result"

// File is one stored output. Key names it in the blob store; URL is filled
// when the task is shown, signed and expiring.
type File struct {
	Key         string `json:"key,omitempty"`
	URL         string `json:"url,omitempty"`
	ContentType string `json:"content_type"`
	SizeBytes   int64  `json:"size_bytes"`
	Role        string `json:"role,omitempty"` // RoleResult, or empty for a produced file
}

// Attempt is one call to a provider that began a task's work.
type Attempt struct {
	Provider  string    `json:"provider"`
	StartedAt time.Time `json:"started_at"`
	// Outcome is "started" while the call is in flight or once it
	// succeeded, else the kind of error that ended it: "refused" (a
	// safety refusal), "transient",
	// "throttled", "permanent" or "timeout".
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// OutcomeRefused is an attempt's outcome when the provider refused the
// content on its safety rules.
const OutcomeRefused = "refused"

// Refusals counts the attempts a provider refused on its safety rules.
func (t *Task) Refusals() int {
	n := 0
	for _, a := range t.AttemptHistory {
		if a.Outcome == OutcomeRefused {
			n++
		}
	}
	return n
}

// MaxAttemptHistory bounds AttemptHistory: the oldest entries go first.
const MaxAttemptHistory = 20

// AddAttempt records the start of a provider call and counts it.
func (t *Task) AddAttempt(provider string, now time.Time) {
	t.Attempts++
	t.AttemptHistory = append(t.AttemptHistory, Attempt{Provider: provider, StartedAt: now, Outcome: "started"})
	if n := len(t.AttemptHistory); n > MaxAttemptHistory {
		t.AttemptHistory = slices.Clone(t.AttemptHistory[n-MaxAttemptHistory:])
	}
}

// Error says why a task failed.
type Error struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// Clone returns a deep copy of t, so that a caller may change the copy and
// store it conditionally on the original's version.
func (t *Task) Clone() *Task {
	c := *t
	c.Input = slices.Clone(t.Input)
	c.Metadata = cloneMap(t.Metadata)
	c.WebhookEvents = slices.Clone(t.WebhookEvents)
	c.AttemptHistory = slices.Clone(t.AttemptHistory)
	if t.Output != nil {
		o := *t.Output
		o.Files = slices.Clone(t.Output.Files)
		o.Extra = cloneAnyMap(t.Output.Extra)
		c.Output = &o
	}
	if t.Error != nil {
		e := *t.Error
		c.Error = &e
	}
	if t.StartedAt != nil {
		s := *t.StartedAt
		c.StartedAt = &s
	}
	if t.CompletedAt != nil {
		s := *t.CompletedAt
		c.CompletedAt = &s
	}
	if t.Run.Deadline != nil {
		d := *t.Run.Deadline
		c.Run.Deadline = &d
	}
	if t.OptimizedPrompt != nil {
		o := *t.OptimizedPrompt
		o.Stages = slices.Clone(t.OptimizedPrompt.Stages)
		c.OptimizedPrompt = &o
	}
	return &c
}

// Transition moves the task to status to at time now, checking the domain's
// rules, and returns the event the change appends. It bumps Version: the
// store writes the result conditionally on Version-1.
func (t *Task) Transition(to Status, now time.Time) (Event, error) {
	if t.Status.Terminal() {
		return Event{}, fmt.Errorf("task %s is %s: %w", t.ID, t.Status, ErrTerminal)
	}
	if !CanTransition(t.Status, to) {
		return Event{}, fmt.Errorf("task %s: %s -> %s: %w", t.ID, t.Status, to, ErrInvalidTransition)
	}
	t.Status = to
	t.UpdatedAt = now
	switch to {
	case StatusRunning:
		if t.StartedAt == nil {
			started := now
			t.StartedAt = &started
		}
	case StatusCompleted:
		t.Progress = 1
		fallthrough
	case StatusFailed, StatusCanceled:
		done := now
		t.CompletedAt = &done
	}
	t.Version++
	return NewTaskEvent(t, statusEvent[to], now), nil
}

// SetProgress records progress (0 to 1) on a running task and returns the
// task.progress event.
func (t *Task) SetProgress(p float64, now time.Time) (Event, error) {
	if t.Status != StatusRunning {
		return Event{}, fmt.Errorf("task %s is %s, progress needs running: %w", t.ID, t.Status, ErrInvalidTransition)
	}
	t.Progress = min(max(p, 0), 1)
	t.UpdatedAt = now
	t.Version++
	return NewTaskEvent(t, EventTaskProgress, now), nil
}

// Duration is the time from start to completion, or zero when the task
// has not both started and ended.
func (t *Task) Duration() time.Duration {
	if t.StartedAt == nil || t.CompletedAt == nil {
		return 0
	}
	return t.CompletedAt.Sub(*t.StartedAt)
}

// WantsEvent reports whether the task's webhook subscribes to event type e.
func (t *Task) WantsEvent(e EventType) bool { return wantsEvent(t.WebhookURL, t.WebhookEvents, e) }

// wantsEvent: a webhook at url, subscribed to events (or the defaults),
// receives event type e.
func wantsEvent(url string, subscribed []EventType, e EventType) bool {
	return url != "" && slices.Contains(EffectiveWebhookEvents(subscribed), e)
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func cloneAnyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// MarshalJSON shows every field of the task's API form: optional strings
// are null rather than absent, metadata is {} rather than null, so that
// clients can rely on the shape.
func (t Task) MarshalJSON() ([]byte, error) {
	type plain Task // without this method
	metadata := t.Metadata
	if metadata == nil {
		metadata = map[string]string{}
	}
	history := t.AttemptHistory
	if history == nil {
		history = []Attempt{}
	}
	return EncodeJSON(struct {
		plain
		Provider       *string           `json:"provider"`
		BatchID        *string           `json:"batch_id"`
		WebhookURL     *string           `json:"webhook_url"`
		Metadata       map[string]string `json:"metadata"`
		AttemptHistory []Attempt         `json:"attempt_history"`
	}{plain(t), nullable(t.Provider), nullable(t.BatchID), nullable(t.WebhookURL), metadata, history})
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
