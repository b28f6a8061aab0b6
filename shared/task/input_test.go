package task_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/videoai/mediatasks/shared/task"
)

func intp(n int) *int { return &n }

// fe builds the wanted errors from "field: message" lines.
func fe(lines ...string) task.FieldErrors {
	var out task.FieldErrors
	for _, l := range lines {
		f, m, _ := strings.Cut(l, ": ")
		out = append(out, task.FieldError{Field: f, Message: m})
	}
	return out
}

func wantErrors(t *testing.T, got, want task.FieldErrors) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("errors\n  %v\nwant\n  %v", got, want)
	}
}

// Each rule names its field by its JSON path, under the prefix the caller
// gives, in the words the API answers with.
func TestInputValidate(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 4001)
	params33 := map[string]string{}
	for i := range 33 {
		params33[fmt.Sprint("k", i)] = "v"
	}
	opt := func(po task.PromptOptimization) task.CommonInput { return task.CommonInput{PromptOptimization: &po} }
	tests := map[string]struct {
		in     task.Input
		prefix string
		want   task.FieldErrors
	}{
		"image valid":           {in: &task.ImageInput{Prompt: "a fox", Size: "512x512", N: intp(4), Style: "vivid"}},
		"image left out":        {in: &task.ImageInput{Prompt: " a fox "}},
		"image no prompt":       {in: &task.ImageInput{}, want: fe("prompt: is required")},
		"image prompt spaces":   {in: &task.ImageInput{Prompt: "\t\u00a0\u3000"}, want: fe("prompt: is required: it holds only spaces")},
		"image prompt too long": {in: &task.ImageInput{Prompt: long}, want: fe("prompt: must be at most 4000 characters (got 4001)")},
		"image every field": {
			in: &task.ImageInput{Prompt: "", NegativePrompt: long, Size: "100x100", N: intp(0), Style: strings.Repeat("s", 65),
				CommonInput: task.CommonInput{Provider: "Sim!"}},
			want: fe("prompt: is required",
				"negative_prompt: must be at most 4000 characters (got 4001)",
				"size: must be one of 256x256, 512x512, 1024x1024, 1792x1024 or 1024x1792",
				"n: must be from 1 to 4",
				"style: must be at most 64 characters (got 65)",
				"provider: must be a provider name (lower-case letters, digits, '_', '-', '.'; at most 64)"),
		},
		"image n five, in a batch": {in: &task.ImageInput{Prompt: "x", N: intp(5)}, prefix: "tasks[2].input_data",
			want: fe("tasks[2].input_data.n: must be from 1 to 4")},

		"video valid": {in: &task.VideoInput{Prompt: "sea", ImageURL: "https://example.com/a.png", DurationSeconds: intp(20), AspectRatio: "9:16"}},
		"video bad": {in: &task.VideoInput{Prompt: " ", ImageURL: "not a url", DurationSeconds: intp(21), AspectRatio: "4:3"},
			want: fe("prompt: is required: it holds only spaces",
				"image_url: must be an absolute http or https URL",
				"duration_seconds: must be from 1 to 20",
				"aspect_ratio: must be one of 16:9, 9:16 or 1:1")},
		"video url too long": {in: &task.VideoInput{Prompt: "x", ImageURL: "https://example.com/" + strings.Repeat("a", 2048)},
			want: fe("image_url: must be at most 2048 characters")},
		"video url credentials pass": {in: &task.VideoInput{Prompt: "x", ImageURL: "https://u:p@example.com/a.png"}},

		"transcription url":    {in: &task.TranscriptionInput{AudioURL: "https://example.com/a.mp3", Language: "pt-BR"}},
		"transcription upload": {in: &task.TranscriptionInput{UploadID: "up_1", Language: "zh-Hant-TW"}},
		"transcription neither": {in: &task.TranscriptionInput{Language: "en"},
			want: fe(`audio_url: one of ["audio_url" "upload_id"] is required`)},
		"transcription neither, in a batch": {in: &task.TranscriptionInput{}, prefix: "tasks[0].input_data",
			want: fe(`tasks[0].input_data: one of ["audio_url" "upload_id"] is required`)},
		"transcription both": {in: &task.TranscriptionInput{AudioURL: "https://example.com/a.mp3", UploadID: "x"},
			want: fe(`audio_url: only one of ["audio_url" "upload_id"] may be given`)},
		"transcription spaces": {in: &task.TranscriptionInput{AudioURL: "   "},
			want: fe("audio_url: must not be only spaces")},
		"transcription bad url and language": {in: &task.TranscriptionInput{AudioURL: "ftp://example.com/a.mp3", Language: "english!"},
			want: fe("audio_url: must be an absolute http or https URL",
				`language: must be a BCP 47 language tag such as "en" or "pt-BR"`)},

		"subtitles from a transcription": {in: &task.SubtitleInput{TranscriptionTaskID: "t_1", Format: "vtt", MaxLineChars: intp(80)}},
		"subtitles none": {in: &task.SubtitleInput{Format: "srt"},
			want: fe(`audio_url: one of ["audio_url" "upload_id" "transcription_task_id"] is required`)},
		"subtitles two": {in: &task.SubtitleInput{UploadID: "u", TranscriptionTaskID: "t"},
			want: fe(`audio_url: only one of ["audio_url" "upload_id" "transcription_task_id"] may be given`)},
		"subtitles task spaces": {in: &task.SubtitleInput{TranscriptionTaskID: " "},
			want: fe("transcription_task_id: must not be only spaces")},
		"subtitles bad": {in: &task.SubtitleInput{AudioURL: "https://example.com/a.mp3", Format: "ass", Language: "e", MaxLineChars: intp(19)},
			want: fe("format: must be one of srt or vtt",
				`language: must be a BCP 47 language tag such as "en" or "pt-BR"`,
				"max_line_chars: must be from 20 to 80")},

		"optimization auto":     {in: &task.ImageInput{Prompt: "x", CommonInput: opt(task.PromptOptimization{Mode: "auto", Params: map[string]string{"k": "v"}})}},
		"optimization template": {in: &task.ImageInput{Prompt: "x", CommonInput: opt(task.PromptOptimization{Mode: "template", Template: " poster "})}},
		"optimization no mode": {in: &task.ImageInput{Prompt: "x", CommonInput: opt(task.PromptOptimization{})},
			want: fe("prompt_optimization.mode: is required")},
		"optimization bad mode": {in: &task.VideoInput{Prompt: "x", CommonInput: opt(task.PromptOptimization{Mode: "magic"})},
			want: fe("prompt_optimization.mode: must be one of manual, auto or template")},
		"optimization template missing": {in: &task.ImageInput{Prompt: "x", CommonInput: opt(task.PromptOptimization{Mode: "template", Template: " \t "})},
			want: fe(`prompt_optimization.template: is required with mode "template" (a name, not only spaces)`)},
		"optimization template not taken": {in: &task.ImageInput{Prompt: "x", CommonInput: opt(task.PromptOptimization{Mode: "auto", Template: "t"})},
			want: fe(`prompt_optimization.template: is only taken with mode "template"`)},
		"optimization template too long": {in: &task.ImageInput{Prompt: "x", CommonInput: opt(task.PromptOptimization{Mode: "template", Template: " " + strings.Repeat("t", 64)})},
			want: fe("prompt_optimization.template: must be at most 64 characters (got 65)")},
		"optimization too many params": {in: &task.ImageInput{Prompt: "x", CommonInput: opt(task.PromptOptimization{Mode: "manual", Params: params33})},
			want: fe("prompt_optimization.params: must have at most 32 entries")},
		"optimization param key": {in: &task.ImageInput{Prompt: "x", CommonInput: opt(task.PromptOptimization{Mode: "manual", Params: map[string]string{"": "v"}})},
			want: fe("prompt_optimization.params: keys must be 1 to 64 characters")},
		"optimization param value, in a batch": {
			in:     &task.TranscriptionInput{UploadID: "u", CommonInput: opt(task.PromptOptimization{Mode: "manual", Params: map[string]string{"k": strings.Repeat("v", 4001)}})},
			prefix: "tasks[1].input_data",
			want:   fe("tasks[1].input_data.prompt_optimization.params.k: must be at most 4000 characters (got 4001)")},
		"common fields last, provider first": {
			in:   &task.SubtitleInput{Format: "x", CommonInput: task.CommonInput{Provider: "-x", PromptOptimization: &task.PromptOptimization{Mode: "m"}}},
			want: fe(`audio_url: one of ["audio_url" "upload_id" "transcription_task_id"] is required`, "format: must be one of srt or vtt", "provider: must be a provider name (lower-case letters, digits, '_', '-', '.'; at most 64)", "prompt_optimization.mode: must be one of manual, auto or template")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantErrors(t, tc.in.Validate(tc.prefix), tc.want)
		})
	}
}

// The fields besides the input: priority, metadata and the webhook.
func TestSubmitFieldsValidate(t *testing.T) {
	t.Parallel()
	meta17 := map[string]string{}
	for i := range 17 {
		meta17[fmt.Sprint("k", i)] = "v"
	}
	tests := map[string]struct {
		got  task.FieldErrors
		want task.FieldErrors
	}{
		"priority left out": {got: task.ValidatePriority("", "")},
		"priority high":     {got: task.ValidatePriority("", task.PriorityHigh)},
		"priority unknown":  {got: task.ValidatePriority("tasks[0]", "urgent"), want: fe("tasks[0].priority: must be one of high, normal or low")},
		"metadata none":     {got: task.ValidateMetadata("", nil)},
		"metadata 16":       {got: task.ValidateMetadata("", map[string]string{"a": strings.Repeat("v", 512)})},
		"metadata 17":       {got: task.ValidateMetadata("", meta17), want: fe("metadata: must have at most 16 pairs (got 17)")},
		"metadata key":      {got: task.ValidateMetadata("tasks[3]", map[string]string{strings.Repeat("k", 65): "v"}), want: fe("tasks[3].metadata: keys must be 1 to 64 characters")},
		"metadata value":    {got: task.ValidateMetadata("", map[string]string{"foo": strings.Repeat("v", 513)}), want: fe("metadata.foo: must be at most 512 characters (got 513)")},
		"webhook none":      {got: task.ValidateWebhookURL("", "")},
		"webhook https":     {got: task.ValidateWebhookURL("", "https://example.com/hook")},
		"webhook ftp":       {got: task.ValidateWebhookURL("", "ftp://example.com/"), want: fe("webhook_url: must be an absolute http or https URL")},
		"webhook relative":  {got: task.ValidateWebhookURL("", "/hook"), want: fe("webhook_url: must be an absolute http or https URL")},
		"webhook no host":   {got: task.ValidateWebhookURL("", "http://:80/"), want: fe("webhook_url: must be an absolute http or https URL")},
		"webhook user":      {got: task.ValidateWebhookURL("", "https://u:p@example.com/"), want: fe("webhook_url: must not carry credentials")},
		"events left out":   {got: task.ValidateWebhookEvents("", "", nil)},
		"events":            {got: task.ValidateWebhookEvents("", "https://example.com/", []task.EventType{task.EventTaskCompleted, task.EventTaskFailed})},
		"events no url":     {got: task.ValidateWebhookEvents("", "", []task.EventType{task.EventTaskCompleted}), want: fe("webhook_events: needs a webhook_url")},
		"events empty":      {got: task.ValidateWebhookEvents("", "https://example.com/", []task.EventType{}), want: fe("webhook_events: must name at least one event type (or be left out for the default)")},
		"events bad and twice": {
			got:  task.ValidateWebhookEvents("", "https://example.com/", []task.EventType{"task.exploded", task.EventTaskFailed, task.EventTaskFailed}),
			want: fe("webhook_events[0]: must be one of "+task.OneOf(task.EventTypes), "webhook_events[2]: is named twice")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantErrors(t, tc.got, tc.want)
		})
	}
}

// A stored input reads back typed, with the defaults of what it leaves
// out; the defaults are what the API stores, so its JSON is the stored
// form.
func TestDecodeInput(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		typ     task.Type
		raw     string
		stored  string // the input's JSON once decoded
		media   task.MediaRef
		wantErr error
	}{
		"image defaults": {typ: task.TypeImageGeneration, raw: `{"prompt":"a fox"}`, stored: `{"prompt":"a fox","size":"1024x1024","n":1}`},
		"image every field": {typ: task.TypeImageGeneration,
			raw:    `{"prompt":"a & b","negative_prompt":"c","size":"256x256","n":3,"style":"s","provider":"p","prompt_optimization":{"mode":"template","template":"t","params":{"k":"v"}}}`,
			stored: `{"prompt":"a & b","negative_prompt":"c","size":"256x256","n":3,"style":"s","provider":"p","prompt_optimization":{"mode":"template","template":"t","params":{"k":"v"}}}`},
		"image null n": {typ: task.TypeImageGeneration, raw: `{"prompt":"x","n":null}`, stored: `{"prompt":"x","size":"1024x1024","n":1}`},
		"video defaults": {typ: task.TypeVideoGeneration, raw: `{"prompt":"sea","image_url":"https://example.com/a.png"}`,
			stored: `{"prompt":"sea","image_url":"https://example.com/a.png","duration_seconds":5,"aspect_ratio":"16:9"}`},
		"transcription": {typ: task.TypeAudioTranscription, raw: `{"upload_id":"up_1","language":"en"}`, stored: `{"upload_id":"up_1","language":"en"}`,
			media: task.MediaRef{UploadID: "up_1"}},
		"subtitles": {typ: task.TypeSubtitleGeneration, raw: `{"transcription_task_id":"t_1","prompt_optimization":{"mode":"auto","params":{}}}`,
			stored: `{"transcription_task_id":"t_1","format":"srt","max_line_chars":42,"prompt_optimization":{"mode":"auto"}}`,
			media:  task.MediaRef{TranscriptionTaskID: "t_1"}},
		"empty":          {typ: task.TypeVideoGeneration, raw: ``, stored: `{"prompt":"","duration_seconds":5,"aspect_ratio":"16:9"}`},
		"lenient":        {typ: task.TypeImageGeneration, raw: `{"PROMPT":"x","colour":"red"}`, stored: `{"prompt":"x","size":"1024x1024","n":1}`},
		"not the shape":  {typ: task.TypeImageGeneration, raw: `{"prompt":3}`, wantErr: &json.UnmarshalTypeError{}},
		"not json":       {typ: task.TypeAudioTranscription, raw: `{"audio_url":`, wantErr: &json.SyntaxError{}},
		"unknown type":   {typ: "poem", raw: `{}`, wantErr: task.ErrUnknownType},
		"type left out":  {typ: "", raw: `{}`, wantErr: task.ErrUnknownType},
		"audio from url": {typ: task.TypeSubtitleGeneration, raw: `{"audio_url":"https://example.com/a.mp3"}`, stored: `{"audio_url":"https://example.com/a.mp3","format":"srt","max_line_chars":42}`, media: task.MediaRef{AudioURL: "https://example.com/a.mp3"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := task.DecodeInput(tc.typ, json.RawMessage(tc.raw))
			switch want := tc.wantErr.(type) {
			case nil:
			case *json.UnmarshalTypeError:
				if !errors.As(err, &want) || in != nil {
					t.Fatalf("%v, %v: want a type error", in, err)
				}
				return
			case *json.SyntaxError:
				if !errors.As(err, &want) || in != nil {
					t.Fatalf("%v, %v: want a syntax error", in, err)
				}
				return
			default:
				if !errors.Is(err, want) || in != nil {
					t.Fatalf("%v, %v: want %v", in, err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if in.Type() != tc.typ {
				t.Errorf("type %s, want %s", in.Type(), tc.typ)
			}
			out, err := task.EncodeJSON(in)
			if err != nil || string(out) != tc.stored {
				t.Errorf("stored as %s (%v), want %s", out, err, tc.stored)
			}
			if in.Media() != tc.media {
				t.Errorf("media %+v, want %+v", in.Media(), tc.media)
			}
		})
	}
}

// Every task type has an input, and the input knows its type.
func TestNewInput(t *testing.T) {
	t.Parallel()
	for _, typ := range task.Types {
		in := task.NewInput(typ)
		if in == nil || in.Type() != typ {
			t.Errorf("NewInput(%s) = %#v", typ, in)
		}
	}
	if in := task.NewInput("poem"); in != nil {
		t.Errorf("NewInput(poem) = %#v", in)
	}
}

func TestOneOf(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   []string
		want string
	}{
		"none":  {nil, ""},
		"one":   {[]string{"a"}, "a"},
		"two":   {[]string{"a", "b"}, "a or b"},
		"three": {[]string{"a", "b", "c"}, "a, b or c"},
	}
	for name, tc := range tests {
		if got := task.OneOf(tc.in); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}

func TestFieldPath(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ prefix, name, want string }{
		"at the root": {"", "prompt", "prompt"},
		"nested":      {"prompt_optimization", "mode", "prompt_optimization.mode"},
		"in a batch":  {"tasks[0].input_data", "prompt", "tasks[0].input_data.prompt"},
	}
	for name, tc := range tests {
		if got := task.FieldPath(tc.prefix, tc.name); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}

// A provider reads the input of the task type it serves.
func ExampleDecodeInput() {
	in, err := task.DecodeInput(task.TypeImageGeneration, json.RawMessage(`{"prompt":"a lighthouse at dusk","size":"512x512"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	img := in.(*task.ImageInput)
	fmt.Println(img.Prompt, img.Size, *img.N)
	// Output: a lighthouse at dusk 512x512 1
}
