package config_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/task"
)

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"empty":         "",
		"blank lines":   "\n\n",
		"comment only":  "# nothing set\n",
		"null":          "null",
		"empty mapping": "{}",
		"empty parts":   "limits: {}\nwebhooks: {}\nstorage: {}\nqueue: {}\nproviders: []\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Parse([]byte(doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := config.Default()
			if c.Limits != want.Limits || c.Storage != want.Storage || c.Queue != want.Queue ||
				c.Webhooks.Timeout != want.Webhooks.Timeout || c.Webhooks.AllowPrivate ||
				len(c.Webhooks.RetrySchedule) != 7 || len(c.Providers) != 0 {
				t.Errorf("got %+v, want the defaults %+v", c, want)
			}
		})
	}
}

func TestDefaultValues(t *testing.T) {
	t.Parallel()
	c := config.Default()
	if c.Limits.BatchMax != 50 || c.Limits.SubmitsPerMinute != 600 || c.Limits.PreferWaitMax != time.Minute ||
		c.Limits.UploadMaxBytes != 100<<20 || c.Limits.RequeueAfter != 5*time.Minute {
		t.Errorf("limits = %+v", c.Limits)
	}
	want := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	if !equalDurations(c.Webhooks.RetrySchedule, want) {
		t.Errorf("retry schedule = %v, want %v", c.Webhooks.RetrySchedule, want)
	}
	if c.Webhooks.Timeout != 15*time.Second || c.Storage.Synchronous != "FULL" || c.Queue.MaxReceives != 5 {
		t.Errorf("webhooks %+v storage %+v queue %+v", c.Webhooks, c.Storage, c.Queue)
	}
}

const full = `
# every setting
providers:
  - name: sim-fast
    type: sim
    task_types: [image_generation, video_generation]
    weight: 2.5
    max_concurrency: 8
    options:
      latency_ms: 10
      fail_with: transient
      nested: {a: [1, 2]}
  - name: openai
    type: openai
    task_types: [audio_transcription]
limits:
  batch_max: 200
  submits_per_minute: 6000
  prefer_wait_max_seconds: 30
  upload_max_bytes: 1048576
  requeue_after: 90s
webhooks:
  retry_schedule: ["1s", "1m30s", "2h"]
  timeout_seconds: 2.5
  allow_private: true
storage:
  synchronous: normal
queue:
  max_receives: 9
workflow:
  workers: 32
  batch_concurrency: 5
  max_in_progress: 100
  max_in_progress_per_type: 40
  callback_fallback: 2m
server:
  public_base_url: https://tasks.example.com/
`

func TestParseFull(t *testing.T) {
	t.Parallel()
	c, err := config.Parse([]byte(full))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(c.Providers) != 2 {
		t.Fatalf("providers = %+v", c.Providers)
	}
	p := c.Providers[0]
	if p.Name != "sim-fast" || p.Type != "sim" || p.Weight != 2.5 || p.MaxConcurrency != 8 ||
		len(p.TaskTypes) != 2 || p.TaskTypes[0] != task.TypeImageGeneration || p.TaskTypes[1] != task.TypeVideoGeneration {
		t.Errorf("providers[0] = %+v", p)
	}
	var opts struct {
		LatencyMS int    `json:"latency_ms"`
		FailWith  string `json:"fail_with"`
		Nested    struct {
			A []int `json:"a"`
		} `json:"nested"`
	}
	if err := json.Unmarshal(p.Options, &opts); err != nil || opts.LatencyMS != 10 || opts.FailWith != "transient" || len(opts.Nested.A) != 2 {
		t.Errorf("providers[0].options = %s (%+v, %v)", p.Options, opts, err)
	}
	if q := c.Providers[1]; q.Weight != 1 || q.MaxConcurrency != 0 || q.Options != nil {
		t.Errorf("providers[1] defaults = %+v", q)
	}
	want := config.Limits{BatchMax: 200, SubmitsPerMinute: 6000, PreferWaitMax: 30 * time.Second, UploadMaxBytes: 1 << 20, RequeueAfter: 90 * time.Second}
	if c.Limits != want {
		t.Errorf("limits = %+v, want %+v", c.Limits, want)
	}
	if !equalDurations(c.Webhooks.RetrySchedule, []time.Duration{time.Second, 90 * time.Second, 2 * time.Hour}) ||
		c.Webhooks.Timeout != 2500*time.Millisecond || !c.Webhooks.AllowPrivate {
		t.Errorf("webhooks = %+v", c.Webhooks)
	}
	if c.Storage.Synchronous != "NORMAL" || c.Queue.MaxReceives != 9 {
		t.Errorf("storage %+v queue %+v", c.Storage, c.Queue)
	}
	if c.Workflow != (config.Workflow{Workers: 32, BatchConcurrency: 5, MaxInProgress: 100, MaxInProgressPerType: 40, CallbackFallback: 2 * time.Minute}) {
		t.Errorf("workflow %+v", c.Workflow)
	}
	if c.Server.PublicBaseURL != "https://tasks.example.com" {
		t.Errorf("server.public_base_url %q, want it without its trailing slash", c.Server.PublicBaseURL)
	}
	got := c.AppLimits()
	wantApp := app.Limits{BatchMax: 200, SubmitsPerMinute: 6000, PreferWaitMax: 30 * time.Second, UploadMaxBytes: 1 << 20,
		RequeueAfter: 90 * time.Second, StartAttempts: 9, MinFreeBytes: config.DefaultMinFreeBytes}
	if got != wantApp {
		t.Errorf("AppLimits = %+v, want %+v", got, wantApp)
	}
}

func TestParseJSON(t *testing.T) {
	t.Parallel()
	c, err := config.Parse([]byte(`{"limits": {"batch_max": 7}, "providers": [{"name": "a", "type": "sim", "task_types": ["subtitle_generation"], "weight": 0}]}`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Limits.BatchMax != 7 || c.Providers[0].Weight != 0 {
		t.Errorf("got %+v", c)
	}
}

func TestParseEmptyRetrySchedule(t *testing.T) {
	t.Parallel()
	c, err := config.Parse([]byte("webhooks:\n  retry_schedule: []\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Webhooks.RetrySchedule == nil || len(c.Webhooks.RetrySchedule) != 0 {
		t.Errorf("an explicit empty schedule means no retry, got %v", c.Webhooks.RetrySchedule)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		doc  string
		want []string // each must be in the message
	}{
		"unknown top-level field":   {"limitz: {}", []string{"limitz: unknown field"}},
		"unknown nested field":      {"limits:\n  batch_maxx: 3", []string{"limits.batch_maxx: unknown field"}},
		"unknown provider field":    {"providers:\n  - {name: a, type: sim, task_types: [image_generation]}\n  - {name: b, type: sim, task_types: [image_generation], wieght: 2}", []string{"providers[1].wieght: unknown field"}},
		"batch_max zero":            {"limits: {batch_max: 0}", []string{"limits.batch_max: must be between 1 and 1000"}},
		"batch_max too large":       {"limits: {batch_max: 1001}", []string{"limits.batch_max: must be between 1 and 1000"}},
		"batch_max fractional":      {"limits: {batch_max: 2.5}", []string{"limits.batch_max: must be a whole number"}},
		"batch_max string":          {"limits: {batch_max: many}", []string{"limits.batch_max: must be a whole number"}},
		"submits_per_minute zero":   {"limits: {submits_per_minute: 0}", []string{"limits.submits_per_minute: must be between 1"}},
		"prefer wait zero":          {"limits: {prefer_wait_max_seconds: 0}", []string{"limits.prefer_wait_max_seconds: must be between 1 and 60"}},
		"prefer wait too long":      {"limits: {prefer_wait_max_seconds: 61}", []string{"limits.prefer_wait_max_seconds: must be between 1 and 60"}},
		"upload negative":           {"limits: {upload_max_bytes: -1}", []string{"limits.upload_max_bytes: must be between 1"}},
		"requeue_after not go":      {"limits: {requeue_after: 5 minutes}", []string{`limits.requeue_after: "5 minutes" is not a Go duration`}},
		"requeue_after number":      {"limits: {requeue_after: 300}", []string{"limits.requeue_after: must be a string"}},
		"requeue_after tiny":        {"limits: {requeue_after: 10ms}", []string{"limits.requeue_after: must be at least 1s"}},
		"retry entry zero":          {`webhooks: {retry_schedule: ["5s", "0s"]}`, []string{"webhooks.retry_schedule[1]: must be more than 0"}},
		"retry entry negative":      {`webhooks: {retry_schedule: ["-5s"]}`, []string{"webhooks.retry_schedule[0]: must be more than 0"}},
		"retry entry bad":           {`webhooks: {retry_schedule: ["5s", "soon"]}`, []string{`webhooks.retry_schedule[1]: "soon" is not a Go duration`}},
		"retry not a list":          {`webhooks: {retry_schedule: 5s}`, []string{"webhooks.retry_schedule: must be a list"}},
		"retry too many":            {"webhooks:\n  retry_schedule: [" + strings.Repeat(`"1s",`, 21) + `"1s"]`, []string{"webhooks.retry_schedule: must have at most 20 entries"}},
		"timeout zero":              {"webhooks: {timeout_seconds: 0}", []string{"webhooks.timeout_seconds: must be from 0.001"}},
		"timeout negative":          {"webhooks: {timeout_seconds: -3}", []string{"webhooks.timeout_seconds: must be from 0.001"}},
		"timeout below a ms":        {"webhooks: {timeout_seconds: 1e-10}", []string{"webhooks.timeout_seconds: must be from 0.001"}},
		"key given twice":           {"limits: {batch_max: 10}\nlimits: {batch_max: 500}", []string{"not valid YAML", "limits"}},
		"batch over the rate":       {"limits: {batch_max: 100, submits_per_minute: 60}", []string{"limits.batch_max: must be at most limits.submits_per_minute (60)"}},
		"allow_private not bool":    {"webhooks: {allow_private: maybe}", []string{"webhooks.allow_private: must be true or false"}},
		"synchronous bad":           {`storage: {synchronous: "OFF"}`, []string{`storage.synchronous: must be FULL or NORMAL, not "OFF"`}},
		"synchronous yaml bool":     {"storage: {synchronous: off}", []string{"storage.synchronous: must be a string (YAML reads"}},
		"max_receives zero":         {"queue: {max_receives: 0}", []string{"queue.max_receives: must be between 1 and 1000"}},
		"workers zero":              {"workflow: {workers: 0}", []string{"workflow.workers: must be between 1 and 1024"}},
		"batch concurrency text":    {"workflow: {batch_concurrency: ten}", []string{"workflow.batch_concurrency"}},
		"per type zero":             {"workflow: {max_in_progress_per_type: 0}", []string{"workflow.max_in_progress_per_type: must be between 1 and"}},
		"callback fallback short":   {"workflow: {callback_fallback: 500ms}", []string{"workflow.callback_fallback: must be from 1s to 24h, not 500ms"}},
		"public base url relative":  {"server: {public_base_url: /tasks}", []string{`server.public_base_url: must be an http or https URL, not "/tasks"`}},
		"public base url query":     {"server: {public_base_url: 'https://x.example/?a=1'}", []string{"server.public_base_url: must have no query"}},
		"limits not a mapping":      {"limits: [1, 2]", []string{"limits: must be a mapping"}},
		"document not a mapping":    {"- a\n- b", []string{"the file must be a mapping"}},
		"not yaml":                  {"limits: {batch_max: [", []string{"not valid YAML"}},
		"providers not a list":      {"providers: {name: a}", []string{"providers: must be a list"}},
		"provider without name":     {"providers:\n  - {type: sim, task_types: [image_generation]}", []string{"providers[0].name: is required"}},
		"provider blank name":       {"providers:\n  - {name: '  ', type: sim, task_types: [image_generation]}", []string{"providers[0].name: is required"}},
		"provider duplicate name":   {"providers:\n  - {name: a, type: sim, task_types: [image_generation]}\n  - {name: a, type: sim, task_types: [video_generation]}", []string{`providers[1].name: "a" is already the name of providers[0]`}},
		"provider without type":     {"providers:\n  - {name: a, task_types: [image_generation]}", []string{"providers[0].type: is required"}},
		"provider without types":    {"providers:\n  - {name: a, type: sim}", []string{"providers[0].task_types: must list at least one task type"}},
		"provider unknown type":     {"providers:\n  - {name: a, type: sim, task_types: [image_generation]}\n  - {name: b, type: sim, task_types: [x]}", []string{`providers[1].task_types[0]: unknown task type "x"`}},
		"provider repeated type":    {"providers:\n  - {name: a, type: sim, task_types: [image_generation, image_generation]}", []string{`providers[0].task_types[1]: task type "image_generation" is listed twice`}},
		"provider negative weight":  {"providers:\n  - {name: a, type: sim, task_types: [image_generation], weight: -1}", []string{"providers[0].weight: must be 0 or more"}},
		"provider negative cap":     {"providers:\n  - {name: a, type: sim, task_types: [image_generation], max_concurrency: -1}", []string{"providers[0].max_concurrency: must be between 0 and"}},
		"provider options a list":   {"providers:\n  - {name: a, type: sim, task_types: [image_generation], options: [1]}", []string{"providers[0].options: must be a mapping"}},
		"provider task_types a str": {"providers:\n  - {name: a, type: sim, task_types: image_generation}", []string{"providers[0].task_types: must be a list"}},
		"several at once": {"limits: {batch_max: 0, prefer_wait_max_seconds: 99}\nqueue: {max_receives: 0}",
			[]string{"limits.batch_max:", "limits.prefer_wait_max_seconds:", "queue.max_receives:"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse(%q) = nil error, want %q", tc.doc, tc.want)
			}
			var errs config.Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Errorf("error %v (%T) is not a config.Errors", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("limits:\n  batch_max: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(good)
	if err != nil || c.Limits.BatchMax != 3 {
		t.Fatalf("Load = %+v, %v", c.Limits, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("limits:\n  batch_max: 3000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = config.Load(bad)
	var errs config.Errors
	if err == nil || !errors.As(err, &errs) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "limits.batch_max") {
		t.Errorf("Load(bad) = %v, want the file and the field named", err)
	}
	if _, err := config.Load(filepath.Join(dir, "missing.yaml")); err == nil || errors.As(err, &errs) {
		t.Errorf("Load(missing) = %v, want a read error", err)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The README's example config is valid.
func TestReadmeExampleParses(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The full example is the yaml block that sets limits.
	_, rest, ok := strings.Cut(string(readme), "```yaml\nlimits:")
	example, _, closed := strings.Cut(rest, "```")
	example = "limits:" + example
	if !ok || !closed {
		t.Fatal("the README has no yaml example of the config file")
	}
	cfg, err := config.Parse([]byte(example))
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	if len(cfg.Providers) == 0 || cfg.Limits.BatchMax != 50 {
		t.Fatalf("README example read as %+v", cfg)
	}
}

func TestParsePrompt(t *testing.T) {
	t.Parallel()
	c, err := config.Parse([]byte(`prompt:
  cache_ttl: 48h
  llm: {type: openai, base_url: "http://127.0.0.1:11434/v1", model: llama3.1, timeout_seconds: 5, max_retries: 1}
  templates:
    - name: product
      version: 2
      task_types: [image_generation]
      prompt: "{prompt}, product photo on {background}"
      params: [{name: background, type: string, default: white}]
  experiments:
    - name: bg
      arms:
        - {name: raw}
        - {name: product, weight: 2, prompt_optimization: {mode: template, template: product}}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Prompt
	if p.CacheTTL != 48*time.Hour || p.LLM == nil || p.LLM.Type != "openai" || p.LLM.Model != "llama3.1" ||
		p.LLM.Timeout != 5*time.Second || p.LLM.MaxRetries != 1 || len(p.Templates) != 1 || p.Templates[0].Name != "product" ||
		len(p.Experiments) != 1 || len(p.Experiments[0].Arms) != 2 || p.Experiments[0].Arms[1].Optimization.Template != "product" {
		t.Errorf("prompt = %+v (llm %+v)", p, p.LLM)
	}
	for doc, want := range map[string]string{
		"prompt: {templates: [{name: x, task_types: [image_generation], prompt: \"{prompt}\", colour: red}]}": "prompt.templates",
		"prompt: {llm: {type: openai}}":                               "prompt.llm.model",
		"prompt: {llm: {type: openai, model: m, timeout_seconds: 0}}": "prompt.llm.timeout_seconds",
		"prompt: {ttl: 1h}":                                           "prompt.ttl",
		"prompt: {experiments: [{name: e, arms: [{name: a}, {name: b, prompt_optimization: {mode: template, template: nope}}]}]}": "prompt.experiments[0].arms[1].prompt_optimization.template",
		"prompt: {experiments: [{name: e, arms: [{name: a, share: 1}]}]}":                                                         "prompt.experiments",
	} {
		if _, err := config.Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %s", doc, err, want)
		}
	}
}

func TestParseSubtitles(t *testing.T) {
	t.Parallel()
	c, err := config.Parse([]byte("subtitles: {max_chars_per_second: 20, min_gap_seconds: 0.1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Subtitles; o.MaxCharsPerSecond != 20 || o.MinGapSeconds != 0.1 || o.MaxLines != 2 || o.MaxCueSeconds != 7 {
		t.Errorf("subtitles = %+v", o)
	}
	if c, err := config.Parse([]byte("{}")); err != nil || c.Subtitles.MaxCharsPerSecond != 17 {
		t.Errorf("default subtitles = %+v, %v", c.Subtitles, err)
	}
	for doc, want := range map[string]string{
		"subtitles: {max_chars_per_second: 500}": "max_chars_per_second",
		"subtitles: {max_lines: 0}":              "max_lines",
		"subtitles: {colour: red}":               "subtitles.colour",
	} {
		if _, err := config.Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %s", doc, err, want)
		}
	}
}

func TestParseRetention(t *testing.T) {
	t.Parallel()
	c, err := config.Parse([]byte("storage: {retention: 168h}\n"))
	if err != nil || c.Storage.Retention != 168*time.Hour || c.AppLimits().Retention != 168*time.Hour {
		t.Fatalf("retention = %v, %v", c.Storage.Retention, err)
	}
	if _, err := config.Parse([]byte("storage: {retention: 5m}\n")); err == nil || !strings.Contains(err.Error(), "storage.retention") {
		t.Errorf("a retention of 5m: %v, want an error naming storage.retention", err)
	}
}
