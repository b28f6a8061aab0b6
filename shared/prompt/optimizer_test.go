package prompt_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/prompt/llm"
	"github.com/videoai/mediatasks/shared/task"
)

// memCache is the cache port in memory, for the optimiser's own tests
// (the adapters pass the conformance suite, cachetest).
type memCache struct {
	mu   sync.Mutex
	m    map[string]prompt.CacheEntry
	puts atomic.Int64
}

func newMemCache() *memCache { return &memCache{m: map[string]prompt.CacheEntry{}} }

func (c *memCache) GetCached(_ context.Context, key string) (prompt.CacheEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return e, prompt.ErrCacheMiss
	}
	return e, nil
}

func (c *memCache) PutCached(_ context.Context, e prompt.CacheEntry) error {
	c.puts.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[e.Key] = e
	return nil
}

func newOptimizer(t *testing.T, o prompt.Options) *prompt.Optimizer {
	t.Helper()
	opt, err := prompt.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return opt
}

var imageLimits = prompt.Limits{MaxPrompt: 4000, Unit: prompt.UnitChars, Negative: true}

func TestModes(t *testing.T) {
	t.Parallel()
	opt := newOptimizer(t, prompt.Options{Cache: newMemCache()})
	for name, tc := range map[string]struct {
		req       prompt.Request
		final     func(string) bool
		negative  string
		template  string
		stages    []string
		truncated bool
		dropped   bool
	}{
		"manual is as written": {
			req:      prompt.Request{TaskType: task.TypeImageGeneration, Prompt: "a red fox", NegativePrompt: "blur", Options: task.PromptOptimization{Mode: "manual"}, Limits: imageLimits},
			final:    func(s string) bool { return s == "a red fox" },
			negative: "blur", stages: []string{},
		},
		"manual is fitted": {
			req:   prompt.Request{TaskType: task.TypeImageGeneration, Prompt: "one two three four five six", Options: task.PromptOptimization{Mode: "manual"}, Limits: prompt.Limits{MaxPrompt: 12, Unit: prompt.UnitChars}},
			final: func(s string) bool { return s == "one two" }, stages: []string{"fit"}, truncated: true,
		},
		"a negative prompt is dropped where the provider takes none": {
			req:   prompt.Request{TaskType: task.TypeVideoGeneration, Prompt: "waves", NegativePrompt: "blur", Options: task.PromptOptimization{Mode: "manual"}, Limits: prompt.Limits{}},
			final: func(s string) bool { return s == "waves" }, stages: []string{"fit"}, dropped: true,
		},
		"auto keeps the subject and adds": {
			req:    prompt.Request{TaskType: task.TypeImageGeneration, Prompt: "a lighthouse", Options: task.PromptOptimization{Mode: "auto"}, Limits: imageLimits},
			final:  func(s string) bool { return strings.Contains(s, "lighthouse") && len(s) > len("a lighthouse") },
			stages: []string{"rules"},
		},
		"template renders": {
			req:      prompt.Request{TaskType: task.TypeImageGeneration, Prompt: "a lighthouse", Options: task.PromptOptimization{Mode: "template", Template: "photo"}, Limits: imageLimits},
			final:    func(s string) bool { return strings.Contains(s, "a lighthouse") && len(s) > len("a lighthouse") },
			template: "photo@1", stages: []string{"template"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			op, err := opt.Optimize(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.final(op.Final) {
				t.Errorf("final = %q", op.Final)
			}
			if tc.negative != "" && op.NegativePrompt != tc.negative {
				t.Errorf("negative = %q, want %q", op.NegativePrompt, tc.negative)
			}
			if got := strings.Join(op.Stages, ","); got != strings.Join(tc.stages, ",") {
				t.Errorf("stages = %v, want %v", op.Stages, tc.stages)
			}
			if tc.template != "" && (op.Template == nil || *op.Template != tc.template) {
				t.Errorf("template = %v, want %s", op.Template, tc.template)
			}
			if op.Truncated != tc.truncated || op.NegativeDropped != tc.dropped {
				t.Errorf("truncated %v, dropped %v; want %v, %v", op.Truncated, op.NegativeDropped, tc.truncated, tc.dropped)
			}
			if op.Original != tc.req.Prompt || op.Mode != tc.req.Options.Mode || op.OptimizerVersion != prompt.OptimizerVersion {
				t.Errorf("original %q, mode %q, version %q", op.Original, op.Mode, op.OptimizerVersion)
			}
		})
	}
}

func TestSecondIdenticalRequestIsACacheHit(t *testing.T) {
	t.Parallel()
	opt := newOptimizer(t, prompt.Options{Cache: newMemCache()})
	req := prompt.Request{TaskType: task.TypeImageGeneration, Prompt: "a  lighthouse ", Options: task.PromptOptimization{Mode: "auto"}, Limits: imageLimits}
	first, err := opt.Optimize(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	req.Prompt = "a lighthouse" // the same once spaces are collapsed
	second, err := opt.Optimize(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if first.CacheHit || !second.CacheHit || first.Final != second.Final {
		t.Errorf("hits %v then %v, finals %q and %q", first.CacheHit, second.CacheHit, first.Final, second.Final)
	}
	req.Options.Mode = "template"
	req.Options.Template = "photo"
	if third, err := opt.Optimize(context.Background(), req); err != nil || third.CacheHit {
		t.Errorf("another mode: hit %v, %v", third.CacheHit, err)
	}
}

func TestTemplateErrorsNameTheField(t *testing.T) {
	t.Parallel()
	opt := newOptimizer(t, prompt.Options{})
	for name, tc := range map[string]struct {
		po    task.PromptOptimization
		field string
	}{
		"unknown template": {task.PromptOptimization{Mode: "template", Template: "nope"}, "prompt_optimization.template"},
		"wrong task type":  {task.PromptOptimization{Mode: "template", Template: "vocabulary"}, "prompt_optimization.template"},
		"bad param value":  {task.PromptOptimization{Mode: "template", Template: "photo", Params: map[string]string{"focal_length": "9000"}}, "prompt_optimization.params.focal_length"},
		"unknown param":    {task.PromptOptimization{Mode: "template", Template: "photo", Params: map[string]string{"zoom": "2"}}, "prompt_optimization.params.zoom"},
		"int as text":      {task.PromptOptimization{Mode: "template", Template: "photo", Params: map[string]string{"focal_length": "wide"}}, "prompt_optimization.params.focal_length"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var fe *prompt.FieldError
			if err := opt.Check(task.TypeImageGeneration, &tc.po); !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("Check = %v, want a field error on %s", err, tc.field)
			}
		})
	}
	ok := task.PromptOptimization{Mode: "template", Template: "photo", Params: map[string]string{"focal_length": "85"}}
	if err := opt.Check(task.TypeImageGeneration, &ok); err != nil {
		t.Errorf("a number given as text: %v", err)
	}
}

// fakeLLM speaks OpenAI Chat Completions; answer decides each reply.
func fakeLLM(t *testing.T, answer func(n int64, w http.ResponseWriter)) (*llm.Rewriter, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer(calls.Add(1), w)
	}))
	t.Cleanup(srv.Close)
	rw, err := llm.New(llm.Config{Type: "openai", BaseURL: srv.URL + "/v1", Model: "m", MaxRetries: -1, Timeout: 5 * time.Second},
		llm.Options{Getenv: func(string) string { return "" }, Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return rw, &calls
}

func chat(w http.ResponseWriter, content string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": "x", "object": "chat.completion", "model": "m",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": content}}}})
}

func TestLLMRewriteIsCachedAndMadeOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	rw, calls := fakeLLM(t, func(_ int64, w http.ResponseWriter) {
		<-gate
		chat(w, `{"prompt":"a lighthouse on a cliff at dawn, volumetric light","negative_prompt":"blur"}`)
	})
	cache := newMemCache()
	opt := newOptimizer(t, prompt.Options{LLM: rw, Cache: cache})
	req := prompt.Request{TaskType: task.TypeImageGeneration, Prompt: "a lighthouse", Options: task.PromptOptimization{Mode: "auto"}, Limits: imageLimits}
	const n = 16
	ops := make([]*task.OptimizedPrompt, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			op, err := opt.Optimize(context.Background(), req)
			if err != nil {
				t.Error(err)
			}
			ops[i] = op
		})
	}
	time.Sleep(50 * time.Millisecond) // let every caller reach the flight
	close(gate)
	wg.Wait()
	if got := calls.Load(); got != 1 {
		t.Errorf("%d LLM calls for %d concurrent identical requests, want 1", got, n)
	}
	for _, op := range ops {
		if op == nil || op.Final != "a lighthouse on a cliff at dawn, volumetric light" || strings.Join(op.Stages, ",") != "rules,llm" {
			t.Fatalf("op = %+v", op)
		}
	}
	after, err := opt.Optimize(context.Background(), req)
	if err != nil || !after.CacheHit || calls.Load() != 1 {
		t.Errorf("after: hit %v, calls %d, %v", after.CacheHit, calls.Load(), err)
	}
	for _, e := range cache.m {
		if e.ExpiresAt.IsZero() {
			t.Error("an LLM rewrite is kept without expiry")
		}
	}
}

func TestLLMFailureFallsBackToTheRules(t *testing.T) {
	t.Parallel()
	rw, calls := fakeLLM(t, func(_ int64, w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":{"message":"down","type":"server_error"}}`))
	})
	cache := newMemCache()
	opt := newOptimizer(t, prompt.Options{LLM: rw, Cache: cache})
	req := prompt.Request{TaskType: task.TypeVideoGeneration, Prompt: "a cat", Options: task.PromptOptimization{Mode: "auto"},
		Limits: prompt.Limits{MaxPrompt: 1000, Unit: prompt.UnitUTF16}}
	op, err := opt.Optimize(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(op.Stages, ",") != "rules,llm:fallback" || !strings.Contains(op.Final, "cat") {
		t.Errorf("stages %v, final %q", op.Stages, op.Final)
	}
	if cache.puts.Load() != 0 {
		t.Error("a fallback was cached: the next task would not try the LLM")
	}
	if _, err := opt.Optimize(context.Background(), req); err != nil || calls.Load() != 2 {
		t.Errorf("the second request made %d calls in all (%v), want 2", calls.Load(), err)
	}
}

func TestProviderExpansion(t *testing.T) {
	t.Parallel()
	opt := newOptimizer(t, prompt.Options{})
	limits := prompt.Limits{Expansion: true, Negative: true}
	for name, tc := range map[string]struct {
		po   task.PromptOptimization
		want bool
	}{
		"manual keeps it":             {task.PromptOptimization{Mode: "manual"}, true},
		"a rewrite turns it off":      {task.PromptOptimization{Mode: "auto"}, false},
		"unless the task asks for it": {task.PromptOptimization{Mode: "auto", ProviderExpansion: true}, true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			op, err := opt.Optimize(context.Background(), prompt.Request{TaskType: task.TypeImageGeneration, Prompt: "a fox", Options: tc.po, Limits: limits})
			if err != nil || op.ProviderExpansion != tc.want {
				t.Errorf("expansion %v (%v), want %v", op.ProviderExpansion, err, tc.want)
			}
		})
	}
}
