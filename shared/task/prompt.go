package task

// OptimizedPrompt is what prompt optimisation made of a task's prompt,
// shown on the task as optimized_prompt: absent when the task asked for
// no optimisation (its prompt then goes to the provider untouched).
type OptimizedPrompt struct {
	// Original is the user's prompt; Final what the provider is sent.
	Original       string `json:"original"`
	Final          string `json:"final"`
	NegativePrompt string `json:"negative_prompt,omitempty"`
	// Mode is manual, template or auto; Template "name@version" in
	// template mode.
	Mode     string  `json:"mode"`
	Template *string `json:"template"`
	// Stages are the steps the prompt went through, in order ("rules",
	// "llm", "llm:fallback", "template", "fit").
	Stages   []string `json:"stages"`
	CacheHit bool     `json:"cache_hit"`
	// Truncated: the provider's prompt limit cut the prompt.
	Truncated bool `json:"truncated"`
	// NegativeDropped: the provider takes no negative prompt, and the
	// negative prompt was left out (or folded into Final: Stages says).
	NegativeDropped bool `json:"negative_dropped,omitempty"`
	// Provider is the provider the prompt was fitted to.
	Provider string `json:"provider,omitempty"`
	// ProviderRevisedPrompt is the prompt the provider says it really
	// used (DALL-E 3's revised_prompt, fal's actual_prompt), when it
	// says.
	ProviderRevisedPrompt *string `json:"provider_revised_prompt"`
	// ProviderExpansion: the provider's own prompt expansion was left on.
	ProviderExpansion bool `json:"provider_expansion"`
	// Experiment names the A/B experiment and arm the task fell in, if
	// any (prompt.experiments).
	Experiment       *PromptExperiment `json:"experiment,omitempty"`
	OptimizerVersion string            `json:"optimizer_version"`
}

// PromptExperiment is the arm of an A/B experiment a task fell in.
type PromptExperiment struct {
	Name string `json:"name"`
	Arm  string `json:"arm"`
}
