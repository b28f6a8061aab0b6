package provider

import "github.com/videoai/mediatasks/shared/task"

// LengthUnit is what a provider counts a prompt's length in.
type LengthUnit string

// The units providers document: characters (Unicode code points), UTF-16
// code units (Runway), and tokens, which the optimiser estimates without
// the provider's tokenizer.
const (
	UnitChars  LengthUnit = "chars"
	UnitUTF16  LengthUnit = "utf16"
	UnitTokens LengthUnit = "tokens"
)

// PromptLimits are what a provider takes of a prompt: the optimiser fits
// every prompt to them last, whatever mode made it.
type PromptLimits struct {
	// MaxPrompt is the longest prompt in Unit; 0: no limit known.
	MaxPrompt int
	Unit      LengthUnit
	// Negative: the provider takes a negative prompt, of at most
	// MaxNegative (0: no limit known). Without one, a negative prompt is
	// left out, and the task says so.
	Negative    bool
	MaxNegative int
	// Expansion: the provider has a prompt expansion of its own, which the
	// platform turns off when it has rewritten the prompt, unless the task
	// asks for both.
	Expansion bool
	// KeepsEnd: the provider reads only the end of a long prompt
	// (Whisper's last 224 tokens): fitting keeps the end, not the start.
	KeepsEnd bool
}

// PromptLimiter is a provider that declares its prompt limits by task
// type (and, for most hosted providers, by the model its options name).
type PromptLimiter interface {
	PromptLimits(taskType task.Type) PromptLimits
}

// PromptLimits are the limits of the named provider for a task type; a
// provider that declares none has none known (MaxPrompt 0, negatives
// taken).
func (r *Registry) PromptLimits(name string, taskType task.Type) PromptLimits {
	e, ok := r.byName[name]
	if !ok {
		return PromptLimits{Negative: true}
	}
	if l, ok := e.p.(PromptLimiter); ok {
		return l.PromptLimits(taskType)
	}
	return PromptLimits{Negative: true}
}

// Type is the provider type (its config `type`) of the named provider,
// or "" for none.
func (r *Registry) Type(name string) string {
	if e, ok := r.byName[name]; ok {
		return e.typ
	}
	return ""
}
