package assemblyai

import (
	"slices"
	"strings"
	"unicode"

	"github.com/videoai/mediatasks/shared/prompt"
)

// DefaultModel is the speech model used unless model says: Universal-2
// takes the 99 languages AssemblyAI transcribes.
const DefaultModel = "universal-2"

// PriceVersion names the price list of Cost.
const PriceVersion = "assemblyai-2026-12"

// listPerHour are AssemblyAI's list prices per hour of audio for
// pre-recorded transcription, billed by the second; failed jobs are free.
// The keys are the price option's keys.
var listPerHour = map[string]float64{
	"universal-2":       0.15,
	"universal":         0.15, // the older name of Universal-2
	"universal-3-pro":   0.21,
	"universal-3-5-pro": 0.21,
}

// priceKeys are the keys the price option takes.
func priceKeys() []string {
	keys := make([]string, 0, len(listPerHour))
	for k := range listPerHour {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// universal3Languages are the languages of the Universal-3 models;
// others need Universal-2 after it in speech_models (fallback_models).
var universal3Languages = []string{"en", "es", "pt", "fr", "de", "it"}

// Prompt limits: keyterms_prompt takes up to 1000 terms of at most 6
// words each; Universal-3's prompt up to 1500 words.
const (
	maxKeyterms     = 1000
	maxKeytermWords = 6
	maxPromptWords  = 1500
)

// family is what a speech model can do.
type family struct {
	// languages it transcribes (ISO 639-1); nil: any AssemblyAI knows.
	languages []string
	// contextPrompt: it takes a prompt of context besides key terms.
	contextPrompt bool
}

// familyOf maps a model name by its family, so that a new name of a known
// family works; an unknown one gets the most careful mapping (the few
// languages of Universal-3, key terms only).
func familyOf(model string) family {
	m := strings.ToLower(model)
	switch {
	case m == "universal" || strings.HasPrefix(m, "universal-2"):
		return family{}
	case strings.HasPrefix(m, "universal-3"), strings.HasPrefix(m, "u3"):
		return family{languages: universal3Languages, contextPrompt: true}
	case strings.HasPrefix(m, "slam"):
		return family{languages: []string{"en"}}
	}
	return family{languages: universal3Languages}
}

// takes reports whether one of the models transcribes language (ISO
// 639-1, "" for detection).
func takes(models []string, language string) bool {
	if language == "" {
		return true
	}
	for _, m := range models {
		f := familyOf(m)
		if f.languages == nil || slices.Contains(f.languages, language) {
			return true
		}
	}
	return false
}

// languageCode is AssemblyAI's language_code for a BCP 47 tag: the
// primary subtag, lower case, but the English variants it names
// (en_us, en_uk, en_au).
func languageCode(tag string) string {
	tag = strings.ToLower(strings.ReplaceAll(tag, "_", "-"))
	primary, region, _ := strings.Cut(tag, "-")
	if primary == "en" {
		switch region {
		case "us":
			return "en_us"
		case "gb", "uk":
			return "en_uk"
		case "au":
			return "en_au"
		}
	}
	return primary
}

// primaryLanguage is the ISO 639-1 part of a tag or of AssemblyAI's code.
func primaryLanguage(code string) string {
	code = strings.ToLower(code)
	if i := strings.IndexAny(code, "-_"); i >= 0 {
		code = code[:i]
	}
	return code
}

// vocabulary is what the task's prompt becomes: key terms (a list split at
// commas, semicolons and line breaks, each of at most 6 words), or, when
// the prompt is prose and the model takes one, a prompt of context.
func vocabulary(text string, contextPrompt bool) (keyterms []string, context string) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, ""
	}
	parts := strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ';' || r == '\n' || r == '\r' })
	prose := false
	for _, p := range parts {
		if len(strings.Fields(p)) > maxKeytermWords {
			prose = true
		}
	}
	if prose && contextPrompt {
		words := strings.Fields(text)
		return nil, strings.Join(words[:min(len(words), maxPromptWords)], " ")
	}
	for _, p := range parts {
		words := strings.FieldsFunc(p, func(r rune) bool { return unicode.IsSpace(r) })
		// A phrase longer than AssemblyAI takes is cut into terms it takes.
		for i := 0; i < len(words); i += maxKeytermWords {
			term := strings.Join(words[i:min(i+maxKeytermWords, len(words))], " ")
			if term != "" && !slices.Contains(keyterms, term) && len(keyterms) < maxKeyterms {
				keyterms = append(keyterms, term)
			}
		}
	}
	return keyterms, ""
}

// limits are the prompt limits of the first speech model.
func limits(model string) prompt.Limits {
	if familyOf(model).contextPrompt {
		return prompt.Limits{MaxPrompt: maxPromptWords, Unit: prompt.UnitTokens}
	}
	return prompt.Limits{MaxPrompt: maxKeyterms * maxKeytermWords, Unit: prompt.UnitTokens}
}
