package subtitle

import (
	"slices"
	"testing"
)

func TestSplitCJKKeepsPunctuationWithItsCharacter(t *testing.T) {
	tests := map[string][]string{
		"今日は。":      {"今", "日", "は。"},
		"「本当？」":     {"「本", "当？」"},
		"我用iPhone拍": {"我", "用", "iPhone", "拍"},
		"0(!00䄥":    {"0", "(!00", "䄥"},
		"hello,":    {"hello,"},
	}
	for word, want := range tests {
		if got := splitCJK(word); !slices.Equal(got, want) {
			t.Errorf("splitCJK(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestHardWrapCutsEvenPieces(t *testing.T) {
	got := hardWrap("abcdefghijklmnopqrstuvwxyz", 10)
	if !slices.Equal(got, []string{"abcdefghi", "jklmnopqr", "stuvwxyz"}) {
		t.Errorf("pieces = %q", got)
	}
	if got := hardWrap("東京タワー東京タワー", 10); !slices.Equal(got, []string{"東京タワー", "東京タワー"}) {
		t.Errorf("wide pieces = %q", got)
	}
}

func TestSentenceEndsAreNotAbbreviations(t *testing.T) {
	toks := []token{{text: "at"}, {text: "5"}, {text: "p.m."}, {text: "on"}, {text: "Friday."}, {text: "Dr."}, {text: "Who?"}}
	for k, want := range []bool{false, false, false, false, true, false, true} {
		if got := sentenceEndAt(toks, k); got != want {
			t.Errorf("sentenceEndAt(%q) = %v, want %v", toks[k].text, got, want)
		}
	}
}
