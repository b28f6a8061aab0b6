package assemblyai_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/assemblyai"
	"github.com/videoai/mediatasks/shared/provider/assemblyai/assemblyaifake"
	"github.com/videoai/mediatasks/shared/provider/providertest"
	"github.com/videoai/mediatasks/shared/task"
)

// audio is the bytes of the held media the tests send.
var audio = []byte("ID3\x03\x00fake mp3 bytes for the upload")

func heldMedia() *provider.Media {
	return &provider.Media{URL: "http://127.0.0.1:1/files/audio.mp3", ContentType: "audio/mpeg", Name: "audio.mp3",
		Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(string(audio))), nil
		}}
}

func publicMedia() *provider.Media {
	return &provider.Media{URL: "https://media.example.com/talk.mp3", ContentType: "audio/mpeg", Name: "talk.mp3", Public: true}
}

func newFake(t *testing.T) *assemblyaifake.Server {
	t.Helper()
	f := assemblyaifake.New()
	t.Cleanup(f.Close)
	return f
}

// newProvider builds the adapter against fake with extra options merged in.
func newProvider(t *testing.T, fake *assemblyaifake.Server, timeout time.Duration, extra map[string]any) provider.Provider {
	t.Helper()
	opts := map[string]any{"base_url": fake.URL(), "api_key": assemblyaifake.Key, "timeout": timeout.String(), "allow_private": true}
	for k, v := range extra {
		opts[k] = v
	}
	raw, _ := json.Marshal(opts)
	p, err := assemblyai.New(config.Provider{Name: "aai", Type: assemblyai.Type, Options: raw})
	if err != nil {
		t.Fatalf("New(%s): %v", raw, err)
	}
	return p
}

func TestConformance(t *testing.T) {
	t.Parallel()
	checkWords := func(t *testing.T, res *provider.Result) {
		w := res.Transcript.Words
		if len(w) != len(assemblyaifake.Words) || w[0].Start != 0.12 || w[0].End != 0.48 || w[0].Confidence != 0.98 {
			t.Errorf("words %+v: want the fake's, milliseconds as seconds", w)
		}
		if res.Transcript.Language != "en" || res.Transcript.DurationSeconds != assemblyaifake.AudioDuration {
			t.Errorf("language %q, duration %v", res.Transcript.Language, res.Transcript.DurationSeconds)
		}
		if res.Cost == nil || res.Text == "" {
			t.Errorf("cost %+v, text %q", res.Cost, res.Text)
		}
	}
	providertest.Run(t, providertest.Harness{
		Fake: func(t *testing.T) providertest.Fake { return newFake(t) },
		New: func(t *testing.T, fake providertest.Fake, timeout time.Duration) provider.Provider {
			return newProvider(t, fake.(*assemblyaifake.Server), timeout, nil)
		},
		Key: assemblyaifake.Key,
		Cases: []providertest.Case{
			{Name: "transcription of held bytes", Type: task.TypeAudioTranscription, Input: &task.TranscriptionInput{UploadID: "up_1"}, Media: heldMedia(), Long: true, Check: checkWords},
			{Name: "transcription of a public URL", Type: task.TypeAudioTranscription, Input: &task.TranscriptionInput{AudioURL: "https://media.example.com/talk.mp3", Language: "en-US", Prompt: "Kubernetes, Byrne-Donoghue"}, Media: publicMedia(), Long: true, Check: checkWords},
			{Name: "subtitles", Type: task.TypeSubtitleGeneration, Input: &task.SubtitleInput{UploadID: "up_2", Format: "vtt"}, Media: heldMedia(), Long: true, Check: checkWords},
		},
		// AssemblyAI refuses no content, and answers JSON, not file URLs.
		Skip: []providertest.Fault{providertest.FaultSafety, providertest.FaultExpiredOutput},
	})
}

// run carries req out against p and returns its result.
func run(t *testing.T, p provider.Provider, req provider.Request) (*provider.Result, error) {
	t.Helper()
	resp, err := p.Start(t.Context(), req)
	for i := 0; err == nil && !resp.Done(); i++ {
		if i > 20 {
			t.Fatal("the job never ends")
		}
		resp, err = p.Poll(t.Context(), req, resp.Job)
	}
	if err != nil {
		return nil, err
	}
	return resp.Result, nil
}

func request(typ task.Type, input string, media *provider.Media) provider.Request {
	return provider.Request{TaskID: "task-1", UserID: "u1", Type: typ, Input: json.RawMessage(input), Media: media, Attempt: 1}
}

func TestMapping(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		options map[string]any
		typ     task.Type
		input   string
		media   *provider.Media
		want    map[string]any // fields of the create body (nil: must be absent)
		upload  bool           // the bytes went through /v2/upload
	}{
		"held bytes, language detected": {
			typ: task.TypeAudioTranscription, input: `{"upload_id":"up_1"}`, media: heldMedia(), upload: true,
			want: map[string]any{"speech_models": []any{"universal-2"}, "language_detection": true, "language_code": nil, "keyterms_prompt": nil, "prompt": nil},
		},
		"public URL, US English, key terms": {
			typ: task.TypeAudioTranscription, input: `{"audio_url":"https://media.example.com/talk.mp3","language":"en-US","prompt":"Kelly Byrne-Donoghue, AssemblyAI;  Kubernetes"}`, media: publicMedia(),
			want: map[string]any{"audio_url": "https://media.example.com/talk.mp3", "language_code": "en_us", "language_detection": nil,
				"keyterms_prompt": []any{"Kelly Byrne-Donoghue", "AssemblyAI", "Kubernetes"}},
		},
		"British English, subtitles": {
			typ: task.TypeSubtitleGeneration, input: `{"upload_id":"up_1","language":"en-GB","format":"srt"}`, media: heldMedia(), upload: true,
			want: map[string]any{"language_code": "en_uk"},
		},
		"Brazilian Portuguese is pt": {
			typ: task.TypeAudioTranscription, input: `{"upload_id":"up_1","language":"pt-BR"}`, media: heldMedia(), upload: true,
			want: map[string]any{"language_code": "pt"},
		},
		"prose on universal-2 becomes key terms of six words": {
			typ: task.TypeAudioTranscription, input: `{"upload_id":"up_1","prompt":"a talk about container orchestration with Kubernetes and Helm charts"}`, media: heldMedia(), upload: true,
			want: map[string]any{"keyterms_prompt": []any{"a talk about container orchestration with", "Kubernetes and Helm charts"}, "prompt": nil},
		},
		"prose on universal-3-pro is a prompt of context": {
			options: map[string]any{"model": "universal-3-pro"},
			typ:     task.TypeAudioTranscription, input: `{"upload_id":"up_1","prompt":"a talk about container orchestration with Kubernetes and Helm charts"}`, media: heldMedia(), upload: true,
			want: map[string]any{"speech_models": []any{"universal-3-pro"}, "prompt": "a talk about container orchestration with Kubernetes and Helm charts", "keyterms_prompt": nil},
		},
		"fallback models and speaker labels": {
			options: map[string]any{"model": "universal-3-pro", "fallback_models": []string{"universal-2"}, "speaker_labels": true},
			typ:     task.TypeAudioTranscription, input: `{"upload_id":"up_1","language":"ja"}`, media: heldMedia(), upload: true,
			want: map[string]any{"speech_models": []any{"universal-3-pro", "universal-2"}, "speaker_labels": true, "language_code": "ja"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			p := newProvider(t, fake, 10*time.Second, tc.options)
			res, err := run(t, p, request(tc.typ, tc.input, tc.media))
			if err != nil {
				t.Fatal(err)
			}
			created := fake.Created()
			if len(created) != 1 {
				t.Fatalf("%d transcripts created, want 1", len(created))
			}
			body := created[0]
			for k, want := range tc.want {
				got, ok := body[k]
				if want == nil {
					if ok {
						t.Errorf("%s = %v, want it left out", k, got)
					}
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", k, got, want)
				}
			}
			audioURL, _ := body["audio_url"].(string)
			data, uploaded := fake.Uploaded(audioURL)
			if uploaded != tc.upload || (tc.upload && string(data) != string(audio)) {
				t.Errorf("audio_url %q uploaded %v (%d bytes); want uploaded %v with the held bytes", audioURL, uploaded, len(data), tc.upload)
			}
			for _, c := range fake.Calls() {
				if got := c.Header.Get("Authorization"); got != assemblyaifake.Key {
					t.Errorf("%s %s: authorization %q, want the bare key", c.Method, c.Path, got)
				}
			}
			if tc.options["speaker_labels"] == true {
				if len(res.Transcript.Segments) != 2 || res.Transcript.Segments[1].Start != 1.9 || res.Extra["speakers"] != 2 {
					t.Errorf("segments %+v, extra %v: want the two utterances", res.Transcript.Segments, res.Extra)
				}
			}
		})
	}
}

func TestCheckInput(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	tests := map[string]struct {
		options map[string]any
		input   task.Input
		field   string // "" for none
	}{
		"universal-2 takes Japanese":           {nil, &task.TranscriptionInput{Language: "ja"}, ""},
		"universal-3-pro takes German":         {map[string]any{"model": "universal-3-pro"}, &task.TranscriptionInput{Language: "de-AT"}, ""},
		"universal-3-pro refuses Japanese":     {map[string]any{"model": "universal-3-pro"}, &task.TranscriptionInput{Language: "ja"}, "input_data.language"},
		"a new universal-3 name is the family": {map[string]any{"model": "universal-3-5-pro"}, &task.SubtitleInput{Language: "ko"}, "input_data.language"},
		"with universal-2 after it":            {map[string]any{"model": "universal-3-pro", "fallback_models": []string{"universal-2"}}, &task.TranscriptionInput{Language: "ja"}, ""},
		"detection is always taken":            {map[string]any{"model": "universal-3-pro"}, &task.TranscriptionInput{}, ""},
		"not an audio task":                    {nil, &task.VideoInput{Prompt: "x"}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, fake, time.Second, tc.options).(provider.Checker)
			errs := p.CheckInput("input_data", tc.input)
			switch {
			case tc.field == "" && len(errs) > 0:
				t.Errorf("refused: %v", errs)
			case tc.field != "" && (len(errs) != 1 || errs[0].Field != tc.field):
				t.Errorf("errors %v, want one naming %s", errs, tc.field)
			}
		})
	}
	// Start refuses what CheckInput refuses, before any call.
	p := newProvider(t, fake, time.Second, map[string]any{"model": "universal-3-pro"})
	_, err := p.Start(t.Context(), request(task.TypeAudioTranscription, `{"upload_id":"u","language":"ja"}`, heldMedia()))
	if pe, ok := errors.AsType[*provider.Error](err); !ok || !pe.RequestFault {
		t.Errorf("Start with a language the model lacks: %v; want a fault of the request", err)
	}
}

func TestPromptLimits(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	u2 := newProvider(t, fake, time.Second, nil).(provider.PromptLimiter)
	u3 := newProvider(t, fake, time.Second, map[string]any{"model": "universal-3-pro"}).(provider.PromptLimiter)
	if got := u3.PromptLimits(task.TypeAudioTranscription); got != (prompt.Limits{MaxPrompt: 1500, Unit: prompt.UnitTokens}) {
		t.Errorf("universal-3-pro: %+v", got)
	}
	if got := u2.PromptLimits(task.TypeSubtitleGeneration); got.MaxPrompt != 6000 || got.Negative || got.Expansion || got.KeepsEnd {
		t.Errorf("universal-2: %+v", got)
	}
}

func TestCost(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		options map[string]any
		usd     float64 // of the fake's 3 s; -1: no cost
	}{
		"universal-2":         {nil, 0.15 * 3 / 3600},
		"universal-3-pro":     {map[string]any{"model": "universal-3-pro"}, 0.21 * 3 / 3600},
		"price override":      {map[string]any{"price": map[string]float64{"universal-2": 0.36}}, 0.36 * 3 / 3600},
		"unknown model":       {map[string]any{"model": "nova-9"}, -1},
		"override of a model": {map[string]any{"model": "universal-3-pro", "price": map[string]float64{"universal-3-pro": 0}}, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			res, err := run(t, newProvider(t, fake, 10*time.Second, tc.options), request(task.TypeAudioTranscription, `{"upload_id":"u"}`, heldMedia()))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.usd < 0 && res.Cost != nil:
				t.Errorf("cost %+v, want none for a model of unknown price", res.Cost)
			case tc.usd >= 0 && (res.Cost == nil || math.Abs(res.Cost.USD-tc.usd) > 1e-6 || res.Cost.PriceVersion != assemblyai.PriceVersion):
				t.Errorf("cost %+v, want %v USD", res.Cost, tc.usd)
			}
		})
	}
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		options string
		field   string
	}{
		"unknown option":     {`{"api_key":"k","modle":"x"}`, "modle"},
		"price key":          {`{"api_key":"k","price":{"whisper-1":1}}`, "price.whisper-1"},
		"timeout":            {`{"api_key":"k","timeout":"soon"}`, "timeout"},
		"base_url":           {`{"api_key":"k","base_url":"ftp://x"}`, "base_url"},
		"duplicate fallback": {`{"api_key":"k","fallback_models":["universal-2"]}`, "fallback_models[0]"},
		"no key":             {`{"api_key_env":"AAI_TEST_UNSET_VARIABLE"}`, "api_key_env"},
		"wrong type":         {`{"api_key":"k","speaker_labels":"yes"}`, "speaker_labels"},
		"poll_after":         {`{"api_key":"k","poll_after":"1h"}`, "poll_after"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := assemblyai.New(config.Provider{Name: "aai", Type: assemblyai.Type, Options: json.RawMessage(tc.options)})
			oe, ok := errors.AsType[*provider.OptionError](err)
			if !ok || oe.Field != tc.field {
				t.Errorf("New(%s): %v; want an option error naming %s", tc.options, err, tc.field)
			}
		})
	}
}

func TestPollAfter(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	req := request(task.TypeAudioTranscription, `{"upload_id":"u"}`, heldMedia())
	for opt, want := range map[string]time.Duration{"": assemblyai.PollAfter, "20ms": 20 * time.Millisecond} {
		resp, err := newProvider(t, fake, time.Second, map[string]any{"poll_after": opt}).Start(t.Context(), req)
		if err != nil || resp.PollAfter != want {
			t.Errorf("poll_after %q: PollAfter %s (%v), want %s", opt, resp.PollAfter, err, want)
		}
	}
}

func TestFailedTranscript(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		message string
		kind    provider.Kind
		request bool
	}{
		"no audio":       {"Transcoding failed. File does not appear to contain audio.", provider.Permanent, true},
		"download":       {"Download error, unable to download https://x/a.mp3", provider.Permanent, true},
		"internal":       {"Internal server error, please try again", provider.Transient, false},
		"out of balance": {"Your balance is too low to transcribe", provider.Permanent, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			fake.FailJobs(tc.message)
			_, err := run(t, newProvider(t, fake, 10*time.Second, nil), request(task.TypeAudioTranscription, `{"upload_id":"u"}`, heldMedia()))
			pe, ok := errors.AsType[*provider.Error](err)
			if !ok || pe.Kind != tc.kind || pe.RequestFault != tc.request || !strings.Contains(pe.Message, tc.message) {
				t.Errorf("error %v; want %s (request fault %v) with the provider's message", err, tc.kind, tc.request)
			}
		})
	}
}

func TestCancelDeletesAndRefusalsPass(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	p := newProvider(t, fake, 10*time.Second, nil)
	req := request(task.TypeAudioTranscription, `{"upload_id":"u"}`, heldMedia())
	if err := p.Cancel(t.Context(), req, "tr-unknown"); err != nil {
		t.Errorf("cancel of a transcript that is gone: %v; want nil", err)
	}
	if err := p.Cancel(t.Context(), req, "../v2/upload"); err == nil {
		t.Errorf("cancel of a handle that is no transcript id: want an error")
	}
	for _, c := range fake.Calls() {
		if c.Method == http.MethodDelete && !strings.HasPrefix(c.Path, "/v2/transcript/") {
			t.Errorf("deleted %s", c.Path)
		}
	}
}
