package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/task"
)

// serveWithConfig runs serve in process on a fresh data folder with the
// config file conf, and returns a client of its API.
func serveWithConfig(t *testing.T, conf string) *client {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	opts, err := parseServe([]string{"--addr", "127.0.0.1:0", "--data", data, "--config", cfg}, envMap(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	opts.ready = func(u string) { urls <- u }
	ctx, cancel := context.WithCancel(context.Background())
	var logs lockedBuffer
	done := make(chan error, 1)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		done <- serve(ctx, opts, envMap(nil), &logs)
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	select {
	case base := <-urls:
		return newClient(t, base, readKeyFile(t, data))
	case err := <-done:
		t.Fatalf("serve returned early: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not listen")
	}
	return nil
}

type optimizedAnswer struct {
	ID              string                `json:"id"`
	Status          string                `json:"status"`
	OptimizedPrompt *task.OptimizedPrompt `json:"optimized_prompt"`
	Error           *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// finished polls the task until it has ended.
func (c *client) finished(id string) optimizedAnswer {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got optimizedAnswer
		c.mustDo("GET", "/api/v1/media/tasks/"+id, nil, http.StatusOK, &got)
		if got.Status == "completed" || got.Status == "failed" || got.Status == "canceled" {
			return got
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("task %s still %s", id, got.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Every prompt optimisation mode through the API, on the sim: the task
// shows what its provider was sent, a second identical submit is a cache
// hit, the sim's prompt limit cuts a long prompt, a failing LLM falls back
// to the rules, and a bad template is a 400 naming the field.
func TestPromptOptimisationThroughTheAPI(t *testing.T) {
	t.Parallel()
	var llmCalls atomic.Int64
	llm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		llmCalls.Add(1)
		if strings.Contains(req.Messages[len(req.Messages)-1].Content, "storm") {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":{"message":"overloaded","type":"server_error"}}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "c1", "object": "chat.completion", "model": "m",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": `{"prompt":"a lighthouse on a cliff at dawn, rim light","negative_prompt":"blur"}`}}}})
	}))
	defer llm.Close()
	c := serveWithConfig(t, `providers:
  - name: sim-image
    type: sim
    task_types: [image_generation]
    options: {latency_ms: 1, max_prompt_chars: 60}
  - name: sim-video
    type: sim
    task_types: [video_generation]
    options: {latency_ms: 1}
prompt:
  llm:
    type: openai
    base_url: `+llm.URL+`/v1
    model: m
    max_retries: 0
`)
	submit := func(body map[string]any) optimizedAnswer {
		t.Helper()
		var created optimizedAnswer
		c.mustDo("POST", "/api/v1/media/images/generate", body, http.StatusAccepted, &created)
		return c.finished(created.ID)
	}

	// No prompt_optimization: no optimized_prompt, the prompt untouched.
	if got := submit(map[string]any{"prompt": "a fox"}); got.Status != "completed" || got.OptimizedPrompt != nil {
		t.Fatalf("without optimisation: %+v", got)
	}
	// Auto: rules, then the LLM; the second identical submit is a hit.
	auto := map[string]any{"prompt": "a lighthouse", "prompt_optimization": map[string]any{"mode": "auto"}}
	first := submit(auto)
	op := first.OptimizedPrompt
	if first.Status != "completed" || op == nil || op.Final != "a lighthouse on a cliff at dawn, rim light" ||
		strings.Join(op.Stages, ",") != "rules,llm" || op.CacheHit || op.Provider != "sim-image" || op.NegativePrompt != "blur" {
		t.Fatalf("auto: %+v %+v", first, op)
	}
	calls := llmCalls.Load()
	if second := submit(auto); second.OptimizedPrompt == nil || !second.OptimizedPrompt.CacheHit || llmCalls.Load() != calls {
		t.Errorf("second identical submit: %+v, LLM calls %d then %d", second.OptimizedPrompt, calls, llmCalls.Load())
	}
	// The LLM failing: the rules' prompt stands and the task completes.
	storm := submit(map[string]any{"prompt": "a storm", "prompt_optimization": map[string]any{"mode": "auto"}})
	if storm.Status != "completed" || storm.OptimizedPrompt == nil || !strings.Contains(strings.Join(storm.OptimizedPrompt.Stages, ","), "llm:fallback") ||
		!strings.Contains(storm.OptimizedPrompt.Final, "storm") {
		t.Errorf("fallback: %+v %+v", storm, storm.OptimizedPrompt)
	}
	// Manual, over the sim's 60 characters: cut at a word, and said so.
	long := strings.Repeat("golden harbour lights ", 5)
	manual := submit(map[string]any{"prompt": long, "prompt_optimization": map[string]any{"mode": "manual"}})
	if mo := manual.OptimizedPrompt; mo == nil || !mo.Truncated || len(mo.Final) > 60 || !strings.HasPrefix(long, mo.Final) {
		t.Errorf("manual: %+v", mo)
	}
	// Template: the photo template, a number param given as text.
	tmpl := submit(map[string]any{"prompt": "a fox", "prompt_optimization": map[string]any{"mode": "template", "template": "photo",
		"params": map[string]string{"focal_length": "85"}}})
	if to := tmpl.OptimizedPrompt; to == nil || to.Template == nil || *to.Template != "photo@1" || !strings.Contains(to.Final, "fox") {
		t.Errorf("template: %+v", to)
	}
	// A bad template or param is refused at submit, naming the field.
	for field, po := range map[string]map[string]any{
		"prompt_optimization.template":            {"mode": "template", "template": "nope"},
		"prompt_optimization.params.focal_length": {"mode": "template", "template": "photo", "params": map[string]string{"focal_length": "9000"}},
	} {
		var problem struct {
			Errors []struct{ Field string } `json:"errors"`
		}
		c.mustDo("POST", "/api/v1/media/images/generate", map[string]any{"prompt": "a fox", "prompt_optimization": po}, http.StatusBadRequest, &problem)
		if len(problem.Errors) != 1 || problem.Errors[0].Field != field {
			t.Errorf("%v: errors %+v, want one on %s", po, problem.Errors, field)
		}
	}
	// The preview answers the same object and makes no task.
	var preview struct {
		Final    string   `json:"final"`
		Stages   []string `json:"stages"`
		CacheHit bool     `json:"cache_hit"`
	}
	c.mustDo("POST", "/api/v1/media/prompts/optimize", map[string]any{"task_type": "image_generation", "prompt": "a lighthouse",
		"prompt_optimization": map[string]any{"mode": "auto"}}, http.StatusOK, &preview)
	if preview.Final != first.OptimizedPrompt.Final || !preview.CacheHit {
		t.Errorf("preview: %+v", preview)
	}
	var templates struct {
		Templates []struct {
			Name    string `json:"name"`
			Version int    `json:"version"`
		} `json:"templates"`
	}
	c.mustDo("GET", "/api/v1/media/prompts/templates", nil, http.StatusOK, &templates)
	names := map[string]bool{}
	for _, tp := range templates.Templates {
		names[tp.Name] = true
	}
	for _, want := range []string{"photo", "cinematic", "illustration", "cinematic-shot", "product-turntable", "vocabulary"} {
		if !names[want] {
			t.Errorf("templates %+v lack %s", templates.Templates, want)
		}
	}
}

// Tasks that ask for no optimisation fall in the configured experiment's
// arms, which their tasks show and /stats sums; a task that asks for a
// mode of its own keeps it and is in no arm.
func TestPromptExperimentThroughTheAPI(t *testing.T) {
	t.Parallel()
	c := serveWithConfig(t, `providers:
  - name: sim-image
    type: sim
    task_types: [image_generation]
    options: {latency_ms: 1}
prompt:
  experiments:
    - name: style
      task_types: [image_generation]
      arms:
        - name: raw
        - name: photo
          prompt_optimization: {mode: template, template: photo}
`)
	arms := map[string]int{}
	for i := range 12 {
		var created optimizedAnswer
		c.mustDo("POST", "/api/v1/media/images/generate", map[string]any{"prompt": fmt.Sprintf("a red fox %d in snow", i)}, http.StatusAccepted, &created)
		got := c.finished(created.ID)
		op := got.OptimizedPrompt
		if got.Status != "completed" || op == nil || op.Experiment == nil || op.Experiment.Name != "style" {
			t.Fatalf("task %s: status %s, optimized_prompt %+v; want completed in experiment style", got.ID, got.Status, op)
		}
		arms[op.Experiment.Arm]++
		if want := map[string]string{"raw": "manual", "photo": "template"}[op.Experiment.Arm]; op.Mode != want {
			t.Errorf("arm %s ran mode %q, want %q", op.Experiment.Arm, op.Mode, want)
		}
	}
	var own optimizedAnswer
	c.mustDo("POST", "/api/v1/media/images/generate", map[string]any{"prompt": "a fox", "prompt_optimization": map[string]any{"mode": "auto"}}, http.StatusAccepted, &own)
	if got := c.finished(own.ID); got.OptimizedPrompt == nil || got.OptimizedPrompt.Mode != "auto" || got.OptimizedPrompt.Experiment != nil {
		t.Errorf("a task asking for auto: optimized_prompt %+v; want auto and no experiment", got.OptimizedPrompt)
	}
	var stats task.Stats
	c.mustDo("GET", "/api/v1/media/stats", nil, http.StatusOK, &stats)
	total := 0
	for _, a := range stats.Experiments {
		if a.Experiment != "style" || a.Completed != arms[a.Arm] {
			t.Errorf("stats arm %+v; tasks seen per arm %v", a, arms)
		}
		total += a.Completed
	}
	if total != 12 {
		t.Errorf("stats count %d tasks in arms, want 12: %+v", total, stats.Experiments)
	}
	// The photo arm's and the auto task's prompts went through the cache.
	if stats.Prompts.Optimized != arms["photo"]+1 {
		t.Errorf("stats prompts %+v, want %d optimised", stats.Prompts, arms["photo"]+1)
	}
}
