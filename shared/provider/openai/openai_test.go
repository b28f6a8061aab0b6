package openai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/openai"
	"github.com/videoai/mediatasks/shared/provider/openai/openaifake"
	"github.com/videoai/mediatasks/shared/provider/providertest"
	"github.com/videoai/mediatasks/shared/task"
)

func intp(n int) *int { return &n }

// newProvider builds an adapter for fake with extra options merged in.
func newProvider(t *testing.T, baseURL string, timeout time.Duration, extra map[string]any) provider.Provider {
	t.Helper()
	opts := map[string]any{"base_url": baseURL, "api_key": openaifake.Key, "timeout": timeout.String(), "allow_private": true}
	for k, v := range extra {
		opts[k] = v
	}
	raw, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := openai.New(config.Provider{Name: "openai-test", Type: openai.Type, Options: raw})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func harness(extra map[string]any, cases []providertest.Case, skip ...providertest.Fault) providertest.Harness {
	return providertest.Harness{
		Fake: func(t *testing.T) providertest.Fake {
			f := openaifake.New()
			t.Cleanup(f.Close)
			return f
		},
		New: func(t *testing.T, fake providertest.Fake, timeout time.Duration) provider.Provider {
			return newProvider(t, fake.URL(), timeout, extra)
		},
		Key:   openaifake.Key,
		Cases: cases,
		Skip:  skip,
	}
}

// heldAudio is a file the platform holds: read through Open, never public.
func heldAudio(seconds float64) *provider.Media {
	return &provider.Media{URL: "http://127.0.0.1:1/files/upl_1", ContentType: "audio/wav", Name: "clip.wav",
		Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(openaifake.WAV(seconds))), nil
		}}
}

// mediaServer serves a WAV file as a user's public URL would.
func mediaServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(openaifake.WAV(3))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/talk.wav"
}

func wantImages(n int) func(t *testing.T, res *provider.Result) {
	return func(t *testing.T, res *provider.Result) {
		t.Helper()
		if len(res.Files) != n {
			t.Errorf("%d files, want %d", len(res.Files), n)
		}
		for _, f := range res.Files {
			if f.ContentType != "image/png" || f.Ext != ".png" || f.URL != "" {
				t.Errorf("file %s %s URL %q: want PNG bytes and no provider URL", f.ContentType, f.Ext, f.URL)
			}
		}
		if res.Cost == nil || res.Cost.USD <= 0 {
			t.Errorf("cost = %+v, want the list price", res.Cost)
		}
	}
}

func TestConformanceDallE3URLs(t *testing.T) {
	t.Parallel()
	providertest.Run(t, harness(map[string]any{"model": "dall-e-3", "response_format": "url"}, []providertest.Case{{
		Name: "dall-e-3 url answer", Type: task.TypeImageGeneration,
		Input: &task.ImageInput{Prompt: "a lighthouse at dawn", Size: "1792x1024", Style: "natural"},
		Check: func(t *testing.T, res *provider.Result) {
			wantImages(1)(t, res)
			if rp, _ := res.Extra["revised_prompt"].(string); !strings.Contains(rp, "a lighthouse at dawn") {
				t.Errorf("revised_prompt = %q, want OpenAI's rewrite kept", rp)
			}
			for k, v := range res.Extra {
				if s, ok := v.(string); ok && strings.Contains(s, "sig=") {
					t.Errorf("Extra[%s] keeps a signed URL: %s", k, s)
				}
			}
		},
	}}))
}

func TestConformanceGPTImageBase64(t *testing.T) {
	t.Parallel()
	providertest.Run(t, harness(map[string]any{"model": "gpt-image-1", "quality": "low"}, []providertest.Case{
		{Name: "gpt-image b64 answer", Type: task.TypeImageGeneration,
			Input: &task.ImageInput{Prompt: "a red bicycle", Size: "1024x1792", N: intp(2)}, Check: wantImages(2)},
	}, providertest.FaultExpiredOutput))
}

func TestConformanceDallE2Base64(t *testing.T) {
	t.Parallel()
	providertest.Run(t, harness(map[string]any{"model": "dall-e-2"}, []providertest.Case{
		{Name: "dall-e-2 b64 answer", Type: task.TypeImageGeneration,
			Input: &task.ImageInput{Prompt: "a cat", Size: "256x256", N: intp(3)}, Check: wantImages(3)},
	}, providertest.FaultExpiredOutput))
}

func wantTimed(estimated bool) func(t *testing.T, res *provider.Result) {
	return func(t *testing.T, res *provider.Result) {
		t.Helper()
		tr := res.Transcript
		if tr.EstimatedTimings != estimated {
			t.Errorf("EstimatedTimings = %v, want %v", tr.EstimatedTimings, estimated)
		}
		if res.Text != openaifake.Text || tr.Text != openaifake.Text {
			t.Errorf("text %q / %q, want the fake's", res.Text, tr.Text)
		}
		if last := tr.Words[len(tr.Words)-1]; last.End > tr.DurationSeconds || tr.DurationSeconds <= 0 {
			t.Errorf("duration %v, last word %+v", tr.DurationSeconds, last)
		}
		if res.Cost == nil || res.Cost.USD <= 0 {
			t.Errorf("cost = %+v, want the price per minute", res.Cost)
		}
	}
}

func TestConformanceWhisper(t *testing.T) {
	t.Parallel()
	url := mediaServer(t)
	// No model: the provider serves images and audio with the defaults.
	providertest.Run(t, harness(nil, []providertest.Case{
		{Name: "whisper held bytes", Type: task.TypeAudioTranscription, Media: heldAudio(4),
			Input: &task.TranscriptionInput{UploadID: "upl_1", Language: "en-GB", Prompt: "Mediatasks"}, Check: wantTimed(false)},
		{Name: "whisper public url", Type: task.TypeAudioTranscription,
			Media: &provider.Media{URL: url, ContentType: "audio/wav", Public: true},
			Input: &task.TranscriptionInput{AudioURL: url}, Check: wantTimed(false)},
		{Name: "whisper subtitles", Type: task.TypeSubtitleGeneration, Media: heldAudio(2),
			Input: &task.SubtitleInput{UploadID: "upl_1", Format: "vtt"}, Check: wantTimed(false)},
		{Name: "default image model", Type: task.TypeImageGeneration,
			Input: &task.ImageInput{Prompt: "a red bicycle"}, Check: wantImages(1)},
	}, providertest.FaultExpiredOutput))
}

func TestConformanceGPT4oTranscribe(t *testing.T) {
	t.Parallel()
	url := mediaServer(t)
	providertest.Run(t, harness(map[string]any{"model": "gpt-4o-mini-transcribe"}, []providertest.Case{
		{Name: "gpt-4o held bytes", Type: task.TypeAudioTranscription, Media: heldAudio(5),
			Input: &task.TranscriptionInput{UploadID: "upl_1"}, Check: wantTimed(true)},
		{Name: "gpt-4o subtitles of a public url", Type: task.TypeSubtitleGeneration,
			Media: &provider.Media{URL: url, ContentType: "audio/wav", Public: true},
			Input: &task.SubtitleInput{AudioURL: url, Language: "en"}, Check: wantTimed(true)},
	}, providertest.FaultExpiredOutput))
}

// OpenAI's images and transcriptions answer in the call: nothing to call
// back.
func TestNoCallbacks(t *testing.T) {
	t.Parallel()
	if _, ok := newProvider(t, "http://127.0.0.1:1/v1", 5*time.Second, nil).(provider.Caller); ok {
		t.Error("the openai adapter is a provider.Caller; OpenAI cannot call back")
	}
}
