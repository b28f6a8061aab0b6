package task

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Input is one task type's input_data, typed. The API decodes a submit
// into it and validates it; the steps and the providers read a stored one
// with DecodeInput. Its JSON is what a task stores.
type Input interface {
	// Type is the task type the input is for.
	Type() Type
	// Validate checks every field's rules and limits, naming each broken
	// one by its JSON path under prefix ("" at the root of the request).
	// Fields left out pass: SetDefaults fills them in.
	Validate(prefix string) FieldErrors
	// SetDefaults fills in the fields left out.
	SetDefaults()
	// Common holds the fields every type's input takes.
	Common() *CommonInput
	// Media names the input media the task reads, if any.
	Media() MediaRef
}

// ErrUnknownType: a task type the domain does not know.
var ErrUnknownType = errors.New("unknown task type")

// Values the inputs' fields may take.
var (
	// ImageSizes are the sizes the image providers share, "256x256" up to
	// "1792x1024" (and its portrait twin).
	ImageSizes      = []string{"256x256", "512x512", "1024x1024", "1792x1024", "1024x1792"}
	AspectRatios    = []string{"16:9", "9:16", "1:1"}
	SubtitleFormats = []string{"srt", "vtt"}
	// OptimizationModes are the modes of prompt_optimization.
	OptimizationModes = []string{"manual", "auto", "template"}
)

// Defaults of the fields left out.
const (
	defaultImageSize    = "1024x1024"
	defaultImages       = 1
	defaultVideoSeconds = 5
	defaultAspectRatio  = "16:9"
	defaultSubFormat    = "srt"
	defaultLineChars    = 42
)

// NewInput returns an empty input of task type typ, or nil for a type the
// domain does not know.
func NewInput(typ Type) Input {
	switch typ {
	case TypeImageGeneration:
		return &ImageInput{}
	case TypeVideoGeneration:
		return &VideoInput{}
	case TypeAudioTranscription:
		return &TranscriptionInput{}
	case TypeSubtitleGeneration:
		return &SubtitleInput{}
	}
	return nil
}

// DecodeInput reads a stored input of task type typ, with the defaults of
// the fields it leaves out; an empty one leaves out every field. It is
// lenient (fields it does not know are skipped, names match in any case):
// the input was validated when it was submitted. A type the domain does
// not know is ErrUnknownType.
func DecodeInput(typ Type, raw json.RawMessage) (Input, error) {
	in := NewInput(typ)
	if in == nil {
		return nil, fmt.Errorf("decode input: %w: %q", ErrUnknownType, typ)
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, in); err != nil {
			return nil, fmt.Errorf("decode %s input: %w", typ, err)
		}
	}
	in.SetDefaults()
	return in, nil
}

// CommonInput holds the fields every type's input takes; each input embeds
// it last, so that they close its JSON.
type CommonInput struct {
	// Provider pins the task to one provider: no other is chosen, nor
	// failed over to.
	Provider string `json:"provider,omitempty"`
	// PromptOptimization, when set, asks for the prompt to be rewritten
	// before the provider sees it.
	PromptOptimization *PromptOptimization `json:"prompt_optimization,omitempty"`
}

// Common returns c: an input's embedded CommonInput serves the Input
// interface with this method.
func (c *CommonInput) Common() *CommonInput { return c }

// validate checks the common fields: the provider, then prompt_optimization.
func (c *CommonInput) validate(v *validator, prefix string) {
	if c.Provider != "" && !providerRe.MatchString(c.Provider) {
		v.add(FieldPath(prefix, "provider"), "must be a provider name (lower-case letters, digits, '_', '-', '.'; at most 64)")
	}
	if c.PromptOptimization != nil {
		c.PromptOptimization.validate(v, FieldPath(prefix, "prompt_optimization"))
	}
}

// PromptOptimization is how a prompt is rewritten before the provider sees
// it: a mode (one of OptimizationModes) and, with mode "template", the
// template's name, and the params it is given.
type PromptOptimization struct {
	Mode     string            `json:"mode"`
	Template string            `json:"template,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
	// ProviderExpansion keeps the provider's own prompt expansion on
	// after the platform has rewritten the prompt (it is turned off
	// otherwise, so that the prompt the task shows is the one used).
	ProviderExpansion bool `json:"provider_expansion,omitempty"`
}

func (po *PromptOptimization) validate(v *validator, field string) {
	switch {
	case po.Mode == "":
		v.add(FieldPath(field, "mode"), "is required")
	case !slices.Contains(OptimizationModes, po.Mode):
		v.add(FieldPath(field, "mode"), "must be one of %s", OneOf(OptimizationModes))
	case po.Mode == "template" && blank(po.Template):
		v.add(FieldPath(field, "template"), "is required with mode \"template\" (a name, not only spaces)")
	case po.Mode != "template" && po.Template != "":
		v.add(FieldPath(field, "template"), "is only taken with mode \"template\"")
	}
	v.text(field, "template", po.Template, false, maxNameChars)
	if len(po.Params) > maxParams {
		v.add(FieldPath(field, "params"), "must have at most %d entries", maxParams)
	}
	v.keyed(FieldPath(field, "params"), po.Params, maxParamValChars)
}

// MediaRef names the input media of a task: at most one field is set.
type MediaRef struct {
	AudioURL            string
	UploadID            string // one of the user's uploads
	TranscriptionTaskID string // a completed audio_transcription task of the user, whose transcript is read
	ImageUploadID       string // one of the user's uploads, an image
	ImageTaskID         string // a completed image_generation task of the user, whose first image is read
}

// ImageInput is the input of an image_generation task.
type ImageInput struct {
	Prompt         string `json:"prompt"`
	NegativePrompt string `json:"negative_prompt,omitempty"`
	Size           string `json:"size"` // one of ImageSizes
	N              *int   `json:"n"`    // how many images, 1 to 4
	Style          string `json:"style,omitempty"`
	CommonInput
}

func (*ImageInput) Type() Type { return TypeImageGeneration }

func (in *ImageInput) Validate(prefix string) FieldErrors {
	var v validator
	v.text(prefix, "prompt", in.Prompt, true, MaxPromptChars)
	v.text(prefix, "negative_prompt", in.NegativePrompt, false, MaxPromptChars)
	v.oneOf(prefix, "size", in.Size, ImageSizes)
	v.intRange(prefix, "n", in.N, 1, 4)
	v.text(prefix, "style", in.Style, false, maxNameChars)
	in.CommonInput.validate(&v, prefix)
	return v.errs
}

// Media is none: an image is made from words alone.
func (*ImageInput) Media() MediaRef { return MediaRef{} }

func (in *ImageInput) SetDefaults() {
	if in.Size == "" {
		in.Size = defaultImageSize
	}
	in.N = orInt(in.N, defaultImages)
}

// VideoInput is the input of a video_generation task.
type VideoInput struct {
	Prompt string `json:"prompt"`
	// A still to start from: at most one of a URL, one of the user's
	// uploads, or the first image of one of the user's completed
	// image_generation tasks.
	ImageURL        string `json:"image_url,omitempty"`
	ImageUploadID   string `json:"image_upload_id,omitempty"`
	ImageTaskID     string `json:"image_task_id,omitempty"`
	DurationSeconds *int   `json:"duration_seconds"` // 1 to 20
	AspectRatio     string `json:"aspect_ratio"`     // one of AspectRatios
	CommonInput
}

func (*VideoInput) Type() Type { return TypeVideoGeneration }

func (in *VideoInput) Validate(prefix string) FieldErrors {
	var v validator
	v.text(prefix, "prompt", in.Prompt, true, MaxPromptChars)
	if v.atMostOne(prefix, []string{"image_url", "image_upload_id", "image_task_id"}, in.ImageURL, in.ImageUploadID, in.ImageTaskID) && in.ImageURL != "" {
		v.httpURL(FieldPath(prefix, "image_url"), in.ImageURL, false)
	}
	v.intRange(prefix, "duration_seconds", in.DurationSeconds, 1, 20)
	v.oneOf(prefix, "aspect_ratio", in.AspectRatio, AspectRatios)
	in.CommonInput.validate(&v, prefix)
	return v.errs
}

// HasStill reports whether the video starts from a still, whichever way
// the input names it.
func (in *VideoInput) HasStill() bool {
	return in.ImageURL != "" || in.ImageUploadID != "" || in.ImageTaskID != ""
}

// Media is the still a video starts from when the platform holds it; an
// image_url goes to the provider as the input holds it.
func (in *VideoInput) Media() MediaRef {
	return MediaRef{ImageUploadID: in.ImageUploadID, ImageTaskID: in.ImageTaskID}
}

func (in *VideoInput) SetDefaults() {
	in.DurationSeconds = orInt(in.DurationSeconds, defaultVideoSeconds)
	if in.AspectRatio == "" {
		in.AspectRatio = defaultAspectRatio
	}
}

// TranscriptionInput is the input of an audio_transcription task: the
// audio by URL or as an upload.
type TranscriptionInput struct {
	AudioURL string `json:"audio_url,omitempty"`
	UploadID string `json:"upload_id,omitempty"`
	Language string `json:"language,omitempty"` // BCP 47; left out, the provider detects it
	// Prompt is vocabulary and context for the recogniser (names, terms).
	Prompt string `json:"prompt,omitempty"`
	CommonInput
}

func (*TranscriptionInput) Type() Type { return TypeAudioTranscription }

func (in *TranscriptionInput) Validate(prefix string) FieldErrors {
	var v validator
	v.audio(prefix, []string{"audio_url", "upload_id"}, in.AudioURL, in.UploadID)
	v.language(prefix, in.Language)
	v.text(prefix, "prompt", in.Prompt, false, MaxPromptChars)
	in.CommonInput.validate(&v, prefix)
	return v.errs
}

func (*TranscriptionInput) SetDefaults() {}

func (in *TranscriptionInput) Media() MediaRef {
	return MediaRef{AudioURL: in.AudioURL, UploadID: in.UploadID}
}

// SubtitleInput is the input of a subtitle_generation task: the audio by
// URL, as an upload, or as the transcript of an audio_transcription task.
type SubtitleInput struct {
	AudioURL            string `json:"audio_url,omitempty"`
	UploadID            string `json:"upload_id,omitempty"`
	TranscriptionTaskID string `json:"transcription_task_id,omitempty"`
	Format              string `json:"format"` // one of SubtitleFormats
	Language            string `json:"language,omitempty"`
	MaxLineChars        *int   `json:"max_line_chars"` // 20 to 80
	// Prompt is vocabulary and context for the recogniser (names, terms).
	Prompt string `json:"prompt,omitempty"`
	CommonInput
}

func (*SubtitleInput) Type() Type { return TypeSubtitleGeneration }

func (in *SubtitleInput) Validate(prefix string) FieldErrors {
	var v validator
	v.audio(prefix, []string{"audio_url", "upload_id", "transcription_task_id"}, in.AudioURL, in.UploadID, in.TranscriptionTaskID)
	v.oneOf(prefix, "format", in.Format, SubtitleFormats)
	v.language(prefix, in.Language)
	v.intRange(prefix, "max_line_chars", in.MaxLineChars, 20, 80)
	v.text(prefix, "prompt", in.Prompt, false, MaxPromptChars)
	in.CommonInput.validate(&v, prefix)
	return v.errs
}

func (in *SubtitleInput) SetDefaults() {
	if in.Format == "" {
		in.Format = defaultSubFormat
	}
	in.MaxLineChars = orInt(in.MaxLineChars, defaultLineChars)
}

func (in *SubtitleInput) Media() MediaRef {
	return MediaRef{AudioURL: in.AudioURL, UploadID: in.UploadID, TranscriptionTaskID: in.TranscriptionTaskID}
}

// audio checks the fields that name the audio: exactly one of them, and
// a URL if that is the first, audio_url.
func (v *validator) audio(prefix string, names []string, values ...string) {
	if v.exactlyOne(prefix, names, values...) && values[0] != "" {
		v.httpURL(FieldPath(prefix, names[0]), values[0], false)
	}
}

// orInt is n, or def when n was left out.
func orInt(n *int, def int) *int {
	if n == nil {
		return &def
	}
	return n
}

// Prompted is an input with a prompt the platform may optimise: every
// task type's (an audio task's prompt is its vocabulary hints).
type Prompted interface {
	Input
	// Prompts are the prompt and negative prompt as submitted.
	Prompts() (prompt, negative string)
	// SetPrompts puts in the prompts a provider is sent.
	SetPrompts(prompt, negative string)
}

var (
	_ Prompted = (*ImageInput)(nil)
	_ Prompted = (*VideoInput)(nil)
	_ Prompted = (*TranscriptionInput)(nil)
	_ Prompted = (*SubtitleInput)(nil)
)

func (in *ImageInput) Prompts() (string, string) { return in.Prompt, in.NegativePrompt }
func (in *ImageInput) SetPrompts(p, neg string)  { in.Prompt, in.NegativePrompt = p, neg }

// A video takes no negative prompt: the video providers' models mostly
// take none.
func (in *VideoInput) Prompts() (string, string) { return in.Prompt, "" }
func (in *VideoInput) SetPrompts(p, _ string)    { in.Prompt = p }

func (in *TranscriptionInput) Prompts() (string, string) { return in.Prompt, "" }
func (in *TranscriptionInput) SetPrompts(p, _ string)    { in.Prompt = p }

func (in *SubtitleInput) Prompts() (string, string) { return in.Prompt, "" }
func (in *SubtitleInput) SetPrompts(p, _ string)    { in.Prompt = p }
