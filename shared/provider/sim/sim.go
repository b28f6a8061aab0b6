// Package sim is the simulated provider: it serves every task type with
// real, decodable files generated deterministically from the request (a
// PNG, an animated GIF, a JSON transcript, SRT or WebVTT subtitles), marks
// every result "simulated", and can be told to be slow, to fail, or to
// hang. It is for tests, demos and load runs, and is what the platform
// runs when no provider is configured.
package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/task"
)

// Type is the provider type name in the configuration.
const Type = "sim"

// Failure modes of the fail_with option.
const (
	FailTransient = "transient"
	FailThrottled = "throttled"
	FailPermanent = "permanent"
	FailHang      = "hang"
)

// ThrottleRetryAfter is the RetryAfter of a simulated rate limit.
const ThrottleRetryAfter = time.Second

// DefaultPollAfter is the PollAfter of a pending job unless poll_after_ms says.
const DefaultPollAfter = time.Second

// options are the settings of a sim provider, as configured.
type options struct {
	LatencyMs   *int64   `json:"latency_ms"`
	FailRate    *float64 `json:"fail_rate"`
	FailWith    *string  `json:"fail_with"`
	PollSteps   *int64   `json:"poll_steps"`
	PollAfterMs *int64   `json:"poll_after_ms"`
	Seed        *int64   `json:"seed"`
	// MaxPromptChars is the longest prompt the sim takes, as a hosted
	// provider's limit would be (default DefaultMaxPromptChars).
	MaxPromptChars *int64 `json:"max_prompt_chars"`
	// Expansion: the sim has a prompt expansion switch of its own, as
	// many hosted models do (it changes nothing in its output).
	Expansion *bool `json:"prompt_expansion"`
	// CallbackAfterMs makes the sim a provider that calls back (a
	// provider.Caller): a job given a callback ends this long after its
	// start, and the sim then calls the callback URL (see callback.go).
	CallbackAfterMs *int64 `json:"callback_after_ms"`
	// CallbackLost: the job ends but its callback is never sent, as when
	// a provider's call is lost on the way.
	CallbackLost bool `json:"callback_lost"`
}

// DefaultMaxPromptChars is the sim's prompt limit unless configured: as
// dall-e-3's. Audio prompts (vocabulary hints) count tokens and keep the
// end, as Whisper's last 224 do.
const (
	DefaultMaxPromptChars = 4000
	audioPromptTokens     = 224
)

// Bounds of the options: generous, but a typo like 3000000 is caught.
const (
	maxLatencyMs = 10 * 60 * 1000
	maxPollSteps = 1000
)

// Simulated says the results are invented (provider.Simulator).
func (s *Sim) Simulated() bool { return true }

// Sim is a simulated provider.
type Sim struct {
	name      string
	types     []task.Type
	latency   time.Duration
	failRate  float64
	failWith  string
	pollSteps int
	pollAfter time.Duration
	seed      uint64
	maxPrompt int
	expansion bool
	calls     atomic.Uint64 // numbers each Start and Poll, so that every call draws afresh
}

var _ provider.Provider = (*Sim)(nil)

// New builds a sim provider from its configuration; it is the registry's
// Factory for Type. A bad option is a *provider.OptionError naming it.
func New(cfg config.Provider) (provider.Provider, error) {
	var o options
	if err := provider.DecodeOptions(cfg.Options, &o); err != nil {
		return nil, fmt.Errorf("sim provider %s: %w", cfg.Name, err)
	}
	s := &Sim{name: cfg.Name, types: task.Types, failWith: FailTransient, pollAfter: DefaultPollAfter, maxPrompt: DefaultMaxPromptChars}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &provider.OptionError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if v := o.LatencyMs; v != nil {
		if *v < 0 || *v > maxLatencyMs {
			bad("latency_ms", "must be between 0 and %d, not %d", maxLatencyMs, *v)
		}
		s.latency = time.Duration(*v) * time.Millisecond
	}
	if v := o.FailRate; v != nil {
		if !(*v >= 0 && *v <= 1) { // also refuses NaN
			bad("fail_rate", "must be between 0 and 1, not %v", *v)
		}
		s.failRate = *v
	}
	if v := o.FailWith; v != nil {
		switch *v {
		case FailTransient, FailThrottled, FailPermanent, FailHang:
			s.failWith = *v
		default:
			bad("fail_with", "must be one of transient, throttled, permanent or hang, not %q", *v)
		}
	}
	if v := o.PollSteps; v != nil {
		if *v < 0 || *v > maxPollSteps {
			bad("poll_steps", "must be between 0 and %d, not %d", maxPollSteps, *v)
		}
		s.pollSteps = int(*v)
	}
	if v := o.PollAfterMs; v != nil {
		if *v < 0 || *v > maxLatencyMs {
			bad("poll_after_ms", "must be between 0 and %d, not %d", maxLatencyMs, *v)
		}
		s.pollAfter = time.Duration(*v) * time.Millisecond
	}
	if v := o.MaxPromptChars; v != nil {
		if *v < 1 || *v > task.MaxPromptChars {
			bad("max_prompt_chars", "must be between 1 and %d, not %d", task.MaxPromptChars, *v)
		}
		s.maxPrompt = int(*v)
	}
	if o.Expansion != nil {
		s.expansion = *o.Expansion
	}
	if o.Seed != nil && *o.Seed != 0 {
		s.seed = uint64(*o.Seed)
	} else {
		s.seed = rand.Uint64()
	}
	var after time.Duration
	if v := o.CallbackAfterMs; v != nil {
		if *v < 0 || *v > maxLatencyMs {
			bad("callback_after_ms", "must be between 0 and %d, not %d", maxLatencyMs, *v)
		}
		after = time.Duration(*v) * time.Millisecond
	} else if o.CallbackLost {
		bad("callback_lost", "needs callback_after_ms")
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("sim provider %s: %w", cfg.Name, errors.Join(errs...))
	}
	if o.CallbackAfterMs != nil {
		return newCaller(s, after, o.CallbackLost), nil
	}
	return s, nil
}

// PromptLimits are the sim's, shaped like the hosted providers': images
// take a negative prompt, videos none (as Runway's gen4), audio prompts
// keep their last tokens (as Whisper's).
func (s *Sim) PromptLimits(t task.Type) prompt.Limits {
	switch t {
	case task.TypeImageGeneration:
		return prompt.Limits{MaxPrompt: s.maxPrompt, Unit: prompt.UnitChars, Negative: true, MaxNegative: s.maxPrompt, Expansion: s.expansion}
	case task.TypeVideoGeneration:
		return prompt.Limits{MaxPrompt: s.maxPrompt, Unit: prompt.UnitUTF16, Expansion: s.expansion}
	default:
		return prompt.Limits{MaxPrompt: audioPromptTokens, Unit: prompt.UnitTokens, KeepsEnd: true}
	}
}

// Name is the configured name.
func (s *Sim) Name() string { return s.name }

// TaskTypes is every task type.
func (s *Sim) TaskTypes() []task.Type { return s.types }

// Start simulates the work: with poll_steps 0 it answers with the result,
// otherwise with a job to poll.
func (s *Sim) Start(ctx context.Context, req provider.Request) (provider.Response, error) {
	if err := s.act(ctx); err != nil {
		return provider.Response{}, fmt.Errorf("sim %s: start: %w", s.name, err)
	}
	if s.pollSteps == 0 {
		return s.result(req)
	}
	// Refuse a bad input now, as a real provider does when a job is created.
	if _, err := build(req, false); err != nil {
		return provider.Response{}, fmt.Errorf("sim %s: task %s: %w", s.name, req.TaskID, err)
	}
	return provider.Response{Job: encodeJob(0, req.TaskID), PollAfter: s.pollAfter}, nil
}

// Poll moves the job one step on; the last step carries the result.
func (s *Sim) Poll(ctx context.Context, req provider.Request, job string) (provider.Response, error) {
	step, err := decodeJob(job, req.TaskID)
	if err != nil {
		return provider.Response{}, fmt.Errorf("sim %s: poll: %w", s.name, err)
	}
	if err := s.act(ctx); err != nil {
		return provider.Response{}, fmt.Errorf("sim %s: poll: %w", s.name, err)
	}
	step++
	// A restart with fewer poll_steps finishes the job rather than strand it.
	if step >= s.pollSteps {
		return s.result(req)
	}
	return provider.Response{
		Job:       encodeJob(step, req.TaskID),
		PollAfter: s.pollAfter,
		Progress:  float64(step) / float64(s.pollSteps),
	}, nil
}

// Cancel accepts any job of the task: there is nothing to stop.
func (s *Sim) Cancel(_ context.Context, req provider.Request, job string) error {
	if _, err := decodeJob(job, req.TaskID); err != nil {
		return fmt.Errorf("sim %s: cancel: %w", s.name, err)
	}
	return nil
}

// act spends the configured latency and then draws whether this call fails.
func (s *Sim) act(ctx context.Context) error {
	n := s.calls.Add(1)
	if s.failRate > 0 && s.failWith == FailHang && draw(s.seed, n) < s.failRate {
		<-ctx.Done()
		return fmt.Errorf("simulated hang: %w", context.Cause(ctx))
	}
	if s.latency > 0 {
		t := time.NewTimer(s.latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("simulated latency: %w", context.Cause(ctx))
		}
	}
	if s.failRate == 0 || s.failWith == FailHang || draw(s.seed, n) >= s.failRate {
		return nil
	}
	switch s.failWith {
	case FailThrottled:
		return provider.NewThrottled("simulated_rate_limit", "simulated rate limit", ThrottleRetryAfter, nil)
	case FailPermanent:
		return provider.NewPermanent("simulated_failure", "simulated permanent failure", nil)
	}
	return provider.NewTransient("simulated_failure", "simulated transient failure", nil)
}

// draw is a uniform number in [0, 1) for call n: the seed's stream, so a
// seeded provider fails on the same calls every run, while a retry (a later
// call) draws anew.
func draw(seed, n uint64) float64 {
	return float64(mix(seed+n*0x9e3779b97f4a7c15)>>11) / (1 << 53)
}

// mix is splitmix64's finaliser.
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// hashString is FNV-1a 64, mixed: stable across processes.
func hashString(parts ...string) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			h = (h ^ uint64(p[i])) * prime
		}
		h = (h ^ 0xff) * prime // separator: ("ab","c") differs from ("a","bc")
	}
	return mix(h)
}

// Job handles are "sim1.<step>.<tag>": the polls done so far and a tag of
// the task id, so a handle carries all Poll needs and one task's handle is
// refused for another.
const jobPrefix = "sim1."

func encodeJob(step int, taskID string) string {
	return jobPrefix + strconv.Itoa(step) + "." + strconv.FormatUint(hashString(taskID)&0xffffffff, 16)
}

func decodeJob(job, taskID string) (int, error) {
	rest, ok := strings.CutPrefix(job, jobPrefix)
	stepText, tag, ok2 := strings.Cut(rest, ".")
	step, err := strconv.Atoi(stepText)
	if !ok || !ok2 || err != nil || step < 0 {
		return 0, provider.NewRejected("unknown_job", fmt.Sprintf("%q is not a job handle of the sim provider", job), nil)
	}
	if tag != strconv.FormatUint(hashString(taskID)&0xffffffff, 16) {
		return 0, provider.NewRejected("unknown_job", fmt.Sprintf("job %q is not one of task %s", job, taskID), nil)
	}
	return step, nil
}

// build checks the request's input and, with render, makes its output.
func build(req provider.Request, render bool) (*provider.Result, error) {
	in, err := task.DecodeInput(req.Type, req.Input)
	if err != nil && !errors.Is(err, task.ErrUnknownType) {
		return nil, provider.NewRejected("invalid_input", "the task's input is not the expected JSON: "+err.Error(), err)
	}
	switch in := in.(type) {
	case *task.ImageInput:
		return imageResult(in, render)
	case *task.VideoInput:
		return videoResult(in, render)
	case *task.TranscriptionInput:
		return transcriptResult(in.Media(), in.Language, render)
	case *task.SubtitleInput:
		return transcriptResult(in.Media(), in.Language, render)
	}
	return nil, provider.NewRejected("unsupported_task_type", fmt.Sprintf("task type %q is not known", req.Type), nil)
}

// result builds the task's output.
func (s *Sim) result(req provider.Request) (provider.Response, error) {
	res, err := build(req, true)
	if err != nil {
		return provider.Response{}, fmt.Errorf("sim %s: task %s: %w", s.name, req.TaskID, err)
	}
	res.Extra["simulated"] = true
	return provider.Response{Result: res, Progress: 1}, nil
}
