package runway

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// DefaultModel is the model used unless model says.
const DefaultModel = "gen4_turbo"

// PriceVersion names the price list of Cost.
const PriceVersion = "runway-2026-12"

// USDPerCredit is what Runway's API sells a credit for.
const USDPerCredit = 0.01

// creditsPerSecond are the list prices of the API's video models, in
// credits per second of output; the price option's keys are the model
// names, its values USD per second.
var creditsPerSecond = map[string]float64{
	"gen4_turbo":  5,
	"gen3a_turbo": 5,
	"gen4.5":      12,
	"veo3":        40,
	"veo3.1":      40,
	"veo3.1_fast": 15,
}

func priceKeys() []string {
	keys := make([]string, 0, len(creditsPerSecond))
	for k := range creditsPerSecond {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// The routes of Runway's API that make a video.
const (
	routeText  = "text_to_video"
	routeImage = "image_to_video"
)

// spec is what a model family does: the Runway ratio for each of the
// platform's aspect ratios, by route (a route it lacks has none), and the
// durations it makes.
type spec struct {
	family    string
	text      map[string]string // aspect ratio -> ratio, text_to_video
	image     map[string]string // image_to_video
	durations []int             // seconds it takes
}

var (
	landscapePortrait = map[string]string{"16:9": "1280:720", "9:16": "720:1280"}
	withSquare        = map[string]string{"16:9": "1280:720", "9:16": "720:1280", "1:1": "960:960"}
	twoToTen          = []int{2, 3, 4, 5, 6, 7, 8, 9, 10}
)

// specOf maps a model by its family, so a new name of a known family
// works; an unknown one gets gen4_turbo's careful mapping (an image is
// required; 2 to 10 s).
func specOf(model string) spec {
	m := strings.ToLower(model)
	switch {
	case strings.HasPrefix(m, "veo3.1"), strings.HasPrefix(m, "veo3-1"):
		return spec{family: "veo3.1", text: landscapePortrait, image: landscapePortrait, durations: []int{4, 6, 8}}
	case strings.HasPrefix(m, "veo3"):
		// Runway's SDK lists veo3 for image to video only (8 s).
		return spec{family: "veo3", image: landscapePortrait, durations: []int{8}}
	case strings.HasPrefix(m, "gen4.5"), strings.HasPrefix(m, "gen4_5"):
		return spec{family: "gen4.5", text: landscapePortrait, image: withSquare, durations: twoToTen}
	case strings.HasPrefix(m, "gen3a"):
		return spec{family: "gen3a_turbo", image: map[string]string{"16:9": "1280:768", "9:16": "768:1280"}, durations: []int{5, 10}}
	}
	return spec{family: "gen4_turbo", image: withSquare, durations: twoToTen}
}

// ratios is the route's table.
func (s spec) ratios(route string) map[string]string {
	if route == routeText {
		return s.text
	}
	return s.image
}

// durationsText lists the durations for a message: "2 to 10" or "4, 6 or 8".
func (s spec) durationsText() string {
	d := s.durations
	if len(d) > 2 && d[len(d)-1]-d[0] == len(d)-1 {
		return fmt.Sprintf("%d to %d", d[0], d[len(d)-1])
	}
	parts := make([]string, len(d))
	for i, v := range d {
		parts[i] = strconv.Itoa(v)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}

func aspects(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

// MaxPromptText is promptText's limit, in UTF-16 code units.
const MaxPromptText = 1000

// maxDataURI is the largest promptImage Runway takes as a data URI; an
// image read to be sent as one is capped at its decoded size.
const (
	maxDataURI    = 5 << 20
	maxImageBytes = maxDataURI / 4 * 3
)
