// Package rules is the prompt enhancer of the `auto` optimisation mode:
// offline, deterministic and cheap, written as keyword tables and rules.
//
// For images it reads what a prompt already says about its subject,
// style or medium, lighting, composition and detail, and adds a neutral
// default only for what is missing; for videos the same with motion,
// atmosphere and camera, after HunyuanVideo's handbook (subject, motion,
// scene, then shot, light, style). A default is picked by a hash of the
// prompt's words, so one prompt always reads the same and different
// subjects get different, stable defaults. For transcription and
// subtitles the prompt is vocabulary hints: a list of distinct terms.
//
// The user's words are all kept, in order, quoted text byte for byte; a
// prompt that reads like an instruction ("ignore previous instructions",
// "write a poem about...") is content to depict, never obeyed.
package rules

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/videoai/mediatasks/shared/task"
)

// Version names the rules. Caches of enhanced prompts key by it, so it
// changes whenever the output for some input changes (TestGolden fails
// until it does).
const Version = "rules-1"

// Result is an enhanced prompt.
type Result struct {
	Prompt string
	// NegativePrompt is the type's default, less what the prompt asks for
	// ("blurry" is no negative for "a blurry background"); empty for audio.
	NegativePrompt string
	// Added lists the phrases the rules added, as they stand in Prompt, to
	// explain the change.
	Added []string
}

// Enhance enhances prompt for a task of type taskType. A prompt of white
// space alone gives an empty Result; an unknown type gets its prompt back
// with white space normalised and nothing added.
func Enhance(taskType string, prompt string) Result {
	if !utf8.ValidString(prompt) {
		prompt = strings.ToValidUTF8(prompt, "\uFFFD")
	}
	s := normalize(prompt)
	if s == "" {
		return Result{}
	}
	switch task.Type(taskType) {
	case task.TypeImageGeneration:
		return enhanceImage(s)
	case task.TypeVideoGeneration:
		return enhanceVideo(s)
	case task.TypeAudioTranscription, task.TypeSubtitleGeneration:
		return Result{Prompt: vocabulary(s)}
	}
	return Result{Prompt: s}
}

// hasContent reports whether s holds a letter, a digit or a symbol such as
// an emoji: punctuation alone describes nothing to add to.
func hasContent(s string) bool {
	for _, r := range s {
		if isWordRune(r) || unicode.IsSymbol(r) {
			return true
		}
	}
	return false
}
