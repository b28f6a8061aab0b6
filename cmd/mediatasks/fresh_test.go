package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/provider/openai/openaifake"
)

// On a fresh machine, with no config, every task type completes on the
// defaults (real where the machine has ffmpeg and the recogniser, as CI
// does; simulated otherwise, as /health says), and its output file
// downloads from its URL.
func TestEveryTaskTypeCompletesWithoutConfig(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, data, nil)
	c := newClient(t, srv.URL, readKeyFile(t, data))
	var health struct {
		Providers map[string]struct {
			Detail struct {
				Type      string `json:"type"`
				Simulated bool   `json:"simulated"`
			} `json:"detail"`
		} `json:"providers"`
	}
	c.mustDo("GET", "/api/v1/media/health", nil, http.StatusOK, &health)
	video := "image/gif"
	if h, ok := health.Providers["ffmpeg"]; ok && !h.Detail.Simulated {
		video = "video/mp4"
	}
	_, realSpeech := health.Providers["pocketsphinx"]
	_, noFFmpeg := exec.LookPath("ffmpeg")
	_, noRecogniser := exec.LookPath("pocketsphinx_continuous")
	if noFFmpeg == nil && video != "video/mp4" || noFFmpeg == nil && noRecogniser == nil && !realSpeech {
		t.Errorf("the programs are installed, yet the defaults are %+v", health.Providers)
	}
	audio := c.upload(speech(t), "audio/wav")
	submits := map[string]struct {
		path string
		body map[string]any
		ct   string
	}{
		"image_generation":    {"/api/v1/media/images/generate", map[string]any{"prompt": "a lighthouse", "size": "512x512"}, "image/png"},
		"video_generation":    {"/api/v1/media/videos/generate", map[string]any{"prompt": "waves", "duration_seconds": 2}, video},
		"audio_transcription": {"/api/v1/media/audio/transcribe", map[string]any{"upload_id": audio}, "application/json"},
		"subtitle_generation": {"/api/v1/media/subtitles/generate", map[string]any{"upload_id": audio, "format": "vtt"}, "text/vtt"},
	}
	for typ, s := range submits {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			var ta taskAnswer
			c.mustDo("POST", s.path, s.body, http.StatusAccepted, &ta)
			var got struct {
				Status string `json:"status"`
				Output *struct {
					Files []struct {
						URL         string `json:"url"`
						ContentType string `json:"content_type"`
						SizeBytes   int64  `json:"size_bytes"`
					} `json:"files"`
				} `json:"output_data"`
			}
			deadline := time.Now().Add(60 * time.Second)
			for {
				c.mustDo("GET", "/api/v1/media/tasks/"+ta.ID, nil, http.StatusOK, &got)
				if terminal(got.Status) || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if got.Status != "completed" || got.Output == nil || len(got.Output.Files) == 0 {
				t.Fatalf("task %s: %s, output %+v", ta.ID, got.Status, got.Output)
			}
			f := got.Output.Files[0]
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", f.URL, nil) // no credentials: the URL is signed
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != s.ct || int64(len(body)) != f.SizeBytes || f.ContentType != s.ct {
				t.Fatalf("GET %s: %d %s, %d bytes; task says %s, %d bytes", f.URL, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), f.ContentType, f.SizeBytes)
			}
		})
	}
}

// With providers for some task types only, a submit of another type is
// refused at once, naming the field, rather than queued to fail; a pin to
// an unknown provider likewise.
func TestSubmitRefusesTypesNoProviderServes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("providers:\n  - {name: pics, type: sim, task_types: [image_generation]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, data, nil, "--config", cfg)
	c := newClient(t, srv.URL, readKeyFile(t, data))
	var p struct {
		Errors []struct{ Field, Message string } `json:"errors"`
	}
	c.mustDo("POST", "/api/v1/media/videos/generate", map[string]any{"prompt": "waves"}, http.StatusBadRequest, &p)
	if len(p.Errors) != 1 || p.Errors[0].Field != "task_type" || !strings.Contains(p.Errors[0].Message, "video_generation") {
		t.Fatalf("errors %+v", p.Errors)
	}
	c.mustDo("POST", "/api/v1/media/images/generate", map[string]any{"prompt": "a fox", "provider": "nope"}, http.StatusBadRequest, &p)
	if len(p.Errors) != 1 || p.Errors[0].Field != "provider" || !strings.Contains(p.Errors[0].Message, "pics") {
		t.Fatalf("errors %+v", p.Errors)
	}
	c.mustDo("POST", "/api/v1/media/images/generate", map[string]any{"prompt": "a fox", "provider": "pics"}, http.StatusAccepted, nil)
}

// speech is a few seconds of spoken English as a WAV file: espeak-ng's
// voice where it is installed (make test installs it), else a tone.
func speech(t *testing.T) []byte {
	t.Helper()
	if _, err := exec.LookPath("espeak-ng"); err == nil {
		out, err := exec.Command("espeak-ng", "-v", "en-us", "-s", "150", "--stdout",
			"The quick brown fox jumps over the lazy dog. Then it runs away into the forest.").Output()
		if err == nil && len(out) > 44 {
			return out
		}
	}
	return openaifake.WAV(3)
}

// upload sends data as an upload and returns its id.
func (c *client) upload(data []byte, contentType string) string {
	c.t.Helper()
	req, err := http.NewRequest("POST", c.base+"/api/v1/media/uploads", bytes.NewReader(data))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", contentType)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var up struct {
		ID string `json:"upload_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&up); err != nil || resp.StatusCode != http.StatusCreated {
		c.t.Fatalf("upload: %d %v", resp.StatusCode, err)
	}
	return up.ID
}
