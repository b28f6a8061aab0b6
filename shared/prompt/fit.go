package prompt

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Length is a text's length in a provider's unit. Tokens are estimated
// without the provider's tokenizer: a word, or four characters, is a
// token, whichever counts more; English prompts come out a little over
// what BPE tokenizers count, so a fitted prompt stays within the limit.
func Length(s string, unit LengthUnit) int {
	switch unit {
	case UnitUTF16:
		n := 0
		for _, r := range s {
			n += utf16.RuneLen(r)
		}
		return n
	case UnitTokens:
		return max(len(strings.Fields(s)), (utf8.RuneCountInString(s)+3)/4)
	default:
		return utf8.RuneCountInString(s)
	}
}

// fitText cuts s to at most limit in unit, at a word boundary where one
// is near, keeping the end instead of the start when keepEnd. It reports
// whether it cut.
func fitText(s string, limit int, unit LengthUnit, keepEnd bool) (string, bool) {
	if limit <= 0 || Length(s, unit) <= limit {
		return s, false
	}
	runes := []rune(s)
	// The longest run of runes within the limit, found by bisection: the
	// length of a prefix (or suffix) grows with it in every unit.
	lo, hi := 0, len(runes)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if Length(part(runes, mid, keepEnd), unit) <= limit {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	cut := part(runes, lo, keepEnd)
	// Back off to a word boundary, unless that would lose half of it.
	if keepEnd {
		if i := strings.IndexFunc(cut, unicode.IsSpace); i >= 0 && i <= len(cut)/2 && !unicode.IsSpace(runes[len(runes)-lo-1]) {
			cut = cut[i:]
		}
	} else if i := strings.LastIndexFunc(cut, unicode.IsSpace); i > 0 && i >= len(cut)/2 && !unicode.IsSpace(runes[lo]) {
		cut = cut[:i]
	}
	return strings.Trim(strings.TrimSpace(cut), ",;"), true
}

func part(runes []rune, n int, fromEnd bool) string {
	if fromEnd {
		return string(runes[len(runes)-n:])
	}
	return string(runes[:n])
}

// fit applies a provider's limits to a prompt and its negative prompt,
// noting on op what it changed.
func fit(prompt, negative string, l Limits, op *fitted) (string, string) {
	if negative != "" && !l.Negative {
		negative, op.negativeDropped = "", true
	}
	var cut bool
	prompt, cut = fitText(prompt, l.MaxPrompt, l.Unit, l.KeepsEnd)
	op.truncated = op.truncated || cut
	negative, cut = fitText(negative, l.MaxNegative, l.Unit, false)
	op.truncated = op.truncated || cut
	return prompt, negative
}

type fitted struct{ truncated, negativeDropped bool }
