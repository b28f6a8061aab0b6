package fal

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/task"
)

// Type is the provider type name in the configuration.
const Type = "fal"

// Defaults of the options.
const (
	DefaultBaseURL = "https://queue.fal.run"
	DefaultKeyEnv  = "FAL_KEY"
	// PriceVersion names the list prices of cost estimates.
	PriceVersion = "fal-2026-12"
)

// How long to wait before the next poll: fal gives no hint.
const (
	imagePollAfter = 2 * time.Second
	videoPollAfter = 5 * time.Second
	// longQueue: a request this far back in the queue is polled half as often.
	longQueue = 5
)

// options are a fal provider's settings, as configured.
type options struct {
	httpapi.Options
	// ImageToVideoModel is the app a video task with an image_url goes
	// to when model is a text-to-video app (e.g. the same family's
	// image-to-video endpoint).
	ImageToVideoModel string `json:"image_to_video_model"`
	// WebhookJWKSURL is where fal's webhook public keys are read
	// (default DefaultWebhookJWKSURL).
	WebhookJWKSURL string `json:"webhook_jwks_url"`
}

// Fal is a provider calling fal.ai's queue API.
type Fal struct {
	name   string
	set    httpapi.Settings
	app    app
	i2v    *app // nil: model serves every video task itself
	client *httpapi.Client
	fetch  *httpapi.Fetcher
	base   *url.URL
	// The webhook keys: read from jwksURL by keys (a client with no
	// credentials), kept in webhookKeys.
	jwksURL     string
	keys        *httpapi.Client
	webhookKeys *httpapi.KeyCache[[]ed25519.PublicKey]
	now         func() time.Time
}

var (
	_ provider.Provider      = (*Fal)(nil)
	_ provider.Checker       = (*Fal)(nil)
	_ provider.PromptLimiter = (*Fal)(nil)
)

// New builds a fal provider from its configuration; it is the registry's
// Factory for Type. A bad option is a *provider.OptionError naming it.
func New(cfg config.Provider) (provider.Provider, error) {
	return newFal(cfg, nil)
}

func newFal(cfg config.Provider, getenv func(string) string) (*Fal, error) {
	var o options
	if err := provider.DecodeOptions(cfg.Options, &o); err != nil {
		return nil, fmt.Errorf("fal provider %s: %w", cfg.Name, err)
	}
	s, err := o.Resolve(httpapi.Defaults{BaseURL: DefaultBaseURL, EnvKey: DefaultKeyEnv, KeyRequired: true, PriceKeys: priceKeys}, getenv)
	errs := []error{}
	if err != nil {
		errs = append(errs, err)
	}
	f := &Fal{name: cfg.Name, set: s}
	if strings.TrimSpace(o.Model) == "" {
		errs = append(errs, &provider.OptionError{Field: "model", Message: "is required: the fal app to call, e.g. fal-ai/flux/dev"})
	} else if f.app, err = parseApp(o.Model); err != nil {
		errs = append(errs, &provider.OptionError{Field: "model", Message: err.Error()})
	}
	if o.ImageToVideoModel != "" {
		a, err := parseApp(o.ImageToVideoModel)
		switch {
		case err != nil:
			errs = append(errs, &provider.OptionError{Field: "image_to_video_model", Message: err.Error()})
		case !a.family.video():
			errs = append(errs, &provider.OptionError{Field: "image_to_video_model", Message: fmt.Sprintf("%q is not a video app", a.id)})
		case f.app.id != "" && !f.app.family.video():
			errs = append(errs, &provider.OptionError{Field: "image_to_video_model", Message: "is only taken with a video model"})
		default:
			a.i2v = true
			f.i2v = &a
		}
	}
	f.jwksURL = DefaultWebhookJWKSURL
	if o.WebhookJWKSURL != "" {
		u, err := url.Parse(o.WebhookJWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, &provider.OptionError{Field: "webhook_jwks_url", Message: "is not an http(s) URL"})
		}
		f.jwksURL = o.WebhookJWKSURL
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("fal provider %s: %w", cfg.Name, errors.Join(errs...))
	}
	f.base, _ = url.Parse(s.BaseURL) // Resolve checked it
	f.now = time.Now
	f.keys = httpapi.NewClient(cfg.Name, s, nil)
	f.webhookKeys = &httpapi.KeyCache[[]ed25519.PublicKey]{Fetch: f.fetchKeys, TTL: jwksTTL, Now: func() time.Time { return f.now() }}
	key := s.Key
	f.client = httpapi.NewClient(cfg.Name, s, func(h http.Header) { h.Set("Authorization", "Key "+key) })
	f.client.Problem = problem
	f.fetch = httpapi.NewFetcher(s)
	return f, nil
}

// maxStillBytes caps a still the platform holds, sent as a data URI.
const maxStillBytes = 10 << 20

// Name is the configured name.
func (f *Fal) Name() string { return f.name }

// TaskTypes is what the app makes: images or videos.
func (f *Fal) TaskTypes() []task.Type { return []task.Type{f.app.taskType()} }

// PromptLimits are the app's (the smaller of the two apps' when an
// image-to-video app is configured too).
func (f *Fal) PromptLimits(t task.Type) prompt.Limits {
	if t != f.app.taskType() {
		return prompt.Limits{}
	}
	l := f.app.limits()
	if f.i2v != nil {
		if o := f.i2v.limits(); o.MaxPrompt > 0 && (l.MaxPrompt == 0 || o.MaxPrompt < l.MaxPrompt) && o.Unit == l.Unit {
			l.MaxPrompt = o.MaxPrompt
		}
	}
	return l
}

// appFor is the app a video input goes to.
func (f *Fal) appFor(in task.Input) app {
	if v, ok := in.(*task.VideoInput); ok && v.HasStill() && f.i2v != nil && !f.app.i2v {
		return *f.i2v
	}
	return f.app
}

// requestIDRe is a fal request id (a UUID), which is the job handle.
var requestIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

// job is a request and its URLs. Jobs started by earlier versions have
// it, as JSON, for their handle.
type job struct {
	App      string `json:"app"`
	ID       string `json:"request_id"`
	Status   string `json:"status_url"`
	Response string `json:"response_url"`
	Cancel   string `json:"cancel_url"`
}

// submitted is fal's answer to a submit (and the status's URLs).
type submitted struct {
	RequestID   string `json:"request_id"`
	ResponseURL string `json:"response_url"`
	StatusURL   string `json:"status_url"`
	CancelURL   string `json:"cancel_url"`
}

// Start submits the task to the app's queue; the answer is a job to poll.
func (f *Fal) Start(ctx context.Context, req provider.Request) (provider.Response, error) {
	in, err := task.DecodeInput(req.Type, req.Input)
	if err != nil {
		return provider.Response{}, fmt.Errorf("fal %s: task %s: %w", f.name, req.TaskID, provider.NewRejected("invalid_input", "the task's input is not the expected JSON", err))
	}
	// fal reads an image_url that is a data URI as the image itself.
	if err := f.fetch.ResolveStill(ctx, in, req.Media, maxStillBytes, true); err != nil {
		return provider.Response{}, fmt.Errorf("fal %s: task %s: %w", f.name, req.TaskID, err)
	}
	a := f.appFor(in)
	body, err := a.input(in, req.Expansion)
	if err != nil {
		return provider.Response{}, fmt.Errorf("fal %s: task %s: %w", f.name, req.TaskID, err)
	}
	var sub submitted
	if _, err := f.client.JSON(ctx, httpapi.Call{Method: http.MethodPost, Path: withCallback(a.id, req.Callback), JSON: body}, &sub); err != nil {
		return provider.Response{}, fmt.Errorf("fal %s: submit to %s: %w", f.name, a.id, err)
	}
	if sub.RequestID == "" {
		return provider.Response{}, fmt.Errorf("fal %s: submit to %s: %w", f.name, a.id, provider.NewTransient("bad_answer", "fal answered a submit with no request_id", nil))
	}
	if !requestIDRe.MatchString(sub.RequestID) {
		return provider.Response{}, fmt.Errorf("fal %s: submit to %s: %w", f.name, a.id, provider.NewTransient("bad_answer", "fal answered a submit with a request_id that is not an id", nil))
	}
	// The handle is the request id alone, the name fal's webhook gives the
	// job; the app is chosen again from the request.
	return provider.Response{Job: sub.RequestID, PollAfter: a.pollAfter(0)}, nil
}

func (a app) pollAfter(queuePosition int) time.Duration {
	d := imagePollAfter
	if a.family.video() {
		d = videoPollAfter
	}
	if queuePosition > longQueue {
		d *= 2
	}
	return d
}

// decodeJob reads a handle: a request id, whose app is the one Start
// chose for req, or a JSON job of an earlier version. URLs are used only
// on fal's own host (the key goes with them), else rebuilt from the app
// and request id.
func (f *Fal) decodeJob(req provider.Request, handle string) (job, app, error) {
	var j job
	var a app
	if requestIDRe.MatchString(handle) {
		in, err := task.DecodeInput(req.Type, req.Input)
		if err != nil {
			return job{}, app{}, provider.NewRejected("invalid_input", "the task's input is not the expected JSON", err)
		}
		a = f.appFor(in)
		j = job{App: a.id, ID: handle}
	} else {
		if err := json.Unmarshal([]byte(handle), &j); err != nil || j.ID == "" || j.App == "" {
			return job{}, app{}, provider.NewRejected("unknown_job", "the job handle is not one of a fal provider", err)
		}
		var err error
		if a, err = parseApp(j.App); err != nil {
			return job{}, app{}, provider.NewRejected("unknown_job", "the job handle names no fal app", err)
		}
		if f.i2v != nil && j.App == f.i2v.id {
			a = *f.i2v
		}
	}
	// The queue's URLs drop the app's sub-path: owner/alias/requests/id.
	parts := strings.SplitN(a.id, "/", 3)
	root := f.set.BaseURL + "/" + parts[0] + "/" + parts[1] + "/requests/" + url.PathEscape(j.ID)
	j.Status = f.own(j.Status, root+"/status")
	j.Response = f.own(j.Response, root)
	j.Cancel = f.own(j.Cancel, root+"/cancel")
	return j, a, nil
}

// own is u if it is on the base URL's host, else fallback.
func (f *Fal) own(u, fallback string) string {
	p, err := url.Parse(u)
	if err != nil || u == "" || p.Scheme != f.base.Scheme || p.Host != f.base.Host || p.User != nil {
		return fallback
	}
	return u
}

// status is fal's answer about a request.
type status struct {
	Status        string `json:"status"`
	QueuePosition int    `json:"queue_position"`
	Error         string `json:"error"`
	ErrorType     string `json:"error_type"`
	Metrics       struct {
		InferenceTime float64 `json:"inference_time"`
	} `json:"metrics"`
}

// Poll asks fal about the request and, once it is completed, fetches its
// result and output files.
func (f *Fal) Poll(ctx context.Context, req provider.Request, handle string) (provider.Response, error) {
	j, a, err := f.decodeJob(req, handle)
	if err != nil {
		return provider.Response{}, fmt.Errorf("fal %s: poll: %w", f.name, err)
	}
	var st status
	if _, err := f.client.JSON(ctx, httpapi.Call{Method: http.MethodGet, Path: j.Status}, &st); err != nil {
		return provider.Response{}, fmt.Errorf("fal %s: status of %s: %w", f.name, j.ID, err)
	}
	switch st.Status {
	case "IN_QUEUE", "IN_PROGRESS":
		return provider.Response{PollAfter: a.pollAfter(st.QueuePosition)}, nil
	case "COMPLETED":
		if st.Error != "" {
			return provider.Response{}, fmt.Errorf("fal %s: request %s: %w", f.name, j.ID, failure(st.ErrorType, st.Error))
		}
		res, err := f.result(ctx, req, j, a)
		if err != nil {
			return provider.Response{}, fmt.Errorf("fal %s: result of %s: %w", f.name, j.ID, err)
		}
		if st.Metrics.InferenceTime > 0 {
			res.Extra["inference_time"] = st.Metrics.InferenceTime
		}
		return provider.Response{Result: res, Progress: 1}, nil
	case "FAILED", "ERROR":
		return provider.Response{}, fmt.Errorf("fal %s: request %s: %w", f.name, j.ID, failure(st.ErrorType, cmp(st.Error, "the request failed")))
	case "CANCELED", "CANCELLED":
		return provider.Response{}, fmt.Errorf("fal %s: request %s: %w", f.name, j.ID, provider.NewPermanent("canceled", "the request was canceled at fal", nil))
	}
	return provider.Response{}, fmt.Errorf("fal %s: status of %s: %w", f.name, j.ID, provider.NewTransient("bad_answer", fmt.Sprintf("fal answered an unknown status %q", st.Status), nil))
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// failure classifies a request that fal says failed, by its error type.
func failure(errorType, message string) *provider.Error {
	code := cmp(errorType, "request_failed")
	msg := "fal: " + message
	switch {
	case errorType == "content_policy_violation":
		return provider.NewSafetyRefusal(code, msg, nil)
	case transientType(errorType):
		return provider.NewTransient(code, msg, nil)
	}
	return provider.NewRejected(code, msg, nil)
}

// Cancel asks fal to cancel the request; one that has ended already is
// not an error.
func (f *Fal) Cancel(ctx context.Context, req provider.Request, handle string) error {
	j, _, err := f.decodeJob(req, handle)
	if err != nil {
		return fmt.Errorf("fal %s: cancel: %w", f.name, err)
	}
	_, err = f.client.Do(ctx, httpapi.Call{Method: http.MethodPut, Path: j.Cancel})
	if pe, ok := errors.AsType[*provider.Error](err); ok && (pe.Code == "ALREADY_COMPLETED" || pe.Code == "NOT_FOUND") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fal %s: cancel %s: %w", f.name, j.ID, err)
	}
	return nil
}
