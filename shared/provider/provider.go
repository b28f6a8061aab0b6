// Package provider holds the port every media-AI provider adapter
// implements, its typed errors, and the registry that chooses a provider
// for a task, guards each one with a circuit breaker and a concurrency cap,
// and reports its health.
package provider

import (
	"context"
	"encoding/json"
	"time"

	"github.com/videoai/mediatasks/shared/task"
)

// Provider is one configured provider. Implementations must be safe for
// concurrent use and keep no per-job state in memory: the platform may
// restart between Start and Poll, so a job handle carries what Poll needs.
type Provider interface {
	Name() string
	TaskTypes() []task.Type
	// Start begins the work. A provider that answers at once returns
	// Response{Result: ...}; a long job returns Response{Job: handle,
	// PollAfter: d, Progress: p}.
	Start(ctx context.Context, req Request) (Response, error)
	// Poll asks about a job. req is the request Start had, so a provider
	// may rebuild what it needs. A returned Job replaces the old handle;
	// an empty one keeps it.
	Poll(ctx context.Context, req Request, job string) (Response, error)
	// Cancel asks the provider to stop a job; a job that has already
	// ended is not an error.
	Cancel(ctx context.Context, req Request, job string) error
}

// Request is what a provider is asked to do for one task.
type Request struct {
	TaskID string
	UserID string
	Type   task.Type
	// Input is the task's input_data, after prompt optimisation.
	Input json.RawMessage
	// Media is the input audio of a transcription or subtitle task (nil
	// for other types).
	Media *Media
	// Attempt is 1 for the first call of this task and counts retries and
	// failovers.
	Attempt int
	// Expansion is whether the provider's own prompt expansion is on: nil
	// leaves the provider's default (the task asked for no optimisation).
	Expansion *bool
}

// Media is an input file the provider may fetch.
type Media struct {
	URL         string // signed; valid for a limited time
	ContentType string
}

// Response is a provider's answer: a pending job, or the result.
type Response struct {
	// While pending:
	Job       string
	PollAfter time.Duration
	Progress  float64 // 0 to 1
	// When done:
	Result *Result
}

// Done reports whether the response carries the result.
func (r Response) Done() bool { return r.Result != nil }

// Result is the output of a finished job.
type Result struct {
	Files []File
	Text  string         // the transcript text, when there is one
	Extra map[string]any // type-specific: segments, language, seed, revised_prompt, "simulated": true ...
}

// File is one output file, given as its bytes or as a URL to fetch them.
type File struct {
	ContentType string // e.g. "image/png"
	Ext         string // e.g. ".png"
	Data        []byte
	URL         string // provider URLs expire: fetch it soon
}
