package subtitle

import (
	"strings"
	"testing"
)

// BenchmarkCuesHourOfSpeech lays out an hour of lecture (some 10,000
// words) under the defaults and under three wide lines, the most work a
// cue can take.
func BenchmarkCuesHourOfSpeech(b *testing.B) {
	lecture := corpus[1]
	lecture.text = strings.Repeat(lecture.text+" ", 70)
	tr := generate(lecture)
	b.Logf("%d words over %.0f s", len(tr.Words), tr.DurationSeconds)
	for name, o := range map[string]Options{
		"default":    DefaultOptions(),
		"three wide": {MaxLineChars: 80, MaxLines: 3, MaxCueSeconds: 10, MinCueSeconds: 0.8, MaxCharsPerSecond: 25, MinGapSeconds: 0.083},
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				Cues(tr, o)
			}
		})
	}
}
