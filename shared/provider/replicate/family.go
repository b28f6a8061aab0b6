package replicate

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/task"
)

// family is a group of Replicate models that take the same input: a new
// model of a known family works like the family.
type family string

const (
	famFlux      family = "flux"     // flux-schnell, flux-dev, their LoRAs: aspect_ratio, num_outputs, megapixels
	famFluxPro   family = "flux-pro" // flux-1.1-pro, flux-pro, flux-2-pro: aspect_ratio or custom width/height, prompt_upsampling
	famFluxUltra family = "flux-ultra"
	famSD        family = "sd"       // stability-ai/sdxl, stable-diffusion: width, height, negative_prompt
	famIdeogram  family = "ideogram" // ideogram-ai/ideogram-v2/v3: aspect_ratio, magic_prompt_option
	famImage     family = "image"    // any other image model: prompt, width, height, num_outputs
	famKling     family = "kling"    // kwaivgi/kling-*: duration 5|10, start_image
	famWan       family = "wan"      // wan-video/wan-*: image; 2.5+ duration, enable_prompt_expansion
	famMiniMax   family = "minimax"  // minimax/video-01, hailuo-02: prompt_optimizer, first_frame_image
	famVideo     family = "video"    // any other video model: prompt, aspect_ratio
)

// model is the configured model: "owner/name" runs its latest version
// (official models), "owner/name:version" a version.
type model struct {
	owner, name, version string
	family               family
	i2v                  bool // image-to-video only: the first frame is required
}

var (
	namePart  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	versionRe = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func parseModel(s string) (model, error) {
	ref, version, _ := strings.Cut(strings.TrimSpace(s), ":")
	owner, name, ok := strings.Cut(ref, "/")
	if !ok || !namePart.MatchString(owner) || !namePart.MatchString(name) {
		return model{}, fmt.Errorf("must be a Replicate model, owner/name or owner/name:version (e.g. black-forest-labs/flux-schnell), not %q", s)
	}
	if strings.Contains(s, ":") && !versionRe.MatchString(version) {
		return model{}, fmt.Errorf("the version of %q must be 64 hexadecimal digits", s)
	}
	m := model{owner: owner, name: name, version: version}
	full := strings.ToLower(owner + "/" + name)
	m.family = familyOf(full)
	m.i2v = m.family.video() && (strings.Contains(full, "i2v") || strings.Contains(full, "image-to-video") ||
		(m.family == famKling && strings.HasSuffix(full, "kling-v2.1"))) // kling-v2.1 takes only a start image [?]
	return m, nil
}

func (m model) String() string {
	if m.version != "" {
		return m.owner + "/" + m.name + ":" + m.version
	}
	return m.owner + "/" + m.name
}

func familyOf(full string) family {
	has := func(s ...string) bool {
		return slices.ContainsFunc(s, func(x string) bool { return strings.Contains(full, x) })
	}
	switch {
	case has("kling"):
		return famKling
	case has("wan-video/", "/wan-"):
		return famWan
	case has("minimax/video", "hailuo"):
		return famMiniMax
	case has("video", "t2v", "i2v", "veo", "luma/ray", "seedance", "ltx", "hunyuan", "mochi", "pika"):
		return famVideo
	case has("ultra"):
		if has("flux") {
			return famFluxUltra
		}
	}
	switch {
	case has("flux-1.1-pro", "flux-pro", "flux-2-pro", "flux-2-flex"):
		return famFluxPro
	case has("flux"):
		return famFlux
	case has("ideogram"):
		return famIdeogram
	case has("sdxl", "stable-diffusion"):
		return famSD
	}
	return famImage
}

func (f family) video() bool {
	switch f {
	case famKling, famWan, famMiniMax, famVideo:
		return true
	}
	return false
}

func (m model) taskType() task.Type {
	if m.family.video() {
		return task.TypeVideoGeneration
	}
	return task.TypeImageGeneration
}

// version is the model's version as its name says ("wan-2.5-t2v" 2.5,
// "kling-v2.1" 2.1, "ideogram-v3-turbo" 3), or 0.
func (m model) numbered() float64 {
	for _, part := range strings.FieldsFunc(strings.ToLower(m.name), func(r rune) bool { return r == '-' || r == '_' }) {
		if v, err := strconv.ParseFloat(strings.TrimPrefix(part, "v"), 64); err == nil && v > 0 && v < 100 {
			return v
		}
	}
	return 0
}

// ratioOfSize is the aspect ratio a platform size maps to.
var ratioOfSize = map[string]string{
	"1024x1024": "1:1",
	"1792x1024": "16:9",
	"1024x1792": "9:16",
}

func sizeOf(s string) (w, h int, ok bool) {
	ws, hs, found := strings.Cut(s, "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	return w, h, found && err1 == nil && err2 == nil && w > 0 && h > 0
}

// sizes the model takes (nil: any of the platform's).
func (m model) sizes() []string {
	switch m.family {
	case famFlux:
		// aspect_ratio at 1 megapixel, or 512x512 as megapixels 0.25.
		return []string{"512x512", "1024x1024", "1792x1024", "1024x1792"}
	case famFluxUltra, famIdeogram:
		return []string{"1024x1024", "1792x1024", "1024x1792"}
	}
	return nil
}

// maxImages a prediction makes.
func (m model) maxImages() int {
	switch m.family {
	case famFlux, famSD:
		return 4
	case famIdeogram:
		return 1
	}
	return 1 // flux pro, ultra, and a model of no known family make one
}

// durations the model takes, and whether duration is sent.
func (m model) durations() ([]int, bool) {
	switch m.family {
	case famKling:
		return []int{5, 10}, true
	case famWan:
		if m.numbered() >= 2.5 {
			return []int{5, 10}, true
		}
		return []int{5}, false // 81 frames at 16 fps
	case famMiniMax:
		if strings.Contains(strings.ToLower(m.name), "hailuo") {
			return []int{5, 6, 10}, true // 5 s asks for the shortest, 6
		}
		return []int{5, 6}, false // video-01: 6 s clips
	}
	return nil, false
}

func (m model) seconds(secs int) int {
	switch m.family {
	case famWan:
		if m.numbered() < 2.5 {
			return 5
		}
	case famMiniMax:
		return max(secs, 6)
	}
	return secs
}

func (m model) ratios() []string {
	switch m.family {
	case famWan:
		if m.numbered() < 2.5 {
			return []string{"16:9", "9:16"}
		}
	case famMiniMax:
		return []string{"16:9"} // no aspect_ratio: 16:9 [?]
	}
	return nil
}

// imageField is the input that takes a first frame.
func (m model) imageField() string {
	switch m.family {
	case famKling:
		return "start_image"
	case famWan:
		return "image"
	case famMiniMax:
		return "first_frame_image"
	}
	return ""
}

// expansionFlag is the model's switch of its own prompt expansion.
func (m model) expansionFlag() string {
	switch m.family {
	case famFluxPro, famFluxUltra:
		return "prompt_upsampling"
	case famIdeogram:
		return "magic_prompt_option"
	case famMiniMax:
		return "prompt_optimizer"
	case famWan:
		if m.numbered() >= 2.5 {
			return "enable_prompt_expansion"
		}
	}
	return ""
}

func (m model) takesNegative() bool {
	switch m.family {
	case famSD, famKling:
		return true
	case famIdeogram:
		return m.numbered() < 3 // v3 has none [?]
	case famWan:
		return m.numbered() >= 2.5
	}
	return false
}

func (m model) limits() prompt.Limits {
	l := prompt.Limits{Expansion: m.expansionFlag() != ""}
	switch m.family {
	case famFlux, famFluxPro, famFluxUltra:
		l.MaxPrompt, l.Unit = 512, prompt.UnitTokens
	case famSD:
		l.MaxPrompt, l.Unit = 77, prompt.UnitTokens
	case famKling:
		l.MaxPrompt, l.Unit = 2500, prompt.UnitChars
	case famWan:
		l.MaxPrompt, l.Unit = 1500, prompt.UnitChars
	case famMiniMax:
		l.MaxPrompt, l.Unit = 2000, prompt.UnitChars // [?]
	}
	if m.taskType() == task.TypeImageGeneration && m.takesNegative() {
		l.Negative = true
		if m.family == famSD {
			l.MaxNegative = 77
		}
	}
	return l
}
