package subtitle

import (
	"math"
	"testing"

	"github.com/videoai/mediatasks/shared/transcript"
)

// fuzzWords are what fuzzed transcripts are made of: plain words, names
// and titles, punctuation, numbers, CJK, a word longer than any line,
// the format's special characters, combining marks and emoji, blanks.
var fuzzWords = []string{
	"the", "a", "of", "and", "to", "in", "but", "which", "was", "said", "going", "home", "really",
	"Ada", "Lovelace", "New", "York", "City", "Dr.", "Mr.", "Smith,", "Paris.", "I", "OK.",
	"hello.", "world,", "yes?", "no!", "so;", "well:", "—", "...", "(aside)", "\"quoted\"",
	"3.5", "$20", "1,000", "9:30", "2023,",
	"東京", "タワー", "です。", "今日は", "、", "「本当", "？」", "iPhone", "天気", "ＡＢＣ",
	"Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch", "supercalifragilistic",
	"-->", "--->", "&", "<b>", "<i>x</i>", "a>b", "&amp;",
	"ça", "été", "Zoë", "Über", "e\u0301", "👍", "a b", " ", "", "\t\n", "\x00x", "\xff",
}

// FuzzCues makes a transcript and options from the fuzzer's bytes and
// checks that Cues does not panic and keeps every rule, and that both
// files are written correctly. The first six bytes choose the options
// (within Validate's ranges), then each three a word, the pause before it
// (negative sometimes, so out of order) and how long it is said; extra is
// one more word, any text at all.
func FuzzCues(f *testing.F) {
	f.Add([]byte{32, 1, 12, 2, 6, 2, 10, 40, 20, 11, 40, 20, 12, 40, 30}, "Babbage")
	f.Add([]byte{0, 0, 0, 0, 0, 0, 14, 32, 0, 15, 32, 0, 16, 32, 0, 17, 32, 0}, "")
	f.Add([]byte{70, 2, 50, 5, 29, 4, 55, 60, 90, 56, 60, 90, 45, 33, 10, 46, 33, 10, 47, 33, 10}, "東京タワー")
	f.Add([]byte{10, 0, 0, 0, 0, 0, 255, 255, 255, 58, 0, 255, 224, 40, 40}, "-->\r\n<c>")
	f.Fuzz(func(t *testing.T, data []byte, extra string) {
		if len(data) < 6 || len(data) > 6+3*300 {
			return // more words find nothing new, only take longer
		}
		o := Options{
			MaxLineChars:      10 + int(data[0])%191,
			MaxLines:          1 + int(data[1])%3,
			MaxCharsPerSecond: 5 + float64(data[2]%56),
			MaxCueSeconds:     1 + float64(data[4]%20),
			MinGapSeconds:     float64(data[5]%6) * 0.04,
		}
		o.MinCueSeconds = min(float64(data[3]%8)*0.25, o.MaxCueSeconds)
		if err := o.Validate(); err != nil {
			t.Fatalf("options %+v: %v", o, err)
		}
		tr := &transcript.Transcript{}
		at := 0.0
		for rest := data[6:]; len(rest) >= 3; rest = rest[3:] {
			word := extra
			if int(rest[0]) < 224 {
				word = fuzzWords[int(rest[0])%len(fuzzWords)]
			}
			at += float64(int(rest[1])-32) * 0.02
			start, end := at, at+float64(rest[2])*0.015
			if rest[1] == 255 {
				start = math.NaN()
			}
			tr.Words = append(tr.Words, transcript.Word{Word: word, Start: start, End: end, Confidence: 1})
		}
		if len(data)%2 == 0 {
			tr.DurationSeconds = at + 2
		}
		cues := Cues(tr, o)
		words := make([]wordIn, len(tr.Words))
		for i, w := range tr.Words {
			words[i] = wordIn{text: w.Word, start: w.Start, end: w.End}
		}
		for _, e := range checkRules(words, tr.DurationSeconds, o, cues) {
			t.Errorf("options %+v: %s", o, e)
		}
		for _, format := range []string{FormatSRT, FormatVTT} {
			b, err := Format(tr, format, o)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range checkFile(format, b, cues) {
				t.Errorf("%s: %s", format, e)
			}
		}
	})
}
