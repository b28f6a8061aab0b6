package provider

import (
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/task"
)

// PromptLimiter is a provider that declares its prompt limits by task
// type (and, for most hosted providers, by the model its options name).
type PromptLimiter interface {
	PromptLimits(taskType task.Type) prompt.Limits
}

// PromptLimits are the limits of the named provider for a task type; a
// provider that declares none has none known (MaxPrompt 0, negatives
// taken).
func (r *Registry) PromptLimits(name string, taskType task.Type) prompt.Limits {
	e, ok := r.byName[name]
	if !ok {
		return prompt.Limits{Negative: true}
	}
	if l, ok := e.p.(PromptLimiter); ok {
		return l.PromptLimits(taskType)
	}
	return prompt.Limits{Negative: true}
}

// Type is the provider type (its config `type`) of the named provider,
// or "" for none.
func (r *Registry) Type(name string) string {
	if e, ok := r.byName[name]; ok {
		return e.typ
	}
	return ""
}
