package replicate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

// Type is the provider type name in the configuration.
const Type = "replicate"

// Defaults of the options.
const (
	DefaultBaseURL = "https://api.replicate.com/v1"
	DefaultKeyEnv  = "REPLICATE_API_TOKEN"
	// DefaultImageWait is how long a create holds for an image model's
	// result (Prefer: wait), so that a fast model answers in one call.
	DefaultImageWait = 30
	// maxWait is Replicate's longest Prefer: wait.
	maxWait = 60
	// waitMargin is left of the call timeout after a held create.
	waitMargin = 5 * time.Second
	// PriceVersion names the list prices of cost estimates.
	PriceVersion = "replicate-2026-12"
)

const (
	imagePollAfter = 2 * time.Second
	videoPollAfter = 5 * time.Second
)

// options are a Replicate provider's settings, as configured.
type options struct {
	httpapi.Options
	// Wait is the seconds a create holds for the result (Prefer: wait):
	// default 30 for image models, 0 (none) for video models.
	Wait *int `json:"wait"`
	// Hardware is the model's hardware SKU (e.g. gpu-l40s), for a cost
	// from the prediction's predict_time where the model has no price
	// per output.
	Hardware string `json:"hardware"`
}

// Replicate is a provider running predictions on Replicate.
type Replicate struct {
	name     string
	set      httpapi.Settings
	model    model
	wait     int
	hardware string
	client   *httpapi.Client
	fetch    *httpapi.Fetcher
	// secret verifies webhooks: the account's signing secret, fetched
	// once and kept.
	secret *httpapi.KeyCache[*webhook.Verifier]
	now    func() time.Time
}

var (
	_ provider.Provider      = (*Replicate)(nil)
	_ provider.Checker       = (*Replicate)(nil)
	_ provider.PromptLimiter = (*Replicate)(nil)
)

// New builds a Replicate provider from its configuration; it is the
// registry's Factory for Type. A bad option is a *provider.OptionError
// naming it.
func New(cfg config.Provider) (provider.Provider, error) {
	return newReplicate(cfg, nil)
}

func newReplicate(cfg config.Provider, getenv func(string) string) (*Replicate, error) {
	var o options
	if err := provider.DecodeOptions(cfg.Options, &o); err != nil {
		return nil, fmt.Errorf("replicate provider %s: %w", cfg.Name, err)
	}
	s, err := o.Resolve(httpapi.Defaults{BaseURL: DefaultBaseURL, EnvKey: DefaultKeyEnv, KeyRequired: true, PriceKeys: priceKeys}, getenv)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	r := &Replicate{name: cfg.Name, set: s, hardware: o.Hardware}
	if strings.TrimSpace(o.Model) == "" {
		errs = append(errs, &provider.OptionError{Field: "model", Message: "is required: owner/name or owner/name:version, e.g. black-forest-labs/flux-schnell"})
	} else if r.model, err = parseModel(o.Model); err != nil {
		errs = append(errs, &provider.OptionError{Field: "model", Message: err.Error()})
	}
	switch {
	case o.Wait != nil && (*o.Wait < 0 || *o.Wait > maxWait):
		errs = append(errs, &provider.OptionError{Field: "wait", Message: fmt.Sprintf("must be 0 (no wait) to %d seconds, not %d", maxWait, *o.Wait)})
	case o.Wait != nil:
		r.wait = *o.Wait
	case r.model.taskType() == task.TypeImageGeneration:
		r.wait = DefaultImageWait
	}
	if o.Hardware != "" {
		if _, ok := hardwarePrices[o.Hardware]; !ok {
			errs = append(errs, &provider.OptionError{Field: "hardware", Message: fmt.Sprintf("is not a hardware SKU with a known price (known: %s)", strings.Join(hardwareSKUs(), ", "))})
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("replicate provider %s: %w", cfg.Name, errors.Join(errs...))
	}
	// A held create must end before the call's timeout cuts it.
	if limit := int((s.Timeout - waitMargin) / time.Second); r.wait > limit {
		r.wait = max(limit, 0)
	}
	key := s.Key
	r.client = httpapi.NewClient(cfg.Name, s, func(h http.Header) { h.Set("Authorization", "Bearer "+key) })
	r.client.Problem = problem
	r.fetch = httpapi.NewFetcher(s)
	r.now = time.Now
	r.secret = &httpapi.KeyCache[*webhook.Verifier]{Fetch: r.fetchSecret, Now: func() time.Time { return r.now() }}
	return r, nil
}

// maxStillBytes caps a still the platform holds, sent as a data URI.
const maxStillBytes = 10 << 20

// Name is the configured name.
func (r *Replicate) Name() string { return r.name }

// TaskTypes is what the model makes: images or videos.
func (r *Replicate) TaskTypes() []task.Type { return []task.Type{r.model.taskType()} }

// PromptLimits are the model family's.
func (r *Replicate) PromptLimits(t task.Type) prompt.Limits {
	if t != r.model.taskType() {
		return prompt.Limits{}
	}
	return r.model.limits()
}

// CheckInput names the fields of in the model cannot do.
func (r *Replicate) CheckInput(prefix string, in task.Input) task.FieldErrors {
	return r.model.check(prefix, in)
}

// prediction is Replicate's prediction object.
type prediction struct {
	ID      string          `json:"id"`
	Model   string          `json:"model"`
	Version string          `json:"version"`
	Status  string          `json:"status"`
	Output  json.RawMessage `json:"output"`
	Error   json.RawMessage `json:"error"`
	Logs    string          `json:"logs"`
	Metrics struct {
		PredictTime float64 `json:"predict_time"`
		TotalTime   float64 `json:"total_time"`
	} `json:"metrics"`
}

// errorText is the prediction's error as text (a string, or other JSON).
func (p *prediction) errorText() string {
	var s string
	if json.Unmarshal(p.Error, &s) == nil {
		return s
	}
	if t := strings.TrimSpace(string(p.Error)); t != "null" {
		return t
	}
	return ""
}

// Start creates the prediction; with wait, a fast model answers with
// its result at once.
func (r *Replicate) Start(ctx context.Context, req provider.Request) (provider.Response, error) {
	in, err := task.DecodeInput(req.Type, req.Input)
	if err != nil {
		return provider.Response{}, fmt.Errorf("replicate %s: task %s: %w", r.name, req.TaskID, provider.NewRejected("invalid_input", "the task's input is not the expected JSON", err))
	}
	// Replicate reads a file input given as a data URI as the file.
	if err := r.fetch.ResolveStill(ctx, in, req.Media, maxStillBytes, true); err != nil {
		return provider.Response{}, fmt.Errorf("replicate %s: task %s: %w", r.name, req.TaskID, err)
	}
	input, err := r.model.input(in, req.Expansion)
	if err != nil {
		return provider.Response{}, fmt.Errorf("replicate %s: task %s: %w", r.name, req.TaskID, err)
	}
	call := httpapi.Call{Method: http.MethodPost, Path: "models/" + r.model.owner + "/" + r.model.name + "/predictions", JSON: withCallback(map[string]any{"input": input}, req.Callback)}
	if r.model.version != "" {
		call.Path, call.JSON = "predictions", withCallback(map[string]any{"version": r.model.version, "input": input}, req.Callback)
	}
	if r.wait > 0 {
		call.Header = http.Header{"Prefer": {"wait=" + strconv.Itoa(r.wait)}}
	}
	var p prediction
	if _, err := r.client.JSON(ctx, call, &p); err != nil {
		return provider.Response{}, fmt.Errorf("replicate %s: create a prediction of %s: %w", r.name, r.model, throttleHint(err))
	}
	if !idRe.MatchString(p.ID) {
		return provider.Response{}, fmt.Errorf("replicate %s: create: %w", r.name, provider.NewTransient("bad_answer", "Replicate answered a create with no prediction id", nil))
	}
	return r.answer(ctx, in, &p)
}

// availableIn is the wait a throttled answer's detail names ("Request was
// throttled. Expected available in 7 seconds.").
var availableIn = regexp.MustCompile(`available in (\d{1,4}) seconds?`)

// throttleHint gives a throttled error with no Retry-After header the
// wait its detail names [?: whether Replicate always sends the header].
func throttleHint(err error) error {
	pe, ok := errors.AsType[*provider.Error](err)
	if !ok || pe.Kind != provider.Throttled || pe.RetryAfter > 0 {
		return err
	}
	if m := availableIn.FindStringSubmatch(pe.Message); m != nil {
		secs, _ := strconv.Atoi(m[1])
		pe.RetryAfter = time.Duration(secs) * time.Second
	}
	return err
}

var idRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

// Poll reads the prediction.
func (r *Replicate) Poll(ctx context.Context, req provider.Request, job string) (provider.Response, error) {
	if !idRe.MatchString(job) {
		return provider.Response{}, fmt.Errorf("replicate %s: poll: %w", r.name, provider.NewRejected("unknown_job", "the job handle is not a Replicate prediction id", nil))
	}
	in, err := task.DecodeInput(req.Type, req.Input)
	if err != nil {
		return provider.Response{}, fmt.Errorf("replicate %s: task %s: %w", r.name, req.TaskID, provider.NewRejected("invalid_input", "the task's input is not the expected JSON", err))
	}
	var p prediction
	if _, err := r.client.JSON(ctx, httpapi.Call{Method: http.MethodGet, Path: "predictions/" + job}, &p); err != nil {
		return provider.Response{}, fmt.Errorf("replicate %s: get prediction %s: %w", r.name, job, throttleHint(err))
	}
	if p.ID == "" {
		p.ID = job
	}
	return r.answer(ctx, in, &p)
}

// answer turns a prediction into a pending job or a result.
func (r *Replicate) answer(ctx context.Context, in task.Input, p *prediction) (provider.Response, error) {
	after := imagePollAfter
	if r.model.family.video() {
		after = videoPollAfter
	}
	switch p.Status {
	case "starting":
		return provider.Response{Job: p.ID, PollAfter: after}, nil
	case "processing":
		return provider.Response{Job: p.ID, PollAfter: after, Progress: progressOf(p.Logs)}, nil
	case "succeeded":
		res, err := r.result(ctx, in, p)
		if err != nil {
			return provider.Response{}, fmt.Errorf("replicate %s: prediction %s: %w", r.name, p.ID, err)
		}
		return provider.Response{Result: res, Progress: 1}, nil
	case "failed":
		return provider.Response{}, fmt.Errorf("replicate %s: prediction %s: %w", r.name, p.ID, failure(p.errorText()))
	case "canceled", "aborted":
		return provider.Response{}, fmt.Errorf("replicate %s: prediction %s: %w", r.name, p.ID, provider.NewPermanent(p.Status, "the prediction was "+p.Status+" at Replicate", nil))
	}
	return provider.Response{}, fmt.Errorf("replicate %s: prediction %s: %w", r.name, p.ID, provider.NewTransient("bad_answer", fmt.Sprintf("Replicate answered an unknown status %q", p.Status), nil))
}

// progressRe finds a progress bar's percentage in a model's logs (tqdm
// prints "50%|█████     | 14/28").
var progressRe = regexp.MustCompile(`(\d{1,3})%\|`)

func progressOf(logs string) float64 {
	m := progressRe.FindAllStringSubmatch(logs, -1)
	if len(m) == 0 {
		return 0
	}
	pct, _ := strconv.Atoi(m[len(m)-1][1])
	return min(float64(pct), 99) / 100 // done only when succeeded
}

// safetyWords mark a failure on the model's or Replicate's content rules.
var safetyWords = []string{"nsfw", "flagged as sensitive", "(e005)", "e005", "content policy", "content moderation", "safety check", "sensitive content"}

// transientWords mark a failure of the machine, which may pass.
var transientWords = []string{"please retry", "interrupted", "timed out", "timeout", "out of memory", "cuda", "internal error", "server error", "(code: pa)"}

// failure classifies a failed prediction by what its error says.
func failure(text string) *provider.Error {
	lower := strings.ToLower(text)
	msg := "Replicate: " + cmp(text, "the prediction failed")
	switch {
	case slices.ContainsFunc(safetyWords, func(w string) bool { return strings.Contains(lower, w) }):
		return provider.NewSafetyRefusal("nsfw", msg, nil)
	case slices.ContainsFunc(transientWords, func(w string) bool { return strings.Contains(lower, w) }):
		return provider.NewTransient("prediction_failed", msg, nil)
	}
	return provider.NewRejected("prediction_failed", msg, nil)
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Cancel cancels the prediction; one that has ended is not an error
// (Replicate answers it as it is).
func (r *Replicate) Cancel(ctx context.Context, req provider.Request, job string) error {
	if !idRe.MatchString(job) {
		return fmt.Errorf("replicate %s: cancel: %w", r.name, provider.NewRejected("unknown_job", "the job handle is not a Replicate prediction id", nil))
	}
	if _, err := r.client.Do(ctx, httpapi.Call{Method: http.MethodPost, Path: "predictions/" + job + "/cancel"}); err != nil {
		return fmt.Errorf("replicate %s: cancel %s: %w", r.name, job, err)
	}
	return nil
}
