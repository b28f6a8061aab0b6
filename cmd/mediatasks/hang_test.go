package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/videoai/mediatasks/shared/provider/openai/openaifake"
)

// A provider that hangs takes only its own capacity, in the real server:
// 30 image tasks on an OpenAI endpoint that accepts their calls and never
// answers; video tasks on another provider complete while they all hang,
// and /health answers.
func TestAHangingProviderHoldsOnlyItself(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	conf := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `providers:
  - name: hanging
    type: openai
    task_types: [image_generation]
    options: {base_url: %q, api_key: %q, model: dall-e-3, allow_private: true}
  - name: sim-video
    type: sim
    task_types: [video_generation]
    options: {latency_ms: 20, poll_steps: 1, poll_after_ms: 50}
`, hang.URL, openaifake.Key), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	srv := startServer(t, data, nil, "--config", conf)
	c := newClient(t, srv.URL, readKeyFile(t, data))

	for i := range 30 {
		c.mustDo("POST", "/api/v1/media/images/generate", map[string]any{"prompt": fmt.Sprintf("a fox %d", i), "size": "1024x1024"}, http.StatusAccepted, nil)
	}
	waitFor(t, t.Context(), "every image call hanging", func() bool { return calls.Load() >= 30 })
	for i := range 5 {
		var v hostedAnswer
		c.mustDo("POST", "/api/v1/media/videos/generate", map[string]any{"prompt": fmt.Sprintf("waves %d", i), "duration_seconds": 2}, http.StatusAccepted, &v)
		if got := c.wait(v.ID); got.Status != "completed" {
			t.Fatalf("video %d beside a hanging provider: %s %+v", i, got.Status, got.Error)
		}
	}
	c.mustDo("GET", "/api/v1/media/health", nil, http.StatusOK, nil)
	if n := calls.Load(); n < 30 {
		t.Fatalf("%d image calls, want the 30 hanging", n)
	}
}
