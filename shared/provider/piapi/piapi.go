package piapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
)

// Type is the provider type name in the configuration.
const Type = "piapi"

// PriceVersion names the price list the costs are figured from.
const PriceVersion = "piapi-2026-12"

// Defaults of the adapter.
const (
	DefaultBaseURL    = "https://api.piapi.ai"
	DefaultImageModel = "Qubico/flux1-schnell"
	DefaultVideoModel = "kling"
	EnvKey            = "PIAPI_API_KEY"
	imagePollAfter    = 3 * time.Second
	videoPollAfter    = 8 * time.Second
)

// Price keys (USD): per image for Flux, per second for Kling by mode,
// per video for Hailuo.
const (
	PriceFluxSchnell  = "flux1-schnell"
	PriceFluxDev      = "flux1-dev"
	PriceFluxAdvanced = "flux1-dev-advanced"
	PriceKlingStd     = "kling_std_per_second"
	PriceKlingPro     = "kling_pro_per_second"
	PriceHailuo       = "hailuo"
)

var priceKeys = []string{PriceFluxSchnell, PriceFluxDev, PriceFluxAdvanced, PriceKlingStd, PriceKlingPro, PriceHailuo}

// List prices: Flux from PiAPI's Flux page; Kling 4.0 from PROVIDERS.md
// (std 720p, pro 1080p); Hailuo t2v-01 / i2v-01 from its create-task page.
var (
	fluxPrices  = map[string]float64{PriceFluxSchnell: 0.0015, PriceFluxDev: 0.015, PriceFluxAdvanced: 0.02}
	kling4Price = map[string]float64{"std": 0.1667, "pro": 0.25}
	hailuoPrice = 0.20
)

// Limits the model families document.
const (
	fluxMaxPixels    = 1048576 // width*height
	fluxMaxBatch     = 4       // schnell only
	klingMaxPrompt   = 2500
	hailuoMaxPrompt  = 2000
	maxKlingVersion  = 16
	taskStatusFailed = "failed"
)

// versionRe is a Kling version as PiAPI names them: "1.6", "2.1", "2.5-turbo".
var versionRe = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*(-[a-z0-9]+)?$`)

// klingDurations are the durations PiAPI's Kling create-task takes.
var klingDurations = []int{5, 10}

// family is a group of PiAPI models with one input shape.
type family string

const (
	familyFlux   family = "flux"
	familyKling  family = "kling"
	familyHailuo family = "hailuo"
)

func familyOf(model string) (family, bool) {
	m := strings.ToLower(model)
	switch {
	case strings.HasPrefix(m, "qubico/flux"):
		return familyFlux, true
	case strings.HasPrefix(m, "kling"):
		return familyKling, true
	case strings.HasPrefix(m, "hailuo"):
		return familyHailuo, true
	}
	return "", false
}

// options are the adapter's settings. model names one model, and takes
// the place of image_model or video_model by its family.
type options struct {
	httpapi.Options
	ImageModel   string `json:"image_model"`
	VideoModel   string `json:"video_model"`
	KlingVersion string `json:"kling_version"` // e.g. "2.1"; empty: PiAPI's default
	KlingMode    string `json:"kling_mode"`    // std (default) or pro
	ServiceMode  string `json:"service_mode"`  // public (PAYG) or private (HYA); empty: the account's setting
}

// Provider is PiAPI's unified task API.
type Provider struct {
	name         string
	s            httpapi.Settings
	client       *httpapi.Client
	fetch        *httpapi.Fetcher
	imageModel   string
	videoModel   string
	videoFamily  family
	klingVersion string
	klingMode    string
	serviceMode  string
}

var (
	_ provider.Provider      = (*Provider)(nil)
	_ provider.Checker       = (*Provider)(nil)
	_ provider.PromptLimiter = (*Provider)(nil)
)

// New builds the adapter from its configuration; it is the registry's
// Factory for Type. A bad option is a *provider.OptionError naming it.
func New(cfg config.Provider) (provider.Provider, error) {
	return newProvider(cfg, nil)
}

func newProvider(cfg config.Provider, getenv func(string) string) (*Provider, error) {
	var o options
	if err := provider.DecodeOptions(cfg.Options, &o); err != nil {
		return nil, fmt.Errorf("piapi provider %s: %w", cfg.Name, err)
	}
	s, err := o.Resolve(httpapi.Defaults{BaseURL: DefaultBaseURL, Timeout: time.Minute, EnvKey: EnvKey,
		KeyRequired: true, PriceKeys: priceKeys}, getenv)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	bad := func(field, format string, args ...any) {
		errs = append(errs, &provider.OptionError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	p := &Provider{name: cfg.Name, s: s, imageModel: DefaultImageModel, videoModel: DefaultVideoModel,
		klingVersion: o.KlingVersion, klingMode: "std", serviceMode: o.ServiceMode}
	const known = "Qubico/flux1-schnell, Qubico/flux1-dev, Qubico/flux1-dev-advanced (images); kling, hailuo (videos)"
	if o.ImageModel != "" {
		if f, _ := familyOf(o.ImageModel); f != familyFlux {
			bad("image_model", "must be a Flux model of PiAPI (Qubico/flux1-...), not %q", o.ImageModel)
		}
		p.imageModel = o.ImageModel
	}
	if o.VideoModel != "" {
		if f, _ := familyOf(o.VideoModel); f != familyKling && f != familyHailuo {
			bad("video_model", "must be a video model of PiAPI (kling or hailuo), not %q", o.VideoModel)
		}
		p.videoModel = o.VideoModel
	}
	if o.Model != "" {
		switch f, ok := familyOf(o.Model); {
		case !ok:
			bad("model", "%q is not a model family this adapter maps (known: %s)", o.Model, known)
		case f == familyFlux:
			p.imageModel = o.Model
		default:
			p.videoModel = o.Model
		}
	}
	p.videoFamily, _ = familyOf(p.videoModel)
	if o.KlingMode != "" {
		if o.KlingMode != "std" && o.KlingMode != "pro" {
			bad("kling_mode", "must be std or pro, not %q", o.KlingMode)
		}
		p.klingMode = o.KlingMode
	}
	if v := o.KlingVersion; v != "" {
		if !versionRe.MatchString(v) || len(v) > maxKlingVersion {
			bad("kling_version", "must be a Kling version such as \"2.1\", not %q", v)
		}
	}
	if o.ServiceMode != "" && o.ServiceMode != "public" && o.ServiceMode != "private" {
		bad("service_mode", "must be public (pay as you go) or private (host your account), not %q", o.ServiceMode)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("piapi provider %s: %w", cfg.Name, errors.Join(errs...))
	}
	key := s.Key
	p.client = httpapi.NewClient(cfg.Name, s, func(h http.Header) { h.Set("X-Api-Key", key) })
	p.client.Problem = problem
	p.fetch = httpapi.NewFetcher(s)
	return p, nil
}

// Name is the configured name.
func (p *Provider) Name() string { return p.name }

// TaskTypes: images through the image model, videos through the video
// model.
func (p *Provider) TaskTypes() []task.Type {
	return []task.Type{task.TypeImageGeneration, task.TypeVideoGeneration}
}

// PromptLimits are the models' documented ones: Flux states no length and
// takes a negative prompt; Kling takes 2500 characters, Hailuo 2000 and
// has its own prompt expansion (expand_prompt).
func (p *Provider) PromptLimits(t task.Type) prompt.Limits {
	if t == task.TypeImageGeneration {
		return prompt.Limits{Negative: true}
	}
	if p.videoFamily == familyHailuo {
		return prompt.Limits{MaxPrompt: hailuoMaxPrompt, Unit: prompt.UnitChars, Expansion: true}
	}
	return prompt.Limits{MaxPrompt: klingMaxPrompt, Unit: prompt.UnitChars}
}

func isSchnell(model string) bool { return strings.Contains(strings.ToLower(model), "schnell") }

// CheckInput names what the configured models cannot do: Flux sizes over
// 1048576 pixels, batches but on schnell, styles (Flux has none); Kling
// durations but 5 and 10 s.
func (p *Provider) CheckInput(prefix string, in task.Input) task.FieldErrors {
	var errs task.FieldErrors
	add := func(field, format string, args ...any) {
		errs = append(errs, task.FieldError{Field: task.FieldPath(prefix, field), Message: fmt.Sprintf(format, args...)})
	}
	switch in := in.(type) {
	case *task.ImageInput:
		if w, h, ok := parseSize(in.Size); ok && w*h > fluxMaxPixels {
			add("size", "PiAPI's Flux (%s) makes at most %d pixels (1024x1024); %s is larger", p.imageModel, fluxMaxPixels, in.Size)
		}
		if in.N != nil && *in.N > 1 && !isSchnell(p.imageModel) {
			add("n", "PiAPI's %s makes one image a task (batches are for flux1-schnell)", p.imageModel)
		} else if in.N != nil && *in.N > fluxMaxBatch {
			add("n", "PiAPI's Flux makes at most %d images a task", fluxMaxBatch)
		}
		if in.Style != "" {
			add("style", "PiAPI's Flux has no style setting")
		}
	case *task.VideoInput:
		if p.videoFamily == familyKling && in.DurationSeconds != nil && !slices.Contains(klingDurations, *in.DurationSeconds) {
			add("duration_seconds", "PiAPI's Kling makes videos of 5 or 10 seconds, not %d", *in.DurationSeconds)
		}
	}
	return errs
}

// createBody is POST /api/v1/task.
type createBody struct {
	Model    string         `json:"model"`
	TaskType string         `json:"task_type"`
	Input    map[string]any `json:"input"`
	Config   *taskConfig    `json:"config,omitempty"`
}

type taskConfig struct {
	ServiceMode   string         `json:"service_mode,omitempty"`
	WebhookConfig *webhookConfig `json:"webhook_config,omitempty"`
}

// envelope is PiAPI's answer to every call.
type envelope struct {
	Code    int      `json:"code"`
	Message string   `json:"message"`
	Data    *taskDoc `json:"data"`
}

type taskDoc struct {
	TaskID   string          `json:"task_id"`
	Model    string          `json:"model"`
	TaskType string          `json:"task_type"`
	Status   string          `json:"status"`
	Output   json.RawMessage `json:"output"`
	Error    *taskError      `json:"error"`
	Meta     struct {
		Usage *struct {
			Type    string  `json:"type"`
			Consume float64 `json:"consume"`
		} `json:"usage"`
	} `json:"meta"`
}

type taskError struct {
	Code       int    `json:"code"`
	Message    string `json:"message"`
	RawMessage string `json:"raw_message"`
}

// job is the handle: PiAPI's task id and what Poll needs besides the
// request (the model asked, so a changed configuration does not misprice
// a job under way).
type job struct {
	ID    string `json:"id"`
	Model string `json:"model"`
}

// Start creates the PiAPI task.
func (p *Provider) Start(ctx context.Context, req provider.Request) (provider.Response, error) {
	if err := ctx.Err(); err != nil {
		return provider.Response{}, fmt.Errorf("piapi %s: start: %w", p.name, context.Cause(ctx))
	}
	in, err := task.DecodeInput(req.Type, req.Input)
	if err != nil {
		return provider.Response{}, fmt.Errorf("piapi %s: task %s: %w", p.name, req.TaskID,
			provider.NewRejected("invalid_input", "the task's input is not the expected JSON", err))
	}
	// PiAPI reads a still by URL only.
	if err := p.fetch.ResolveStill(ctx, in, req.Media, 0, false); err != nil {
		return provider.Response{}, fmt.Errorf("piapi %s: task %s: %w", p.name, req.TaskID, err)
	}
	body, err := p.body(in, req.Expansion)
	if err != nil {
		return provider.Response{}, fmt.Errorf("piapi %s: task %s: %w", p.name, req.TaskID, err)
	}
	withCallback(&body, req.Callback)
	var env envelope
	if err := p.call(ctx, httpapi.Call{Method: http.MethodPost, Path: "/api/v1/task", JSON: body}, &env); err != nil {
		return provider.Response{}, fmt.Errorf("piapi %s: create a %s task for %s: %w", p.name, body.Model, req.TaskID, err)
	}
	if env.Data == nil || env.Data.TaskID == "" {
		return provider.Response{}, fmt.Errorf("piapi %s: create a task for %s: %w", p.name, req.TaskID,
			provider.NewTransient("bad_answer", "PiAPI answered no task id: "+env.Message, nil))
	}
	handle, _ := json.Marshal(job{ID: env.Data.TaskID, Model: body.Model})
	return provider.Response{Job: string(handle), PollAfter: pollAfter(req.Type)}, nil
}

// body maps the task's input to the configured model's input.
func (p *Provider) body(in task.Input, expansion *bool) (createBody, error) {
	b := createBody{Input: map[string]any{}}
	if p.serviceMode != "" {
		b.Config = &taskConfig{ServiceMode: p.serviceMode}
	}
	switch in := in.(type) {
	case *task.ImageInput:
		w, h, ok := parseSize(in.Size)
		if !ok {
			return b, provider.NewRejected("invalid_size", fmt.Sprintf("size %q is not WIDTHxHEIGHT", in.Size), nil)
		}
		b.Model, b.TaskType = p.imageModel, "txt2img"
		b.Input["prompt"] = in.Prompt
		if in.NegativePrompt != "" {
			b.Input["negative_prompt"] = in.NegativePrompt
		}
		b.Input["width"], b.Input["height"] = w, h
		if in.N != nil && *in.N > 1 {
			b.Input["batch_size"] = *in.N
		}
	case *task.VideoInput:
		b.Model, b.TaskType = p.videoModel, "video_generation"
		if in.Prompt != "" {
			b.Input["prompt"] = in.Prompt
		}
		switch p.videoFamily {
		case familyHailuo:
			// Hailuo's sub-model says text or image to video.
			b.Input["model"] = "t2v-01"
			if in.ImageURL != "" {
				b.Input["model"] = "i2v-01"
				b.Input["image_url"] = in.ImageURL
			}
			if expansion != nil {
				b.Input["expand_prompt"] = *expansion
			}
		default:
			if in.DurationSeconds != nil {
				b.Input["duration"] = *in.DurationSeconds
			}
			b.Input["mode"] = p.klingMode
			if p.klingVersion != "" {
				b.Input["version"] = p.klingVersion
			}
			if in.ImageURL != "" {
				// Kling takes the aspect ratio of a first frame from it.
				b.Input["image_url"] = in.ImageURL
			} else {
				b.Input["aspect_ratio"] = in.AspectRatio
			}
		}
	default:
		return b, provider.NewRejected("unsupported_task_type", fmt.Sprintf("PiAPI is not configured for %s", in.Type()), nil)
	}
	return b, nil
}

// call sends c and decodes the envelope; an envelope whose code is an
// error, in a 2xx answer, is classified as that status would be.
func (p *Provider) call(ctx context.Context, c httpapi.Call, env *envelope) error {
	a, err := p.client.JSON(ctx, c, env)
	if err != nil {
		return err
	}
	if env.Code >= 400 && env.Code <= 599 {
		return httpapi.Classify(p.name, env.Code, 0, problem(env.Code, a.Body))
	}
	return nil
}

func pollAfter(t task.Type) time.Duration {
	if t == task.TypeVideoGeneration {
		return videoPollAfter
	}
	return imagePollAfter
}

func decodeJob(handle string) (job, error) {
	var j job
	if err := json.Unmarshal([]byte(handle), &j); err != nil || j.ID == "" || strings.ContainsAny(j.ID, "/?#") {
		return job{}, provider.NewRejected("unknown_job", "the job handle is not one of the PiAPI adapter", err)
	}
	return j, nil
}

// Poll asks about the task; a completed one's outputs are fetched at once.
func (p *Provider) Poll(ctx context.Context, req provider.Request, handle string) (provider.Response, error) {
	j, err := decodeJob(handle)
	if err != nil {
		return provider.Response{}, fmt.Errorf("piapi %s: poll: %w", p.name, err)
	}
	var env envelope
	if err := p.call(ctx, httpapi.Call{Method: http.MethodGet, Path: "/api/v1/task/" + url.PathEscape(j.ID)}, &env); err != nil {
		return provider.Response{}, fmt.Errorf("piapi %s: get task %s: %w", p.name, j.ID, err)
	}
	if env.Data == nil {
		return provider.Response{}, fmt.Errorf("piapi %s: get task %s: %w", p.name, j.ID,
			provider.NewTransient("bad_answer", "PiAPI answered no task: "+env.Message, nil))
	}
	d := env.Data
	switch strings.ToLower(d.Status) {
	case "completed":
		res, err := p.result(ctx, req, j, d)
		if err != nil {
			return provider.Response{}, fmt.Errorf("piapi %s: task %s: %w", p.name, j.ID, err)
		}
		return provider.Response{Result: res, Progress: 1}, nil
	case taskStatusFailed:
		return provider.Response{}, fmt.Errorf("piapi %s: task %s: %w", p.name, j.ID, failure(d.Error))
	case "pending", "processing", "staged", "":
		return provider.Response{PollAfter: pollAfter(req.Type), Progress: progressOf(d.Output)}, nil
	}
	return provider.Response{}, fmt.Errorf("piapi %s: task %s: %w", p.name, j.ID,
		provider.NewTransient("unknown_status", fmt.Sprintf("PiAPI answered status %q", d.Status), nil))
}

// progressOf reads an output's progress (0-100) where the model gives it.
func progressOf(raw json.RawMessage) float64 {
	var o struct {
		Progress *float64 `json:"progress"`
	}
	if json.Unmarshal(raw, &o) != nil || o.Progress == nil {
		return 0
	}
	return min(max(*o.Progress/100, 0), 0.99)
}

// Safety and quota words in PiAPI's messages [?: it documents no codes
// for them].
var (
	safetyWords = []string{"nsfw", "moderation", "sensitive", "safety", "inappropriate", "prohibited", "violat", "risk control", "content policy"}
	quotaWords  = []string{"insufficient", "credit", "quota", "balance", "billing", "payment"}
	inputWords  = []string{"invalid", "param", "not support", "unsupported", "too long", "too large", "format", "face"}
)

func mentions(s string, words []string) bool {
	s = strings.ToLower(s)
	return slices.ContainsFunc(words, func(w string) bool { return strings.Contains(s, w) })
}

// failure classifies a failed task: a content refusal, a quota problem, a
// bad input, or else PiAPI's own failure (transient: worth another try).
func failure(e *taskError) error {
	if e == nil {
		e = &taskError{}
	}
	code := "task_failed"
	if e.Code != 0 {
		code = "piapi_" + strconv.Itoa(e.Code)
	}
	msg := strings.TrimSpace(e.Message)
	if e.RawMessage != "" && e.RawMessage != e.Message {
		msg = strings.TrimSpace(msg + " (" + e.RawMessage + ")")
	}
	if msg == "" {
		msg = "the task failed at PiAPI with no message"
	}
	msg = "PiAPI: " + msg
	all := e.Message + " " + e.RawMessage
	switch {
	case mentions(all, safetyWords):
		return provider.NewSafetyRefusal(code, msg, nil)
	case mentions(all, quotaWords):
		return provider.NewPermanent(code, msg, nil)
	case mentions(all, inputWords):
		return provider.NewRejected(code, msg, nil)
	}
	return provider.NewTransient(code, msg, nil)
}

// outputDoc holds the output shapes of the families.
type outputDoc struct {
	ImageURL    string   `json:"image_url"`
	ImageURLs   []string `json:"image_urls"`
	ImageBase64 string   `json:"image_base64"`
	VideoURL    string   `json:"video_url"`
	VideoURLs   []string `json:"video_urls"`
	Works       []struct {
		Video *resource `json:"video"`
		Image *resource `json:"image"`
	} `json:"works"`
}

type resource struct {
	Resource                 string `json:"resource"`
	ResourceWithoutWatermark string `json:"resource_without_watermark"`
	Duration                 int    `json:"duration"` // ms
}

func (r *resource) url() string {
	if r == nil {
		return ""
	}
	if r.ResourceWithoutWatermark != "" {
		return r.ResourceWithoutWatermark
	}
	return r.Resource
}

// urls are the output's file URLs for a task type, first choice first.
func (o outputDoc) urls(t task.Type) []string {
	var out []string
	if t == task.TypeVideoGeneration {
		out = append(out, o.VideoURLs...)
		if len(out) == 0 && o.VideoURL != "" {
			out = append(out, o.VideoURL)
		}
		if len(out) == 0 {
			for _, w := range o.Works {
				if u := w.Video.url(); u != "" {
					out = append(out, u)
				}
			}
		}
		return out
	}
	out = append(out, o.ImageURLs...)
	if len(out) == 0 && o.ImageURL != "" {
		out = append(out, o.ImageURL)
	}
	if len(out) == 0 {
		for _, w := range o.Works {
			if u := w.Image.url(); u != "" {
				out = append(out, u)
			}
		}
	}
	return out
}

func (p *Provider) result(ctx context.Context, req provider.Request, j job, d *taskDoc) (*provider.Result, error) {
	var o outputDoc
	if len(d.Output) > 0 && string(d.Output) != "null" {
		if err := json.Unmarshal(d.Output, &o); err != nil {
			return nil, provider.NewTransient("bad_answer", "PiAPI's output is not the JSON expected", err)
		}
	}
	accept := "image/"
	if req.Type == task.TypeVideoGeneration {
		accept = "video/"
	}
	res := &provider.Result{Extra: map[string]any{"piapi_task_id": d.TaskID, "model": j.Model}}
	for _, u := range o.urls(req.Type) {
		data, ct, err := p.fetch.Get(ctx, u, accept)
		if err != nil {
			return nil, err
		}
		res.Files = append(res.Files, provider.File{ContentType: ct, Ext: httpapi.ExtOf(ct), Data: data})
	}
	if len(res.Files) == 0 && o.ImageBase64 != "" && req.Type == task.TypeImageGeneration {
		data, ct, err := decodeB64(o.ImageBase64)
		if err != nil {
			return nil, err
		}
		res.Files = append(res.Files, provider.File{ContentType: ct, Ext: httpapi.ExtOf(ct), Data: data})
	}
	if len(res.Files) == 0 {
		return nil, provider.NewTransient("no_output", "PiAPI completed the task with no output file", nil)
	}
	if d.Meta.Usage != nil {
		res.Extra["usage_consume"] = d.Meta.Usage.Consume
	}
	in, err := task.DecodeInput(req.Type, req.Input)
	if err == nil {
		res.Cost = p.cost(j.Model, in, len(res.Files))
	}
	return res, nil
}

// cost is the list price of the work, overridable; nil for a model whose
// price is not known.
func (p *Provider) cost(model string, in task.Input, files int) *provider.Cost {
	usd := -1.0
	f, _ := familyOf(model)
	switch f {
	case familyFlux:
		key := fluxPriceKey(model)
		if key != "" {
			usd = p.s.PriceOf(key, fluxPrices[key]) * float64(files)
		}
	case familyKling:
		v, ok := in.(*task.VideoInput)
		if !ok || v.DurationSeconds == nil {
			break
		}
		key := PriceKlingStd
		if p.klingMode == "pro" {
			key = PriceKlingPro
		}
		list := -1.0
		if strings.HasPrefix(p.klingVersion, "4.0") {
			list = kling4Price[p.klingMode]
		}
		if per := p.s.PriceOf(key, list); per >= 0 {
			usd = per * float64(*v.DurationSeconds)
		}
	case familyHailuo:
		usd = p.s.PriceOf(PriceHailuo, hailuoPrice)
	}
	if usd < 0 {
		return nil
	}
	return &provider.Cost{USD: usd, PriceVersion: PriceVersion}
}

func fluxPriceKey(model string) string {
	m := strings.ToLower(model)
	switch {
	case strings.HasSuffix(m, "flux1-schnell"):
		return PriceFluxSchnell
	case strings.HasSuffix(m, "flux1-dev-advanced"):
		return PriceFluxAdvanced
	case strings.HasSuffix(m, "flux1-dev"):
		return PriceFluxDev
	}
	return ""
}

// Cancel deletes the task: PiAPI cancels pending tasks only, so one that
// is processing or has ended (a 4xx answer) is left to finish, and is not
// an error.
func (p *Provider) Cancel(ctx context.Context, _ provider.Request, handle string) error {
	j, err := decodeJob(handle)
	if err != nil {
		return fmt.Errorf("piapi %s: cancel: %w", p.name, err)
	}
	_, err = p.client.Do(ctx, httpapi.Call{Method: http.MethodDelete, Path: "/api/v1/task/" + url.PathEscape(j.ID)})
	if pe, ok := errors.AsType[*provider.Error](err); ok && pe.RequestFault {
		return nil
	}
	if err != nil {
		return fmt.Errorf("piapi %s: cancel task %s: %w", p.name, j.ID, err)
	}
	return nil
}

func parseSize(size string) (int, int, bool) {
	ws, hs, ok := strings.Cut(size, "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	return w, h, ok && err1 == nil && err2 == nil && w > 0 && h > 0
}

// problem reads PiAPI's error envelope {code, message, data}; a message
// about content or credit marks the answer a safety refusal or a quota
// problem.
func problem(status int, body []byte) httpapi.Problem {
	var e struct {
		Code    json.Number `json:"code"`
		Message string      `json:"message"`
		Data    *struct {
			Error *taskError `json:"error"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &e) != nil {
		return httpapi.Problem{}
	}
	msg := e.Message
	if e.Data != nil && e.Data.Error != nil && e.Data.Error.Message != "" && e.Data.Error.Message != msg {
		msg = strings.TrimSpace(msg + ": " + e.Data.Error.Message)
	}
	p := httpapi.Problem{Message: msg}
	if c := e.Code.String(); c != "" && c != strconv.Itoa(status) {
		p.Code = "piapi_" + c
	}
	switch {
	case mentions(msg, safetyWords) && status < 500:
		p.Safety = true
	case mentions(msg, quotaWords) && status != http.StatusUnauthorized:
		p.Quota = true
	}
	return p
}

// decodeB64 reads an image given as base64 or a data URI.
func decodeB64(s string) ([]byte, string, error) {
	if _, rest, ok := strings.Cut(s, ";base64,"); ok && strings.HasPrefix(s, "data:") {
		s = rest
	}
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(data) == 0 {
		return nil, "", provider.NewTransient("bad_image", "PiAPI's image_base64 is not base64", err)
	}
	ct := http.DetectContentType(data)
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if !strings.HasPrefix(ct, "image/") {
		return nil, "", provider.NewTransient("bad_image", "PiAPI's image_base64 is "+ct+", not an image", nil)
	}
	return data, ct, nil
}
