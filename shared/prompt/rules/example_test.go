package rules_test

import (
	"fmt"

	"github.com/videoai/mediatasks/shared/prompt/rules"
)

// A terse prompt gets what it lacks; the same prompt always gets the same.
func ExampleEnhance() {
	r := rules.Enhance("video_generation", "a cat")
	fmt.Println(r.Prompt)
	fmt.Println(r.NegativePrompt)
	fmt.Printf("%q\n", r.Added)

	r = rules.Enhance("audio_transcription", "Please note the names: Andrej Karpathy and the New York Times")
	fmt.Println(r.Prompt)
	// Output:
	// a cat walks slowly, warm golden-hour light, calm atmosphere, smooth tracking shot, natural cinematic look
	// blurry, low quality, distorted, watermark, flickering, jittery motion
	// ["walks slowly" "warm golden-hour light" "calm atmosphere" "smooth tracking shot" "natural cinematic look"]
	// Andrej Karpathy, New York Times
}
