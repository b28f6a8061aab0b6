// Package provider holds the port every media-AI provider adapter
// implements, its typed errors, and the registry that chooses a provider
// for a task, guards each one with a circuit breaker and a concurrency cap,
// and reports its health.
package provider

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/transcript"
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
	// Callback, when set, is where a provider that can call back (a
	// Caller) is asked to report the end of the job Start begins; the
	// workflow then waits for that call, and polls only as a slow
	// fallback. Nil: the platform polls.
	Callback *Callback
}

// Callback is the platform's endpoint for one job's end, as a Caller
// tells its provider.
type Callback struct {
	// URL is public (the provider's servers call it) and carries the
	// platform's own signed reference to the task: it authenticates
	// which task the call is about; the Caller's Verify authenticates
	// the provider.
	URL string
	// Secret is a value only the platform and this provider know, for
	// providers that send a caller-chosen secret back (a header value);
	// providers that sign with their own key ignore it.
	Secret string
}

// Caller is a provider whose service can call back when a job ends
// (Replicate's and fal's webhooks, AssemblyAI's webhook_url, PiAPI's
// webhook_config). It is told the callback in Request.Callback, and
// authenticates what arrives there.
type Caller interface {
	// VerifyCallback authenticates one call (its headers and its body
	// as received) and names the job it is about. secret is the
	// Callback.Secret the job was started with. A call that fails
	// authentication is an error wrapping ErrBadCallback; a call that
	// says the job is not over yet (a start or progress event) returns
	// final false: the workflow keeps waiting.
	VerifyCallback(ctx context.Context, header http.Header, body []byte, secret string) (job string, final bool, err error)
}

// ErrBadCallback is a callback that does not authenticate (no or bad
// signature, wrong secret, stale timestamp, unreadable body).
var ErrBadCallback = errors.New("callback does not authenticate")

// Media is an input file of the task.
type Media struct {
	URL         string // signed; valid for a limited time
	ContentType string
	// Name is a file name with the media's extension (e.g. "audio.mp3"),
	// for providers that want one with the bytes.
	Name string
	// Public says the URL is reachable from the internet (a user's URL,
	// or a presigned S3 URL in the cloud): a provider may be handed it.
	// A file of the platform on one machine is not: send its bytes.
	Public bool
	// Open reads the bytes of a file the platform holds (nil for a user's
	// URL: fetch that through the SSRF guard).
	Open func(ctx context.Context) (io.ReadCloser, error)
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
	// Transcript is a transcription's words and segments, in the one shape
	// every provider answers with: the platform writes the transcript file
	// of a transcription task, and the subtitles of a subtitle task, from
	// it (Files and Text may then be left empty).
	Transcript *transcript.Transcript
	// Cost is what the provider charges for the work, at its list prices
	// (nil when unknown).
	Cost *Cost
}

// Cost is the estimated price of one task's work at a provider.
type Cost struct {
	USD float64
	// PriceVersion names the price list, e.g. "openai-2026-11", so that an
	// old estimate can be told from a new one.
	PriceVersion string
}

// Checker is a provider that says, before any call, which of a task's
// input fields it cannot carry out: a size, a duration or a language its
// model lacks. A pinned task is refused at submit with those fields
// named; an unpinned one is never sent to it.
type Checker interface {
	// CheckInput names each field of in the provider cannot do, by its
	// path under prefix (e.g. "input_data.size").
	CheckInput(prefix string, in task.Input) task.FieldErrors
}

// File is one output file, given as its bytes or as a URL to fetch them.
type File struct {
	ContentType string // e.g. "image/png"
	Ext         string // e.g. ".png"
	Data        []byte
	URL         string // provider URLs expire: fetch it soon
}
