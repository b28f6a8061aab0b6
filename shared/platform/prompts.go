package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoai/mediatasks/shared/api"
	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/prompt/llm"
	"github.com/videoai/mediatasks/shared/prompt/template"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/task"
)

// newOptimizer builds the prompt optimiser from the configuration: the
// operator's templates beside the built-ins, the LLM when one is set, and
// the store as its cache when the store keeps one. Its errors are the
// operator's (ConfigError).
func newOptimizer(cfg config.Prompt, store Store, reg prometheus.Registerer, getenv func(string) string, now func() time.Time, log *slog.Logger) (*prompt.Optimizer, error) {
	catalog, err := template.NewCatalog(cfg.Templates)
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	o := prompt.Options{Templates: catalog, CacheTTL: cfg.CacheTTL, Experiments: cfg.Experiments, Metrics: reg, Now: now, Log: log}
	if cfg.LLM != nil {
		if o.LLM, err = llm.New(*cfg.LLM, llm.Options{Getenv: getenv, Log: log}); err != nil {
			return nil, &ConfigError{Err: fmt.Errorf("prompt.llm: %w", err)}
		}
	}
	if c, ok := store.(prompt.Cache); ok {
		o.Cache = c
	}
	opt, err := prompt.New(o)
	var fe *prompt.FieldError
	if errors.As(err, &fe) {
		return nil, &ConfigError{Err: err}
	}
	return opt, err
}

// prompts is the optimiser as the API uses it: a preview is optimised for
// the provider named, or for the one a task of the type goes to first.
type prompts struct {
	opt       *prompt.Optimizer
	providers *provider.Registry
}

var _ api.Prompts = prompts{}

func (p prompts) Check(t task.Type, po *task.PromptOptimization) error { return p.opt.Check(t, po) }

func (p prompts) Templates() []template.Info { return p.opt.Templates().List() }

func (p prompts) Preview(ctx context.Context, r api.PromptPreview) (*task.OptimizedPrompt, error) {
	name := r.Provider
	if name == "" {
		if names := p.providers.Names(r.TaskType); len(names) > 0 {
			name = names[0]
		}
	}
	return p.opt.Optimize(ctx, prompt.Request{TaskType: r.TaskType, Prompt: r.Prompt, NegativePrompt: r.NegativePrompt,
		Options: r.PromptOptimization, Provider: name, ProviderType: p.providers.Type(name),
		Limits: p.providers.PromptLimits(name, r.TaskType)})
}
