// Package config reads the operator's configuration file of
// `mediatasks serve`: YAML (so JSON too) with the providers, the client
// limits, the webhook delivery settings, the storage durability and the
// queue's dead-letter threshold.
//
// The file is converted to JSON and checked field by field before it is
// decoded, so that every error, an unknown field and a value of the wrong
// type as much as a value out of range, names the field's path, such as
// `limits.batch_max` or `providers[1].task_types[0]`.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/prompt/llm"
	"github.com/videoai/mediatasks/shared/prompt/template"
	"github.com/videoai/mediatasks/shared/subtitle"
	"github.com/videoai/mediatasks/shared/task"
)

// Config is a validated configuration with every default filled in.
type Config struct {
	Providers []Provider
	Limits    Limits
	Webhooks  Webhooks
	Storage   Storage
	Queue     Queue
	Workflow  Workflow
	Prompt    Prompt
	// Subtitles are the subtitle formatter's rules (subtitles); a task's
	// max_line_chars sets its line length.
	Subtitles subtitle.Options
	Media     Media
	Server    Server
}

// Server are the local server's connection limits (0: the defaults).
type Server struct {
	// MaxConnections and MaxClientConnections bound the open connections
	// in all and per client address; past them a connection is answered
	// 503 and closed (defaults: 8,192, or three quarters of the open
	// files limit, and a quarter of that per client).
	MaxConnections, MaxClientConnections int
	// MinBodyRate is the slowest a request body may arrive, in bytes a
	// second, once BodyGrace has passed (defaults 64 KiB/s and 10 s).
	MinBodyRate int64
	BodyGrace   time.Duration
	// PublicBaseURL is where providers' servers reach this server's API
	// (https://tasks.example.com): set, providers that can call back are
	// told to, and their jobs wait for the call instead of being polled.
	// Empty: every job is polled.
	PublicBaseURL string
}

// Media are the settings of the media the platform fetches on a user's
// behalf (files providers answer with as URLs).
type Media struct {
	// AllowPrivate lifts the SSRF guard's refusal of private and loopback
	// addresses (local development only). Hosted providers' own fetches
	// have their allow_private option.
	AllowPrivate bool
}

// Prompt are the prompt optimiser's settings, checked when the file is
// read (by the template catalogue and the LLM's own rules).
type Prompt struct {
	// Templates are the operator's templates (prompt.templates).
	Templates []template.Spec
	// LLM rewrites auto mode's prompts (prompt.llm); nil: rules only. Its
	// key is read from the environment variable it names.
	LLM *llm.Config
	// CacheTTL is how long an LLM's rewrite is kept (default 7 days).
	CacheTTL time.Duration
	// Experiments are the A/B tests of prompt optimisation
	// (prompt.experiments).
	Experiments []prompt.Experiment
}

// Provider is one configured provider. The workflow's registry builds it
// from Type and Options.
type Provider struct {
	Name           string
	Type           string
	TaskTypes      []task.Type
	Weight         float64 // share of the load among the providers of a task type (default 1)
	MaxConcurrency int     // calls at once; 0 means no cap
	// RequestsPerMinute paces the calls (starts and polls) to the
	// provider across the process; 0 means no pacing.
	RequestsPerMinute int
	Options           json.RawMessage // the type's own settings, a JSON object (nil when absent)
}

// Limits shape what clients may do.
type Limits struct {
	BatchMax         int           // tasks in one batch (default 50)
	SubmitsPerMinute int           // per API key (default 600)
	PreferWaitMax    time.Duration // longest Prefer: wait (default 60 s)
	UploadMaxBytes   int64         // largest upload (default 100 MiB)
	RequeueAfter     time.Duration // a task queued this long is re-sent (default 5 min)
	DailyBudgetUSD   float64       // per user and UTC day; 0: no cap
}

// Webhooks are the delivery settings.
type Webhooks struct {
	RetrySchedule []time.Duration // delays after the first try; empty: no retry
	Timeout       time.Duration   // of one attempt (default 15 s)
	AllowPrivate  bool            // lift the private-address guard (local development only)
}

// Storage is the embedded database's durability.
type Storage struct {
	Synchronous string // "FULL" (default) or "NORMAL"
	// Retention is how long outputs and uploads are kept (default 30
	// days, as the cloud bucket's lifecycle); then they are removed and
	// their tasks say so.
	Retention time.Duration
	// MinFreeBytes refuses new submits (507) while the data folder's disk
	// has less free space (default 64 MiB; 0: no watermark).
	MinFreeBytes int64
}

// DefaultMinFreeBytes is the free space under which submits wait.
const DefaultMinFreeBytes = 64 << 20

// Workflow settings of the local engine.
type Workflow struct {
	Workers          int // executions stepped at once (default 16)
	BatchConcurrency int // tasks of one batch running at once: the Map's MaxConcurrency (0: the runners' default, 10)
	// MaxInProgress bounds the workflows started and not ended; the rest
	// wait in the queue by priority (0: 4 per worker).
	MaxInProgress int
	// MaxInProgressPerType bounds the task workflows of one task type
	// among them (0: MaxInProgress, none of its own), so that one type's slow work
	// leaves room for the others (on one machine).
	MaxInProgressPerType int
	// CallbackFallback is how long a job whose provider calls back waits
	// for the call before it is polled once, in case the call was lost
	// (default 60 s; both runtimes).
	CallbackFallback time.Duration
}

// Queue settings of the task queue.
type Queue struct {
	MaxReceives int // receives before a message goes to the dead-letter queue (default 5)
}

// Defaults of the settings, as documented in the README.
const (
	DefaultBatchMax         = 50
	DefaultSubmitsPerMinute = 600
	DefaultPreferWaitMax    = 60 * time.Second
	DefaultUploadMaxBytes   = 100 << 20
	DefaultRequeueAfter     = 5 * time.Minute
	DefaultWebhookTimeout   = 15 * time.Second
	DefaultSynchronous      = "FULL"
	DefaultMaxReceives      = 5
	DefaultWorkers          = 16
	// DefaultCallbackFallback is callback.DefaultFallback.
	DefaultCallbackFallback = 3 * time.Minute
)

// DefaultRetrySchedule is the webhook retry schedule after the first try.
func DefaultRetrySchedule() []time.Duration {
	return []time.Duration{
		5 * time.Second, 5 * time.Minute, 30 * time.Minute,
		2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
	}
}

// Default returns the configuration used when there is no file.
func Default() Config {
	c, err := Parse(nil)
	if err != nil {
		panic("config: defaults do not validate: " + err.Error()) // a bug, caught by the tests
	}
	return c
}

// AppLimits returns the limits as the App takes them; settings the file
// does not cover keep the App's defaults.
func (c Config) AppLimits() app.Limits {
	return app.Limits{
		BatchMax:         c.Limits.BatchMax,
		SubmitsPerMinute: c.Limits.SubmitsPerMinute,
		PreferWaitMax:    c.Limits.PreferWaitMax,
		UploadMaxBytes:   c.Limits.UploadMaxBytes,
		RequeueAfter:     c.Limits.RequeueAfter,
		StartAttempts:    c.Queue.MaxReceives,
		DailyBudgetUSD:   c.Limits.DailyBudgetUSD,
		Retention:        c.Storage.Retention,
		MinFreeBytes:     c.Storage.MinFreeBytes,
	}
}

// FieldError is a problem with one field of the file.
type FieldError struct {
	Path    string // e.g. "providers[1].task_types[0]"; empty for the whole file
	Message string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// Errors are all the problems found in a file, in the file's order of
// fields as far as it is known.
type Errors []*FieldError

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Load reads and parses the file at path.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse parses and validates a YAML or JSON document. An empty document
// is the default configuration. The error is an Errors value naming each
// bad field.
func Parse(b []byte) (Config, error) {
	// Strict: a key given twice is an error, not "the last one wins".
	js, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		return Config{}, Errors{{Message: "not valid YAML: " + err.Error()}}
	}
	var f file
	if trimmed := bytes.TrimSpace(js); len(trimmed) > 0 && !bytes.Equal(trimmed, []byte("null")) {
		var generic any
		if err := json.Unmarshal(trimmed, &generic); err != nil {
			return Config{}, Errors{{Message: "not valid YAML: " + err.Error()}}
		}
		var errs Errors
		checkShape(generic, reflect.TypeFor[file](), "", &errs)
		if len(errs) > 0 {
			return Config{}, errs
		}
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			// checkShape has caught what it can name; this is a backstop.
			return Config{}, Errors{{Message: decodeMessage(err)}}
		}
	}
	return f.resolve()
}

func decodeMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return te.Field + ": must be " + te.Type.String()
	}
	return err.Error()
}

// file is the document as written: pointers tell an absent setting (the
// default) from a zero one (an error where zero is not allowed).
type file struct {
	Providers []providerFile `json:"providers"`
	Limits    *struct {
		BatchMax             *int64   `json:"batch_max"`
		SubmitsPerMinute     *int64   `json:"submits_per_minute"`
		PreferWaitMaxSeconds *int64   `json:"prefer_wait_max_seconds"`
		UploadMaxBytes       *int64   `json:"upload_max_bytes"`
		RequeueAfter         *string  `json:"requeue_after"`
		DailyBudgetUSD       *float64 `json:"daily_budget_usd"`
	} `json:"limits"`
	Webhooks *struct {
		RetrySchedule  []string `json:"retry_schedule"`
		TimeoutSeconds *float64 `json:"timeout_seconds"`
		AllowPrivate   bool     `json:"allow_private"`
	} `json:"webhooks"`
	Storage *struct {
		Synchronous  *string `json:"synchronous"`
		Retention    *string `json:"retention"`
		MinFreeBytes *int64  `json:"min_free_bytes"`
	} `json:"storage"`
	Queue *struct {
		MaxReceives *int64 `json:"max_receives"`
	} `json:"queue"`
	Workflow *struct {
		Workers          *int64  `json:"workers"`
		BatchConcurrency *int64  `json:"batch_concurrency"`
		MaxInProgress    *int64  `json:"max_in_progress"`
		MaxPerType       *int64  `json:"max_in_progress_per_type"`
		CallbackFallback *string `json:"callback_fallback"`
	} `json:"workflow"`
	Media *struct {
		AllowPrivate bool `json:"allow_private"`
	} `json:"media"`
	Server *struct {
		MaxConnections       *int64  `json:"max_connections"`
		MaxClientConnections *int64  `json:"max_client_connections"`
		MinBodyRate          *int64  `json:"min_body_rate"`
		BodyGrace            *string `json:"body_grace"`
		PublicBaseURL        *string `json:"public_base_url"`
	} `json:"server"`
	Subtitles *struct {
		MaxLines          *int64   `json:"max_lines"`
		MaxCueSeconds     *float64 `json:"max_cue_seconds"`
		MinCueSeconds     *float64 `json:"min_cue_seconds"`
		MaxCharsPerSecond *float64 `json:"max_chars_per_second"`
		MinGapSeconds     *float64 `json:"min_gap_seconds"`
	} `json:"subtitles"`
	Prompt *struct {
		Templates json.RawMessage `json:"templates"`
		LLM       *struct {
			Type           string            `json:"type"`
			BaseURL        string            `json:"base_url"`
			APIKeyEnv      string            `json:"api_key_env"`
			Model          string            `json:"model"`
			SystemPrompts  map[string]string `json:"system_prompts"`
			TimeoutSeconds *float64          `json:"timeout_seconds"`
			MaxRetries     int               `json:"max_retries"`
			Temperature    float64           `json:"temperature"`
			MaxTokens      int               `json:"max_tokens"`
		} `json:"llm"`
		CacheTTL    *string         `json:"cache_ttl"`
		Experiments json.RawMessage `json:"experiments"`
	} `json:"prompt"`
}

type providerFile struct {
	Name              string                     `json:"name"`
	Type              string                     `json:"type"`
	TaskTypes         []string                   `json:"task_types"`
	Weight            *float64                   `json:"weight"`
	MaxConcurrency    *int64                     `json:"max_concurrency"`
	RequestsPerMinute *int64                     `json:"requests_per_minute"`
	Options           map[string]json.RawMessage `json:"options"`
}

// Bounds of the settings.
const (
	maxBatch            = 1000
	maxSubmitsPerMinute = 1_000_000
	maxPreferWait       = 60
	maxUploadBytes      = 5 << 30 // 5 GiB
	maxRetries          = 20
	maxWebhookTimeout   = 300
	maxMaxReceives      = 1000
	maxConcurrency      = 10_000
	maxWorkers          = 1024
	maxInProgress       = 1 << 20
)

func (f file) resolve() (Config, error) {
	c := Config{
		Limits: Limits{
			BatchMax:         DefaultBatchMax,
			SubmitsPerMinute: DefaultSubmitsPerMinute,
			PreferWaitMax:    DefaultPreferWaitMax,
			UploadMaxBytes:   DefaultUploadMaxBytes,
			RequeueAfter:     DefaultRequeueAfter,
		},
		Webhooks: Webhooks{RetrySchedule: DefaultRetrySchedule(), Timeout: DefaultWebhookTimeout},
		Storage:  Storage{Synchronous: DefaultSynchronous},
		Queue:    Queue{MaxReceives: DefaultMaxReceives},
		Workflow: Workflow{Workers: DefaultWorkers, CallbackFallback: DefaultCallbackFallback},
	}
	var errs Errors
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	intIn := func(path string, v *int64, lo, hi int64, dst func(int64)) {
		if v == nil {
			return
		}
		if *v < lo || *v > hi {
			bad(path, "must be between %d and %d, not %d", lo, hi, *v)
			return
		}
		dst(*v)
	}

	names := map[string]int{}
	for i, p := range f.Providers {
		path := fmt.Sprintf("providers[%d]", i)
		out := Provider{Name: p.Name, Type: p.Type, Weight: 1}
		switch {
		case strings.TrimSpace(p.Name) == "":
			bad(path+".name", "is required")
		case p.Name != strings.TrimSpace(p.Name):
			bad(path+".name", "must not start or end with spaces")
		default:
			if j, dup := names[p.Name]; dup {
				bad(path+".name", "%q is already the name of providers[%d]", p.Name, j)
			} else {
				names[p.Name] = i
			}
		}
		if strings.TrimSpace(p.Type) == "" {
			bad(path+".type", "is required")
		}
		if len(p.TaskTypes) == 0 {
			bad(path+".task_types", "must list at least one task type (%s)", typeList())
		}
		seen := map[task.Type]bool{}
		for j, s := range p.TaskTypes {
			tp := task.Type(s)
			switch {
			case !tp.Valid():
				bad(fmt.Sprintf("%s.task_types[%d]", path, j), "unknown task type %q (known: %s)", s, typeList())
			case seen[tp]:
				bad(fmt.Sprintf("%s.task_types[%d]", path, j), "task type %q is listed twice", s)
			default:
				seen[tp] = true
				out.TaskTypes = append(out.TaskTypes, tp)
			}
		}
		if p.Weight != nil {
			if *p.Weight < 0 || math.IsNaN(*p.Weight) || math.IsInf(*p.Weight, 0) {
				bad(path+".weight", "must be 0 or more, not %v", *p.Weight)
			} else {
				out.Weight = *p.Weight
			}
		}
		intIn(path+".max_concurrency", p.MaxConcurrency, 0, maxConcurrency, func(v int64) { out.MaxConcurrency = int(v) })
		intIn(path+".requests_per_minute", p.RequestsPerMinute, 0, 1_000_000, func(v int64) { out.RequestsPerMinute = int(v) })
		if p.Options != nil {
			b, err := json.Marshal(p.Options)
			if err != nil {
				bad(path+".options", "%v", err)
			}
			out.Options = b
		}
		c.Providers = append(c.Providers, out)
	}

	if l := f.Limits; l != nil {
		intIn("limits.batch_max", l.BatchMax, 1, maxBatch, func(v int64) { c.Limits.BatchMax = int(v) })
		intIn("limits.submits_per_minute", l.SubmitsPerMinute, 1, maxSubmitsPerMinute, func(v int64) { c.Limits.SubmitsPerMinute = int(v) })
		intIn("limits.prefer_wait_max_seconds", l.PreferWaitMaxSeconds, 1, maxPreferWait, func(v int64) { c.Limits.PreferWaitMax = time.Duration(v) * time.Second })
		intIn("limits.upload_max_bytes", l.UploadMaxBytes, 1, maxUploadBytes, func(v int64) { c.Limits.UploadMaxBytes = v })
		// A batch spends one token per task, and a bucket holds a minute's
		// tokens: a batch larger than that could never be admitted.
		if c.Limits.BatchMax > c.Limits.SubmitsPerMinute {
			bad("limits.batch_max", "must be at most limits.submits_per_minute (%d), since a batch spends one submit per task, not %d",
				c.Limits.SubmitsPerMinute, c.Limits.BatchMax)
		}
		if v := l.DailyBudgetUSD; v != nil {
			if !(*v >= 0 && *v <= 1e9) {
				bad("limits.daily_budget_usd", "must be an amount in USD, 0 (no cap) or more, not %v", *v)
			} else {
				c.Limits.DailyBudgetUSD = *v
			}
		}
		if l.RequeueAfter != nil {
			if d, ok := duration("limits.requeue_after", *l.RequeueAfter, &errs); ok {
				if d < time.Second {
					bad("limits.requeue_after", "must be at least 1s, not %s", d)
				} else {
					c.Limits.RequeueAfter = d
				}
			}
		}
	}

	if w := f.Webhooks; w != nil {
		if w.RetrySchedule != nil {
			if len(w.RetrySchedule) > maxRetries {
				bad("webhooks.retry_schedule", "must have at most %d entries, not %d", maxRetries, len(w.RetrySchedule))
			}
			c.Webhooks.RetrySchedule = []time.Duration{}
			for i, s := range w.RetrySchedule {
				path := fmt.Sprintf("webhooks.retry_schedule[%d]", i)
				if d, ok := duration(path, s, &errs); ok {
					c.Webhooks.RetrySchedule = append(c.Webhooks.RetrySchedule, d)
				}
			}
		}
		if w.TimeoutSeconds != nil {
			if v := *w.TimeoutSeconds; !(v >= 0.001 && v <= maxWebhookTimeout) {
				bad("webhooks.timeout_seconds", "must be from 0.001 to %d, not %v", maxWebhookTimeout, v)
			} else {
				c.Webhooks.Timeout = time.Duration(v * float64(time.Second))
			}
		}
		c.Webhooks.AllowPrivate = w.AllowPrivate
	}

	c.Storage.MinFreeBytes = DefaultMinFreeBytes
	if s := f.Storage; s != nil {
		intIn("storage.min_free_bytes", s.MinFreeBytes, 0, 1<<50, func(v int64) { c.Storage.MinFreeBytes = v })
	}
	if s := f.Storage; s != nil && s.Retention != nil {
		if d, ok := duration("storage.retention", *s.Retention, &errs); ok {
			if d < time.Hour {
				bad("storage.retention", "must be at least 1h, not %s", d)
			}
			c.Storage.Retention = d
		}
	}
	if s := f.Storage; s != nil && s.Synchronous != nil {
		switch v := strings.ToUpper(strings.TrimSpace(*s.Synchronous)); v {
		case "FULL", "NORMAL":
			c.Storage.Synchronous = v
		default:
			bad("storage.synchronous", "must be FULL or NORMAL, not %q", *s.Synchronous)
		}
	}

	if q := f.Queue; q != nil {
		intIn("queue.max_receives", q.MaxReceives, 1, maxMaxReceives, func(v int64) { c.Queue.MaxReceives = int(v) })
	}
	if w := f.Workflow; w != nil {
		intIn("workflow.workers", w.Workers, 1, maxWorkers, func(v int64) { c.Workflow.Workers = int(v) })
		intIn("workflow.batch_concurrency", w.BatchConcurrency, 1, maxBatch, func(v int64) { c.Workflow.BatchConcurrency = int(v) })
		intIn("workflow.max_in_progress", w.MaxInProgress, 1, maxInProgress, func(v int64) { c.Workflow.MaxInProgress = int(v) })
		intIn("workflow.max_in_progress_per_type", w.MaxPerType, 1, maxInProgress, func(v int64) { c.Workflow.MaxInProgressPerType = int(v) })
		if w.CallbackFallback != nil {
			if d, ok := duration("workflow.callback_fallback", *w.CallbackFallback, &errs); ok {
				if d < time.Second || d > 24*time.Hour {
					bad("workflow.callback_fallback", "must be from 1s to 24h, not %s", d)
				}
				c.Workflow.CallbackFallback = d
			}
		}
	}
	if m := f.Media; m != nil {
		c.Media.AllowPrivate = m.AllowPrivate
	}
	if sv := f.Server; sv != nil {
		intIn("server.max_connections", sv.MaxConnections, 16, 1<<20, func(v int64) { c.Server.MaxConnections = int(v) })
		intIn("server.max_client_connections", sv.MaxClientConnections, 1, 1<<20, func(v int64) { c.Server.MaxClientConnections = int(v) })
		intIn("server.min_body_rate", sv.MinBodyRate, 1024, 1<<30, func(v int64) { c.Server.MinBodyRate = v })
		if sv.BodyGrace != nil {
			if d, ok := duration("server.body_grace", *sv.BodyGrace, &errs); ok {
				if d < time.Second || d > time.Hour {
					bad("server.body_grace", "must be from 1s to 1h, not %s", d)
				}
				c.Server.BodyGrace = d
			}
		}
		if sv.PublicBaseURL != nil {
			if err := checkPublicBaseURL(*sv.PublicBaseURL); err != nil {
				bad("server.public_base_url", "%v", err)
			}
			c.Server.PublicBaseURL = strings.TrimRight(*sv.PublicBaseURL, "/")
		}
	}
	c.Subtitles = subtitle.DefaultOptions()
	if s := f.Subtitles; s != nil {
		o := &c.Subtitles
		if s.MaxLines != nil {
			o.MaxLines = int(min(max(*s.MaxLines, -1), 1000))
		}
		for _, v := range []struct {
			src *float64
			dst *float64
		}{{s.MaxCueSeconds, &o.MaxCueSeconds}, {s.MinCueSeconds, &o.MinCueSeconds},
			{s.MaxCharsPerSecond, &o.MaxCharsPerSecond}, {s.MinGapSeconds, &o.MinGapSeconds}} {
			if v.src != nil {
				*v.dst = *v.src
			}
		}
		if err := o.Validate(); err != nil {
			for _, e := range strings.Split(err.Error(), "\n") {
				bad("subtitles", "%s", strings.TrimPrefix(e, subtitle.ErrInvalidOptions.Error()+": "))
			}
		}
	}
	if p := f.Prompt; p != nil {
		if len(p.Templates) > 0 && string(p.Templates) != "null" {
			dec := json.NewDecoder(bytes.NewReader(p.Templates))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c.Prompt.Templates); err != nil {
				bad(template.ConfigPath, "%v", err)
			} else if _, err := template.NewCatalog(c.Prompt.Templates); err != nil {
				adopt(&errs, err)
			}
		}
		if len(p.Experiments) > 0 && string(p.Experiments) != "null" {
			dec := json.NewDecoder(bytes.NewReader(p.Experiments))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c.Prompt.Experiments); err != nil {
				bad(prompt.ExperimentsPath, "%v", err)
			} else if catalog, err := template.NewCatalog(c.Prompt.Templates); err == nil {
				if err := prompt.CheckExperiments(c.Prompt.Experiments, catalog); err != nil {
					adopt(&errs, err)
				}
			}
		}
		if p.CacheTTL != nil {
			if d, ok := duration("prompt.cache_ttl", *p.CacheTTL, &errs); ok {
				c.Prompt.CacheTTL = d
			}
		}
		if l := p.LLM; l != nil {
			lc := llm.Config{Type: l.Type, BaseURL: l.BaseURL, APIKeyEnv: l.APIKeyEnv, Model: l.Model, SystemPrompts: l.SystemPrompts,
				MaxRetries: l.MaxRetries, Temperature: l.Temperature, MaxTokens: l.MaxTokens}
			if s := l.TimeoutSeconds; s != nil {
				if !(*s > 0 && *s <= 300) {
					bad("prompt.llm.timeout_seconds", "must be more than 0 and at most 300, not %v", *s)
				}
				lc.Timeout = time.Duration(*s * float64(time.Second))
			}
			if err := lc.Validate(); err != nil {
				adopt(&errs, err)
			}
			c.Prompt.LLM = &lc
		}
	}

	if len(errs) > 0 {
		return Config{}, errs
	}
	return c, nil
}

// duration parses a Go duration that must be more than zero.
// adopt adds the field errors of a setting another package checks (the
// prompt templates, the LLM), each named by its path in the file.
func adopt(errs *Errors, err error) {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			adopt(errs, e)
		}
		return
	}
	var te *template.FieldError
	var le *llm.FieldError
	var pe *prompt.FieldError
	switch {
	case errors.As(err, &pe):
		*errs = append(*errs, &FieldError{Path: pe.Field, Message: pe.Message})
	case errors.As(err, &te):
		*errs = append(*errs, &FieldError{Path: te.Path, Message: te.Message})
	case errors.As(err, &le):
		*errs = append(*errs, &FieldError{Path: le.Path, Message: le.Message})
	default:
		*errs = append(*errs, &FieldError{Path: "prompt", Message: err.Error()})
	}
}

func duration(path, s string, errs *Errors) (time.Duration, bool) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		*errs = append(*errs, &FieldError{Path: path, Message: fmt.Sprintf("%q is not a Go duration such as \"5s\" or \"2h\"", s)})
		return 0, false
	}
	if d <= 0 {
		*errs = append(*errs, &FieldError{Path: path, Message: fmt.Sprintf("must be more than 0, not %q", s)})
		return 0, false
	}
	return d, true
}

func typeList() string {
	names := make([]string, len(task.Types))
	for i, t := range task.Types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// checkShape walks the decoded document beside the Go type it will be
// decoded into, and reports, with their paths, fields the type does not
// have and values of the wrong JSON type. Maps of raw JSON (a provider's
// options) are checked only for being objects.
func checkShape(v any, t reflect.Type, path string, errs *Errors) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return // null: the setting's default
	}
	bad := func(msg string) {
		*errs = append(*errs, &FieldError{Path: path, Message: msg})
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok && path == "" {
			bad("the file must be a mapping of settings (providers, limits, webhooks, storage, queue)")
			return
		}
		if !ok {
			bad("must be a mapping of settings")
			return
		}
		fields := map[string]reflect.StructField{}
		var known []string
		for i := range t.NumField() {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			fields[name] = sf
			known = append(known, name)
		}
		// Sorted keys make the message stable; the file's own order is
		// lost in the YAML-to-JSON conversion.
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			sf, ok := fields[key]
			sub := join(path, key)
			if !ok {
				*errs = append(*errs, &FieldError{Path: sub, Message: "unknown field (known: " + strings.Join(known, ", ") + ")"})
				continue
			}
			checkShape(obj[key], sf.Type, sub, errs)
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			bad("must be a list")
			return
		}
		for i, item := range arr {
			checkShape(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.Map:
		if _, ok := v.(map[string]any); !ok {
			bad("must be a mapping")
		}
	case reflect.String:
		switch v.(type) {
		case string:
		case bool:
			bad("must be a string (YAML reads unquoted yes, no, on and off as true or false: quote the value)")
		default:
			bad("must be a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			bad("must be true or false")
		}
	case reflect.Int, reflect.Int64:
		f, ok := v.(float64)
		if !ok {
			bad("must be a whole number")
			return
		}
		if f != math.Trunc(f) || f > math.MaxInt64/2 || f < math.MinInt64/2 {
			bad("must be a whole number, not " + strconv.FormatFloat(f, 'g', -1, 64))
		}
	case reflect.Float64:
		if _, ok := v.(float64); !ok {
			bad("must be a number")
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// checkPublicBaseURL accepts an absolute http or https URL with a host and
// nothing after its path: the callback path is appended to it.
func checkPublicBaseURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("is not a URL: %v", err)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("must be an http or https URL, not %q", raw)
	case u.Host == "":
		return fmt.Errorf("has no host: %q", raw)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("must have no query, fragment or user: %q", raw)
	}
	return nil
}
