package openai

import (
	"slices"
	"strings"

	"github.com/videoai/mediatasks/shared/task"
)

// Family is a group of models that take the same parameters: what the
// adapter sends is decided by the family, so a new model name of a known
// family (say gpt-image-2) works without a release.
type Family string

// The families the adapter knows.
const (
	// FamilyGPTImage: gpt-image-1, gpt-image-1-mini, gpt-image-1.5,
	// chatgpt-image-latest and later gpt-image-*: base64 answers, quality
	// low|medium|high|auto, sizes 1024x1024, 1536x1024, 1024x1536.
	FamilyGPTImage Family = "gpt-image"
	// FamilyDallE3: one image a call, standard|hd, vivid|natural, sizes up
	// to 1792, rewrites the prompt (revised_prompt).
	FamilyDallE3 Family = "dall-e-3"
	// FamilyDallE2: up to 10 images a call, sizes 256 to 1024, no quality
	// or style.
	FamilyDallE2 Family = "dall-e-2"
	// FamilyWhisper: whisper-1 and whisper-compatible servers: verbose_json
	// with word and segment timings.
	FamilyWhisper Family = "whisper"
	// FamilyGPTTranscribe: gpt-4o-transcribe, gpt-4o-mini-transcribe,
	// gpt-transcribe and the like: json text only, no timings.
	FamilyGPTTranscribe Family = "gpt-4o-transcribe"
)

// Families are the values of the family option.
var Families = []Family{FamilyGPTImage, FamilyDallE3, FamilyDallE2, FamilyWhisper, FamilyGPTTranscribe}

// Default models, used when the model option is left out: then the
// provider serves images with DefaultImageModel and audio with
// DefaultTranscriptionModel. gpt-image-1 and DALL-E 3 are retired
// (PROVIDERS.md section 9); gpt-image-1.5 replaces them.
const (
	DefaultImageModel         = "gpt-image-1.5"
	DefaultTranscriptionModel = "whisper-1"
)

// FamilyOf is the family a model name belongs to, or "" for a name of no
// known family.
func FamilyOf(model string) Family {
	m := strings.ToLower(strings.TrimSpace(model))
	switch {
	case strings.HasPrefix(m, "gpt-image"), strings.HasPrefix(m, "chatgpt-image"):
		return FamilyGPTImage
	case strings.HasPrefix(m, "dall-e-3"):
		return FamilyDallE3
	case strings.HasPrefix(m, "dall-e-2"):
		return FamilyDallE2
	case strings.Contains(m, "whisper"): // also "Systran/faster-whisper-large-v3" on a compatible server
		return FamilyWhisper
	case strings.Contains(m, "transcribe"):
		return FamilyGPTTranscribe
	}
	return ""
}

// image reports a family of image models.
func (f Family) image() bool {
	return f == FamilyGPTImage || f == FamilyDallE3 || f == FamilyDallE2
}

// spec is what an image family takes.
type imageSpec struct {
	// sizes maps the platform's sizes (task.ImageSizes) to the family's;
	// a size missing is refused.
	sizes     map[string]string
	maxN      int
	qualities []string // empty: the family has no quality parameter
	quality   string   // the default
	styles    []string // empty: no style parameter
	maxPrompt int      // characters
	// expansion: the model rewrites the prompt and says how
	// (revised_prompt).
	expansion bool
	// urls: the family can answer URLs (response_format url).
	urls bool
}

var imageSpecs = map[Family]imageSpec{
	FamilyGPTImage: {
		// The platform's wide sizes go to the family's nearest of the same
		// orientation: 1792x1024 (7:4) as 1536x1024 (3:2).
		sizes:     map[string]string{"1024x1024": "1024x1024", "1792x1024": "1536x1024", "1024x1792": "1024x1536"},
		maxN:      10,
		qualities: []string{"low", "medium", "high", "auto"},
		quality:   "medium",
		maxPrompt: 32000,
	},
	FamilyDallE3: {
		sizes:     map[string]string{"1024x1024": "1024x1024", "1792x1024": "1792x1024", "1024x1792": "1024x1792"},
		maxN:      1,
		qualities: []string{"standard", "hd"},
		quality:   "standard",
		styles:    []string{"vivid", "natural"},
		maxPrompt: 4000,
		expansion: true,
		urls:      true,
	},
	FamilyDallE2: {
		sizes:     map[string]string{"256x256": "256x256", "512x512": "512x512", "1024x1024": "1024x1024"},
		maxN:      10,
		maxPrompt: 1000,
		urls:      true,
	},
}

// sizeNames lists the platform's sizes a family takes, for messages.
func (s imageSpec) sizeNames() []string {
	var out []string
	for _, sz := range task.ImageSizes {
		if _, ok := s.sizes[sz]; ok {
			out = append(out, sz)
		}
	}
	return out
}

// Price keys. An image's is "<quality>_<size>" as sent (e.g.
// "medium_1024x1024", "hd_1792x1024", "standard_512x512"); audio's is
// AudioMinutePrice.
const AudioMinutePrice = "audio_minute"

// standardQuality names the one quality of a family without a quality
// parameter, in its price keys.
const standardQuality = "standard"

// PriceVersion names the price list of the costs.
const PriceVersion = "openai-2026-12"

// imagePrices are the list prices per image by model, "<quality>_<size>"
// (PROVIDERS.md section 14; gpt-image-1.5 and gpt-image-1-mini from
// OpenAI's pricing page as quoted in March-May 2026).
var imagePrices = map[string]map[string]float64{
	"gpt-image-1":          gptImagePrices(0.011, 0.016, 0.042, 0.063, 0.167, 0.25),
	"gpt-image-1-mini":     gptImagePrices(0.005, 0.006, 0.011, 0.015, 0.036, 0.052),
	"gpt-image-1.5":        gptImagePrices(0.009, 0.013, 0.034, 0.05, 0.133, 0.20),
	"chatgpt-image-latest": gptImagePrices(0.009, 0.013, 0.034, 0.05, 0.133, 0.20),
	"dall-e-3": {
		"standard_1024x1024": 0.04, "standard_1792x1024": 0.08, "standard_1024x1792": 0.08,
		"hd_1024x1024": 0.08, "hd_1792x1024": 0.12, "hd_1024x1792": 0.12,
	},
	"dall-e-2": {"standard_256x256": 0.016, "standard_512x512": 0.018, "standard_1024x1024": 0.02},
}

func gptImagePrices(lowSq, lowWide, medSq, medWide, highSq, highWide float64) map[string]float64 {
	p := map[string]float64{}
	for q, v := range map[string][2]float64{"low": {lowSq, lowWide}, "medium": {medSq, medWide}, "high": {highSq, highWide}} {
		p[q+"_1024x1024"] = v[0]
		p[q+"_1536x1024"] = v[1]
		p[q+"_1024x1536"] = v[1]
	}
	return p
}

// audioPrices are the list prices per minute of audio.
var audioPrices = map[string]float64{
	"whisper-1":              0.006,
	"gpt-4o-transcribe":      0.006,
	"gpt-4o-mini-transcribe": 0.003,
}

// priceKeys are the keys the price option may set for an image family
// (and the audio minute for a transcription one).
func priceKeys(fams ...Family) []string {
	var keys []string
	for _, f := range fams {
		if !f.image() {
			keys = append(keys, AudioMinutePrice)
			continue
		}
		spec := imageSpecs[f]
		qs := spec.qualities
		if len(qs) == 0 {
			qs = []string{standardQuality}
		}
		for _, q := range qs {
			for _, sz := range spec.sizeNames() {
				keys = append(keys, q+"_"+spec.sizes[sz])
			}
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}
