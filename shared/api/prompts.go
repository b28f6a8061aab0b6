package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/prompt/template"
	"github.com/videoai/mediatasks/shared/task"
)

// Prompts is the prompt optimiser as the API uses it.
type Prompts interface {
	// Check tells whether prompt_optimization can be carried out for the
	// task type: a *prompt.FieldError names what cannot.
	Check(taskType task.Type, po *task.PromptOptimization) error
	// Preview optimises a prompt for the named provider (or the one a
	// task of the type would most likely get), creating no task.
	Preview(ctx context.Context, r PromptPreview) (*task.OptimizedPrompt, error)
	// Templates lists the templates of template mode.
	Templates() []template.Info
}

// PromptPreview is the body of POST /prompts/optimize.
type PromptPreview struct {
	TaskType           task.Type               `json:"task_type"`
	Prompt             string                  `json:"prompt"`
	NegativePrompt     string                  `json:"negative_prompt,omitempty"`
	PromptOptimization task.PromptOptimization `json:"prompt_optimization"`
	Provider           string                  `json:"provider,omitempty"`
}

func (s *server) prompts() (Prompts, error) {
	if s.opts.Prompts == nil {
		return nil, &Problem{Status: http.StatusNotFound, Detail: "prompt optimisation is not enabled on this server"}
	}
	return s.opts.Prompts, nil
}

// previewPrompt answers what a task's prompt would become, as the task
// would show it (optimized_prompt), without creating the task. It costs a
// submit of the rate limit: auto mode may call an LLM.
func (s *server) previewPrompt(w http.ResponseWriter, r *http.Request, user string) error {
	ps, err := s.prompts()
	if err != nil {
		return err
	}
	buf, err := readJSONBody(w, r)
	if err != nil {
		return err
	}
	defer putBuf(buf)
	var req PromptPreview
	if p := decodeStrict(buf.Bytes(), "", &req); p != nil {
		return p
	}
	c := &checker{ctx: r.Context(), s: s, user: user, typ: req.TaskType}
	if !req.TaskType.Valid() {
		c.add("task_type", "must be one of %s", task.OneOf(task.Types))
		return c.result()
	}
	c.served("task_type")
	in, ok := task.NewInput(req.TaskType).(task.Prompted)
	if !ok {
		return invalid(fieldError("task_type", "takes no prompt"))
	}
	in.SetPrompts(req.Prompt, req.NegativePrompt)
	in.Common().Provider = req.Provider
	in.Common().PromptOptimization = &req.PromptOptimization
	// The prompt's own rules, and prompt_optimization's, are a submit's.
	for _, e := range in.Validate("") {
		if e.Field == "prompt" || e.Field == "negative_prompt" || e.Field == "provider" || strings.HasPrefix(e.Field, "prompt_optimization") {
			c.errs = append(c.errs, FieldError{Field: e.Field, Message: e.Message})
		}
	}
	if req.Provider != "" && s.opts.ProviderCheck != nil && c.clean() {
		if err := s.opts.ProviderCheck(req.TaskType, req.Provider); err != nil {
			c.add("provider", "%v", err)
		}
	}
	if c.clean() {
		c.prompt("", &req.PromptOptimization)
	}
	if err := c.result(); err != nil {
		return err
	}
	if err := s.limiter.take(user, 1); err != nil {
		return err
	}
	op, err := ps.Preview(r.Context(), req)
	var fe *prompt.FieldError
	if errors.As(err, &fe) {
		return invalid(fieldError(fe.Field, "%s", fe.Message))
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, op)
}

// promptTemplates lists the templates of template mode.
func (s *server) promptTemplates(w http.ResponseWriter, _ *http.Request, _ string) error {
	ps, err := s.prompts()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"templates": ps.Templates()})
}
