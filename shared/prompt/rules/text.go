package rules

import (
	"iter"
	"strings"
	"unicode"
	"unicode/utf8"
)

// quotes finds quoted spans. A span is kept byte for byte by every rule, so
// what a user wants written on a sign or spoken as a term survives.
//
// "..." “...” and «...» close at the next closing mark. '...' and ‘...’
// double as apostrophes, so they open only where no letter or digit comes
// just before and close only where none comes just after: "don't" and
// "the '90s" hold no span, "rock 'n' roll" holds one.
type quotes struct {
	// unclosed holds the kinds already found to have no closer further on:
	// a closer's validity does not depend on where its opener was, so
	// scanning again for one would only make long unbalanced inputs
	// quadratic.
	unclosed uint8
}

// end returns the index just past the span that opens at s[i], or -1 when
// no span opens there.
func (q *quotes) end(s string, i int) int {
	switch s[i] {
	case '"', '\'', 0xC2, 0xE2: // the first bytes of the marks: most bytes are none
	default:
		return -1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	var closer rune
	var kind uint8
	apostrophe := false
	switch r {
	case '"':
		closer, kind = '"', 1
	case '“':
		closer, kind = '”', 2
	case '«':
		closer, kind = '»', 4
	case '\'':
		closer, kind, apostrophe = '\'', 8, true
	case '‘':
		closer, kind, apostrophe = '’', 16, true
	default:
		return -1
	}
	if q.unclosed&kind != 0 {
		return -1
	}
	if apostrophe && i > 0 {
		if p, _ := utf8.DecodeLastRuneInString(s[:i]); isWordRune(p) {
			return -1
		}
	}
	for j := i + n; j < len(s); {
		c, m := utf8.DecodeRuneInString(s[j:])
		j += m
		if c != closer {
			continue
		}
		if apostrophe && j < len(s) {
			if f, _ := utf8.DecodeRuneInString(s[j:]); isWordRune(f) {
				continue
			}
		}
		return j
	}
	q.unclosed |= kind
	return -1
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// pieces yields s in order as the runs outside quoted spans (false) and
// the spans themselves, marks included (true).
func pieces(s string) iter.Seq2[string, bool] {
	return func(yield func(string, bool) bool) {
		var q quotes
		start := 0
		for i := 0; i < len(s); {
			e := q.end(s, i)
			if e < 0 {
				i++ // a byte at a time: no mark starts inside a rune
				continue
			}
			if start < i && !yield(s[start:i], false) {
				return
			}
			if !yield(s[i:e], true) {
				return
			}
			start, i = e, e
		}
		if start < len(s) {
			yield(s[start:], false)
		}
	}
}

// normalize trims s and turns every run of white space outside quoted
// spans into one space. It returns s itself when there is nothing to do,
// which is the common case for prompts sent by programs.
func normalize(s string) string {
	if isNormal(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false // white space to write before what comes next
	write := func(text string) {
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteString(text)
	}
	for text, quoted := range pieces(s) {
		if quoted {
			write(text)
			continue
		}
		for i, r := range text {
			if unicode.IsSpace(r) {
				space = true
			} else {
				write(text[i : i+utf8.RuneLen(r)])
			}
		}
	}
	return b.String()
}

// isNormal reports whether normalize would return s unchanged.
func isNormal(s string) bool {
	prevSpace := true // a leading space is not normal
	for text, quoted := range pieces(s) {
		if quoted {
			prevSpace = false
			continue
		}
		for _, r := range text {
			if !unicode.IsSpace(r) {
				prevSpace = false
				continue
			}
			if r != ' ' || prevSpace {
				return false
			}
			prevSpace = true
		}
	}
	return !prevSpace || s == ""
}

// segment is one phrase of a normalised prompt, s[start:end], and the
// separator after it, s[end:next].
type segment struct{ start, end, next int }

// segments splits a normalised prompt into phrases at commas, semicolons
// and sentence ends outside quoted spans. A run of '.', '!', '?' or '…'
// ends a sentence only before a space or the end, so "3.5" and "Node.js"
// stay whole.
func segments(s string, dst []segment) []segment {
	var q quotes
	start := 0
	for i := 0; i < len(s); {
		if e := q.end(s, i); e >= 0 {
			i = e
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		sepEnd := -1
		switch r {
		case ',', ';', '，', '、', '；', '。', '！', '？':
			sepEnd = i + n
		case '.', '!', '?', '…':
			j := i + n
			for j < len(s) {
				c, m := utf8.DecodeRuneInString(s[j:])
				if c != '.' && c != '!' && c != '?' && c != '…' {
					break
				}
				j += m
			}
			if j == len(s) || s[j] == ' ' {
				sepEnd = j
			} else {
				n = j - i
			}
		}
		if sepEnd < 0 {
			i += n
			continue
		}
		end := i
		for end > start && s[end-1] == ' ' {
			end--
		}
		for sepEnd < len(s) && s[sepEnd] == ' ' {
			sepEnd++
		}
		dst = append(dst, segment{start, end, sepEnd})
		start, i = sepEnd, sepEnd
	}
	if start < len(s) || len(dst) == 0 {
		dst = append(dst, segment{start, len(s), len(s)})
	}
	return dst
}

// samePhrase reports whether a and b are one phrase: equal but for case,
// except in quoted text, where case is what the user wants shown
// ("SALE" is not "sale" on a sign).
func samePhrase(a, b string) bool {
	var qa, qb quotes
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ea, eb := qa.end(a, i), qb.end(b, j)
		if ea >= 0 || eb >= 0 {
			if ea < 0 || eb < 0 || a[i:ea] != b[j:eb] {
				return false
			}
			i, j = ea, eb
			continue
		}
		if a[i] < utf8.RuneSelf && b[j] < utf8.RuneSelf {
			if lowerASCII(a[i]) != lowerASCII(b[j]) {
				return false
			}
			i, j = i+1, j+1
			continue
		}
		ra, na := utf8.DecodeRuneInString(a[i:])
		rb, nb := utf8.DecodeRuneInString(b[j:])
		if unicode.ToLower(ra) != unicode.ToLower(rb) {
			return false
		}
		i, j = i+na, j+nb
	}
	return i == len(a) && j == len(b)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hashPhrase is FNV-1a over s as samePhrase sees it, so that one phrase
// always hashes alike.
func hashPhrase(s string) uint64 {
	h := uint64(fnvOffset)
	for text, quoted := range pieces(s) {
		if quoted {
			h = hashBytes(h, text)
			continue
		}
		for _, r := range text {
			var buf [utf8.UTFMax]byte
			h = hashBytes(h, utf8.AppendRune(buf[:0], unicode.ToLower(r)))
		}
	}
	return h
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// phraseSet tells whether a phrase was seen before (samePhrase). Prompts
// hold a handful of phrases, so it compares pairwise and only a long one
// pays for a map.
type phraseSet struct {
	small  [16]string
	n      int
	byHash map[uint64][]string
}

// add records p and reports whether it was new.
func (ps *phraseSet) add(p string) bool {
	if ps.byHash == nil {
		for _, seen := range ps.small[:ps.n] {
			if samePhrase(seen, p) {
				return false
			}
		}
		if ps.n < len(ps.small) {
			ps.small[ps.n] = p
			ps.n++
			return true
		}
		ps.byHash = make(map[uint64][]string, 2*len(ps.small))
		for _, seen := range ps.small[:ps.n] {
			h := hashPhrase(seen)
			ps.byHash[h] = append(ps.byHash[h], seen)
		}
	}
	h := hashPhrase(p)
	for _, seen := range ps.byHash[h] {
		if samePhrase(seen, p) {
			return false
		}
	}
	ps.byHash[h] = append(ps.byHash[h], p)
	return true
}

// wordScanner walks the words of s outside quoted spans: runs of letters,
// digits and marks, joined across an inner hyphen or apostrophe
// ("close-up", "bird's").
type wordScanner struct {
	s    string
	i    int
	prev int // end of the previous word, or -1
	q    quotes
	// joined says the word just returned follows the previous one across a
	// single space, so the two may form a lexicon phrase ("golden hour").
	joined bool
	quoted bool // a quoted span was passed
	symbol bool // so was a symbol such as an emoji, which names a subject
}

func newWordScanner(s string) wordScanner { return wordScanner{s: s, prev: -1} }

func (w *wordScanner) next() (start, end int, ok bool) {
	for w.i < len(w.s) {
		if e := w.q.end(w.s, w.i); e >= 0 {
			w.i, w.quoted = e, true
			continue
		}
		r, n := utf8.DecodeRuneInString(w.s[w.i:])
		if isWordRune(r) {
			break
		}
		if r >= utf8.RuneSelf && unicode.Is(unicode.So, r) {
			w.symbol = true
		}
		w.i += n
	}
	if w.i >= len(w.s) {
		return 0, 0, false
	}
	start = w.i
	for w.i < len(w.s) {
		r, n := utf8.DecodeRuneInString(w.s[w.i:])
		if !isWordRune(r) && !(isJoiner(r) && w.i+n < len(w.s) && startsWord(w.s[w.i+n:])) {
			break
		}
		w.i += n
	}
	w.joined = w.prev >= 0 && start == w.prev+1 && w.s[w.prev] == ' '
	w.prev = w.i
	return start, w.i, true
}

func isJoiner(r rune) bool { return r == '-' || r == '\'' || r == '’' }

func startsWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return isWordRune(r)
}

// lower appends the lower-cased w to dst, for lexicon keys built in
// fixed buffers on the stack.
func lower(dst []byte, w string) []byte {
	for _, r := range w {
		if r < utf8.RuneSelf {
			dst = append(dst, lowerASCII(byte(r)))
			continue
		}
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
	}
	return dst
}
