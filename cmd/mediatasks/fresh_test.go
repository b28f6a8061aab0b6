package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// On a fresh machine, with no config, every task type completes on the
// simulated providers, and its output file downloads from its URL.
func TestEveryTaskTypeCompletesWithoutConfig(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, data, nil)
	c := newClient(t, srv.URL, readKeyFile(t, data))
	submits := map[string]struct {
		path string
		body map[string]any
		ct   string
	}{
		"image_generation":    {"/api/v1/media/images/generate", map[string]any{"prompt": "a lighthouse", "size": "512x512"}, "image/png"},
		"video_generation":    {"/api/v1/media/videos/generate", map[string]any{"prompt": "waves", "duration_seconds": 2}, "image/gif"},
		"audio_transcription": {"/api/v1/media/audio/transcribe", map[string]any{"audio_url": "https://example.com/talk.mp3"}, "application/json"},
		"subtitle_generation": {"/api/v1/media/subtitles/generate", map[string]any{"audio_url": "https://example.com/talk.mp3", "format": "vtt"}, "text/vtt"},
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
