package assemblyai

import (
	"bytes"
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
	"github.com/videoai/mediatasks/shared/transcript"
)

// Type is the provider type name in the configuration.
const Type = "assemblyai"

// Defaults of the options.
const (
	DefaultBaseURL = "https://api.assemblyai.com"
	DefaultKeyEnv  = "ASSEMBLYAI_API_KEY"
	// PollAfter: a transcript takes a fraction of the audio's length.
	PollAfter = 3 * time.Second
)

// options are an assemblyai provider's settings, as configured.
type options struct {
	httpapi.Options
	// FallbackModels follow model in speech_models: AssemblyAI uses the
	// first that takes the audio's language (e.g. universal-2 after
	// universal-3-pro for the languages Universal-3 lacks).
	FallbackModels []string `json:"fallback_models"`
	// SpeakerLabels asks for speaker turns (utterances), which become the
	// transcript's segments.
	SpeakerLabels bool `json:"speaker_labels"`
	// PollAfter is the wait between polls (a Go duration; default 3s).
	PollAfter string `json:"poll_after"`
}

// AssemblyAI is a configured AssemblyAI provider.
type AssemblyAI struct {
	name     string
	settings httpapi.Settings
	models   []string // speech_models: model, then the fallbacks
	speakers bool
	wait     time.Duration // between polls
	client   *httpapi.Client
	fetcher  *httpapi.Fetcher
}

var (
	_ provider.Provider      = (*AssemblyAI)(nil)
	_ provider.Checker       = (*AssemblyAI)(nil)
	_ provider.PromptLimiter = (*AssemblyAI)(nil)
)

// New builds an AssemblyAI provider from its configuration; it is the
// registry's Factory for Type. A bad option is a *provider.OptionError.
func New(cfg config.Provider) (provider.Provider, error) {
	return build(cfg, nil)
}

func build(cfg config.Provider, getenv func(string) string) (*AssemblyAI, error) {
	var o options
	if err := provider.DecodeOptions(cfg.Options, &o); err != nil {
		return nil, fmt.Errorf("assemblyai provider %s: %w", cfg.Name, err)
	}
	s, err := o.Resolve(httpapi.Defaults{
		BaseURL: DefaultBaseURL, Model: DefaultModel, Timeout: time.Minute,
		EnvKey: DefaultKeyEnv, KeyRequired: true, PriceKeys: priceKeys(),
	}, getenv)
	errs := []error{err}
	models := []string{s.Model}
	for i, m := range o.FallbackModels {
		if strings.TrimSpace(m) == "" || slices.Contains(models, m) {
			errs = append(errs, &provider.OptionError{Field: fmt.Sprintf("fallback_models[%d]", i), Message: "must name a speech model not named before"})
			continue
		}
		models = append(models, m)
	}
	wait, err := pollInterval(o.PollAfter, PollAfter)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("assemblyai provider %s: %w", cfg.Name, err)
	}
	key := s.Key
	a := &AssemblyAI{name: cfg.Name, settings: s, models: models, speakers: o.SpeakerLabels, wait: wait,
		client:  httpapi.NewClient(cfg.Name, s, func(h http.Header) { h.Set("Authorization", key) }),
		fetcher: httpapi.NewFetcher(s)}
	a.client.Problem = problem
	return a, nil
}

// Name is the configured name.
func (a *AssemblyAI) Name() string { return a.name }

// TaskTypes: transcripts, and subtitles made from them by the platform.
func (a *AssemblyAI) TaskTypes() []task.Type {
	return []task.Type{task.TypeAudioTranscription, task.TypeSubtitleGeneration}
}

// PromptLimits: an audio task's prompt is vocabulary, sent as key terms
// (or, to Universal-3, as a prompt of context); there is no expansion.
func (a *AssemblyAI) PromptLimits(t task.Type) prompt.Limits {
	switch t {
	case task.TypeAudioTranscription, task.TypeSubtitleGeneration:
		return limits(a.models[0])
	}
	return prompt.Limits{}
}

// CheckInput names a language none of the speech models transcribes.
func (a *AssemblyAI) CheckInput(prefix string, in task.Input) task.FieldErrors {
	lang := ""
	switch in := in.(type) {
	case *task.TranscriptionInput:
		lang = in.Language
	case *task.SubtitleInput:
		lang = in.Language
	default:
		return nil
	}
	if code := primaryLanguage(lang); !takes(a.models, code) {
		return task.FieldErrors{{Field: task.FieldPath(prefix, "language"),
			Message: fmt.Sprintf("%s (%s) does not transcribe %q; it takes %s", a.name, strings.Join(a.models, ", "), lang, strings.Join(familyOf(a.models[0]).languages, ", "))}}
	}
	return nil
}

// audioInput is what a transcription or subtitle task asks of AssemblyAI.
type audioInput struct {
	language, prompt string
}

func decode(req provider.Request) (audioInput, error) {
	in, err := task.DecodeInput(req.Type, req.Input)
	if err != nil {
		return audioInput{}, provider.NewRejected("invalid_input", "the task's input is not the expected JSON: "+err.Error(), err)
	}
	switch in := in.(type) {
	case *task.TranscriptionInput:
		return audioInput{language: in.Language, prompt: in.Prompt}, nil
	case *task.SubtitleInput:
		return audioInput{language: in.Language, prompt: in.Prompt}, nil
	}
	return audioInput{}, provider.NewRejected("unsupported_task_type", fmt.Sprintf("assemblyai does not serve %s tasks", req.Type), nil)
}

// createBody is POST /v2/transcript's body.
type createBody struct {
	AudioURL          string   `json:"audio_url"`
	SpeechModels      []string `json:"speech_models"`
	LanguageCode      string   `json:"language_code,omitempty"`
	LanguageDetection bool     `json:"language_detection,omitempty"`
	KeytermsPrompt    []string `json:"keyterms_prompt,omitempty"`
	Prompt            string   `json:"prompt,omitempty"`
	SpeakerLabels     bool     `json:"speaker_labels,omitempty"`
	// The callback, when the platform gives one.
	WebhookURL             string `json:"webhook_url,omitempty"`
	WebhookAuthHeaderName  string `json:"webhook_auth_header_name,omitempty"`
	WebhookAuthHeaderValue string `json:"webhook_auth_header_value,omitempty"`
}

// Start sends the audio (its URL when public, else its bytes through
// /v2/upload) and creates the transcript; the job handle is its id.
func (a *AssemblyAI) Start(ctx context.Context, req provider.Request) (provider.Response, error) {
	if err := ctx.Err(); err != nil {
		return provider.Response{}, fmt.Errorf("assemblyai %s: start: %w", a.name, context.Cause(ctx))
	}
	in, err := decode(req)
	if err != nil {
		return provider.Response{}, fmt.Errorf("assemblyai %s: task %s: %w", a.name, req.TaskID, err)
	}
	if code := primaryLanguage(in.language); !takes(a.models, code) {
		return provider.Response{}, provider.NewRejected("unsupported_language", fmt.Sprintf("%s does not transcribe %q with %s", a.name, in.language, strings.Join(a.models, ", ")), nil)
	}
	audioURL, err := a.audioURL(ctx, req.Media)
	if err != nil {
		return provider.Response{}, fmt.Errorf("assemblyai %s: task %s: %w", a.name, req.TaskID, err)
	}
	body := createBody{AudioURL: audioURL, SpeechModels: a.models, SpeakerLabels: a.speakers}
	if in.language != "" {
		body.LanguageCode = languageCode(in.language)
	} else {
		body.LanguageDetection = true
	}
	body.KeytermsPrompt, body.Prompt = vocabulary(in.prompt, familyOf(a.models[0]).contextPrompt)
	withCallback(&body, req.Callback)
	var tr transcriptAnswer
	if _, err := a.client.JSON(ctx, httpapi.Call{Method: http.MethodPost, Path: "/v2/transcript", JSON: body}, &tr); err != nil {
		return provider.Response{}, fmt.Errorf("assemblyai %s: create transcript of task %s: %w", a.name, req.TaskID, err)
	}
	if tr.ID == "" {
		return provider.Response{}, provider.NewTransient("bad_answer", a.name+" created a transcript but answered no id", nil)
	}
	return a.answer(tr)
}

// audioURL is the URL AssemblyAI reads the audio from.
func (a *AssemblyAI) audioURL(ctx context.Context, m *provider.Media) (string, error) {
	if m != nil && m.Public && m.URL != "" {
		return m.URL, nil
	}
	data, _, err := a.fetcher.Media(ctx, m, a.settings.MaxOutputBytes)
	if err != nil {
		return "", err
	}
	var up struct {
		UploadURL string `json:"upload_url"`
	}
	if _, err := a.client.JSON(ctx, httpapi.Call{Method: http.MethodPost, Path: "/v2/upload", Body: bytes.NewReader(data), ContentType: "application/octet-stream"}, &up); err != nil {
		return "", fmt.Errorf("upload the audio: %w", err)
	}
	if up.UploadURL == "" {
		return "", provider.NewTransient("bad_answer", a.name+" took the upload but answered no upload_url", nil)
	}
	return up.UploadURL, nil
}

// Poll reads the transcript.
func (a *AssemblyAI) Poll(ctx context.Context, req provider.Request, job string) (provider.Response, error) {
	id, err := jobID(job)
	if err != nil {
		return provider.Response{}, fmt.Errorf("assemblyai %s: poll: %w", a.name, err)
	}
	var tr transcriptAnswer
	if _, err := a.client.JSON(ctx, httpapi.Call{Method: http.MethodGet, Path: "/v2/transcript/" + url.PathEscape(id)}, &tr); err != nil {
		return provider.Response{}, fmt.Errorf("assemblyai %s: poll transcript %s of task %s: %w", a.name, id, req.TaskID, err)
	}
	if tr.ID == "" {
		tr.ID = id
	}
	return a.answer(tr)
}

// Cancel deletes the transcript, best effort: AssemblyAI has no cancel,
// and its DELETE redacts a finished transcript. A running one goes on
// (and is billed); a refusal to delete it, or a transcript already gone,
// is not an error.
func (a *AssemblyAI) Cancel(ctx context.Context, req provider.Request, job string) error {
	id, err := jobID(job)
	if err != nil {
		return fmt.Errorf("assemblyai %s: cancel: %w", a.name, err)
	}
	_, err = a.client.Do(ctx, httpapi.Call{Method: http.MethodDelete, Path: "/v2/transcript/" + url.PathEscape(id)})
	if pe, ok := errors.AsType[*provider.Error](err); ok && pe.RequestFault {
		return nil
	}
	if err != nil {
		return fmt.Errorf("assemblyai %s: delete transcript %s of task %s: %w", a.name, id, req.TaskID, err)
	}
	return nil
}

// jobID checks a handle: the transcript's id.
func jobID(job string) (string, error) {
	if job == "" || len(job) > 200 || strings.ContainsAny(job, "/?#% ") {
		return "", provider.NewRejected("unknown_job", fmt.Sprintf("%q is not an AssemblyAI transcript id", job), nil)
	}
	return job, nil
}

// transcriptAnswer is the transcript object, as far as it is read.
type transcriptAnswer struct {
	ID                 string       `json:"id"`
	Status             string       `json:"status"`
	Text               *string      `json:"text"`
	Words              []wireWord   `json:"words"`
	Utterances         []utterance  `json:"utterances"`
	Confidence         *float64     `json:"confidence"`
	LanguageCode       *string      `json:"language_code"`
	LanguageConfidence *float64     `json:"language_confidence"`
	AudioDuration      *json.Number `json:"audio_duration"`
	SpeechModelUsed    *string      `json:"speech_model_used"`
	Error              *string      `json:"error"`
}

type wireWord struct {
	Text       string  `json:"text"`
	Start      float64 `json:"start"` // milliseconds
	End        float64 `json:"end"`
	Confidence float64 `json:"confidence"`
}

type utterance struct {
	Speaker string  `json:"speaker"`
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
	Text    string  `json:"text"`
}

// answer turns a transcript's status into the platform's response.
func (a *AssemblyAI) answer(tr transcriptAnswer) (provider.Response, error) {
	switch tr.Status {
	case "queued":
		return provider.Response{Job: tr.ID, PollAfter: a.wait}, nil
	case "processing":
		return provider.Response{Job: tr.ID, PollAfter: a.wait, Progress: 0.5}, nil
	case "completed":
		return provider.Response{Result: a.result(tr), Progress: 1}, nil
	case "error":
		msg := ""
		if tr.Error != nil {
			msg = *tr.Error
		}
		return provider.Response{}, failure(a.name, tr.ID, msg)
	}
	return provider.Response{}, provider.NewTransient("bad_answer", fmt.Sprintf("%s answered transcript %s with status %q", a.name, tr.ID, tr.Status), nil)
}

// failure classifies a transcript that ended in error: AssemblyAI says
// only a message. Its own trouble (an internal error, a timeout) may pass;
// audio it cannot read or download will not.
func failure(name, id, msg string) error {
	m := strings.ToLower(msg)
	text := fmt.Sprintf("%s: transcript %s failed: %s", name, id, msg)
	switch {
	case strings.Contains(m, "internal"), strings.Contains(m, "timed out"), strings.Contains(m, "timeout"), strings.Contains(m, "try again"):
		return provider.NewTransient("transcript_error", text, nil)
	case strings.Contains(m, "balance"), strings.Contains(m, "credit"), strings.Contains(m, "payment"):
		return provider.NewPermanent("insufficient_balance", text, nil)
	}
	return provider.NewRejected("transcript_error", text, nil)
}

// result is a completed transcript in the platform's shape, times in
// seconds.
func (a *AssemblyAI) result(tr transcriptAnswer) *provider.Result {
	t := &transcript.Transcript{}
	if tr.Text != nil {
		t.Text = *tr.Text
	}
	if tr.LanguageCode != nil {
		t.Language = primaryLanguage(*tr.LanguageCode)
	}
	seconds := 0.0
	if tr.AudioDuration != nil {
		seconds, _ = tr.AudioDuration.Float64()
	}
	t.DurationSeconds = seconds
	for _, w := range tr.Words {
		t.Words = append(t.Words, transcript.Word{Word: w.Text, Start: w.Start / 1000, End: w.End / 1000, Confidence: w.Confidence})
	}
	for _, u := range tr.Utterances {
		t.Segments = append(t.Segments, transcript.Segment{Start: u.Start / 1000, End: u.End / 1000, Text: u.Text})
	}
	t.Normalize()
	if tr.AudioDuration == nil {
		seconds = t.DurationSeconds // the last word's end is the best guess left
	}
	model := a.models[0]
	if tr.SpeechModelUsed != nil && *tr.SpeechModelUsed != "" {
		model = *tr.SpeechModelUsed
	}
	extra := map[string]any{"transcript_id": tr.ID, "speech_model": model, "language": t.Language, "duration_seconds": t.DurationSeconds}
	if tr.Confidence != nil {
		extra["confidence"] = *tr.Confidence
	}
	if tr.LanguageConfidence != nil {
		extra["language_confidence"] = *tr.LanguageConfidence
	}
	if len(tr.Utterances) > 0 {
		extra["speakers"] = speakers(tr.Utterances)
	}
	return &provider.Result{Text: t.Text, Transcript: t, Extra: extra, Cost: a.cost(model, seconds)}
}

func speakers(us []utterance) int {
	seen := map[string]bool{}
	for _, u := range us {
		seen[u.Speaker] = true
	}
	return len(seen)
}

// cost is the audio's length at the model's price per hour; nil for a
// model whose price is not known.
func (a *AssemblyAI) cost(model string, seconds float64) *provider.Cost {
	list, ok := listPerHour[model]
	if override, set := a.settings.Price[model]; set {
		list, ok = override, true
	}
	if !ok || !(seconds >= 0) {
		return nil
	}
	usd := a.settings.PriceOf(model, list) * seconds / 3600
	return &provider.Cost{USD: math.Round(usd*1e6) / 1e6, PriceVersion: PriceVersion}
}

// problem reads AssemblyAI's error answer, {"error": "message"}.
func problem(status int, body []byte) httpapi.Problem {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return httpapi.Problem{}
	}
	m := strings.ToLower(e.Error)
	p := httpapi.Problem{Message: e.Error}
	switch {
	case status == http.StatusUnauthorized:
		p.Code = "unauthorized"
	case strings.Contains(m, "balance"), strings.Contains(m, "credit card"), strings.Contains(m, "payment"), strings.Contains(m, "upgrade"):
		p.Code, p.Quota = "insufficient_balance", true
	case status == http.StatusTooManyRequests:
		p.Code = "rate_limited"
	}
	return p
}
