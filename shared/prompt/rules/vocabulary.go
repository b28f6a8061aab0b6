package rules

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxTermWords is the most words one term holds: AssemblyAI's keyterms
// take six.
const maxTermWords = 6

// vocabulary turns vocabulary hints for a speech recogniser into distinct
// terms, in order, joined by ", ". Terms are the user's own text: names
// keep their casing, quoted text is one term kept byte for byte, and only
// function words and words like "please" or "vocabulary" are dropped, so
// no word is invented. Neighbouring words of one kind stay one term
// ("San Francisco", "machine learning"); a capitalised and a lower-case
// run are two.
func vocabulary(s string) string {
	var buf [32][2]int
	terms := buf[:0]
	var seen phraseSet
	var q quotes
	cur := vocabTerm{start: -1}
	closeTerm := func() {
		if cur.start >= 0 && seen.add(s[cur.start:cur.end]) {
			terms = append(terms, [2]int{cur.start, cur.end})
		}
		cur = vocabTerm{start: -1}
	}
	soft := false // the last token kept is followed by one space
	for i := 0; i < len(s); {
		if s[i] == ' ' {
			i++
			continue
		}
		t, next := readToken(s, i, &q)
		i = next
		joins := soft && !cur.quoted && !t.quoted && cur.proper == t.proper && cur.words < maxTermWords
		switch {
		case t.start < 0 || !t.word || t.filler && !(joins && t.proper):
			// Separators and dropped words part terms; a capitalised
			// function word inside a name is the name's ("Nguyễn Văn An",
			// "Lord Of The Rings").
			closeTerm()
			soft = false
			continue
		case joins:
			cur.end = t.end
			cur.words++
		default:
			closeTerm()
			cur = vocabTerm{start: t.start, end: t.end, words: 1, proper: t.proper, quoted: t.quoted}
		}
		soft = next < len(s) && s[next] == ' '
	}
	closeTerm()
	if len(terms) == 0 {
		return ""
	}
	// ", " between terms; "," where that would add more than maxAdded
	// bytes to a long list, since every term boundary stands on at least
	// one byte of the input that no term holds.
	sep := ", "
	size := 0
	for _, t := range terms {
		size += t[1] - t[0] + len(sep)
	}
	if size-len(sep) > len(s)+maxAdded {
		sep = ","
	}
	var b strings.Builder
	b.Grow(size)
	for i, t := range terms {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(s[t[0]:t[1]])
	}
	return b.String()
}

type vocabTerm struct {
	start, end int
	words      int
	proper     bool
	quoted     bool
}

// token is one space-free run of a vocabulary hint, trimmed of the
// punctuation around it.
type token struct {
	start, end int  // -1 for a separator
	word       bool // holds a letter or digit: worth keeping
	filler     bool // a function or filler word
	proper     bool // a capital, a digit or an uncased script: a name
	quoted     bool
}

// readToken reads the token or separator at s[i:], which is no space, and
// returns where what follows starts. A token with no letter, digit or
// quoted span comes back as a separator.
func readToken(s string, i int, q *quotes) (token, int) {
	if r, n := utf8.DecodeRuneInString(s[i:]); isTermSeparator(s, i, r, n) {
		return token{start: -1}, i + n
	}
	t := token{start: -1}
	hasUpper := false
	j := i
	for j < len(s) {
		if e := q.end(s, j); e >= 0 {
			if t.start < 0 {
				t.start = j
			}
			t.end, t.quoted = e, true
			t.word = t.word || strings.IndexFunc(s[j:e], isWordRune) >= 0
			j = e
			continue
		}
		r, n := utf8.DecodeRuneInString(s[j:])
		if r == '.' && t.start >= 0 && t.end == j && isTitle(s[t.start:j]) {
			t.end = j + n // "Dr. Ada Lovelace" is one name
			j += n
			continue
		}
		if r == ' ' || isTermSeparator(s, j, r, n) {
			break
		}
		switch {
		case isWordRune(r):
			if t.start < 0 {
				t.start = j
			}
			t.end, t.word = j+n, true
			if !unicode.IsLower(r) && !unicode.IsMark(r) {
				hasUpper = true // a capital, a digit, or a script without case
			}
		case (r == '+' || r == '#') && t.start >= 0 && t.end == j:
			t.end = j + n // C++, C#
		}
		j += n
	}
	if t.start < 0 {
		return token{start: -1}, j
	}
	t.proper = hasUpper
	if w := s[t.start:t.end]; !t.quoted && len(w) <= maxKey/2 && onlyLettersIn(w) {
		var k [maxKey]byte
		t.filler = lexicon[string(lower(k[:0], w))].slots&slotFiller != 0
	}
	return t, j
}

// isTitle reports whether w is a title abbreviated before a name.
func isTitle(w string) bool {
	if len(w) > maxKey/2 {
		return false
	}
	var k [maxKey]byte
	return lexicon[string(lower(k[:0], w))].slots&slotTitle != 0
}

func onlyLettersIn(w string) bool {
	for _, r := range w {
		if !unicode.IsLetter(r) && !unicode.IsMark(r) {
			return false
		}
	}
	return true
}

// isTermSeparator reports whether the rune r of n bytes at s[i] parts two
// terms. A full stop parts them only before a space or the end, so
// "Node.js" and "3.5" stay whole.
func isTermSeparator(s string, i int, r rune, n int) bool {
	switch r {
	case ',', ';', ':', '!', '?', '(', ')', '[', ']', '{', '}', '<', '>', '|',
		'，', '、', '；', '：', '。', '！', '？', '（', '）', '…', '•', '·':
		return true
	case '.':
		return i+n == len(s) || s[i+n] == ' '
	}
	return false
}
