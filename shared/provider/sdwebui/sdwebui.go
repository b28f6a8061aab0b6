package sdwebui

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
const Type = "sdwebui"

// PriceVersion names the price list of a cost: the operator's own price
// per image (the web UI runs on the user's GPU and charges nothing).
const PriceVersion = "sdwebui-2026-12"

// PriceImage is the price key of one image.
const PriceImage = "image"

// Defaults of the web UI's API as the adapter uses it.
const (
	DefaultBaseURL = "http://127.0.0.1:7860"
	// DefaultTimeout is long: a call holds until the images are made, and
	// the web UI works on one job at a time, so a call may also queue.
	DefaultTimeout = 10 * time.Minute
	// EnvKey holds the --api-auth credentials, "user:pass".
	EnvKey = "SDWEBUI_API_AUTH"
	// interruptTimeout bounds the best-effort interrupt after a call is
	// given up.
	interruptTimeout = 5 * time.Second
)

// Bounds of the adapter's own options.
const (
	maxSteps    = 150
	maxCFGScale = 30
)

// options are the adapter's settings: the shared ones (model is the
// checkpoint, sent as override_settings.sd_model_checkpoint) and the
// sampling defaults of every call.
type options struct {
	httpapi.Options
	Steps     *int     `json:"steps"`
	CFGScale  *float64 `json:"cfg_scale"`
	Sampler   string   `json:"sampler"`
	Scheduler string   `json:"scheduler"`
	// Interrupt: when a call is given up (the task canceled, or the
	// timeout), ask the web UI to stop the running job (default true). It
	// stops whatever runs, so turn it off on a web UI shared with others.
	Interrupt *bool `json:"interrupt"`
}

// Provider is a Stable Diffusion web UI (AUTOMATIC1111, Forge, or a
// server compatible with their /sdapi/v1 API).
type Provider struct {
	name      string
	s         httpapi.Settings
	client    *httpapi.Client
	steps     int
	cfgScale  float64
	sampler   string
	scheduler string
	interrupt bool
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
		return nil, fmt.Errorf("sdwebui provider %s: %w", cfg.Name, err)
	}
	s, err := o.Resolve(httpapi.Defaults{BaseURL: DefaultBaseURL, Timeout: DefaultTimeout, EnvKey: EnvKey,
		PriceKeys: []string{PriceImage}}, getenv)
	errs := []error{}
	if err != nil {
		errs = append(errs, err)
	}
	bad := func(field, format string, args ...any) {
		errs = append(errs, &provider.OptionError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if s.Key != "" && !strings.Contains(s.Key, ":") {
		bad("api_key", "must be the web UI's --api-auth credentials, \"user:password\"")
	}
	p := &Provider{name: cfg.Name, s: s, sampler: o.Sampler, scheduler: o.Scheduler, interrupt: true}
	if o.Steps != nil {
		if *o.Steps < 1 || *o.Steps > maxSteps {
			bad("steps", "must be between 1 and %d, not %d", maxSteps, *o.Steps)
		}
		p.steps = *o.Steps
	}
	if o.CFGScale != nil {
		if !(*o.CFGScale >= 1 && *o.CFGScale <= maxCFGScale) {
			bad("cfg_scale", "must be between 1 and %d, not %v", maxCFGScale, *o.CFGScale)
		}
		p.cfgScale = *o.CFGScale
	}
	if o.Interrupt != nil {
		p.interrupt = *o.Interrupt
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("sdwebui provider %s: %w", cfg.Name, errors.Join(errs...))
	}
	var auth func(http.Header)
	if s.Key != "" {
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(s.Key))
		auth = func(h http.Header) { h.Set("Authorization", basic) }
	}
	p.client = httpapi.NewClient(cfg.Name, s, auth)
	p.client.Problem = problem
	return p, nil
}

// Name is the configured name.
func (p *Provider) Name() string { return p.name }

// TaskTypes: the web UI makes images.
func (p *Provider) TaskTypes() []task.Type { return []task.Type{task.TypeImageGeneration} }

// PromptLimits: the web UI takes prompts of any length (it encodes them in
// chunks of 75 tokens) and a negative prompt; it has no prompt expansion.
func (p *Provider) PromptLimits(task.Type) prompt.Limits {
	return prompt.Limits{Negative: true}
}

// CheckInput refuses nothing the image input allows: every size of
// task.ImageSizes is a multiple of 8, and n (1 to 4) is the batch size.
func (p *Provider) CheckInput(string, task.Input) task.FieldErrors { return nil }

// generation is the body of txt2img and img2img.
type generation struct {
	Prompt         string         `json:"prompt"`
	NegativePrompt string         `json:"negative_prompt,omitempty"`
	Styles         []string       `json:"styles,omitempty"`
	Seed           int64          `json:"seed"`
	Width          int            `json:"width"`
	Height         int            `json:"height"`
	BatchSize      int            `json:"batch_size"`
	NIter          int            `json:"n_iter"`
	Steps          int            `json:"steps,omitempty"`
	CFGScale       float64        `json:"cfg_scale,omitempty"`
	SamplerName    string         `json:"sampler_name,omitempty"`
	Scheduler      string         `json:"scheduler,omitempty"`
	SendImages     bool           `json:"send_images"`
	SaveImages     bool           `json:"save_images"`
	Override       map[string]any `json:"override_settings,omitempty"`
	// img2img only.
	InitImages        []string `json:"init_images,omitempty"`
	DenoisingStrength float64  `json:"denoising_strength,omitempty"`
}

// answer is the web UI's answer to txt2img and img2img.
type answer struct {
	Images []string `json:"images"`
	// Info is a JSON document in a string.
	Info string `json:"info"`
}

// info is what the adapter keeps of the answer's info.
type info struct {
	Seed        *int64   `json:"seed"`
	AllSeeds    []int64  `json:"all_seeds"`
	SamplerName string   `json:"sampler_name"`
	Steps       *int     `json:"steps"`
	CFGScale    *float64 `json:"cfg_scale"`
	Model       string   `json:"sd_model_name"`
	Width       int      `json:"width"`
	Height      int      `json:"height"`
}

// Start makes the images: the web UI answers when they are done, so the
// result comes at once (no job).
func (p *Provider) Start(ctx context.Context, req provider.Request) (provider.Response, error) {
	if err := ctx.Err(); err != nil {
		return provider.Response{}, fmt.Errorf("sdwebui %s: start: %w", p.name, context.Cause(ctx))
	}
	in, err := task.DecodeInput(req.Type, req.Input)
	if err != nil {
		return provider.Response{}, fmt.Errorf("sdwebui %s: task %s: %w", p.name, req.TaskID,
			provider.NewRejected("invalid_input", "the task's input is not the expected JSON", err))
	}
	img, ok := in.(*task.ImageInput)
	if !ok {
		return provider.Response{}, fmt.Errorf("sdwebui %s: task %s: %w", p.name, req.TaskID,
			provider.NewRejected("unsupported_task_type", fmt.Sprintf("the web UI makes images, not %s", req.Type), nil))
	}
	body, n, err := p.body(img)
	if err != nil {
		return provider.Response{}, fmt.Errorf("sdwebui %s: task %s: %w", p.name, req.TaskID, err)
	}
	var ans answer
	_, err = p.client.JSON(ctx, httpapi.Call{Method: http.MethodPost, Path: "/sdapi/v1/txt2img", JSON: body}, &ans)
	if err != nil {
		if pe, ok := errors.AsType[*provider.Error](err); ctx.Err() != nil || (ok && pe.Code == "timeout") {
			// The web UI goes on making the images nobody will take.
			p.interruptLater()
		}
		return provider.Response{}, fmt.Errorf("sdwebui %s: txt2img for task %s: %w", p.name, req.TaskID, err)
	}
	res, err := p.result(ans, n)
	if err != nil {
		return provider.Response{}, fmt.Errorf("sdwebui %s: txt2img for task %s: %w", p.name, req.TaskID, err)
	}
	return provider.Response{Result: res, Progress: 1}, nil
}

// body maps the image input to a txt2img body; n is the images asked for.
func (p *Provider) body(in *task.ImageInput) (generation, int, error) {
	w, h, ok := parseSize(in.Size)
	if !ok {
		return generation{}, 0, provider.NewRejected("invalid_size", fmt.Sprintf("size %q is not WIDTHxHEIGHT", in.Size), nil)
	}
	n := 1
	if in.N != nil {
		n = *in.N
	}
	g := generation{
		Prompt: in.Prompt, NegativePrompt: in.NegativePrompt, Seed: -1, Width: w, Height: h,
		BatchSize: n, NIter: 1, Steps: p.steps, CFGScale: p.cfgScale, SamplerName: p.sampler,
		Scheduler: p.scheduler, SendImages: true, SaveImages: false,
		// The grid of a batch is not an output; the checkpoint is the
		// configured model, else the one the web UI has loaded.
		Override: map[string]any{"return_grid": false},
	}
	if in.Style != "" {
		g.Styles = []string{in.Style}
	}
	if p.s.Model != "" {
		g.Override["sd_model_checkpoint"] = p.s.Model
	}
	return g, n, nil
}

// result decodes the images and keeps the info's facts.
func (p *Provider) result(ans answer, n int) (*provider.Result, error) {
	images := ans.Images
	if n > 1 && len(images) > n {
		// A web UI that ignores return_grid still puts the grid first.
		images = images[1:]
	}
	if len(images) > n {
		images = images[:n]
	}
	if len(images) == 0 {
		return nil, provider.NewTransient("no_images", "the web UI answered no image", nil)
	}
	res := &provider.Result{Extra: map[string]any{}}
	for i, b64 := range images {
		if _, rest, ok := strings.Cut(b64, ";base64,"); ok && strings.HasPrefix(b64, "data:") {
			b64 = rest
		}
		data, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(data) == 0 {
			return nil, provider.NewTransient("bad_image", fmt.Sprintf("image %d of the answer is not base64", i), err)
		}
		ct := http.DetectContentType(data)
		if i := strings.IndexByte(ct, ';'); i >= 0 {
			ct = ct[:i]
		}
		if !strings.HasPrefix(ct, "image/") {
			return nil, provider.NewTransient("bad_image", fmt.Sprintf("image %d of the answer is %s, not an image", i, ct), nil)
		}
		res.Files = append(res.Files, provider.File{ContentType: ct, Ext: httpapi.ExtOf(ct), Data: data})
	}
	var inf info
	if ans.Info != "" && json.Unmarshal([]byte(ans.Info), &inf) == nil {
		if inf.Seed != nil {
			res.Extra["seed"] = *inf.Seed
		}
		if len(inf.AllSeeds) > 0 {
			res.Extra["all_seeds"] = inf.AllSeeds
		}
		if inf.SamplerName != "" {
			res.Extra["sampler_name"] = inf.SamplerName
		}
		if inf.Steps != nil {
			res.Extra["steps"] = *inf.Steps
		}
		if inf.CFGScale != nil {
			res.Extra["cfg_scale"] = *inf.CFGScale
		}
		if inf.Model != "" {
			res.Extra["model"] = inf.Model
		}
	}
	if price, ok := p.s.Price[PriceImage]; ok {
		res.Cost = &provider.Cost{USD: price * float64(len(res.Files)), PriceVersion: PriceVersion}
	}
	return res, nil
}

// Poll has nothing to ask: Start answers the result.
func (p *Provider) Poll(_ context.Context, _ provider.Request, job string) (provider.Response, error) {
	return provider.Response{}, fmt.Errorf("sdwebui %s: poll: %w", p.name,
		provider.NewRejected("unknown_job", fmt.Sprintf("the web UI answers at once; %q is not a job of it", job), nil))
}

// Cancel asks the web UI to stop its running job (best effort: it stops
// whatever runs, and Start never hands out a job to cancel).
func (p *Provider) Cancel(ctx context.Context, _ provider.Request, _ string) error {
	if !p.interrupt {
		return nil
	}
	if _, err := p.client.Do(ctx, httpapi.Call{Method: http.MethodPost, Path: "/sdapi/v1/interrupt"}); err != nil {
		return fmt.Errorf("sdwebui %s: interrupt: %w", p.name, err)
	}
	return nil
}

// interruptLater sends an interrupt in the background, detached from the
// call's context that has ended.
func (p *Provider) interruptLater() {
	if !p.interrupt {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), interruptTimeout)
		defer cancel()
		_, _ = p.client.Do(ctx, httpapi.Call{Method: http.MethodPost, Path: "/sdapi/v1/interrupt"})
	}()
}

func parseSize(size string) (int, int, bool) {
	ws, hs, ok := strings.Cut(size, "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	return w, h, ok && err1 == nil && err2 == nil && w > 0 && h > 0
}

// problem reads the web UI's error bodies: FastAPI's {"detail": ...} (a
// string, or a list of {loc, msg, type} for a 422), and the web UI's own
// {"error", "detail", "body", "errors"}.
func problem(status int, body []byte) httpapi.Problem {
	var e struct {
		Error  string          `json:"error"`
		Detail json.RawMessage `json:"detail"`
		Errors string          `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return httpapi.Problem{}
	}
	var p httpapi.Problem
	p.Code = e.Error
	var detail string
	if json.Unmarshal(e.Detail, &detail) != nil {
		var items []struct {
			Loc []any  `json:"loc"`
			Msg string `json:"msg"`
		}
		if json.Unmarshal(e.Detail, &items) == nil {
			parts := make([]string, 0, len(items))
			for _, it := range items {
				loc := make([]string, 0, len(it.Loc))
				for _, l := range it.Loc {
					loc = append(loc, fmt.Sprint(l))
				}
				parts = append(parts, strings.Join(loc, ".")+": "+it.Msg)
			}
			detail = strings.Join(parts, "; ")
			if p.Code == "" {
				p.Code = "validation_error"
			}
		}
	}
	p.Message = strings.TrimSpace(strings.Join(nonEmpty(detail, e.Errors), ": "))
	return p
}

func nonEmpty(ss ...string) []string {
	out := ss[:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
