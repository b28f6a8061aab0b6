package prompt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/videoai/mediatasks/shared/prompt/llm"
	"github.com/videoai/mediatasks/shared/prompt/rules"
	"github.com/videoai/mediatasks/shared/prompt/template"
	"github.com/videoai/mediatasks/shared/task"
)

// OptimizerVersion changes whenever the optimiser's own steps change what
// it makes of an input; the rules, the templates and the LLM's settings
// are in the cache key by versions of their own.
const OptimizerVersion = "1"

// The modes of prompt_optimization.mode.
const (
	ModeManual   = "manual"
	ModeTemplate = "template"
	ModeAuto     = "auto"
)

// The stages an optimised prompt shows it went through.
const (
	StageTemplate    = "template"
	StageRules       = "rules"
	StageLLM         = "llm"
	StageLLMFallback = "llm:fallback"
	StageFit         = "fit"
)

// DefaultCacheTTL is how long an LLM's rewrite is kept (prompt.cache_ttl).
const DefaultCacheTTL = 7 * 24 * time.Hour

// Options are what an Optimizer works with; all may be left out.
type Options struct {
	// Templates are the templates of template mode (default the
	// built-ins alone).
	Templates *template.Catalog
	// LLM rewrites auto mode's prompts after its rules; nil: rules only.
	LLM *llm.Rewriter
	// Cache keeps optimised prompts by key; nil: every prompt is
	// optimised anew.
	Cache Cache
	// CacheTTL is how long an LLM's rewrite is kept (default 7 days);
	// rules and templates are kept for good: their keys are versioned.
	CacheTTL time.Duration
	// Experiments split the tasks that ask for no optimisation between
	// arms (prompt.experiments).
	Experiments []Experiment
	// Metrics, when set, receives the optimiser's collectors.
	Metrics prometheus.Registerer
	Now     func() time.Time
	Log     *slog.Logger
}

// Optimizer makes the prompt a provider is sent from the prompt a task
// was submitted with.
type Optimizer struct {
	templates *template.Catalog
	llm       *llm.Rewriter
	cache     Cache
	ttl       time.Duration
	flight    singleflight.Group
	metrics   *metrics
	// experiments are checked at New.
	experiments []Experiment
	now         func() time.Time
	log         *slog.Logger
}

// New returns an optimiser over o.
func New(o Options) (*Optimizer, error) {
	if o.Templates == nil {
		c, err := template.NewCatalog(nil)
		if err != nil {
			return nil, fmt.Errorf("prompt templates: %w", err)
		}
		o.Templates = c
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	experiments, err := resolveExperiments(o.Experiments, (&Optimizer{templates: o.Templates}).Check)
	if err != nil {
		return nil, err
	}
	m := newMetrics()
	if o.Metrics != nil {
		if err := m.register(o.Metrics); err != nil {
			return nil, fmt.Errorf("prompt metrics: %w", err)
		}
	}
	return &Optimizer{templates: o.Templates, llm: o.LLM, cache: o.Cache, ttl: o.CacheTTL, metrics: m, experiments: experiments, now: o.Now, log: o.Log}, nil
}

// Collectors are the optimiser's metrics, for a registry of one's own
// (the cloud's EMF publisher).
func (o *Optimizer) Collectors() []prometheus.Collector { return o.metrics.collectors() }

// Templates is the catalogue of template mode.
func (o *Optimizer) Templates() *template.Catalog { return o.templates }

// Request is one prompt to optimise, for one provider.
type Request struct {
	TaskType       task.Type
	Prompt         string
	NegativePrompt string
	Options        task.PromptOptimization
	// Provider names the provider the prompt is for, ProviderType its
	// type, and Limits what it takes of a prompt.
	Provider     string
	ProviderType string
	Limits       Limits
}

// FieldError is a prompt_optimization setting that cannot be used: the
// API answers it 400 naming Field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Check tells whether a task's prompt_optimization can be carried out:
// a template that exists, serves the task type and takes the params. The
// API calls it at submit, so that the workflow never meets a bad one.
func (o *Optimizer) Check(taskType task.Type, po *task.PromptOptimization) error {
	if po == nil || po.Mode != ModeTemplate {
		return nil
	}
	_, err := o.templates.Render(po.Template, string(taskType), "", o.params(po.Template, po.Params), "x")
	return templateError(err)
}

func templateError(err error) error {
	var pe *template.ParamError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		return &FieldError{Field: "prompt_optimization.params." + pe.Param, Message: pe.Message}
	default:
		return &FieldError{Field: "prompt_optimization.template", Message: err.Error()}
	}
}

// Optimize makes the prompt for r.Provider. It fails only on a setting
// Check refuses (a FieldError) or a cache that cannot be read (a failed
// write is logged):
// a failing LLM falls back to the rules' prompt, and the stages say so.
func (o *Optimizer) Optimize(ctx context.Context, r Request) (*task.OptimizedPrompt, error) {
	op := &task.OptimizedPrompt{Original: r.Prompt, Mode: r.Options.Mode, Provider: r.Provider, OptimizerVersion: OptimizerVersion}
	var res made
	switch r.Options.Mode {
	case ModeManual:
		res = made{Prompt: r.Prompt, Negative: r.NegativePrompt}
	case ModeTemplate, ModeAuto:
		var err error
		if res, op.CacheHit, err = o.cached(ctx, r); err != nil {
			return nil, err
		}
	default:
		return nil, &FieldError{Field: "prompt_optimization.mode", Message: fmt.Sprintf("unknown mode %q", r.Options.Mode)}
	}
	if res.Template != "" {
		op.Template = &res.Template
	}
	op.Stages = append([]string{}, res.Stages...)
	var f fitted
	op.Final, op.NegativePrompt = fit(res.Prompt, res.Negative, r.Limits, &f)
	// A default negative prompt (the rules' or a template's) that the
	// provider cannot take is no loss worth reporting: only the user's is.
	f.negativeDropped = f.negativeDropped && r.NegativePrompt != ""
	op.Truncated, op.NegativeDropped = f.truncated, f.negativeDropped
	if f.truncated || f.negativeDropped {
		op.Stages = append(op.Stages, StageFit)
	}
	if f.truncated {
		o.metrics.truncations.Inc()
	}
	// A prompt we rewrote goes out as it is, unless the user asked for the
	// provider's expansion too; a manual one keeps the provider's default.
	op.ProviderExpansion = r.Limits.Expansion && (r.Options.Mode == ModeManual || r.Options.ProviderExpansion)
	cache := "miss"
	if op.CacheHit {
		cache = "hit"
	} else if o.cache == nil || r.Options.Mode == ModeManual {
		cache = "none"
	}
	o.metrics.optimizations.WithLabelValues(r.Options.Mode, cache).Inc()
	return op, nil
}

// made is what a mode made of a prompt, before it is fitted: what the
// cache keeps.
type made struct {
	Prompt   string   `json:"prompt"`
	Negative string   `json:"negative_prompt,omitempty"`
	Template string   `json:"template,omitempty"`
	Stages   []string `json:"stages"`
	// Fallback: the LLM failed and the rules' prompt stands; not cached,
	// so that the next task tries the LLM again.
	Fallback bool `json:"-"`
}

// cached answers from the cache, or makes the prompt once however many
// tasks ask for it at the same time, and keeps it.
func (o *Optimizer) cached(ctx context.Context, r Request) (made, bool, error) {
	key, err := o.key(r)
	if err != nil {
		return made{}, false, err
	}
	if o.cache != nil {
		e, err := o.cache.GetCached(ctx, key)
		switch {
		case err == nil:
			var m made
			if json.Unmarshal(e.Value, &m) == nil {
				return m, true, nil
			}
			o.log.WarnContext(ctx, "prompt cache: an entry does not decode; made anew", "key", key)
		case !errors.Is(err, ErrCacheMiss):
			return made{}, false, fmt.Errorf("read the prompt cache: %w", err)
		}
	}
	v, err, _ := o.flight.Do(key, func() (any, error) {
		m, err := o.make(context.WithoutCancel(ctx), r)
		if err != nil || o.cache == nil || m.Fallback {
			return m, err
		}
		value, err := json.Marshal(m)
		if err != nil {
			return m, fmt.Errorf("encode an optimised prompt: %w", err)
		}
		now := o.now()
		e := CacheEntry{Key: key, Value: value, CreatedAt: now}
		if slices.Contains(m.Stages, StageLLM) {
			e.ExpiresAt = now.Add(o.ttl)
		}
		if len(value) <= MaxCacheValue {
			if err := o.cache.PutCached(context.WithoutCancel(ctx), e); err != nil {
				o.log.WarnContext(ctx, "prompt cache: keep an optimised prompt", "err", err)
			}
		}
		return m, nil
	})
	if err != nil {
		return made{}, false, err
	}
	return v.(made), false, nil
}

// make runs the mode: a template's rendering, or auto mode's rules and
// then the LLM, falling back to the rules' prompt when the LLM fails.
func (o *Optimizer) make(ctx context.Context, r Request) (made, error) {
	if r.Options.Mode == ModeTemplate {
		out, err := o.templates.Render(r.Options.Template, string(r.TaskType), r.ProviderType, o.params(r.Options.Template, r.Options.Params), r.Prompt)
		if err != nil {
			return made{}, templateError(err)
		}
		neg := r.NegativePrompt
		if neg == "" {
			neg = out.NegativePrompt
		}
		return made{Prompt: out.Prompt, Negative: neg, Template: out.Template, Stages: []string{StageTemplate}}, nil
	}
	en := rules.Enhance(string(r.TaskType), r.Prompt)
	m := made{Prompt: en.Prompt, Negative: r.NegativePrompt, Stages: []string{StageRules}}
	if m.Negative == "" {
		m.Negative = en.NegativePrompt
	}
	if o.llm == nil || strings.TrimSpace(m.Prompt) == "" {
		return m, nil
	}
	start := o.now()
	out, err := o.llm.Rewrite(ctx, llm.Request{TaskType: string(r.TaskType), Prompt: m.Prompt, NegativePrompt: m.Negative})
	o.metrics.llmDuration.Observe(o.now().Sub(start).Seconds())
	if err != nil {
		o.metrics.llmCalls.WithLabelValues("fallback").Inc()
		o.log.WarnContext(ctx, "prompt: the LLM's rewrite failed; the rules' prompt stands", "task_type", r.TaskType, "err", err)
		m.Stages = append(m.Stages, StageLLMFallback)
		m.Fallback = true
		return m, nil
	}
	o.metrics.llmCalls.WithLabelValues("ok").Inc()
	m.Prompt = out.Prompt
	if out.NegativePrompt != "" {
		m.Negative = out.NegativePrompt
	}
	m.Stages = append(m.Stages, StageLLM)
	return m, nil
}

// key is the cache key of a request: the SHA-256 of the canonical JSON of
// everything that decides what the mode makes (the prompt normalised), so
// that a new version of any part makes new entries rather than stale hits.
func (o *Optimizer) key(r Request) (string, error) {
	parts := struct {
		Optimizer string            `json:"optimizer"`
		Rules     string            `json:"rules,omitempty"`
		Mode      string            `json:"mode"`
		TaskType  task.Type         `json:"task_type"`
		Prompt    string            `json:"prompt"`
		Negative  string            `json:"negative_prompt"`
		Template  string            `json:"template,omitempty"`
		Params    map[string]string `json:"params,omitempty"`
		LLM       string            `json:"llm,omitempty"`
		Provider  string            `json:"provider_type"`
	}{Optimizer: OptimizerVersion, Mode: r.Options.Mode, TaskType: r.TaskType, Prompt: normalise(r.Prompt),
		Negative: normalise(r.NegativePrompt), Params: r.Options.Params, Provider: r.ProviderType}
	switch r.Options.Mode {
	case ModeTemplate:
		// The template's name alone means its newest version: the key
		// holds the version it resolves to now.
		name, version, err := template.ParseRef(r.Options.Template)
		if err != nil {
			return "", templateError(err)
		}
		t, err := o.templates.Lookup(name, version)
		if err != nil {
			return "", templateError(err)
		}
		parts.Template = t.Ref()
	case ModeAuto:
		parts.Rules = rules.Version
		if o.llm != nil {
			parts.LLM = o.llm.Fingerprint()
		}
	}
	b, err := json.Marshal(parts) // map keys are sorted: canonical
	if err != nil {
		return "", fmt.Errorf("prompt cache key: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// normalise is the prompt as the cache compares it: spaces collapsed.
func normalise(s string) string { return strings.Join(strings.Fields(s), " ") }

// params are a task's template params as the template takes them: the
// API carries every value as a string, and a number or a yes/no is read
// by the type the template gives the param. A value that does not read is
// left a string, for the template to refuse by name.
func (o *Optimizer) params(ref string, p map[string]string) map[string]any {
	if len(p) == 0 {
		return nil
	}
	types := map[string]string{}
	if name, version, err := template.ParseRef(ref); err == nil {
		if t, err := o.templates.Lookup(name, version); err == nil {
			for _, pa := range t.Params {
				types[pa.Name] = pa.Type
			}
		}
	}
	out := make(map[string]any, len(p))
	for k, v := range p {
		out[k] = v
		switch types[k] {
		case "int", "number":
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				out[k] = f
			}
		case "bool":
			if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil {
				out[k] = b
			}
		}
	}
	return out
}
