package subtitle

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/videoai/mediatasks/shared/transcript"
)

// token is the unit cues and lines are made of: a word as the transcript
// has it, one character of CJK text (which has no spaces to break at), or
// a piece of a word too long for a line.
type token struct {
	text       string
	start, end int // milliseconds
	width      int // display columns
	word       int // which transcript word it comes from, in time order
	piece      bool
	glue       bool // follows the token before with no space between
	cjk        bool // comes from a word with CJK characters, which is no name
}

// tokens cuts the words into tokens, in time order, each no wider than a
// line.
func tokens(words []transcript.Word, lineWidth int) []token {
	type timed struct {
		text       string
		start, end int
	}
	ordered := make([]timed, 0, len(words))
	for _, w := range words {
		start := millis(w.Start)
		ordered = append(ordered, timed{text: clean(w.Word), start: start, end: max(millis(w.End), start)})
	}
	slices.SortStableFunc(ordered, func(a, b timed) int { return a.start - b.start })

	var out []token
	word := 0
	for _, w := range ordered {
		var units []token
		for _, field := range strings.Fields(w.text) {
			cjk := strings.ContainsFunc(field, isCJK)
			for i, u := range splitCJK(field) {
				for j, p := range hardWrap(u, lineWidth) {
					units = append(units, token{
						text: p, width: textWidth(p), word: word,
						piece: j > 0 || textWidth(u) > lineWidth,
						glue:  i > 0 || j > 0, cjk: cjk,
					})
				}
			}
		}
		if len(units) == 0 {
			continue
		}
		for i := range units {
			if units[i].glue {
				continue
			}
			if i > 0 {
				units[i].glue = joinsWithoutSpace(units[i-1].text, units[i].text)
			} else if len(out) > 0 {
				units[i].glue = joinsWithoutSpace(out[len(out)-1].text, units[i].text)
			}
		}
		shareTime(units, w.start, w.end)
		out = append(out, units...)
		word++
	}
	return out
}

// clean makes a word safe to write: valid UTF-8, no control characters
// (a line end would end a cue) and no byte-order mark.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r == '\uFEFF' || (unicode.IsControl(r) && !unicode.IsSpace(r)) {
			return -1
		}
		return r
	}, s)
}

// shareTime spreads a word's time over its tokens by their widths.
func shareTime(units []token, start, end int) {
	total := 0
	for _, u := range units {
		total += max(u.width, 1)
	}
	done := 0
	for i := range units {
		units[i].start = start + (end-start)*done/total
		done += max(units[i].width, 1)
		units[i].end = start + (end-start)*done/total
	}
}

// splitCJK cuts a word of Chinese or Japanese text, which has no spaces,
// into its characters, keeping punctuation with the character it belongs
// to (a closing mark with the one before, an opening one with the one
// after) and runs of other letters ("iPhone") whole. Other words come
// back as they are.
func splitCJK(word string) []string {
	if !strings.ContainsFunc(word, isCJK) {
		return []string{word}
	}
	var units []string
	var cur, opening strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			units = append(units, cur.String())
			cur.Reset()
		}
	}
	prevCJK := false
	for _, r := range word {
		switch {
		case unicode.In(r, unicode.Ps, unicode.Pi):
			flush()
			opening.WriteRune(r)
			continue
		case (unicode.IsPunct(r) || unicode.IsSymbol(r)) && cur.Len() > 0 && opening.Len() == 0:
			cur.WriteRune(r) // a closing mark stays with what it closes
			continue
		case (isCJK(r) || prevCJK) && opening.Len() == 0: // an opening mark flushed already
			flush()
		}
		prevCJK = isCJK(r)
		cur.WriteString(opening.String())
		opening.Reset()
		cur.WriteRune(r)
	}
	cur.WriteString(opening.String())
	flush()
	return units
}

// hardWrap cuts a word wider than a line into pieces of about equal width,
// none wider than a line.
func hardWrap(word string, lineWidth int) []string {
	w := textWidth(word)
	if w <= lineWidth {
		return []string{word}
	}
	n := (w + lineWidth - 1) / lineWidth
	target := (w + n - 1) / n
	var pieces []string
	var cur strings.Builder
	curWidth := 0
	for _, r := range word {
		rw := runeWidth(r)
		if cur.Len() > 0 && curWidth+rw > target {
			pieces = append(pieces, cur.String())
			cur.Reset()
			curWidth = 0
		}
		cur.WriteRune(r)
		curWidth += rw
	}
	if cur.Len() > 0 {
		pieces = append(pieces, cur.String())
	}
	return pieces
}

// joinsWithoutSpace says whether two words of CJK text follow each other,
// which is written with no space between.
func joinsWithoutSpace(before, after string) bool {
	last, _ := utf8.DecodeLastRuneInString(before)
	first, _ := utf8.DecodeRuneInString(after)
	return (isCJK(last) || isCJKPunct(last)) && (isCJK(first) || isCJKPunct(first))
}

func isCJK(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana) || r == 'ー' || r == '々'
}

// isCJKPunct is the ideographic punctuation and the full-width forms.
func isCJKPunct(r rune) bool {
	return (r >= 0x3000 && r <= 0x303F) || (r >= 0xFF00 && r <= 0xFF65)
}

// textWidth is the columns s takes on screen.
func textWidth(s string) int {
	w := 0
	for _, r := range s {
		w += runeWidth(r)
	}
	return w
}

// runeWidth is 2 for East Asian wide and full-width characters and
// emoji, 0 for combining marks and format characters, 1 otherwise.
func runeWidth(r rune) int {
	switch {
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		return 0
	case r >= 0x1100 && r <= 0x115F, r >= 0x2E80 && r <= 0x303E, r >= 0x3041 && r <= 0x33FF,
		r >= 0x3400 && r <= 0x4DBF, r >= 0x4E00 && r <= 0x9FFF, r >= 0xA000 && r <= 0xA4CF,
		r >= 0xAC00 && r <= 0xD7A3, r >= 0xF900 && r <= 0xFAFF, r >= 0xFE30 && r <= 0xFE4F,
		r >= 0xFF00 && r <= 0xFF60, r >= 0xFFE0 && r <= 0xFFE6, r >= 0x1F300 && r <= 0x1F64F,
		r >= 0x1F900 && r <= 0x1F9FF, r >= 0x20000 && r <= 0x3FFFD:
		return 2
	}
	return 1
}

// The words a break is judged by. English only: in other languages a
// break falls back on punctuation and balance.
var (
	// conjunctions, prepositions and relatives: a line or cue may well
	// start with one.
	breakBefore = wordSet("and but or nor so yet because although though while whereas if unless until " +
		"when whenever where wherever that which who whom whose than as after before since of in on at to " +
		"for with from by about into onto over under between through during without within against among " +
		"across toward towards upon like via")
	// articles, possessives and the like, which lean on the next word: a
	// line or cue should not end with one.
	leansOnNext = wordSet("a an the my your his her its our their this these those of to in on at for with " +
		"by from and or but is are was were i we you he she they it's i'm not no very")
	// titles, which belong to the name after them and end no sentence.
	titles = wordSet("mr. mrs. ms. dr. prof. st. mt. sr. jr. gen. col. capt. lt. sgt. rev. fr.")
)

func wordSet(words string) map[string]bool {
	set := map[string]bool{}
	for _, w := range strings.Fields(words) {
		set[w] = true
	}
	return set
}

// bare is a word lower-cased without the punctuation around it.
func bare(word string) string {
	return strings.ToLower(strings.TrimFunc(word, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) && r != '\'' }))
}

// endsSentence says whether the word ends a sentence: a full stop,
// question or exclamation mark or ellipsis, maybe inside closing quotes,
// and not a title such as "Dr.".
func endsSentence(word string) bool {
	if titles[strings.ToLower(word)] {
		return false
	}
	word = strings.TrimRightFunc(word, func(r rune) bool { return unicode.In(r, unicode.Pe, unicode.Pf) || r == '"' || r == '\'' })
	r, _ := utf8.DecodeLastRuneInString(word)
	return strings.ContainsRune(".?!…。？！‼⁇", r)
}

// sentenceEndAt says whether toks[k] ends a sentence, given what follows:
// a full stop before a small letter ("5 p.m. on Friday", "etc. and") is
// an abbreviation's.
func sentenceEndAt(toks []token, k int) bool {
	if !endsSentence(toks[k].text) {
		return false
	}
	if k+1 < len(toks) {
		for _, r := range toks[k+1].text {
			if unicode.IsLetter(r) {
				return !unicode.IsLower(r)
			}
		}
	}
	return true
}

// endsClause says whether the word ends with punctuation that closes a
// clause: a comma, semicolon, colon or dash, Latin or CJK.
func endsClause(word string) bool {
	word = strings.TrimRightFunc(word, func(r rune) bool { return unicode.In(r, unicode.Pe, unicode.Pf) || r == '"' || r == '\'' })
	r, _ := utf8.DecodeLastRuneInString(word)
	return strings.ContainsRune(",;:–—、，；：", r) || (word != "-" && strings.HasSuffix(word, "-"))
}

// capitalised says whether the word's first letter is a capital.
func capitalised(word string) bool {
	for _, r := range word {
		if unicode.IsLetter(r) {
			return unicode.IsUpper(r) || unicode.IsTitle(r)
		}
	}
	return false
}

// runsOn says whether a name may go on after the word: it ends in a
// letter or digit (a comma or full stop ends the name), or is a title.
func runsOn(word string) bool {
	if titles[strings.ToLower(word)] {
		return true
	}
	r, _ := utf8.DecodeLastRuneInString(word)
	return unicode.IsLetter(r) || unicode.IsNumber(r)
}

// names marks the joins inside names: protected[k] says that tokens k and
// k+1 are two words of one name. A name is a run of capitalised words that
// are not sentence-initial ("New York", "Ada Lovelace"), a title before
// them included ("Dr. Ada Lovelace"). A run wider than a line is no name
// (title case or capitals throughout), and so is one said over longer than
// a cue may last; they are left to break as words do.
func names(toks []token, lineWidth, maxCueMs int) []bool {
	protected := make([]bool, len(toks))
	nameWord := func(k int) bool {
		return !toks[k].piece && !toks[k].glue && !toks[k].cjk && capitalised(toks[k].text)
	}
	for k := 0; k < len(toks); {
		if !nameWord(k) {
			k++
			continue
		}
		first := k
		end := k + 1
		for end < len(toks) && runsOn(toks[end-1].text) && nameWord(end) {
			end++
		}
		sentenceInitial := first == 0 || endsSentence(toks[first-1].text)
		if sentenceInitial && !titles[strings.ToLower(toks[first].text)] {
			first++
		}
		if end-first >= 2 {
			w := 0
			for i := first; i < end; i++ {
				w += toks[i].width + 1
			}
			if w-1 <= lineWidth && toks[end-1].end-toks[first].start <= maxCueMs {
				for i := first; i < end-1; i++ {
					protected[i] = true
				}
			}
		}
		k = end
	}
	return protected
}

// breakCost is how bad a break after toks[k] is, as a line break (a cue
// break counts it twice): 0 at a sentence end, more at clause punctuation,
// more again before a conjunction or preposition, most elsewhere, and more
// still after a word that leans on the next one, between two capitalised
// words, or between a number and what it counts.
func breakCost(toks []token, k int) float64 {
	this, next := toks[k], toks[k+1]
	if this.piece && next.piece && this.word == next.word {
		return 0 // a hard-wrapped word breaks where it must
	}
	var cost float64
	switch {
	case sentenceEndAt(toks, k):
		return 0
	case endsClause(this.text):
		cost = 1
	case breakBefore[bare(next.text)]:
		cost = 2
	default:
		cost = 4
	}
	if leansOnNext[bare(this.text)] {
		cost += 3
	}
	if capitalised(this.text) && capitalised(next.text) && cost > 1 {
		cost += 2
	}
	if strings.ContainsFunc(this.text, unicode.IsDigit) && !strings.ContainsFunc(next.text, unicode.IsDigit) && cost > 1 {
		cost += 2
	}
	return cost
}
