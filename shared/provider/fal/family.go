package fal

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/task"
)

// family is a group of fal apps that take the same input: a new app of a
// known family (a new version, a new tier) works like the family.
type family string

const (
	famFlux      family = "flux"       // fal-ai/flux/dev, flux/schnell, flux-lora, flux-2...: image_size
	famFluxPro   family = "flux-pro"   // fal-ai/flux-pro/v1.1: image_size, enhance_prompt
	famFluxRatio family = "flux-ratio" // flux-pro/v1.1-ultra, flux-pro/kontext: aspect_ratio, enhance_prompt
	famIdeogram  family = "ideogram"   // fal-ai/ideogram/v2, v3: aspect_ratio, expand_prompt, negative_prompt
	famSD        family = "sd"         // fast-sdxl, stable-diffusion-*: image_size, negative_prompt
	famImage     family = "image"      // any other image app: prompt, image_size, num_images
	famKling     family = "kling"      // fal-ai/kling-video/...: duration "5"|"10"
	famPika      family = "pika"       // fal-ai/pika/...: duration 5|10 (integer)
	famWan       family = "wan"        // fal-ai/wan-*, fal-ai/wan/...: enable_prompt_expansion
	famMiniMax   family = "minimax"    // fal-ai/minimax/..., hailuo: prompt_optimizer
	famExpVideo  family = "exp-video"  // LTX, Hunyuan Video: enable_prompt_expansion
	famVideo     family = "video"      // any other video app: prompt, aspect_ratio, image_url
)

// app is one configured fal app, read from its id.
type app struct {
	id     string // e.g. "fal-ai/kling-video/v2.1/pro/image-to-video"
	family family
	// i2v: the app makes a video from a first frame (image_url required).
	i2v bool
}

// parseApp reads an app id. It is "owner/alias[/path]".
func parseApp(id string) (app, error) {
	id = strings.Trim(strings.TrimSpace(id), "/")
	parts := strings.Split(id, "/")
	if len(parts) < 2 || slices.Contains(parts, "") || slices.Contains(parts, "..") || strings.ContainsAny(id, "?#% \\") {
		return app{}, fmt.Errorf("must be a fal app id such as fal-ai/flux/dev, not %q", id)
	}
	lower := strings.ToLower(id)
	a := app{id: id, family: familyOf(lower)}
	a.i2v = a.family.video() && (strings.Contains(lower, "image-to-video") || strings.Contains(lower, "i2v") ||
		strings.Contains(lower, "start-end"))
	return a, nil
}

// familyOf tells an app's family by its id (lower case).
func familyOf(id string) family {
	path := strings.SplitN(id, "/", 2)[1]
	has := func(s ...string) bool {
		return slices.ContainsFunc(s, func(x string) bool { return strings.Contains(path, x) })
	}
	switch {
	case has("kling"):
		return famKling
	case has("pika"):
		return famPika
	case strings.HasPrefix(path, "wan") || has("/wan"):
		return famWan
	case has("minimax/video", "minimax/hailuo", "hailuo"):
		return famMiniMax
	case has("ltx", "hunyuan-video", "hunyuan_video"):
		return famExpVideo
	case has("video", "t2v", "i2v", "veo", "sora", "luma", "seedance", "vidu"):
		return famVideo
	case has("flux-pro/v1.1-ultra", "kontext"):
		return famFluxRatio
	case has("flux-pro"):
		return famFluxPro
	case has("flux"):
		return famFlux
	case has("ideogram"):
		return famIdeogram
	case has("sdxl", "stable-diffusion", "sd-", "sd3"):
		return famSD
	}
	return famImage
}

func (f family) video() bool {
	switch f {
	case famKling, famPika, famWan, famMiniMax, famExpVideo, famVideo:
		return true
	}
	return false
}

// taskType is what the app makes.
func (a app) taskType() task.Type {
	if a.family.video() {
		return task.TypeVideoGeneration
	}
	return task.TypeImageGeneration
}

// version is the app's major.minor version as its id names it ("v2.1",
// "wan-25", "v2.2-a14b"), or 0 when it names none.
func (a app) version() float64 {
	id := strings.ToLower(a.id)
	for seg := range strings.SplitSeq(id, "/") {
		for _, part := range strings.FieldsFunc(seg, func(r rune) bool { return r == '-' || r == '_' }) {
			num, ok := strings.CutPrefix(part, "v")
			if !ok && a.family == famWan && len(part) == 2 && part[0] >= '1' && part[0] <= '9' {
				num = part[:1] + "." + part[1:] // wan-25-preview: 2.5
			}
			if v, err := strconv.ParseFloat(num, 64); err == nil && v > 0 && v < 100 {
				return v
			}
		}
	}
	return 0
}

// Sizes an app's image_size takes by name; others are sent as
// {width, height}.
var imageSizeNames = map[string]string{
	"1024x1024": "square_hd",
	"512x512":   "square",
}

// ratioOfSize is the aspect ratio a size maps to for the apps that take
// aspect_ratio instead of a size (they choose the resolution themselves).
var ratioOfSize = map[string]string{
	"1024x1024": "1:1",
	"1792x1024": "16:9",
	"1024x1792": "9:16",
}

// minFluxSide: Flux apps take sides of 512 pixels or more [?: fal's
// schema of flux-2 says so; flux/dev's does not say].
const minFluxSide = 512

func sizeOf(s string) (w, h int, ok bool) {
	ws, hs, found := strings.Cut(s, "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	return w, h, found && err1 == nil && err2 == nil && w > 0 && h > 0
}

// durations is what an app takes for duration_seconds, nil for any in
// the platform's range, and whether the field is sent at all.
func (a app) durations() (allowed []int, sent bool) {
	v := a.version()
	switch a.family {
	case famKling:
		if v < 3 {
			return []int{5, 10}, true
		}
		// Kling 3 and later apps take more lengths [?]: 3 to 15 s.
		return []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, true
	case famPika:
		if v >= 2.2 {
			return []int{5, 10}, true
		}
		return []int{5}, false
	case famWan:
		if v >= 2.5 {
			return []int{5, 10}, true
		}
		// Wan 2.1 and 2.2 make 81 frames at 16 fps: about 5 s.
		return []int{5}, false
	case famMiniMax:
		if strings.Contains(strings.ToLower(a.id), "hailuo") {
			// Hailuo takes "6" or "10"; 5 s asks for its shortest clip.
			return []int{5, 6, 10}, true
		}
		// MiniMax video-01 makes 6 s clips; 5 s asks for one of them.
		return []int{5, 6}, false
	}
	return nil, false
}

// durationValue is what the app is sent for secs.
func (a app) durationValue(secs int) any {
	switch a.family {
	case famPika:
		return secs
	case famMiniMax:
		if secs < 6 {
			secs = 6
		}
	}
	// Kling, Wan and Hailuo take the seconds as a string enum.
	return strconv.Itoa(secs)
}

// ratios is the aspect ratios a text-to-video app takes (nil: any of
// the platform's). An image-to-video app takes the first frame's.
func (a app) ratios() []string {
	switch a.family {
	case famWan:
		if a.version() < 2.5 {
			return []string{"16:9", "9:16"}
		}
	case famMiniMax:
		// MiniMax and Hailuo have no aspect ratio: 16:9 landscape [?].
		return []string{"16:9"}
	}
	return nil
}

// sendsRatio: the app takes aspect_ratio for a video.
func (a app) sendsRatio() bool {
	return !a.i2v && a.family != famMiniMax
}

// expansionFlag is the app's switch of its own prompt expansion, "" for
// none (PROMPTS.md).
func (a app) expansionFlag() string {
	switch a.family {
	case famWan, famExpVideo:
		return "enable_prompt_expansion"
	case famMiniMax:
		return "prompt_optimizer"
	case famIdeogram:
		return "expand_prompt"
	case famFluxPro, famFluxRatio:
		return "enhance_prompt"
	}
	return ""
}

// takesNegative: the app takes a negative_prompt.
func (a app) takesNegative() bool {
	switch a.family {
	case famIdeogram, famSD, famKling, famPika, famWan, famExpVideo:
		return true
	}
	return false
}

// limits are the app's prompt limits (PROMPTS.md).
func (a app) limits() prompt.Limits {
	l := prompt.Limits{Expansion: a.expansionFlag() != ""}
	switch a.family {
	case famFlux, famFluxPro, famFluxRatio:
		l.MaxPrompt, l.Unit = 512, prompt.UnitTokens // T5 max_sequence_length
	case famSD:
		l.MaxPrompt, l.Unit = 77, prompt.UnitTokens // CLIP
	case famKling:
		l.MaxPrompt, l.Unit = 2500, prompt.UnitChars
		if a.i2v {
			l.MaxPrompt = 500
		}
	case famWan:
		l.MaxPrompt, l.Unit = 1500, prompt.UnitChars
	case famMiniMax:
		l.MaxPrompt, l.Unit = 2000, prompt.UnitChars // [?]
	}
	// A video input carries no negative prompt; an image one does where
	// the app takes it.
	if a.taskType() == task.TypeImageGeneration && a.takesNegative() {
		l.Negative = true
		if a.family == famSD {
			l.MaxNegative = 77
		}
	}
	return l
}
