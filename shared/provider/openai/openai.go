package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
const Type = "openai"

// Defaults of the options.
const (
	DefaultBaseURL = "https://api.openai.com/v1"
	DefaultKeyEnv  = "OPENAI_API_KEY"
	// DefaultTimeout is one call's: both APIs answer synchronously; a
	// high-quality GPT image can take a minute or two, and 25 MB of audio
	// longer.
	DefaultTimeout = 5 * time.Minute
)

// MaxAudioBytes is the largest file the transcription API takes
// (PROVIDERS.md: over 26,214,400 bytes it answers 413).
const MaxAudioBytes = 26_214_400

// options are an openai provider's settings, as configured.
type options struct {
	httpapi.Options
	// Family names the model's family when its name is of none the
	// adapter knows (an OpenAI-compatible server's model, e.g. LocalAI's
	// "stablediffusion" or vLLM's "whisper-large-v3-turbo"); it also
	// overrides the family a known name implies.
	Family string `json:"family"`
	// Quality of the images (gpt-image: low, medium, high, auto; default
	// medium. dall-e-3: standard, hd; default standard).
	Quality string `json:"quality"`
	// ResponseFormat of DALL-E images: b64_json (the default: no URL to
	// fetch, nothing to expire) or url.
	ResponseFormat string `json:"response_format"`
	// OutputFormat of GPT images: png (the API's default), jpeg, webp.
	OutputFormat string `json:"output_format"`
	// Moderation of GPT images: auto (the API's default) or low.
	Moderation string `json:"moderation"`
	// Background of GPT images: auto (the API's default), opaque, or
	// transparent (with output_format png or webp).
	Background string `json:"background"`
}

// Provider is an OpenAI (or OpenAI-compatible) provider: images from
// POST /images/generations, transcripts from POST /audio/transcriptions.
// Both answer at once, so Start returns the result and there are no jobs.
type Provider struct {
	name   string
	s      httpapi.Settings
	client *httpapi.Client
	fetch  *httpapi.Fetcher
	image  *imageModel // nil: images are not served
	audio  *audioModel // nil: audio is not served
}

var (
	_ provider.Provider      = (*Provider)(nil)
	_ provider.Checker       = (*Provider)(nil)
	_ provider.PromptLimiter = (*Provider)(nil)
)

// imageModel is the configured image model and how it is called.
type imageModel struct {
	name           string
	family         Family
	spec           imageSpec
	quality        string // "" for a family without the parameter
	responseFormat string // "b64_json" or "url" for DALL-E; "" for GPT images
	outputFormat   string
	moderation     string
	background     string
}

// audioModel is the configured transcription model.
type audioModel struct {
	name   string
	family Family
}

// New builds an openai provider from its configuration; it is the
// registry's Factory for Type. Each bad option is a *provider.OptionError
// naming it.
func New(cfg config.Provider) (provider.Provider, error) {
	p, err := newProvider(cfg, nil)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// newProvider is New with the environment read through getenv.
func newProvider(cfg config.Provider, getenv func(string) string) (*Provider, error) {
	var o options
	if err := provider.DecodeOptions(cfg.Options, &o); err != nil {
		return nil, fmt.Errorf("openai provider %s: %w", cfg.Name, err)
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &provider.OptionError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	p := &Provider{name: cfg.Name}
	model := strings.TrimSpace(o.Model)
	fam := Family(o.Family)
	if fam != "" && !slices.Contains(Families, fam) {
		bad("family", "must be one of %s, not %q", joinFamilies(), o.Family)
		fam = ""
	}
	switch {
	case model == "" && o.Family != "":
		bad("family", "needs a model: the family says what the model named by model is")
	case model == "":
		p.image = &imageModel{name: DefaultImageModel, family: FamilyGPTImage}
		p.audio = &audioModel{name: DefaultTranscriptionModel, family: FamilyWhisper}
	default:
		if fam == "" {
			fam = FamilyOf(model)
		}
		switch {
		case fam == "" && o.Family == "":
			bad("model", "%q is of no model family the adapter knows; set family (one of %s) to say how to call it", model, joinFamilies())
		case fam.image():
			p.image = &imageModel{name: model, family: fam}
		case fam != "":
			p.audio = &audioModel{name: model, family: fam}
		}
	}
	if im := p.image; im != nil {
		im.spec = imageSpecs[im.family]
		im.quality = im.spec.quality
		if o.Quality != "" {
			if !slices.Contains(im.spec.qualities, o.Quality) {
				if len(im.spec.qualities) == 0 {
					bad("quality", "%s takes no quality", im.name)
				} else {
					bad("quality", "must be one of %s for %s, not %q", strings.Join(im.spec.qualities, ", "), im.name, o.Quality)
				}
			}
			im.quality = o.Quality
		}
		switch o.ResponseFormat {
		case "", "b64_json", "url":
			if im.spec.urls {
				im.responseFormat = "b64_json"
				if o.ResponseFormat != "" {
					im.responseFormat = o.ResponseFormat
				}
			} else if o.ResponseFormat != "" {
				bad("response_format", "%s always answers base64; leave response_format out", im.name)
			}
		default:
			bad("response_format", "must be b64_json or url, not %q", o.ResponseFormat)
		}
		im.outputFormat, im.moderation, im.background = o.OutputFormat, o.Moderation, o.Background
		if im.family != FamilyGPTImage {
			for _, f := range [][2]string{{"output_format", o.OutputFormat}, {"moderation", o.Moderation}, {"background", o.Background}} {
				if f[1] != "" {
					bad(f[0], "is an option of GPT image models only")
				}
			}
		} else {
			switch {
			case o.Background != "" && o.Background != "auto" && o.Background != "opaque" && o.Background != "transparent":
				bad("background", "must be auto, opaque or transparent, not %q", o.Background)
			case o.Background == "transparent" && o.OutputFormat == "jpeg":
				bad("background", "transparent needs output_format png or webp, not jpeg")
			}
			if o.OutputFormat != "" && !slices.Contains([]string{"png", "jpeg", "webp"}, o.OutputFormat) {
				bad("output_format", "must be png, jpeg or webp, not %q", o.OutputFormat)
			}
			if o.Moderation != "" && o.Moderation != "auto" && o.Moderation != "low" {
				bad("moderation", "must be auto or low, not %q", o.Moderation)
			}
		}
	} else if p.audio != nil {
		for _, f := range [][2]string{{"quality", o.Quality}, {"response_format", o.ResponseFormat}, {"output_format", o.OutputFormat}, {"moderation", o.Moderation}, {"background", o.Background}} {
			if f[1] != "" {
				bad(f[0], "is an option of image models; %s is a transcription model", model)
			}
		}
	}
	var fams []Family
	if p.image != nil {
		fams = append(fams, p.image.family)
	}
	if p.audio != nil {
		fams = append(fams, p.audio.family)
	}
	// An OpenAI-compatible server on the operator's own machine may need no
	// key; OpenAI's API always does.
	keyRequired := o.BaseURL == "" || strings.HasPrefix(strings.TrimRight(o.BaseURL, "/"), DefaultBaseURL)
	s, err := o.Options.Resolve(httpapi.Defaults{
		BaseURL: DefaultBaseURL, Timeout: DefaultTimeout, EnvKey: DefaultKeyEnv,
		KeyRequired: keyRequired, PriceKeys: priceKeys(fams...),
	}, getenv)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("openai provider %s: %w", cfg.Name, errors.Join(errs...))
	}
	s.Model = model
	p.s = s
	p.client = httpapi.NewClient(cfg.Name, s, func(h http.Header) {
		if s.Key != "" {
			h.Set("Authorization", "Bearer "+s.Key)
		}
	})
	p.client.Problem = problemReader(s.Key)
	p.fetch = httpapi.NewFetcher(s)
	return p, nil
}

func joinFamilies() string {
	names := make([]string, len(Families))
	for i, f := range Families {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// Name is the configured name.
func (p *Provider) Name() string { return p.name }

// TaskTypes are those of the configured model: image_generation for an
// image model, audio_transcription and subtitle_generation for a
// transcription one; with no model named, all three.
func (p *Provider) TaskTypes() []task.Type {
	var types []task.Type
	if p.image != nil {
		types = append(types, task.TypeImageGeneration)
	}
	if p.audio != nil {
		types = append(types, task.TypeAudioTranscription, task.TypeSubtitleGeneration)
	}
	return types
}

// Start calls the API and answers with the result: OpenAI's image and
// audio APIs are synchronous.
func (p *Provider) Start(ctx context.Context, req provider.Request) (provider.Response, error) {
	var (
		res *provider.Result
		err error
	)
	switch {
	case req.Type == task.TypeImageGeneration && p.image != nil:
		res, err = p.generateImages(ctx, req)
	case (req.Type == task.TypeAudioTranscription || req.Type == task.TypeSubtitleGeneration) && p.audio != nil:
		res, err = p.transcribe(ctx, req)
	default:
		err = provider.NewRejected("unsupported_task_type", fmt.Sprintf("%s does not serve %s tasks with its model", p.name, req.Type), nil)
	}
	if err != nil {
		return provider.Response{}, fmt.Errorf("openai %s: task %s: %w", p.name, req.TaskID, err)
	}
	return provider.Response{Result: res, Progress: 1}, nil
}

// Poll has nothing to ask: Start never answers a job.
func (p *Provider) Poll(_ context.Context, req provider.Request, job string) (provider.Response, error) {
	return provider.Response{}, fmt.Errorf("openai %s: task %s: %w", p.name, req.TaskID,
		provider.NewRejected("unknown_job", fmt.Sprintf("%q is not a job: the OpenAI provider answers at once", job), nil))
}

// Cancel has nothing to stop: the work ends with Start's call.
func (p *Provider) Cancel(context.Context, provider.Request, string) error { return nil }

// PromptLimits are the configured model's: GPT images take 32000
// characters, DALL-E 3 4000 (and rewrites prompts itself), DALL-E 2 1000;
// none takes a negative prompt. Whisper reads the last 224 tokens of its
// prompt.
func (p *Provider) PromptLimits(t task.Type) prompt.Limits {
	switch t {
	case task.TypeImageGeneration:
		if p.image == nil {
			return prompt.Limits{}
		}
		return prompt.Limits{MaxPrompt: p.image.spec.maxPrompt, Unit: prompt.UnitChars, Expansion: p.image.spec.expansion}
	case task.TypeAudioTranscription, task.TypeSubtitleGeneration:
		if p.audio != nil && p.audio.family == FamilyWhisper {
			return prompt.Limits{MaxPrompt: whisperPromptTokens, Unit: prompt.UnitTokens, KeepsEnd: true}
		}
		return prompt.Limits{Unit: prompt.UnitTokens}
	}
	return prompt.Limits{}
}

// whisperPromptTokens is how much of a prompt Whisper reads: its last 224
// tokens.
const whisperPromptTokens = 224

// CheckInput names what the configured model cannot do: a size it does
// not make, more images than it makes at once, a style it lacks, a
// language not written as an ISO 639-1 code.
func (p *Provider) CheckInput(prefix string, in task.Input) task.FieldErrors {
	var errs task.FieldErrors
	add := func(field, format string, args ...any) {
		errs = append(errs, task.FieldError{Field: task.FieldPath(prefix, field), Message: fmt.Sprintf(format, args...)})
	}
	switch in := in.(type) {
	case *task.ImageInput:
		if p.image == nil {
			return nil
		}
		checkImage(p.image, in, add)
	case *task.TranscriptionInput:
		checkLanguage(in.Language, add)
	case *task.SubtitleInput:
		checkLanguage(in.Language, add)
	}
	return errs
}

func checkImage(m *imageModel, in *task.ImageInput, add func(field, format string, args ...any)) {
	size := in.Size
	if size == "" {
		size = "1024x1024"
	}
	if _, ok := m.spec.sizes[size]; !ok {
		add("size", "%s makes only %s", m.name, strings.Join(m.spec.sizeNames(), ", "))
	}
	if in.N != nil && *in.N > m.spec.maxN {
		add("n", "%s makes at most %d image(s) a task", m.name, m.spec.maxN)
	}
	if in.Style != "" && !slices.Contains(m.spec.styles, in.Style) {
		if len(m.spec.styles) == 0 {
			add("style", "%s takes no style", m.name)
		} else {
			add("style", "%s takes only the styles %s", m.name, strings.Join(m.spec.styles, ", "))
		}
	}
}

// checkLanguage refuses a language the API cannot be told: it takes ISO
// 639-1, so a tag whose primary subtag is not two letters has no code.
func checkLanguage(lang string, add func(field, format string, args ...any)) {
	if lang != "" && isoLanguage(lang) == "" {
		add("language", "OpenAI takes languages as ISO 639-1 codes; %q has none", lang)
	}
}

// isoLanguage is the ISO 639-1 code of a BCP 47 tag ("pt-BR" -> "pt"), or
// "" when its primary subtag is not two letters.
func isoLanguage(tag string) string {
	primary, _, _ := strings.Cut(strings.TrimSpace(tag), "-")
	primary = strings.ToLower(primary)
	if len(primary) != 2 || primary[0] < 'a' || primary[0] > 'z' || primary[1] < 'a' || primary[1] > 'z' {
		return ""
	}
	return primary
}

// apiError is OpenAI's error body.
type apiError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Param   string `json:"param"`
		Code    any    `json:"code"` // a string, null, or (from some compatible servers) a number
	} `json:"error"`
}

// Codes and types OpenAI answers with that change what a failure means.
var (
	safetyCodes = []string{"content_policy_violation", "moderation_blocked", "content_filter"}
	quotaCodes  = []string{"insufficient_quota", "billing_hard_limit_reached", "billing_not_active", "account_deactivated"}
)

// problemReader reads OpenAI's error body; the message never shows the
// key (OpenAI's 401 echoes part of it, a compatible server may echo all).
func problemReader(key string) func(status int, body []byte) httpapi.Problem {
	return func(status int, body []byte) httpapi.Problem {
		var e apiError
		if err := json.Unmarshal(body, &e); err != nil {
			return httpapi.Problem{Message: scrub(string(body), key)}
		}
		code := ""
		switch c := e.Error.Code.(type) {
		case string:
			code = c
		case float64:
			code = fmt.Sprintf("%d", int(c))
		}
		if code == "" {
			code = e.Error.Type
		}
		msg := scrub(e.Error.Message, key)
		if e.Error.Param != "" {
			msg += " (param " + e.Error.Param + ")"
		}
		return httpapi.Problem{
			Code:      code,
			Message:   msg,
			Safety:    slices.Contains(safetyCodes, code) || slices.Contains(safetyCodes, e.Error.Type),
			Quota:     slices.Contains(quotaCodes, code) || slices.Contains(quotaCodes, e.Error.Type),
			Transient: e.Error.Type == "server_error" && status >= 500,
		}
	}
}

// scrub removes the key, and a masked form of it, from a message.
func scrub(msg, key string) string {
	if key == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, key, "[key]")
	if len(key) >= 8 {
		// OpenAI's "Incorrect API key provided: sk-abc***wxyz".
		msg = strings.ReplaceAll(msg, key[len(key)-4:], "****")
	}
	return msg
}
