package prompt

import (
	"strings"
	"testing"
)

func TestLength(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		s    string
		unit LengthUnit
		want int
	}{
		"chars count code points":       {"café 🎬", UnitChars, 6},
		"utf16 counts surrogates twice": {"café 🎬", UnitUTF16, 7},
		"tokens: words":                 {"a b c d e", UnitTokens, 5},
		"tokens: long words":            {"internationalisation", UnitTokens, 5},
		"empty":                         {"", UnitTokens, 0},
	} {
		if got := Length(tc.s, tc.unit); got != tc.want {
			t.Errorf("%s: Length(%q) = %d, want %d", name, tc.s, got, tc.want)
		}
	}
}

func TestFitText(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("golden light over the harbour, ", 40)
	for name, tc := range map[string]struct {
		s       string
		limit   int
		unit    LengthUnit
		keepEnd bool
		want    string
	}{
		"within the limit":          {"a fox", 10, UnitChars, false, "a fox"},
		"no limit":                  {long, 0, UnitChars, false, long},
		"cut at a word":             {"one two three four", 12, UnitChars, false, "one two"},
		"keep the end (Whisper)":    {"alpha beta gamma delta", 11, UnitChars, true, "gamma delta"},
		"utf16 emoji":               {"🎬🎬🎬🎬", 5, UnitUTF16, false, "🎬🎬"},
		"trailing comma goes":       {"red, green, blue", 11, UnitChars, false, "red, green"},
		"one long word is cut hard": {"abcdefghijklmnop", 5, UnitChars, false, "abcde"},
	} {
		got, cut := fitText(tc.s, tc.limit, tc.unit, tc.keepEnd)
		if got != tc.want || cut != (tc.s != tc.want) {
			t.Errorf("%s: fitText = %q (cut %v), want %q", name, got, cut, tc.want)
		}
		if tc.limit > 0 && Length(got, tc.unit) > tc.limit {
			t.Errorf("%s: %q is over the limit %d", name, got, tc.limit)
		}
	}
}
