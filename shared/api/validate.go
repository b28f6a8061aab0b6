package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/task"
)

// Limits of the request fields the issue leaves open; the OpenAPI
// document states the same numbers.
const (
	maxPromptChars      = 4000 // prompt and negative_prompt, in characters
	maxMetadataPairs    = 16
	maxMetadataKeyChars = 64
	maxMetadataValChars = 512
	maxParams           = 32 // prompt_optimization.params
	maxParamValChars    = 4000
	maxURLChars         = 2048
	maxNameChars        = 64 // style, template
	defaultImageSize    = "1024x1024"
	defaultVideoSeconds = 5
	defaultAspectRatio  = "16:9"
	defaultSubFormat    = "srt"
	defaultLineChars    = 42
)

// imageSizes are the sizes the image providers share, "256x256" up to
// "1792x1024" (and its portrait twin).
var imageSizes = []string{"256x256", "512x512", "1024x1024", "1792x1024", "1024x1792"}

var (
	aspectRatios    = []string{"16:9", "9:16", "1:1"}
	subtitleFormats = []string{"srt", "vtt"}
	optimizeModes   = []string{"manual", "auto", "template"}
	// languageRe is BCP-47 in outline: a 2-8 letter primary subtag and
	// optional subtags ("en", "pt-BR", "zh-Hant-TW").
	languageRe = regexp.MustCompile(`^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,4}$`)
	// providerRe is a provider's name in the registry.
	providerRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
)

// checker collects the field errors of one request.
type checker struct {
	ctx   context.Context
	s     *server
	user  string
	errs  []FieldError
	base  int       // len(errs) when the current item's checks began
	fatal error     // a failure of the store itself, not of the request
	typ   task.Type // the task type of the input being checked
}

// clean reports whether the current item has no error so far: checks
// that read the store run only then.
func (c *checker) clean() bool { return len(c.errs) == c.base }

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, fieldError(field, format, args...))
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// blank reports whether v has no character but spaces.
func blank(v string) bool { return strings.TrimSpace(v) == "" }

// text checks a string field: a required one must hold a character that
// is not a space; the length limit counts the string as sent.
func (c *checker) text(prefix, name, v string, required bool, maxChars int) {
	n := utf8.RuneCountInString(v)
	switch {
	case required && n == 0:
		c.add(join(prefix, name), "is required")
	case required && blank(v):
		c.add(join(prefix, name), "is required: it holds only spaces")
	case n > maxChars:
		c.add(join(prefix, name), "must be at most %d characters (got %d)", maxChars, n)
	}
}

func (c *checker) oneOf(prefix, name, v string, allowed []string) {
	if v != "" && !slices.Contains(allowed, v) {
		c.add(join(prefix, name), "must be one of %s", oneOf(allowed))
	}
}

func (c *checker) intRange(prefix, name string, v *int, lo, hi, def int) *int {
	if v == nil {
		return &def
	}
	if *v < lo || *v > hi {
		c.add(join(prefix, name), "must be from %d to %d", lo, hi)
	}
	return v
}

// served refuses a task type that no provider of this server serves: the
// task could only fail.
func (c *checker) served(field string) {
	if c.s.opts.ProviderCheck == nil {
		return
	}
	if err := c.s.opts.ProviderCheck(c.typ, ""); err != nil {
		c.add(field, "%v", err)
	}
}

func (c *checker) provider(prefix, v string) {
	if v != "" && !providerRe.MatchString(v) {
		c.add(join(prefix, "provider"), "must be a provider name (lower-case letters, digits, '_', '-', '.'; at most 64)")
		return
	}
	if v != "" && c.s.opts.ProviderCheck != nil {
		if err := c.s.opts.ProviderCheck(c.typ, v); err != nil {
			c.add(join(prefix, "provider"), "%v", err)
		}
	}
}

func (c *checker) language(prefix, v string) {
	if v != "" && !languageRe.MatchString(v) {
		c.add(join(prefix, "language"), "must be a BCP 47 language tag such as \"en\" or \"pt-BR\"")
	}
}

// httpURL checks an absolute http(s) URL; credentials are refused when
// noUserinfo is set.
func (c *checker) httpURL(field, v string, noUserinfo bool) bool {
	if len(v) > maxURLChars {
		c.add(field, "must be at most %d characters", maxURLChars)
		return false
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		c.add(field, "must be an absolute http or https URL")
		return false
	}
	if noUserinfo && u.User != nil {
		c.add(field, "must not carry credentials")
		return false
	}
	return true
}

// upload checks that id names one of the caller's uploads.
func (c *checker) upload(field, id string) {
	if _, err := c.s.app.GetUpload(c.ctx, c.user, id); err != nil {
		if errors.Is(err, task.ErrNotFound) {
			c.add(field, "names no upload of yours")
			return
		}
		c.fatal = err
	}
}

// exactlyOne checks that one and only one of the named values is set.
func (c *checker) exactlyOne(prefix string, names []string, values ...string) bool {
	set := 0
	for i, v := range values {
		if v == "" {
			continue
		}
		if blank(v) {
			c.add(join(prefix, names[i]), "must not be only spaces")
			return false
		}
		set++
	}
	if set != 1 {
		field := prefix
		if field == "" {
			field = names[0]
		}
		if set == 0 {
			c.add(field, "one of %q is required", names)
		} else {
			c.add(field, "only one of %q may be given", names)
		}
		return false
	}
	return true
}

// promptOptimization is how a prompt is rewritten before the provider sees it.
type promptOptimization struct {
	Mode     string            `json:"mode"`
	Template string            `json:"template,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
}

// promptOpt validates and normalises a raw prompt_optimization object.
func (c *checker) promptOpt(prefix string, raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	field := join(prefix, "prompt_optimization")
	var po promptOptimization
	if p := decodeStrict(raw, field, &po); p != nil {
		c.errs = append(c.errs, p.Errors...)
		return nil
	}
	switch {
	case po.Mode == "":
		c.add(join(field, "mode"), "is required")
	case !slices.Contains(optimizeModes, po.Mode):
		c.add(join(field, "mode"), "must be one of %s", oneOf(optimizeModes))
	case po.Mode == "template" && blank(po.Template):
		c.add(join(field, "template"), "is required with mode \"template\" (a name, not only spaces)")
	case po.Mode != "template" && po.Template != "":
		c.add(join(field, "template"), "is only taken with mode \"template\"")
	}
	c.text(field, "template", po.Template, false, maxNameChars)
	if len(po.Params) > maxParams {
		c.add(join(field, "params"), "must have at most %d entries", maxParams)
	}
	for k, v := range po.Params {
		if k == "" || utf8.RuneCountInString(k) > maxMetadataKeyChars {
			c.add(join(field, "params"), "keys must be 1 to %d characters", maxMetadataKeyChars)
		}
		c.text(join(field, "params"), k, v, false, maxParamValChars)
	}
	if len(po.Params) == 0 {
		po.Params = nil
	}
	out, _ := task.EncodeJSON(po) // strings only: cannot fail
	return out
}

// metadata checks a metadata map and returns it normalised (nil if empty).
func (c *checker) metadata(prefix string, m map[string]string) map[string]string {
	field := join(prefix, "metadata")
	if len(m) > maxMetadataPairs {
		c.add(field, "must have at most %d pairs (got %d)", maxMetadataPairs, len(m))
	}
	for k, v := range m {
		if k == "" || utf8.RuneCountInString(k) > maxMetadataKeyChars {
			c.add(field, "keys must be 1 to %d characters", maxMetadataKeyChars)
		}
		c.text(field, k, v, false, maxMetadataValChars)
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func (c *checker) priority(prefix string, p task.Priority) task.Priority {
	if p == "" {
		return task.PriorityNormal
	}
	if !p.Valid() {
		c.add(join(prefix, "priority"), "must be one of %s", oneOf(task.Priorities))
	}
	return p
}

// webhook checks a webhook URL and its event subscription.
func (c *checker) webhook(prefix, rawURL string, events []task.EventType) {
	if rawURL != "" {
		field := join(prefix, "webhook_url")
		if c.httpURL(field, rawURL, true) && c.s.opts.WebhookURLGuard != nil {
			if err := c.s.opts.WebhookURLGuard(rawURL); err != nil {
				c.add(field, "%v", err)
			}
		}
	}
	if events == nil {
		return
	}
	field := join(prefix, "webhook_events")
	if rawURL == "" {
		c.add(field, "needs a webhook_url")
	}
	if len(events) == 0 {
		c.add(field, "must name at least one event type (or be left out for the default)")
	}
	for i, e := range events {
		if !e.Valid() {
			c.add(fmt.Sprintf("%s[%d]", field, i), "must be one of %s", oneOf(task.EventTypes))
		} else if slices.Contains(events[:i], e) {
			c.add(fmt.Sprintf("%s[%d]", field, i), "is named twice")
		}
	}
}

// CommonFields are taken by every single-task submit.
type CommonFields struct {
	Priority      task.Priority     `json:"priority"`
	WebhookURL    string            `json:"webhook_url"`
	WebhookEvents []task.EventType  `json:"webhook_events"`
	Metadata      map[string]string `json:"metadata"`
}

func (c *checker) common(f *CommonFields) {
	f.Priority = c.priority("", f.Priority)
	f.Metadata = c.metadata("", f.Metadata)
	c.webhook("", f.WebhookURL, f.WebhookEvents)
}

// input is one task type's input_data: it validates itself, filling in
// defaults, and names its fields under prefix.
type input interface {
	check(c *checker, prefix string)
}

// ImageInput is the input of an image_generation task.
type ImageInput struct {
	Prompt             string          `json:"prompt"`
	NegativePrompt     string          `json:"negative_prompt,omitempty"`
	Size               string          `json:"size"`
	N                  *int            `json:"n"`
	Style              string          `json:"style,omitempty"`
	Provider           string          `json:"provider,omitempty"`
	PromptOptimization json.RawMessage `json:"prompt_optimization,omitempty"`
}

func (in *ImageInput) check(c *checker, prefix string) {
	c.text(prefix, "prompt", in.Prompt, true, maxPromptChars)
	c.text(prefix, "negative_prompt", in.NegativePrompt, false, maxPromptChars)
	if in.Size == "" {
		in.Size = defaultImageSize
	}
	c.oneOf(prefix, "size", in.Size, imageSizes)
	in.N = c.intRange(prefix, "n", in.N, 1, 4, 1)
	c.text(prefix, "style", in.Style, false, maxNameChars)
	c.provider(prefix, in.Provider)
	in.PromptOptimization = c.promptOpt(prefix, in.PromptOptimization)
}

// VideoInput is the input of a video_generation task.
type VideoInput struct {
	Prompt             string          `json:"prompt"`
	ImageURL           string          `json:"image_url,omitempty"`
	DurationSeconds    *int            `json:"duration_seconds"`
	AspectRatio        string          `json:"aspect_ratio"`
	Provider           string          `json:"provider,omitempty"`
	PromptOptimization json.RawMessage `json:"prompt_optimization,omitempty"`
}

func (in *VideoInput) check(c *checker, prefix string) {
	c.text(prefix, "prompt", in.Prompt, true, maxPromptChars)
	if in.ImageURL != "" {
		c.httpURL(join(prefix, "image_url"), in.ImageURL, false)
	}
	in.DurationSeconds = c.intRange(prefix, "duration_seconds", in.DurationSeconds, 1, 20, defaultVideoSeconds)
	if in.AspectRatio == "" {
		in.AspectRatio = defaultAspectRatio
	}
	c.oneOf(prefix, "aspect_ratio", in.AspectRatio, aspectRatios)
	c.provider(prefix, in.Provider)
	in.PromptOptimization = c.promptOpt(prefix, in.PromptOptimization)
}

// AudioInput is the input of an audio_transcription task.
type AudioInput struct {
	AudioURL           string          `json:"audio_url,omitempty"`
	UploadID           string          `json:"upload_id,omitempty"`
	Language           string          `json:"language,omitempty"`
	Provider           string          `json:"provider,omitempty"`
	PromptOptimization json.RawMessage `json:"prompt_optimization,omitempty"`
}

func (in *AudioInput) check(c *checker, prefix string) {
	if c.exactlyOne(prefix, []string{"audio_url", "upload_id"}, in.AudioURL, in.UploadID) {
		if in.AudioURL != "" {
			c.httpURL(join(prefix, "audio_url"), in.AudioURL, false)
		}
	}
	c.language(prefix, in.Language)
	c.provider(prefix, in.Provider)
	in.PromptOptimization = c.promptOpt(prefix, in.PromptOptimization)
	if c.clean() && in.UploadID != "" {
		c.upload(join(prefix, "upload_id"), in.UploadID)
	}
}

// SubtitleInput is the input of a subtitle_generation task.
type SubtitleInput struct {
	AudioURL            string          `json:"audio_url,omitempty"`
	UploadID            string          `json:"upload_id,omitempty"`
	TranscriptionTaskID string          `json:"transcription_task_id,omitempty"`
	Format              string          `json:"format"`
	Language            string          `json:"language,omitempty"`
	MaxLineChars        *int            `json:"max_line_chars"`
	Provider            string          `json:"provider,omitempty"`
	PromptOptimization  json.RawMessage `json:"prompt_optimization,omitempty"`
}

func (in *SubtitleInput) check(c *checker, prefix string) {
	if c.exactlyOne(prefix, []string{"audio_url", "upload_id", "transcription_task_id"}, in.AudioURL, in.UploadID, in.TranscriptionTaskID) {
		if in.AudioURL != "" {
			c.httpURL(join(prefix, "audio_url"), in.AudioURL, false)
		}
	}
	if in.Format == "" {
		in.Format = defaultSubFormat
	}
	c.oneOf(prefix, "format", in.Format, subtitleFormats)
	c.language(prefix, in.Language)
	in.MaxLineChars = c.intRange(prefix, "max_line_chars", in.MaxLineChars, 20, 80, defaultLineChars)
	c.provider(prefix, in.Provider)
	in.PromptOptimization = c.promptOpt(prefix, in.PromptOptimization)
	if !c.clean() {
		return
	}
	if in.UploadID != "" {
		c.upload(join(prefix, "upload_id"), in.UploadID)
	}
	if in.TranscriptionTaskID != "" {
		field := join(prefix, "transcription_task_id")
		t, err := c.s.app.GetTask(c.ctx, c.user, in.TranscriptionTaskID)
		switch {
		case errors.Is(err, task.ErrNotFound):
			c.add(field, "names no task of yours")
		case err != nil:
			c.fatal = err
		case t.Type != task.TypeAudioTranscription:
			c.add(field, "names a %s task, not an audio_transcription", t.Type)
		}
	}
}

// newInput returns an empty input of task type typ.
func newInput(typ task.Type) input {
	switch typ {
	case task.TypeImageGeneration:
		return &ImageInput{}
	case task.TypeVideoGeneration:
		return &VideoInput{}
	case task.TypeAudioTranscription:
		return &AudioInput{}
	case task.TypeSubtitleGeneration:
		return &SubtitleInput{}
	}
	return nil
}

// result turns the checker's findings into the error to answer, if any.
func (c *checker) result() error {
	if c.fatal != nil {
		return c.fatal
	}
	if len(c.errs) > 0 {
		return invalid(c.errs...)
	}
	return nil
}

// batchItem is one task of a batch request.
type batchItem struct {
	TaskType  task.Type         `json:"task_type"`
	InputData json.RawMessage   `json:"input_data"`
	Priority  task.Priority     `json:"priority"`
	Metadata  map[string]string `json:"metadata"`
}

type batchRequest struct {
	Tasks         []json.RawMessage `json:"tasks"`
	WebhookURL    string            `json:"webhook_url"`
	WebhookEvents []task.EventType  `json:"webhook_events"`
}

// batchSpec validates a decoded batch request, naming every bad item by
// its index, and returns the spec to submit.
func (c *checker) batchSpec(req *batchRequest, max int) (app.BatchSpec, error) {
	if len(req.Tasks) == 0 || len(req.Tasks) > max {
		c.add("tasks", "must hold 1 to %d tasks (got %d)", max, len(req.Tasks))
		return app.BatchSpec{}, c.result()
	}
	c.webhook("", req.WebhookURL, req.WebhookEvents)
	spec := app.BatchSpec{WebhookURL: req.WebhookURL, WebhookEvents: req.WebhookEvents, Tasks: make([]app.TaskSpec, 0, len(req.Tasks))}
	for i, raw := range req.Tasks {
		prefix := fmt.Sprintf("tasks[%d]", i)
		c.base = len(c.errs)
		var item batchItem
		if p := decodeStrict(raw, prefix, &item); p != nil {
			c.errs = append(c.errs, p.Errors...)
			continue
		}
		in := newInput(item.TaskType)
		if in == nil {
			c.add(join(prefix, "task_type"), "must be one of %s", oneOf(task.Types))
			continue
		}
		if len(item.InputData) == 0 || string(item.InputData) == "null" {
			c.add(join(prefix, "input_data"), "is required")
			continue
		}
		inPrefix := join(prefix, "input_data")
		if p := decodeStrict(item.InputData, inPrefix, in); p != nil {
			c.errs = append(c.errs, p.Errors...)
			continue
		}
		c.typ = item.TaskType
		c.served(join(prefix, "task_type"))
		in.check(c, inPrefix)
		ts := app.TaskSpec{
			Type:          item.TaskType,
			Priority:      c.priority(prefix, item.Priority),
			Metadata:      c.metadata(prefix, item.Metadata),
			WebhookURL:    req.WebhookURL,
			WebhookEvents: req.WebhookEvents,
		}
		if c.fatal != nil {
			return app.BatchSpec{}, c.fatal
		}
		if len(c.errs) == 0 {
			input, err := encodeInput(in, inPrefix)
			if err != nil {
				var p *Problem
				if !errors.As(err, &p) {
					return app.BatchSpec{}, err
				}
				c.errs = append(c.errs, p.Errors...)
			}
			ts.Input = input
		}
		spec.Tasks = append(spec.Tasks, ts)
	}
	return spec, c.result()
}

// oneOf lists the allowed values for a message: "a, b or c".
func oneOf[T ~string](values []T) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = string(v)
	}
	if len(parts) < 2 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}

// MaxInputBytes bounds a task's input as stored. The per-field limits
// allow more (32 optimisation parameters of 4,000 characters), but a
// task's record, its events and its webhooks all carry its input, and a
// record must fit in what every store holds in one item (DynamoDB: 400 KB).
const MaxInputBytes = 64 << 10

// encodeInput encodes a checked input for storage, refusing one larger
// than MaxInputBytes with a 400 naming field ("" for a submit's body).
func encodeInput(in input, field string) (json.RawMessage, error) {
	out, err := task.EncodeJSON(in)
	if err != nil {
		return nil, fmt.Errorf("encode input: %w", err)
	}
	if len(out) > MaxInputBytes {
		name := field
		if name == "" {
			name = "body"
		}
		return nil, invalid(fieldError(name, "is %d bytes once encoded: at most %d (%d KiB)", len(out), MaxInputBytes, MaxInputBytes>>10))
	}
	return out, nil
}
