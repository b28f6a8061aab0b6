package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/openai"
	"github.com/videoai/mediatasks/shared/provider/openai/openaifake"
	"github.com/videoai/mediatasks/shared/task"
)

func boolp(b bool) *bool { return &b }

// start runs one task against a fresh fake and returns the result and
// the one call the fake received.
func start(t *testing.T, opts map[string]any, typ task.Type, in task.Input, media *provider.Media, expansion *bool) (*provider.Result, openaifake.Request) {
	t.Helper()
	fake := openaifake.New()
	t.Cleanup(fake.Close)
	p := newProvider(t, fake.URL(), 10*time.Second, opts)
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Start(t.Context(), provider.Request{TaskID: "tsk_1", Type: typ, Input: raw, Media: media, Attempt: 1, Expansion: expansion})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("the fake got %d calls, want 1", len(reqs))
	}
	return resp.Result, reqs[0]
}

func TestImageMapping(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		opts      map[string]any
		in        task.ImageInput
		expansion *bool
		want      map[string]any // the JSON body's fields
		absent    []string
		cost      float64 // 0: no cost known
	}{
		"gpt-image-1 wide size to its nearest, default quality": {
			opts:   map[string]any{"model": "gpt-image-1"},
			in:     task.ImageInput{Prompt: "a fox", Size: "1792x1024"},
			want:   map[string]any{"model": "gpt-image-1", "prompt": "a fox", "n": 1.0, "size": "1536x1024", "quality": "medium"},
			absent: []string{"response_format", "style", "output_format", "moderation"},
			cost:   0.063,
		},
		"gpt-image-1-mini with its options": {
			opts: map[string]any{"model": "gpt-image-1-mini", "quality": "high", "output_format": "webp", "moderation": "low", "background": "transparent"},
			in:   task.ImageInput{Prompt: "a fox", Size: "1024x1024", N: intp(4)},
			want: map[string]any{"model": "gpt-image-1-mini", "n": 4.0, "size": "1024x1024", "quality": "high", "output_format": "webp", "moderation": "low", "background": "transparent"},
			cost: 4 * 0.036,
		},
		"gpt-image-1.5 portrait low": {
			opts: map[string]any{"model": "gpt-image-1.5", "quality": "low"},
			in:   task.ImageInput{Prompt: "a fox", Size: "1024x1792"},
			want: map[string]any{"size": "1024x1536", "quality": "low"},
			cost: 0.013,
		},
		"a new gpt-image name works like its family, with no cost": {
			opts: map[string]any{"model": "gpt-image-2"},
			in:   task.ImageInput{Prompt: "a fox"},
			want: map[string]any{"model": "gpt-image-2", "size": "1024x1024", "quality": "medium"},
		},
		"a new model's price given by the operator": {
			opts: map[string]any{"model": "gpt-image-2", "price": map[string]float64{"medium_1024x1024": 0.05}},
			in:   task.ImageInput{Prompt: "a fox", N: intp(2)},
			want: map[string]any{"n": 2.0},
			cost: 0.1,
		},
		"dall-e-3 style, hd and base64": {
			opts:   map[string]any{"model": "dall-e-3", "quality": "hd"},
			in:     task.ImageInput{Prompt: "a fox", Size: "1024x1792", Style: "vivid", NegativePrompt: "no snow"},
			want:   map[string]any{"model": "dall-e-3", "prompt": "a fox", "size": "1024x1792", "quality": "hd", "style": "vivid", "response_format": "b64_json"},
			absent: []string{"negative_prompt", "output_format"},
			cost:   0.12,
		},
		"dall-e-3 told not to expand the prompt": {
			opts:      map[string]any{"model": "dall-e-3"},
			in:        task.ImageInput{Prompt: "a fox"},
			expansion: boolp(false),
			want:      map[string]any{"quality": "standard"},
			cost:      0.04,
		},
		"dall-e-2 small sizes, several images, no quality or style": {
			opts:   map[string]any{"model": "dall-e-2", "response_format": "url"},
			in:     task.ImageInput{Prompt: "a fox", Size: "512x512", N: intp(3)},
			want:   map[string]any{"model": "dall-e-2", "n": 3.0, "size": "512x512", "response_format": "url"},
			absent: []string{"quality", "style"},
			cost:   3 * 0.018,
		},
		"a compatible server's model, called as the family option says": {
			opts: map[string]any{"model": "stablediffusion", "family": "dall-e-2"},
			in:   task.ImageInput{Prompt: "a fox", Size: "256x256"},
			want: map[string]any{"model": "stablediffusion", "size": "256x256", "response_format": "b64_json"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, got := start(t, tc.opts, task.TypeImageGeneration, &tc.in, nil, tc.expansion)
			if got.Path != "/v1/images/generations" {
				t.Errorf("path %s", got.Path)
			}
			for k, v := range tc.want {
				if !reflect.DeepEqual(got.JSON[k], v) {
					t.Errorf("%s = %#v, want %#v (body %v)", k, got.JSON[k], v, got.JSON)
				}
			}
			for _, k := range tc.absent {
				if _, ok := got.JSON[k]; ok {
					t.Errorf("%s sent (%v); want it left out", k, got.JSON[k])
				}
			}
			if tc.expansion != nil {
				if p, _ := got.JSON["prompt"].(string); !strings.HasSuffix(p, "a fox") || !strings.Contains(p, "DO NOT add any detail") {
					t.Errorf("prompt %q: want the literal prefix OpenAI documents, then the prompt", p)
				}
			}
			switch {
			case tc.cost == 0 && res.Cost != nil:
				t.Errorf("cost %+v, want none for a model without a known price", res.Cost)
			case tc.cost != 0 && (res.Cost == nil || math.Abs(res.Cost.USD-tc.cost) > 1e-9 || res.Cost.PriceVersion != openai.PriceVersion):
				t.Errorf("cost %+v, want %v", res.Cost, tc.cost)
			}
			if res.Extra["request_id"] == nil || res.Extra["model"] != got.JSON["model"] {
				t.Errorf("extra %v: want the model and the request id", res.Extra)
			}
		})
	}
}

func TestAudioMapping(t *testing.T) {
	t.Parallel()
	wav := func(name, url, ct string) *provider.Media {
		m := heldAudio(6)
		m.Name, m.URL, m.ContentType = name, url, ct
		return m
	}
	tests := map[string]struct {
		opts     map[string]any
		typ      task.Type
		in       task.Input
		media    *provider.Media
		want     map[string][]string
		absent   []string
		file     string
		fileType string
		cost     float64
	}{
		"whisper-1: verbose_json with word and segment timings": {
			opts:  map[string]any{"model": "whisper-1"},
			typ:   task.TypeAudioTranscription,
			in:    &task.TranscriptionInput{UploadID: "upl_1", Language: "pt-BR", Prompt: "Lisboa, Tejo"},
			media: heldAudio(6),
			want: map[string][]string{"model": {"whisper-1"}, "response_format": {"verbose_json"},
				"timestamp_granularities[]": {"word", "segment"}, "language": {"pt"}, "prompt": {"Lisboa, Tejo"}},
			file: "clip.wav", fileType: "audio/wav", cost: 0.006 * 6 / 60,
		},
		"whisper for subtitles: the same call": {
			opts:   map[string]any{"model": "whisper-1", "price": map[string]float64{"audio_minute": 0.01}},
			typ:    task.TypeSubtitleGeneration,
			in:     &task.SubtitleInput{UploadID: "upl_1", Format: "srt"},
			media:  heldAudio(6),
			want:   map[string][]string{"model": {"whisper-1"}, "response_format": {"verbose_json"}, "timestamp_granularities[]": {"word", "segment"}},
			absent: []string{"language", "prompt", "format"},
			file:   "clip.wav", fileType: "audio/wav", cost: 0.01 * 6 / 60,
		},
		"gpt-4o-transcribe: json, no timings asked": {
			opts:   map[string]any{"model": "gpt-4o-transcribe"},
			typ:    task.TypeAudioTranscription,
			in:     &task.TranscriptionInput{AudioURL: "https://example.com/a/talk.mp3", Language: "de"},
			media:  wav("", "https://example.com/a/talk.mp3", "audio/mpeg"),
			want:   map[string][]string{"model": {"gpt-4o-transcribe"}, "response_format": {"json"}, "language": {"de"}},
			absent: []string{"timestamp_granularities[]", "chunking_strategy"},
			file:   "talk.mp3", fileType: "audio/mpeg", cost: 0.006 * 6 / 60,
		},
		"the diarizing model: no prompt, chunking auto": {
			opts:   map[string]any{"model": "gpt-4o-transcribe-diarize"},
			typ:    task.TypeAudioTranscription,
			in:     &task.TranscriptionInput{UploadID: "upl_1", Prompt: "names"},
			media:  wav("", "http://127.0.0.1:1/files/upl_1", "audio/ogg"),
			want:   map[string][]string{"response_format": {"diarized_json"}, "chunking_strategy": {"auto"}},
			absent: []string{"prompt"},
			file:   "audio.ogg", fileType: "audio/ogg",
		},
		"a compatible server's whisper": {
			opts:  map[string]any{"model": "Systran/faster-whisper-large-v3"},
			typ:   task.TypeAudioTranscription,
			in:    &task.TranscriptionInput{UploadID: "upl_1"},
			media: heldAudio(6),
			want:  map[string][]string{"model": {"Systran/faster-whisper-large-v3"}, "response_format": {"verbose_json"}},
			file:  "clip.wav", fileType: "audio/wav",
		},
		"a model of no known family, called as the family option says": {
			opts:  map[string]any{"model": "parakeet-tdt-0.6b", "family": "gpt-4o-transcribe"},
			typ:   task.TypeSubtitleGeneration,
			in:    &task.SubtitleInput{UploadID: "upl_1", Language: "fr"},
			media: heldAudio(6),
			want:  map[string][]string{"model": {"parakeet-tdt-0.6b"}, "response_format": {"json"}, "language": {"fr"}},
			file:  "clip.wav", fileType: "audio/wav",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, got := start(t, tc.opts, tc.typ, tc.in, tc.media, nil)
			if got.Path != "/v1/audio/transcriptions" {
				t.Errorf("path %s", got.Path)
			}
			for k, v := range tc.want {
				if !slices.Equal(got.Form[k], v) {
					t.Errorf("%s = %q, want %q (form %v)", k, got.Form[k], v, got.Form)
				}
			}
			for _, k := range tc.absent {
				if _, ok := got.Form[k]; ok {
					t.Errorf("%s sent (%q); want it left out", k, got.Form[k])
				}
			}
			if got.FileName != tc.file || got.FileContentType != tc.fileType || len(got.File) != len(openaifake.WAV(6)) {
				t.Errorf("file %q %q (%d bytes), want %q %q with the audio's bytes", got.FileName, got.FileContentType, len(got.File), tc.file, tc.fileType)
			}
			tr := res.Transcript
			if tr == nil || tr.DurationSeconds != 6 || len(tr.Words) == 0 {
				t.Fatalf("transcript %+v, want words over the 6 s of audio", tr)
			}
			switch {
			case tc.cost == 0 && res.Cost != nil:
				t.Errorf("cost %+v, want none for a model without a known price", res.Cost)
			case tc.cost != 0 && (res.Cost == nil || math.Abs(res.Cost.USD-tc.cost) > 1e-9):
				t.Errorf("cost %+v, want %v", res.Cost, tc.cost)
			}
		})
	}
}

func TestWhisperTranscriptKeepsTheProvidersTimings(t *testing.T) {
	t.Parallel()
	res, _ := start(t, map[string]any{"model": "whisper-1"}, task.TypeAudioTranscription, &task.TranscriptionInput{UploadID: "upl_1"}, heldAudio(3), nil)
	tr := res.Transcript
	if tr.EstimatedTimings || tr.Language != "en" || len(tr.Segments) != 2 || res.Extra["detected_language"] != "english" {
		t.Errorf("transcript %+v extra %v: want whisper's words and segments, language en", tr, res.Extra)
	}
	if w := tr.Words[1]; w.Word != "from" || w.Start <= 0 || w.End <= w.Start {
		t.Errorf("second word %+v, want whisper's timing", w)
	}
}

func TestCheckInput(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		model string
		in    task.Input
		want  []string // fields refused
	}{
		"gpt-image takes its sizes":         {"gpt-image-1", &task.ImageInput{Prompt: "x", Size: "1792x1024", N: intp(4)}, nil},
		"gpt-image makes no small sizes":    {"gpt-image-1.5", &task.ImageInput{Prompt: "x", Size: "256x256"}, []string{"input_data.size"}},
		"gpt-image takes no style":          {"gpt-image-1", &task.ImageInput{Prompt: "x", Style: "vivid"}, []string{"input_data.style"}},
		"dall-e-3 makes one image":          {"dall-e-3", &task.ImageInput{Prompt: "x", N: intp(2)}, []string{"input_data.n"}},
		"dall-e-3 styles are its own":       {"dall-e-3", &task.ImageInput{Prompt: "x", Style: "photographic", Size: "512x512"}, []string{"input_data.size", "input_data.style"}},
		"dall-e-3 vivid":                    {"dall-e-3", &task.ImageInput{Prompt: "x", Style: "natural", Size: "1024x1792"}, nil},
		"dall-e-2 no wide sizes":            {"dall-e-2", &task.ImageInput{Prompt: "x", Size: "1792x1024", N: intp(4)}, []string{"input_data.size"}},
		"whisper: ISO 639-1 languages":      {"whisper-1", &task.TranscriptionInput{AudioURL: "https://a/b.mp3", Language: "en-US"}, nil},
		"whisper: no three-letter language": {"whisper-1", &task.TranscriptionInput{AudioURL: "https://a/b.mp3", Language: "yue"}, []string{"input_data.language"}},
		"subtitles: the same languages":     {"gpt-4o-transcribe", &task.SubtitleInput{AudioURL: "https://a/b.mp3", Language: "haw"}, []string{"input_data.language"}},
		"an image model checks no audio":    {"dall-e-2", &task.TranscriptionInput{AudioURL: "https://a/b.mp3"}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, "http://127.0.0.1:1/v1", time.Second, map[string]any{"model": tc.model})
			errs := p.(provider.Checker).CheckInput("input_data", tc.in)
			var fields []string
			for _, e := range errs {
				fields = append(fields, e.Field)
				if e.Message == "" {
					t.Errorf("%s refused with no message", e.Field)
				}
			}
			if !slices.Equal(fields, tc.want) {
				t.Errorf("refused %v (%v), want %v", fields, errs, tc.want)
			}
		})
	}
}

func TestStartRefusesWhatCheckInputRefuses(t *testing.T) {
	t.Parallel()
	fake := openaifake.New()
	t.Cleanup(fake.Close)
	p := newProvider(t, fake.URL(), time.Second, map[string]any{"model": "dall-e-3"})
	_, err := p.Start(t.Context(), provider.Request{TaskID: "tsk_1", Type: task.TypeImageGeneration, Input: json.RawMessage(`{"prompt":"x","n":3}`)})
	pe, ok := errors.AsType[*provider.Error](err)
	if !ok || pe.Kind != provider.Permanent || !pe.RequestFault || !strings.Contains(pe.Message, "input_data.n") {
		t.Errorf("Start of 3 images with dall-e-3: %v; want a permanent fault of the request naming n", err)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("the fake got %d calls; want none", n)
	}
}

func TestPromptLimits(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		model string
		typ   task.Type
		want  prompt.Limits
	}{
		"gpt-image":         {"gpt-image-1", task.TypeImageGeneration, prompt.Limits{MaxPrompt: 32000, Unit: prompt.UnitChars}},
		"dall-e-3 rewrites": {"dall-e-3", task.TypeImageGeneration, prompt.Limits{MaxPrompt: 4000, Unit: prompt.UnitChars, Expansion: true}},
		"dall-e-2":          {"dall-e-2", task.TypeImageGeneration, prompt.Limits{MaxPrompt: 1000, Unit: prompt.UnitChars}},
		"whisper keeps the end": {"whisper-1", task.TypeSubtitleGeneration,
			prompt.Limits{MaxPrompt: 224, Unit: prompt.UnitTokens, KeepsEnd: true}},
		"gpt-4o-transcribe": {"gpt-4o-mini-transcribe", task.TypeAudioTranscription, prompt.Limits{Unit: prompt.UnitTokens}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, "http://127.0.0.1:1/v1", time.Second, map[string]any{"model": tc.model})
			if got := p.(provider.PromptLimiter).PromptLimits(tc.typ); got != tc.want {
				t.Errorf("limits %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTaskTypesFollowTheModel(t *testing.T) {
	t.Parallel()
	tests := map[string][]task.Type{
		"":                  {task.TypeImageGeneration, task.TypeAudioTranscription, task.TypeSubtitleGeneration},
		"gpt-image-1-mini":  {task.TypeImageGeneration},
		"gpt-4o-transcribe": {task.TypeAudioTranscription, task.TypeSubtitleGeneration},
	}
	for model, want := range tests {
		p := newProvider(t, "http://127.0.0.1:1/v1", time.Second, map[string]any{"model": model})
		if got := p.TaskTypes(); !slices.Equal(got, want) {
			t.Errorf("model %q serves %v, want %v", model, got, want)
		}
	}
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		opts  string
		field string
	}{
		"unknown option":              {`{"colour": "red"}`, "colour"},
		"unknown family":              {`{"model": "x", "family": "midjourney"}`, "family"},
		"family without a model":      {`{"family": "whisper"}`, "family"},
		"model of no known family":    {`{"model": "stablediffusion"}`, "model"},
		"quality not the family's":    {`{"model": "gpt-image-1", "quality": "hd"}`, "quality"},
		"dall-e-2 takes no quality":   {`{"model": "dall-e-2", "quality": "standard"}`, "quality"},
		"gpt-image answers base64":    {`{"model": "gpt-image-1", "response_format": "url"}`, "response_format"},
		"response format":             {`{"model": "dall-e-3", "response_format": "png"}`, "response_format"},
		"output format for gpt-image": {`{"model": "dall-e-3", "output_format": "webp"}`, "output_format"},
		"bad output format":           {`{"model": "gpt-image-1", "output_format": "gif"}`, "output_format"},
		"moderation":                  {`{"model": "gpt-image-1", "moderation": "off"}`, "moderation"},
		"transparent jpeg":            {`{"model": "gpt-image-1", "background": "transparent", "output_format": "jpeg"}`, "background"},
		"background for gpt-image":    {`{"model": "dall-e-2", "background": "opaque"}`, "background"},
		"image option on audio":       {`{"model": "whisper-1", "quality": "hd"}`, "quality"},
		"price key of another model":  {`{"model": "dall-e-2", "price": {"hd_1792x1024": 0.1}}`, "price.hd_1792x1024"},
		"negative price":              {`{"model": "whisper-1", "price": {"audio_minute": -1}}`, "price.audio_minute"},
		"timeout":                     {`{"timeout": "soon"}`, "timeout"},
		"base url":                    {`{"base_url": "ftp://x"}`, "base_url"},
		"wrong type":                  {`{"model": 3}`, "model"},
		"no key for OpenAI's API":     {`{"api_key": "", "api_key_env": "MEDIATASKS_OPENAI_TEST_UNSET"}`, "api_key_env"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := tc.opts
			if !strings.Contains(opts, "api_key") {
				opts = strings.Replace(opts, "{", `{"api_key": "sk-x", `, 1)
				opts = strings.Replace(opts, ", }", "}", 1)
			}
			_, err := openai.New(config.Provider{Name: "o", Type: openai.Type, Options: json.RawMessage(opts)})
			if err == nil {
				t.Fatalf("options %s: no error", opts)
			}
			var oe *provider.OptionError
			found := false
			for e := range allErrors(err) {
				if errors.As(e, &oe) && oe.Field == tc.field {
					found = true
				}
			}
			if !found {
				t.Errorf("options %s: %v; want an OptionError on %q", opts, err, tc.field)
			}
		})
	}
}

// allErrors walks an error tree.
func allErrors(err error) func(func(error) bool) {
	return func(yield func(error) bool) {
		var walk func(error) bool
		walk = func(e error) bool {
			if e == nil {
				return true
			}
			if !yield(e) {
				return false
			}
			switch u := e.(type) {
			case interface{ Unwrap() []error }:
				for _, c := range u.Unwrap() {
					if !walk(c) {
						return false
					}
				}
			case interface{ Unwrap() error }:
				return walk(u.Unwrap())
			}
			return true
		}
		walk(err)
	}
}

func TestCompatibleServerNeedsNoKey(t *testing.T) {
	t.Parallel()
	_, err := openai.New(config.Provider{Name: "o", Type: openai.Type,
		Options: json.RawMessage(`{"base_url": "http://localai:8080/v1", "api_key_env": "MEDIATASKS_OPENAI_TEST_UNSET", "model": "whisper-1"}`)})
	if err != nil {
		t.Errorf("a compatible server without a key: %v", err)
	}
}

func TestErrorBodies(t *testing.T) {
	t.Parallel()
	const key = "sk-proj-secret-key-1234"
	tests := map[string]struct {
		status int
		body   string
		kind   provider.Kind
		code   string
		safety bool
		quota  bool
	}{
		"quota as 429 is permanent": {429, `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
			provider.Permanent, "insufficient_quota", false, true},
		"billing limit": {400, `{"error":{"message":"Billing hard limit has been reached","type":"invalid_request_error","param":null,"code":"billing_hard_limit_reached"}}`,
			provider.Permanent, "billing_hard_limit_reached", false, true},
		"content policy": {400, `{"error":{"message":"Your request was rejected as a result of our safety system.","type":"invalid_request_error","param":null,"code":"content_policy_violation"}}`,
			provider.Permanent, "content_policy_violation", true, false},
		"moderation blocked": {400, `{"error":{"message":"Your request was rejected by the safety system.","type":"image_generation_user_error","param":null,"code":"moderation_blocked"}}`,
			provider.Permanent, "moderation_blocked", true, false},
		"rate limit": {429, `{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			provider.Throttled, "rate_limit_exceeded", false, false},
		"bad parameter": {400, `{"error":{"message":"Invalid value: 'x'.","type":"invalid_request_error","param":"size","code":"invalid_value"}}`,
			provider.Permanent, "invalid_value", false, false},
		"no code: the type": {503, `{"error":{"message":"The engine is currently overloaded","type":"server_error","param":null,"code":null}}`,
			provider.Transient, "server_error", false, false},
		"the key echoed": {401, `{"error":{"message":"Incorrect API key provided: ` + key + ` or sk-pro*****1234.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			provider.Permanent, "invalid_api_key", false, false},
		"not OpenAI's shape": {502, `<html>Bad gateway</html>`, provider.Transient, "http_502", false, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			raw, _ := json.Marshal(map[string]any{"base_url": srv.URL + "/v1", "api_key": key, "model": "gpt-image-1"})
			p, err := openai.New(config.Provider{Name: "o", Type: openai.Type, Options: raw})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Start(t.Context(), provider.Request{TaskID: "tsk_1", Type: task.TypeImageGeneration, Input: json.RawMessage(`{"prompt":"x"}`)})
			pe, ok := errors.AsType[*provider.Error](err)
			if !ok {
				t.Fatalf("error %v is not a provider error", err)
			}
			if pe.Kind != tc.kind || pe.Code != tc.code || pe.Safety != tc.safety {
				t.Errorf("error %v: kind %s code %s safety %v; want %s %s %v", err, pe.Kind, pe.Code, pe.Safety, tc.kind, tc.code, tc.safety)
			}
			if tc.quota && pe.RequestFault {
				t.Errorf("a quota problem is the account's, not the request's: %v", err)
			}
			if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "1234") {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
}

func TestNoJobs(t *testing.T) {
	t.Parallel()
	p := newProvider(t, "http://127.0.0.1:1/v1", time.Second, nil)
	req := provider.Request{TaskID: "tsk_1", Type: task.TypeImageGeneration}
	if _, err := p.Poll(t.Context(), req, "job"); provider.KindOf(err) != provider.Permanent {
		t.Errorf("Poll: %v; want a permanent error: there are no jobs", err)
	}
	if err := p.Cancel(t.Context(), req, "job"); err != nil {
		t.Errorf("Cancel: %v; want nil", err)
	}
	if _, err := p.Start(t.Context(), provider.Request{TaskID: "tsk_1", Type: task.TypeVideoGeneration, Input: json.RawMessage(`{}`)}); provider.KindOf(err) != provider.Permanent {
		t.Errorf("a video task: %v; want a permanent refusal", err)
	}
}

func TestWrongKeyIsTheProvidersFault(t *testing.T) {
	t.Parallel()
	fake := openaifake.New()
	t.Cleanup(fake.Close)
	raw, _ := json.Marshal(map[string]any{"base_url": fake.URL(), "api_key": "sk-wrong-key-abcdefgh", "model": "gpt-image-1"})
	p, err := openai.New(config.Provider{Name: "o", Type: openai.Type, Options: raw})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Start(t.Context(), provider.Request{TaskID: "tsk_1", Type: task.TypeImageGeneration, Input: json.RawMessage(`{"prompt":"x"}`)})
	pe, ok := errors.AsType[*provider.Error](err)
	if !ok || pe.Code != "invalid_api_key" || pe.RequestFault || strings.Contains(err.Error(), "abcdefgh") || strings.Contains(err.Error(), "efgh") {
		t.Errorf("a wrong key: %v; want invalid_api_key, the provider's fault, and no trace of the key", err)
	}
}

func TestDiarizedSegmentsKeepTheirTimes(t *testing.T) {
	t.Parallel()
	res, _ := start(t, map[string]any{"model": "gpt-4o-transcribe-diarize"}, task.TypeAudioTranscription, &task.TranscriptionInput{UploadID: "upl_1"}, heldAudio(4), nil)
	tr := res.Transcript
	if !tr.EstimatedTimings || len(tr.Segments) != 2 || tr.Segments[1].Start != 2 || tr.DurationSeconds != 4 {
		t.Fatalf("transcript %+v: want the two diarized segments, the second from 2 s, over 4 s", tr)
	}
	for _, w := range tr.Words {
		if w.Word == "hears" && w.Start < 2 {
			t.Errorf("word %+v of the second segment starts before it", w)
		}
	}
	if sp, _ := res.Extra["speakers"].([]map[string]any); len(sp) != 2 || sp[1]["speaker"] != "B" {
		t.Errorf("speakers %v, want A then B", res.Extra["speakers"])
	}
}

// A compatible server's answers, shorter than OpenAI's.
func TestCompatibleServerAnswers(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		model, answer string
		mp3           bool // the upload is no WAV: its length is unknown
		estimated     bool // the words' timings
		durationGuess bool // Extra duration_estimated
		duration      float64
		cost          bool
	}{
		"verbose_json without words: spread over its segments": {
			model:  "whisper-1",
			answer: `{"text":"one two. three four.","duration":4,"segments":[{"start":0,"end":1,"text":"one two."},{"start":2,"end":4,"text":"three four."}]}`,
			mp3:    true, estimated: true, duration: 4, cost: true,
		},
		"json with no usage, of an mp3: the duration guessed, no cost": {
			model:  "gpt-4o-transcribe",
			answer: `{"text":"one two three four five"}`,
			mp3:    true, estimated: true, durationGuess: true, duration: 2,
		},
		"json with usage seconds": {
			model:  "gpt-4o-transcribe",
			answer: `{"text":"one two three","usage":{"type":"duration","seconds":9}}`,
			mp3:    true, estimated: true, duration: 9, cost: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tc.answer))
			}))
			t.Cleanup(srv.Close)
			p := newProvider(t, srv.URL+"/v1", time.Second, map[string]any{"model": tc.model})
			media := heldAudio(3)
			if tc.mp3 {
				media = &provider.Media{URL: "http://127.0.0.1:1/f", Name: "a.mp3", ContentType: "audio/mpeg",
					Open: func(context.Context) (io.ReadCloser, error) {
						return io.NopCloser(strings.NewReader("ID3 not really")), nil
					}}
			}
			resp, err := p.Start(t.Context(), provider.Request{TaskID: "tsk_1", Type: task.TypeAudioTranscription, Input: json.RawMessage(`{"upload_id":"u"}`), Media: media})
			if err != nil {
				t.Fatal(err)
			}
			res := resp.Result
			tr := res.Transcript
			if tr.EstimatedTimings != tc.estimated || tr.DurationSeconds != tc.duration || len(tr.Words) == 0 {
				t.Errorf("transcript %+v: want estimated %v over %v s", tr, tc.estimated, tc.duration)
			}
			if got := res.Extra["duration_estimated"] == true; got != tc.durationGuess {
				t.Errorf("duration_estimated %v, want %v", got, tc.durationGuess)
			}
			if (res.Cost != nil) != tc.cost {
				t.Errorf("cost %+v, want one: %v", res.Cost, tc.cost)
			}
			if len(tr.Segments) == 2 && tr.Words[2].Start < 2 {
				t.Errorf("words %+v: the third starts in the second segment, at 2 s or later", tr.Words)
			}
		})
	}
}
