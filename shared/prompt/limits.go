package prompt

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

// Limits are what a provider takes of a prompt: the optimiser fits every
// prompt to them last, whatever mode made it. Providers declare them
// (provider.PromptLimiter).
type Limits struct {
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
