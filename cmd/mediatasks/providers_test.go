package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/provider/assemblyai/assemblyaifake"
	"github.com/videoai/mediatasks/shared/provider/openai/openaifake"
	"github.com/videoai/mediatasks/shared/provider/runway/runwayfake"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/transcript"
)

// hostedAnswer is what the test reads of a task.
type hostedAnswer struct {
	ID         string       `json:"id"`
	Status     string       `json:"status"`
	Provider   *string      `json:"provider"`
	OutputData *task.Output `json:"output_data"`
	Cost       *task.Cost   `json:"cost"`
	Error      *task.Error  `json:"error"`
}

// wait polls the task until it has ended.
func (c *client) wait(id string) hostedAnswer {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got hostedAnswer
		c.mustDo("GET", "/api/v1/media/tasks/"+id, nil, http.StatusOK, &got)
		if terminal(got.Status) {
			return got
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("task %s still %s", id, got.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fetch reads a file the API points at.
func (c *client) fetch(url string) []byte {
	c.t.Helper()
	resp, err := c.http.Get(url)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return b
}

// `mediatasks serve` with hosted providers pointed at fakes of their APIs
// does real work through them: an OpenAI image, an AssemblyAI
// transcription of an uploaded file, subtitles from it, a Runway video;
// a canceled video cancels Runway's job. Each says what it cost.
func TestHostedProvidersEndToEnd(t *testing.T) {
	t.Parallel()
	oai, aai, rw := openaifake.New(), assemblyaifake.New(), runwayfake.New()
	t.Cleanup(func() { oai.Close(); aai.Close(); rw.Close() })
	c := serveWithConfig(t, fmt.Sprintf(`providers:
  - name: openai
    type: openai
    task_types: [image_generation]
    options: {base_url: %q, api_key: %q, model: dall-e-3, allow_private: true}
  - name: assemblyai
    type: assemblyai
    task_types: [audio_transcription, subtitle_generation]
    options: {base_url: %q, api_key: %q, poll_after: 20ms, allow_private: true}
  - name: runway
    type: runway
    task_types: [video_generation]
    options: {base_url: %q, api_key: %q, model: gen4.5, poll_after: 20ms, allow_private: true}
  - name: runway-slow
    type: runway
    task_types: [video_generation]
    weight: 0
    options: {base_url: %q, api_key: %q, model: gen4.5, poll_after: 10m, allow_private: true}
`, oai.URL(), openaifake.Key, aai.URL(), assemblyaifake.Key, rw.URL(), runwayfake.Key, rw.URL(), runwayfake.Key))

	submit := func(path string, body map[string]any) string {
		t.Helper()
		var created hostedAnswer
		c.mustDo("POST", "/api/v1/media/"+path, body, http.StatusAccepted, &created)
		return created.ID
	}
	completed := func(id, provider string) hostedAnswer {
		t.Helper()
		got := c.wait(id)
		if got.Status != "completed" || got.Provider == nil || *got.Provider != provider || got.OutputData == nil || len(got.OutputData.Files) == 0 {
			t.Fatalf("task %s: %+v (error %+v); want completed on %s with files", id, got, got.Error, provider)
		}
		return got
	}

	var health struct {
		Providers map[string]struct {
			Detail struct {
				Simulated bool        `json:"simulated"`
				TaskTypes []task.Type `json:"task_types"`
			} `json:"detail"`
		} `json:"providers"`
	}
	c.mustDo("GET", "/api/v1/media/health", nil, http.StatusOK, &health)
	if h, ok := health.Providers["openai"]; !ok || h.Detail.Simulated || len(h.Detail.TaskTypes) != 1 || len(health.Providers) != 4 {
		t.Errorf("health lists providers %+v; want openai among 4, real, serving images", health.Providers)
	}

	image := completed(submit("images/generate", map[string]any{"prompt": "a lighthouse at dawn", "size": "1024x1024"}), "openai")
	if f := image.OutputData.Files[0]; f.ContentType != "image/png" || !bytes.HasPrefix(c.fetch(f.URL), []byte("\x89PNG")) {
		t.Errorf("image file %+v is not the PNG the provider made", f)
	}
	if image.Cost == nil || image.Cost.USD != 0.04 || !strings.HasPrefix(image.Cost.PriceVersion, "openai-") {
		t.Errorf("image cost %+v, want DALL-E 3's standard 1024x1024 price", image.Cost)
	}

	// The upload's bytes go to AssemblyAI: a file on this machine is no
	// URL the provider could reach.
	wav := openaifake.WAV(2)
	up := struct{ ID string }{c.upload(wav, "audio/wav")}
	audio := completed(submit("audio/transcribe", map[string]any{"upload_id": up.ID, "language": "en"}), "assemblyai")
	var tr transcript.Transcript
	if f := audio.OutputData.Files[0]; f.ContentType != transcript.ContentType {
		t.Errorf("transcript file %+v", f)
	} else if err := json.Unmarshal(c.fetch(f.URL), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Text != "Hello from the fake. Goodbye now." || len(tr.Words) != len(assemblyaifake.Words) || tr.Words[0].Start != 0.12 ||
		audio.OutputData.Text != tr.Text {
		t.Errorf("transcript %+v (text %q)", tr, audio.OutputData.Text)
	}
	uploaded := false
	for _, call := range aai.Calls() {
		uploaded = uploaded || call.Path == "/v2/upload" && bytes.Equal(call.Body, wav)
	}
	if !uploaded {
		t.Error("the upload's bytes were not sent to AssemblyAI's /v2/upload")
	}
	if audio.Cost == nil || audio.Cost.USD <= 0 {
		t.Errorf("transcription cost %+v", audio.Cost)
	}

	subs := completed(submit("subtitles/generate", map[string]any{"transcription_task_id": audio.ID, "format": "srt"}), "formatter")
	srt := string(c.fetch(subs.OutputData.Files[0].URL))
	if !strings.HasPrefix(srt, "1\n00:00:00,120 --> ") || !strings.Contains(srt, "Goodbye now.") {
		t.Errorf("subtitles:\n%s", srt)
	}

	video := completed(submit("videos/generate", map[string]any{"prompt": "waves at dusk", "duration_seconds": 5, "aspect_ratio": "16:9", "provider": "runway"}), "runway")
	if f := video.OutputData.Files[0]; f.ContentType != "video/mp4" || !bytes.Equal(c.fetch(f.URL), runwayfake.MP4) {
		t.Errorf("video file %+v", f)
	}
	if video.Cost == nil || video.Cost.USD <= 0 {
		t.Errorf("video cost %+v", video.Cost)
	}

	// A video canceled while Runway works on it: the job is canceled there.
	before := len(rw.Created())
	slow := submit("videos/generate", map[string]any{"prompt": "a slow pan", "provider": "runway-slow"})
	deadline := time.Now().Add(30 * time.Second)
	for len(rw.Created()) == before {
		if time.Now().After(deadline) {
			t.Fatal("the slow video never reached Runway")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.mustDo("POST", "/api/v1/media/tasks/"+slow+"/cancel", nil, http.StatusOK, nil)
	if got := c.wait(slow); got.Status != "canceled" {
		t.Fatalf("canceled video: %+v", got)
	}
	for len(rw.Canceled()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Runway's job was not canceled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ids := rw.Canceled(); len(ids) != 1 || slices.Contains(ids, "") {
		t.Errorf("canceled at Runway: %v", ids)
	}
}
