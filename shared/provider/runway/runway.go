package runway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/task"
)

// Type is the provider type name in the configuration.
const Type = "runway"

// Defaults of the options.
const (
	DefaultBaseURL = "https://api.dev.runwayml.com"
	DefaultKeyEnv  = "RUNWAYML_API_SECRET" // as Runway's SDKs read it
	DefaultVersion = "2024-11-06"
	// PollAfter is about the SDK's interval (6 s, with jitter).
	PollAfter = 6 * time.Second
)

// options are a runway provider's settings, as configured.
type options struct {
	httpapi.Options
	// APIVersion is sent as X-Runway-Version.
	APIVersion string `json:"api_version"`
	// PollAfter is the wait between polls (a Go duration; default 6s).
	PollAfter string `json:"poll_after"`
}

// Runway is a configured Runway provider.
type Runway struct {
	name     string
	model    string
	spec     spec
	settings httpapi.Settings
	wait     time.Duration // between polls
	client   *httpapi.Client
	fetcher  *httpapi.Fetcher
	// images reads an image_url to send as bytes, capped near Runway's
	// limit for a data URI rather than the outputs' cap.
	images *httpapi.Fetcher
}

var (
	_ provider.Provider      = (*Runway)(nil)
	_ provider.Checker       = (*Runway)(nil)
	_ provider.PromptLimiter = (*Runway)(nil)
)

// New builds a Runway provider from its configuration; it is the
// registry's Factory for Type. A bad option is a *provider.OptionError.
func New(cfg config.Provider) (provider.Provider, error) {
	var o options
	if err := provider.DecodeOptions(cfg.Options, &o); err != nil {
		return nil, fmt.Errorf("runway provider %s: %w", cfg.Name, err)
	}
	s, err := o.Resolve(httpapi.Defaults{
		BaseURL: DefaultBaseURL, Model: DefaultModel, Timeout: time.Minute,
		EnvKey: DefaultKeyEnv, KeyRequired: true, PriceKeys: priceKeys(),
	}, nil)
	errs := []error{err}
	version := DefaultVersion
	if o.APIVersion != "" {
		if _, perr := time.Parse(time.DateOnly, o.APIVersion); perr != nil {
			errs = append(errs, &provider.OptionError{Field: "api_version", Message: fmt.Sprintf("must be a date like %s, not %q", DefaultVersion, o.APIVersion)})
		}
		version = o.APIVersion
	}
	wait, err := pollInterval(o.PollAfter, PollAfter)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("runway provider %s: %w", cfg.Name, err)
	}
	key := s.Key
	r := &Runway{name: cfg.Name, model: s.Model, spec: specOf(s.Model), settings: s, wait: wait,
		client:  httpapi.NewClient(cfg.Name, s, func(h http.Header) { h.Set("Authorization", "Bearer "+key) }),
		fetcher: httpapi.NewFetcher(s)}
	r.images = &httpapi.Fetcher{HTTP: r.fetcher.HTTP, MaxBytes: maxImageBytes, AllowPrivate: s.AllowPrivate}
	r.client.Header = http.Header{"X-Runway-Version": {version}}
	r.client.Problem = problem
	return r, nil
}

// Name is the configured name.
func (r *Runway) Name() string { return r.name }

// TaskTypes: videos.
func (r *Runway) TaskTypes() []task.Type { return []task.Type{task.TypeVideoGeneration} }

// PromptLimits: promptText counts UTF-16 code units; no negative prompt,
// no expansion of Runway's own.
func (r *Runway) PromptLimits(t task.Type) prompt.Limits {
	if t == task.TypeVideoGeneration {
		return prompt.Limits{MaxPrompt: MaxPromptText, Unit: prompt.UnitUTF16}
	}
	return prompt.Limits{}
}

// CheckInput names what the model cannot make: text to video without an
// image (gen4_turbo, gen3a_turbo), an aspect ratio or a duration it lacks
// (defaults included: a task that leaves duration_seconds out asks for 5).
func (r *Runway) CheckInput(prefix string, in task.Input) task.FieldErrors {
	v, ok := in.(*task.VideoInput)
	if !ok {
		return nil
	}
	c := *v
	c.SetDefaults()
	_, errs := r.plan(prefix, &c)
	return errs
}

// plan is the route and ratio for in, or the fields the model refuses.
func (r *Runway) plan(prefix string, in *task.VideoInput) (plan, task.FieldErrors) {
	var errs task.FieldErrors
	p := plan{route: routeText, seconds: *in.DurationSeconds}
	if in.ImageURL != "" || in.ImageUploadID != "" || in.ImageTaskID != "" {
		p.route = routeImage
	}
	ratios := r.spec.ratios(p.route)
	switch {
	case ratios == nil && p.route == routeText:
		errs = append(errs, task.FieldError{Field: task.FieldPath(prefix, "image_url"),
			Message: fmt.Sprintf("is required by %s's model %s: it makes video from an image only, not from text alone", r.name, r.model)})
	case ratios == nil:
		errs = append(errs, task.FieldError{Field: task.FieldPath(prefix, "image_url"),
			Message: fmt.Sprintf("is not taken by %s's model %s: it makes video from text only", r.name, r.model)})
	default:
		ratio, ok := ratios[in.AspectRatio]
		if !ok {
			errs = append(errs, task.FieldError{Field: task.FieldPath(prefix, "aspect_ratio"),
				Message: fmt.Sprintf("%s's model %s makes %s of %s, not %q", r.name, r.model, p.route, aspects(ratios), in.AspectRatio)})
		}
		p.ratio = ratio
	}
	if !slices.Contains(r.spec.durations, p.seconds) {
		errs = append(errs, task.FieldError{Field: task.FieldPath(prefix, "duration_seconds"),
			Message: fmt.Sprintf("%s's model %s makes videos of %s seconds, not %d", r.name, r.model, r.spec.durationsText(), p.seconds)})
	}
	return p, errs
}

// plan is one task's call.
type plan struct {
	route   string
	ratio   string
	seconds int
}

// createBody is the body of POST /v1/text_to_video and /v1/image_to_video.
type createBody struct {
	Model       string `json:"model"`
	PromptText  string `json:"promptText,omitempty"`
	PromptImage string `json:"promptImage,omitempty"`
	Ratio       string `json:"ratio"`
	Duration    int    `json:"duration"`
}

// handle is the job handle: the task's id and what its result needs.
type handle struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Route   string `json:"route"`
	Ratio   string `json:"ratio"`
	Seconds int    `json:"seconds"`
}

// Start creates the task.
func (r *Runway) Start(ctx context.Context, req provider.Request) (provider.Response, error) {
	if err := ctx.Err(); err != nil {
		return provider.Response{}, fmt.Errorf("runway %s: start: %w", r.name, context.Cause(ctx))
	}
	in, err := task.DecodeInput(req.Type, req.Input)
	if err != nil {
		return provider.Response{}, provider.NewRejected("invalid_input", "the task's input is not the expected JSON: "+err.Error(), err)
	}
	v, ok := in.(*task.VideoInput)
	if !ok {
		return provider.Response{}, provider.NewRejected("unsupported_task_type", fmt.Sprintf("runway does not serve %s tasks", req.Type), nil)
	}
	p, errs := r.plan("input_data", v)
	if len(errs) > 0 {
		return provider.Response{}, provider.NewRejected("unsupported_input", fmt.Sprintf("%s cannot make this video: %v", r.name, errs), nil)
	}
	body := createBody{Model: r.model, PromptText: v.Prompt, Ratio: p.ratio, Duration: p.seconds}
	if p.route == routeImage {
		if body.PromptImage, err = r.promptImage(ctx, v.ImageURL, req.Media); err != nil {
			return provider.Response{}, fmt.Errorf("runway %s: task %s: %w", r.name, req.TaskID, err)
		}
	}
	var created struct {
		ID string `json:"id"`
	}
	if _, err := r.client.JSON(ctx, httpapi.Call{Method: http.MethodPost, Path: "/v1/" + p.route, JSON: body}, &created); err != nil {
		return provider.Response{}, fmt.Errorf("runway %s: create %s of task %s: %w", r.name, p.route, req.TaskID, err)
	}
	if created.ID == "" {
		return provider.Response{}, provider.NewTransient("bad_answer", r.name+" created a task but answered no id", nil)
	}
	job, _ := json.Marshal(handle{ID: created.ID, Model: r.model, Route: p.route, Ratio: p.ratio, Seconds: p.seconds})
	return provider.Response{Job: string(job), PollAfter: r.wait}, nil
}

// promptImage is the first frame as Runway takes it: an https URL as it
// is, any other still (an http URL, an image the platform holds) as a data
// URI, which Runway takes up to 5 MB.
func (r *Runway) promptImage(ctx context.Context, imageURL string, m *provider.Media) (string, error) {
	return r.images.Still(ctx, imageURL, m, maxImageBytes)
}

// taskAnswer is GET /v1/tasks/{id}'s answer.
type taskAnswer struct {
	ID          string   `json:"id"`
	Status      string   `json:"status"`
	Progress    *float64 `json:"progress"`
	Output      []string `json:"output"`
	Failure     string   `json:"failure"`
	FailureCode string   `json:"failureCode"`
	CreatedAt   string   `json:"createdAt"`
}

// Poll reads the task; a task that succeeded has its videos fetched at
// once (Runway's URLs expire).
func (r *Runway) Poll(ctx context.Context, req provider.Request, job string) (provider.Response, error) {
	h, err := decodeHandle(job)
	if err != nil {
		return provider.Response{}, fmt.Errorf("runway %s: poll: %w", r.name, err)
	}
	var t taskAnswer
	if _, err := r.client.JSON(ctx, httpapi.Call{Method: http.MethodGet, Path: "/v1/tasks/" + url.PathEscape(h.ID)}, &t); err != nil {
		return provider.Response{}, fmt.Errorf("runway %s: poll task %s of task %s: %w", r.name, h.ID, req.TaskID, err)
	}
	switch t.Status {
	case "PENDING", "THROTTLED":
		// THROTTLED: queued on Runway's side behind the account's other tasks.
		return provider.Response{PollAfter: r.wait}, nil
	case "RUNNING":
		progress := 0.0
		if t.Progress != nil && *t.Progress >= 0 {
			progress = min(*t.Progress, 1)
		}
		return provider.Response{PollAfter: r.wait, Progress: progress}, nil
	case "SUCCEEDED":
		res, err := r.result(ctx, h, t)
		if err != nil {
			return provider.Response{}, fmt.Errorf("runway %s: task %s: %w", r.name, req.TaskID, err)
		}
		return provider.Response{Result: res, Progress: 1}, nil
	case "FAILED":
		return provider.Response{}, failure(r.name, h.ID, t.FailureCode, t.Failure)
	case "CANCELLED":
		return provider.Response{}, provider.NewPermanent("canceled", fmt.Sprintf("%s: task %s was canceled at Runway", r.name, h.ID), nil)
	}
	return provider.Response{}, provider.NewTransient("bad_answer", fmt.Sprintf("%s answered task %s with status %q", r.name, h.ID, t.Status), nil)
}

// Cancel cancels a task that has not ended and deletes one that has; a
// task already deleted is not an error.
func (r *Runway) Cancel(ctx context.Context, req provider.Request, job string) error {
	h, err := decodeHandle(job)
	if err != nil {
		return fmt.Errorf("runway %s: cancel: %w", r.name, err)
	}
	_, err = r.client.Do(ctx, httpapi.Call{Method: http.MethodDelete, Path: "/v1/tasks/" + url.PathEscape(h.ID)})
	if pe, ok := errors.AsType[*provider.Error](err); ok && pe.Code == "http_404" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("runway %s: cancel task %s of task %s: %w", r.name, h.ID, req.TaskID, err)
	}
	return nil
}

func decodeHandle(job string) (handle, error) {
	var h handle
	if err := json.Unmarshal([]byte(job), &h); err != nil || h.ID == "" || strings.ContainsAny(h.ID, "/?#% ") {
		return handle{}, provider.NewRejected("unknown_job", fmt.Sprintf("%q is not a Runway job handle", job), nil)
	}
	return h, nil
}

// result fetches the task's videos.
func (r *Runway) result(ctx context.Context, h handle, t taskAnswer) (*provider.Result, error) {
	if len(t.Output) == 0 {
		return nil, provider.NewTransient("bad_answer", fmt.Sprintf("%s: task %s succeeded with no output", r.name, h.ID), nil)
	}
	res := &provider.Result{Extra: map[string]any{
		"runway_task_id": h.ID, "model": h.Model, "route": h.Route, "ratio": h.Ratio, "duration_seconds": h.Seconds,
	}}
	for _, u := range t.Output {
		data, ct, err := r.fetcher.Get(ctx, u, "video/")
		if err != nil {
			return nil, fmt.Errorf("fetch the video of task %s: %w", h.ID, err)
		}
		res.Files = append(res.Files, provider.File{ContentType: ct, Ext: httpapi.ExtOf(ct), Data: data})
	}
	res.Cost = r.cost(h.Model, h.Seconds)
	return res, nil
}

// cost is the video's seconds at the model's price; nil for a model of
// unknown price.
func (r *Runway) cost(model string, seconds int) *provider.Cost {
	credits, ok := creditsPerSecond[model]
	if override, set := r.settings.Price[model]; set {
		credits, ok = override/USDPerCredit, true
	}
	if !ok {
		return nil
	}
	usd := credits * USDPerCredit * float64(seconds)
	return &provider.Cost{USD: math.Round(usd*1e6) / 1e6, PriceVersion: PriceVersion}
}

// failure classifies a task that FAILED by its failureCode: content
// moderation (SAFETY.*, INPUT_PREPROCESSING.SAFETY.*) is a safety refusal;
// Runway's own trouble (INTERNAL*, INPUT_PREPROCESSING.INTERNAL) may pass;
// other input problems (ASSET.*, INPUT_PREPROCESSING.*) will not; an
// unknown code is permanent, as a retry costs credits.
func failure(name, id, code, msg string) error {
	text := fmt.Sprintf("%s: task %s failed", name, id)
	if code != "" {
		text += " (" + code + ")"
	}
	if msg != "" {
		text += ": " + msg
	}
	c := strings.ToUpper(code)
	switch {
	case strings.HasPrefix(c, "SAFETY"), strings.HasPrefix(c, "INPUT_PREPROCESSING.SAFETY"):
		return provider.NewSafetyRefusal(orDefault(code, "safety"), text, nil)
	case strings.HasPrefix(c, "INTERNAL"), c == "INPUT_PREPROCESSING.INTERNAL":
		return provider.NewTransient(code, text, nil)
	case strings.HasPrefix(c, "INPUT_PREPROCESSING"), strings.HasPrefix(c, "ASSET"):
		return provider.NewRejected(code, text, nil)
	}
	return provider.NewPermanent(orDefault(code, "task_failed"), text, nil)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// problem reads Runway's error answer: {"error": "message"}, with
// "issues" when the body failed validation.
func problem(status int, body []byte) httpapi.Problem {
	var e struct {
		Error  string `json:"error"`
		Issues []struct {
			Message string `json:"message"`
			Path    []any  `json:"path"`
		} `json:"issues"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return httpapi.Problem{}
	}
	msg := e.Error
	for _, is := range e.Issues {
		if is.Message != "" {
			msg += "; " + is.Message
		}
	}
	p := httpapi.Problem{Message: msg}
	m := strings.ToLower(e.Error)
	switch {
	case strings.Contains(m, "not have enough credits"), strings.Contains(m, "insufficient credits"), strings.Contains(m, "out of credits"):
		p.Code, p.Quota = "insufficient_credits", true
	case status == http.StatusTooManyRequests && strings.Contains(m, "daily"):
		// The daily cap on tasks is a quota, not a rate to wait out.
		p.Code, p.Quota = "daily_limit", true
	case len(e.Issues) > 0:
		p.Code = "validation_failed"
	}
	return p
}
