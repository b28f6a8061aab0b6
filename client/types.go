package client

import (
	"encoding/json"
	"time"
)

// The types below mirror the schemas of shared/api/openapi.json by hand;
// schema_test.go checks each against the document, so they cannot drift.

// TaskType is what a task does.
type TaskType string

// Task types.
const (
	ImageGeneration    TaskType = "image_generation"
	VideoGeneration    TaskType = "video_generation"
	AudioTranscription TaskType = "audio_transcription"
	SubtitleGeneration TaskType = "subtitle_generation"
)

// Status is where a task is in its life.
type Status string

// Task statuses; the last three are terminal.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusCanceled  Status = "canceled"
)

// Terminal reports whether a task in status s will never change again.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCanceled
}

// Priority orders tasks waiting in the queue.
type Priority string

// Priorities (normal when none is given).
const (
	PriorityHigh   Priority = "high"
	PriorityNormal Priority = "normal"
	PriorityLow    Priority = "low"
)

// EventType names a change of a task or a batch, in event streams and
// webhooks.
type EventType string

// Event types.
const (
	EventTaskQueued     EventType = "task.queued"
	EventTaskStarted    EventType = "task.started"
	EventTaskProgress   EventType = "task.progress"
	EventTaskCompleted  EventType = "task.completed"
	EventTaskFailed     EventType = "task.failed"
	EventTaskCanceled   EventType = "task.canceled"
	EventBatchCompleted EventType = "batch.completed"
)

// EndsTask reports whether the event is a task's last.
func (e EventType) EndsTask() bool {
	return e == EventTaskCompleted || e == EventTaskFailed || e == EventTaskCanceled
}

// PromptOptimization asks the server to rewrite a task's prompt before the
// provider sees it (see the README's Prompt optimisation).
type PromptOptimization struct {
	Mode              string            `json:"mode"` // manual, auto or template
	Template          string            `json:"template,omitempty"`
	Params            map[string]string `json:"params,omitempty"`
	ProviderExpansion bool              `json:"provider_expansion,omitempty"`
}

// ImageRequest is the body of SubmitImage (schema ImageRequest).
type ImageRequest struct {
	Prompt             string              `json:"prompt"`
	NegativePrompt     string              `json:"negative_prompt,omitempty"`
	Size               string              `json:"size,omitempty"` // 1024x1024 when empty
	N                  int                 `json:"n,omitempty"`    // 1 when 0
	Style              string              `json:"style,omitempty"`
	Provider           string              `json:"provider,omitempty"`
	PromptOptimization *PromptOptimization `json:"prompt_optimization,omitempty"`
	Priority           Priority            `json:"priority,omitempty"`
	WebhookURL         string              `json:"webhook_url,omitempty"`
	WebhookEvents      []EventType         `json:"webhook_events,omitempty"`
	Metadata           map[string]string   `json:"metadata,omitempty"`
}

// VideoRequest is the body of SubmitVideo (schema VideoRequest). At most
// one of ImageURL, ImageUploadID and ImageTaskID gives a first frame.
type VideoRequest struct {
	Prompt             string              `json:"prompt"`
	ImageURL           string              `json:"image_url,omitempty"`
	ImageUploadID      string              `json:"image_upload_id,omitempty"`
	ImageTaskID        string              `json:"image_task_id,omitempty"`
	DurationSeconds    int                 `json:"duration_seconds,omitempty"` // 5 when 0
	AspectRatio        string              `json:"aspect_ratio,omitempty"`     // 16:9 when empty
	Provider           string              `json:"provider,omitempty"`
	PromptOptimization *PromptOptimization `json:"prompt_optimization,omitempty"`
	Priority           Priority            `json:"priority,omitempty"`
	WebhookURL         string              `json:"webhook_url,omitempty"`
	WebhookEvents      []EventType         `json:"webhook_events,omitempty"`
	Metadata           map[string]string   `json:"metadata,omitempty"`
}

// TranscriptionRequest is the body of SubmitTranscription (schema
// AudioRequest): exactly one of AudioURL and UploadID.
type TranscriptionRequest struct {
	AudioURL           string              `json:"audio_url,omitempty"`
	UploadID           string              `json:"upload_id,omitempty"`
	Language           string              `json:"language,omitempty"`
	Prompt             string              `json:"prompt,omitempty"` // vocabulary and context
	Provider           string              `json:"provider,omitempty"`
	PromptOptimization *PromptOptimization `json:"prompt_optimization,omitempty"`
	Priority           Priority            `json:"priority,omitempty"`
	WebhookURL         string              `json:"webhook_url,omitempty"`
	WebhookEvents      []EventType         `json:"webhook_events,omitempty"`
	Metadata           map[string]string   `json:"metadata,omitempty"`
}

// SubtitlesRequest is the body of SubmitSubtitles (schema
// SubtitleRequest): exactly one of AudioURL, UploadID and
// TranscriptionTaskID.
type SubtitlesRequest struct {
	AudioURL            string              `json:"audio_url,omitempty"`
	UploadID            string              `json:"upload_id,omitempty"`
	TranscriptionTaskID string              `json:"transcription_task_id,omitempty"`
	Format              string              `json:"format,omitempty"` // srt when empty, or vtt
	Language            string              `json:"language,omitempty"`
	MaxLineChars        int                 `json:"max_line_chars,omitempty"` // 42 when 0
	Prompt              string              `json:"prompt,omitempty"`
	Provider            string              `json:"provider,omitempty"`
	PromptOptimization  *PromptOptimization `json:"prompt_optimization,omitempty"`
	Priority            Priority            `json:"priority,omitempty"`
	WebhookURL          string              `json:"webhook_url,omitempty"`
	WebhookEvents       []EventType         `json:"webhook_events,omitempty"`
	Metadata            map[string]string   `json:"metadata,omitempty"`
}

// BatchItem is one task of a batch. Input is the task type's input (an
// ImageInput-shaped value for image_generation, and so on); any value
// that encodes to a JSON object will do, such as an ImageRequest without
// its delivery fields.
type BatchItem struct {
	Type     TaskType          `json:"task_type"`
	Input    any               `json:"input_data"`
	Priority Priority          `json:"priority,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// BatchRequest is the body of SubmitBatch: all its tasks are accepted, or
// none.
type BatchRequest struct {
	Tasks         []BatchItem `json:"tasks"`
	WebhookURL    string      `json:"webhook_url,omitempty"`
	WebhookEvents []EventType `json:"webhook_events,omitempty"`
}

// File is one stored output of a task. URL is signed and expires.
type File struct {
	Key         string `json:"key,omitempty"`
	URL         string `json:"url,omitempty"`
	ContentType string `json:"content_type"`
	SizeBytes   int64  `json:"size_bytes"`
	Role        string `json:"role,omitempty"` // "result": the file holds text and extra too large to inline
}

// Output is what a completed task made.
type Output struct {
	Files        []File          `json:"files"`
	Text         string          `json:"text,omitempty"`
	Extra        json.RawMessage `json:"extra,omitempty"`
	ResultInFile bool            `json:"result_in_file,omitempty"`
	// FilesExpireAt is when the server removes the files (its retention).
	FilesExpireAt *time.Time `json:"files_expire_at,omitempty"`
	// FilesRemoved: the retention has passed and the files are gone.
	FilesRemoved bool `json:"files_removed,omitempty"`
}

// TaskError is why a task failed.
type TaskError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// Attempt is one provider call of a task.
type Attempt struct {
	Provider  string    `json:"provider"`
	StartedAt time.Time `json:"started_at"`
	Outcome   string    `json:"outcome"` // started, transient, throttled, permanent, refused or timeout
	Error     string    `json:"error,omitempty"`
}

// Task is a unit of work and everything known about it.
type Task struct {
	ID              string            `json:"id"`
	Type            TaskType          `json:"task_type"`
	Status          Status            `json:"status"`
	Progress        float64           `json:"progress"` // 0 to 1
	Priority        Priority          `json:"priority"`
	Input           json.RawMessage   `json:"input_data"` // the validated input, defaults filled in
	Output          *Output           `json:"output_data"`
	Error           *TaskError        `json:"error"`
	Provider        string            `json:"provider"` // empty until one is chosen
	Attempts        int               `json:"attempts"`
	AttemptHistory  []Attempt         `json:"attempt_history"`
	BatchID         string            `json:"batch_id"`
	Metadata        map[string]string `json:"metadata"`
	WebhookURL      string            `json:"webhook_url"`
	WebhookEvents   []EventType       `json:"webhook_events,omitempty"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
	StartedAt       *time.Time        `json:"started_at"`
	CompletedAt     *time.Time        `json:"completed_at"`
	Version         int64             `json:"version"`
	OptimizedPrompt *OptimizedPrompt  `json:"optimized_prompt"`
	Cost            *Cost             `json:"cost"`
}

// TaskList is one page of tasks.
type TaskList struct {
	Tasks      []Task `json:"tasks"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// Counts are a batch's tasks by status.
type Counts struct {
	Queued    int `json:"queued"`
	Running   int `json:"running"`
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
	Canceled  int `json:"canceled"`
}

// Batch is a group of tasks submitted together.
type Batch struct {
	ID            string      `json:"id"`
	TaskIDs       []string    `json:"task_ids"`
	Status        string      `json:"status"` // running or completed
	Counts        Counts      `json:"counts"`
	WebhookURL    string      `json:"webhook_url,omitempty"`
	WebhookEvents []EventType `json:"webhook_events,omitempty"`
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
	CompletedAt   *time.Time  `json:"completed_at"`
	Version       int64       `json:"version"`
}

// Upload is a stored file, usable as a task's input by its id.
type Upload struct {
	ID          string     `json:"upload_id"`
	URL         string     `json:"url"`
	ContentType string     `json:"content_type"`
	SizeBytes   int64      `json:"size_bytes"`
	SHA256      string     `json:"sha256,omitempty"`
	CreatedAt   *time.Time `json:"created_at,omitempty"`
}

// ComponentHealth is the state of one part of the server.
type ComponentHealth struct {
	Status string          `json:"status"` // up, down or idle
	Error  string          `json:"error,omitempty"`
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Health is the server's state.
type Health struct {
	Status     string                     `json:"status"` // ok or degraded
	Components map[string]ComponentHealth `json:"components"`
	Providers  map[string]ComponentHealth `json:"providers"`
	CheckedAt  time.Time                  `json:"checked_at"`
}

// ProviderStats are a provider's figures.
type ProviderStats struct {
	Completed   int     `json:"completed"`
	Failed      int     `json:"failed"`
	MeanSeconds float64 `json:"mean_seconds"`
	P95Seconds  float64 `json:"p95_seconds"`
}

// Spend is what one day's tasks of a type cost at a provider.
type Spend struct {
	Day      string   `json:"day"` // YYYY-MM-DD, UTC
	TaskType TaskType `json:"task_type"`
	Provider string   `json:"provider"`
	Tasks    int      `json:"tasks"`
	USD      float64  `json:"usd"`
}

// PromptStats are the prompt optimiser's figures.
type PromptStats struct {
	Optimized    int     `json:"optimized"`
	CacheHits    int     `json:"cache_hits"`
	CacheHitRate float64 `json:"cache_hit_rate"`
}

// ArmStats are the figures of one arm of a prompt experiment.
type ArmStats struct {
	Experiment     string  `json:"experiment"`
	Arm            string  `json:"arm"`
	Completed      int     `json:"completed"`
	Failed         int     `json:"failed"`
	Canceled       int     `json:"canceled"`
	SafetyRefusals int     `json:"safety_refusals"`
	MeanSeconds    float64 `json:"mean_seconds"`
}

// Stats are the caller's figures.
type Stats struct {
	Counts      map[TaskType]map[Status]int `json:"counts"`
	Total       int                         `json:"total"`
	Succeeded   int                         `json:"succeeded"`
	Failed      int                         `json:"failed"`
	SuccessRate float64                     `json:"success_rate"`
	Providers   map[string]ProviderStats    `json:"providers"`
	Spend       []Spend                     `json:"spend"`
	SpendUSD    float64                     `json:"spend_usd"`
	Prompts     PromptStats                 `json:"prompts"`
	Experiments []ArmStats                  `json:"experiments"`
}

// DeliveryAttempt is one try at delivering a webhook.
type DeliveryAttempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	LatencyMs  float64   `json:"latency_ms"`
	Response   string    `json:"response,omitempty"`
	Error      string    `json:"error,omitempty"`
	Outcome    string    `json:"outcome"`
}

// Delivery is one event's webhook and its attempts.
type Delivery struct {
	ID            string            `json:"id"`
	WebhookID     string            `json:"webhook_id"`
	SubjectID     string            `json:"subject_id"`
	EventType     EventType         `json:"event_type"`
	URL           string            `json:"url"`
	Status        string            `json:"status"` // pending, delivered, exhausted, skipped or blocked
	AttemptCount  int               `json:"attempt_count"`
	NextAttemptAt time.Time         `json:"next_attempt_at"`
	LastAttempt   *DeliveryAttempt  `json:"last_attempt"`
	Attempts      []DeliveryAttempt `json:"attempts,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
}

// DeliveryList is one page of deliveries.
type DeliveryList struct {
	Deliveries []Delivery `json:"deliveries"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// WebhookSecret is the caller's signing secret, and those still signing
// beside it after a rotation.
type WebhookSecret struct {
	Secret             string     `json:"secret"`
	Previous           []string   `json:"previous"`
	PreviousValidUntil *time.Time `json:"previous_valid_until,omitempty"`
}

// Experiment names the prompt experiment arm a task ran in.
type Experiment struct {
	Name string `json:"name"`
	Arm  string `json:"arm"`
}

// OptimizedPrompt is what prompt optimisation made of a prompt.
type OptimizedPrompt struct {
	Original              string      `json:"original"`
	Final                 string      `json:"final"`
	NegativePrompt        string      `json:"negative_prompt,omitempty"`
	Mode                  string      `json:"mode"`
	Template              *string     `json:"template"`
	Stages                []string    `json:"stages"`
	CacheHit              bool        `json:"cache_hit"`
	Truncated             bool        `json:"truncated"`
	NegativeDropped       bool        `json:"negative_dropped,omitempty"`
	Provider              string      `json:"provider,omitempty"`
	ProviderRevisedPrompt *string     `json:"provider_revised_prompt"`
	ProviderExpansion     bool        `json:"provider_expansion"`
	Experiment            *Experiment `json:"experiment,omitempty"`
	OptimizerVersion      string      `json:"optimizer_version"`
}

// PromptPreview is the body of PromptPreview: what to optimise, for which
// task type and provider, without submitting a task.
type PromptPreview struct {
	TaskType           TaskType           `json:"task_type"`
	Prompt             string             `json:"prompt,omitempty"`
	NegativePrompt     string             `json:"negative_prompt,omitempty"`
	PromptOptimization PromptOptimization `json:"prompt_optimization"`
	Provider           string             `json:"provider,omitempty"`
}

// TemplateParam is one parameter of a prompt template.
type TemplateParam struct {
	Name        string          `json:"name"`
	Type        string          `json:"type"` // string, int, number, bool, enum or list
	Default     json.RawMessage `json:"default,omitempty"`
	Allowed     []string        `json:"allowed,omitempty"`
	Min         *float64        `json:"min,omitempty"`
	Max         *float64        `json:"max,omitempty"`
	MaxLength   int             `json:"max_length,omitempty"`
	MaxItems    int             `json:"max_items,omitempty"`
	Description string          `json:"description,omitempty"`
}

// Template is a prompt template the server offers.
type Template struct {
	Name        string          `json:"name"`
	Version     int             `json:"version"`
	TaskTypes   []TaskType      `json:"task_types"`
	Description string          `json:"description,omitempty"`
	Params      []TemplateParam `json:"params,omitempty"`
}

// TemplateList is the server's prompt templates.
type TemplateList struct {
	Templates []Template `json:"templates"`
}

// Cost is what a task cost, or is estimated to.
type Cost struct {
	USD          float64 `json:"usd"`
	PriceVersion string  `json:"price_version"`
	Estimated    bool    `json:"estimated"`
}

// UploadTicketRequest asks for an upload URL (schema UploadTicketRequest).
type UploadTicketRequest struct {
	ContentType string `json:"content_type"`
	SizeBytes   int64  `json:"size_bytes"`
}

// UploadTicket is an upload URL the server signed for one file of a size
// and type: PUT it there with exactly Headers, before ExpiresAt, and use
// UploadID as any other upload.
type UploadTicket struct {
	UploadID    string            `json:"upload_id"`
	Method      string            `json:"method"` // PUT
	URL         string            `json:"url"`
	Headers     map[string]string `json:"headers"`
	ContentType string            `json:"content_type"`
	SizeBytes   int64             `json:"size_bytes"`
	ExpiresAt   time.Time         `json:"expires_at"`
}
