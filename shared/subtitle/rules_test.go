package subtitle

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// checkRules says every way cues break the rules for words under o,
// written from the rules rather than from how Cues keeps them: the lines
// (count, width, no lone word), the times (longest, shortest and reading
// time unless the audio leaves no room, the gap, no overlap), every word
// kept in order, and no name split. mediaSeconds is the transcript's
// duration (0 when unknown).
func checkRules(words []wordIn, mediaSeconds float64, o Options, cues []Cue) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	ms := func(s float64) int { return int(math.Round(s * 1000)) }
	gap, minCue, maxCue := ms(o.MinGapSeconds), ms(o.MinCueSeconds), ms(o.MaxCueSeconds)
	mediaEnd := ms(mediaSeconds)

	for k, c := range cues {
		where := fmt.Sprintf("cue %d %v", k+1, c.Lines)
		start, end := ms(c.Start), ms(c.End)
		if float64(start)/1000 != c.Start || float64(end)/1000 != c.End {
			bad("%s: times %v to %v are not whole milliseconds", where, c.Start, c.End)
		}
		if len(c.Lines) < 1 || len(c.Lines) > o.MaxLines {
			bad("%s: %d lines, want 1 to %d", where, len(c.Lines), o.MaxLines)
		}
		width := 0
		for _, l := range c.Lines {
			width += textWidth(l)
			if l == "" || strings.TrimSpace(l) != l || strings.ContainsAny(l, "\n\r") {
				bad("%s: line %q is blank, padded or broken", where, l)
			}
			// Columns, not runes: a combining accent takes none, a CJK
			// character two, so a line of runes may be longer.
			if textWidth(l) > o.MaxLineChars {
				bad("%s: line %q is %d columns, over %d", where, l, textWidth(l), o.MaxLineChars)
			}
		}
		dur := end - start
		if start < 0 || dur < 1 {
			bad("%s: from %d ms to %d ms", where, start, end)
		}
		if dur > maxCue {
			bad("%s: %d ms on screen, over %d", where, dur, maxCue)
		}
		if k > 0 && start-ms(cues[k-1].End) < gap {
			bad("%s: starts %d ms after the cue before, under the gap of %d", where, start-ms(cues[k-1].End), gap)
		}
		// The audio leaves no more room when the next cue follows at the
		// gap, the media ends, or the cue is on for the longest time.
		noRoom := (k+1 < len(cues) && ms(cues[k+1].Start)-end <= gap) || (mediaEnd > 0 && end >= mediaEnd) || dur == maxCue
		if dur < minCue && !noRoom {
			bad("%s: %d ms on screen, under %d, with room after it", where, dur, minCue)
		}
		if float64(width)*1000 > o.MaxCharsPerSecond*float64(dur)+1e-6 && !noRoom {
			bad("%s: %d columns in %d ms is over %v a second, with room after it", where, width, dur, o.MaxCharsPerSecond)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return append(errs, checkWords(words, o, cues)...)
}

// wordIn is a transcript word as the checks see it.
type wordIn struct {
	text       string
	start, end float64
}

// place is where a word's characters are: cue and line.
type place struct{ cue, line int }

// field is one space-separated part of a word, and where it went.
type field struct {
	text        string
	word        int
	start, end  float64
	first, last place
}

// checkWords checks that the cues hold every word, in order, no other
// text, every line of a cue of several words more than one word, and every
// name on one line.
func checkWords(words []wordIn, o Options, cues []Cue) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	type char struct {
		r     rune
		at    place
		field int // which of fields shows it
	}
	var shown []char
	for k, c := range cues {
		for l, line := range c.Lines {
			for _, r := range line {
				if !unicode.IsSpace(r) {
					shown = append(shown, char{r: r, at: place{k, l}})
				}
			}
		}
	}
	ordered := slices.Clone(words)
	slices.SortStableFunc(ordered, func(a, b wordIn) int { return millis(a.start) - millis(b.start) })
	var fields []field
	at := 0
	for w, word := range ordered {
		for _, f := range strings.Fields(clean(word.text)) {
			// times as Cues takes them: whole milliseconds, not before 0, an
			// end not before its start
			start := float64(millis(word.start)) / 1000
			fd := field{text: f, word: w, start: start, end: max(float64(millis(word.end))/1000, start)}
			for n, r := range f {
				if at >= len(shown) || shown[at].r != r {
					bad("word %d %q is not shown where it belongs (character %d)", w, word.text, at)
					return errs
				}
				shown[at].field = len(fields)
				if n == 0 {
					fd.first = shown[at].at
				}
				fd.last = shown[at].at
				at++
			}
			fields = append(fields, fd)
		}
	}
	if at != len(shown) {
		bad("cues show %q, which no word says", string(shown[at].r))
		return errs
	}

	// A line is one word alone when one field is all it shows, in a cue
	// of several words, unless that field is CJK, which is shown
	// character by character.
	wordsIn := make([]map[int]bool, len(cues))
	fieldsOn := map[place]map[int]bool{}
	for _, c := range shown {
		if wordsIn[c.at.cue] == nil {
			wordsIn[c.at.cue] = map[int]bool{}
		}
		wordsIn[c.at.cue][fields[c.field].word] = true
		if fieldsOn[c.at] == nil {
			fieldsOn[c.at] = map[int]bool{}
		}
		fieldsOn[c.at][c.field] = true
	}
	for k, c := range cues {
		if len(c.Lines) < 2 || len(wordsIn[k]) < 2 {
			continue
		}
		for l, line := range c.Lines {
			on := fieldsOn[place{k, l}]
			for f := range on {
				if len(on) == 1 && !strings.ContainsFunc(fields[f].text, isCJK) {
					bad("cue %d %q: the line %q is one word alone", k+1, c.Lines, line)
				}
			}
		}
	}

	for _, pair := range namePairs(fields, o) {
		a, b := fields[pair], fields[pair+1]
		if a.last != b.first {
			bad("the name %q %q is split (cue %d line %d, cue %d line %d)", a.text, b.text,
				a.last.cue+1, a.last.line+1, b.first.cue+1, b.first.line+1)
		}
	}
	return errs
}

// namePairs are the fields k such that fields k and k+1 are words of one
// name: consecutive capitalised words, not sentence-initial (a title
// before them is part of the name), that fit on a line and are said within
// the longest time a cue lasts.
func namePairs(fields []field, o Options) []int {
	nameField := func(k int) bool {
		f := fields[k].text
		glued := k > 0 && joinsWithoutSpace(fields[k-1].text, f)
		return capitalised(f) && !glued && !strings.ContainsFunc(f, isCJK) && textWidth(f) <= o.MaxLineChars
	}
	title := func(k int) bool { return titles[strings.ToLower(fields[k].text)] }
	var pairs []int
	for k := 0; k < len(fields); {
		if !nameField(k) {
			k++
			continue
		}
		end := k + 1
		for end < len(fields) && runsOn(fields[end-1].text) && nameField(end) {
			end++
		}
		first := k
		if (k == 0 || endsSentence(fields[k-1].text)) && !title(k) {
			first++
		}
		width := -1
		for i := first; i < end; i++ {
			width += textWidth(fields[i].text) + 1
		}
		if end-first >= 2 && width <= o.MaxLineChars && millis(fields[end-1].end)-millis(fields[first].start) <= millis(o.MaxCueSeconds) {
			for i := first; i < end-1; i++ {
				pairs = append(pairs, i)
			}
		}
		k = end
	}
	return pairs
}

var (
	srtBlock = regexp.MustCompile(`^([1-9][0-9]*)\n(\d{2,}):([0-5]\d):([0-5]\d),(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d),(\d{3})\n((?:[^\n]+\n)+)$`)
	vttBlock = regexp.MustCompile(`^(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})\n((?:[^\n]+\n)+)$`)
)

// checkFile says how a written file breaks its format's rules, reading
// it strictly: the encoding, the header, the blocks and their numbers,
// times that match the cues, and no "-->" in text, nor what opens a tag
// in SRT, nor in WebVTT an unescaped "&", "<" or ">".
func checkFile(format string, data []byte, cues []Cue) []string {
	var errs []string
	bad := func(f string, args ...any) { errs = append(errs, fmt.Sprintf(f, args...)) }
	s := string(data)
	if strings.HasPrefix(s, "\uFEFF") || strings.Contains(s, "\r") || !utf8Valid(s) {
		bad("the file has a byte-order mark, a carriage return or bad UTF-8")
	}
	if format == FormatVTT {
		if !strings.HasPrefix(s, "WEBVTT\n") {
			return append(errs, "no WEBVTT header")
		}
		s = strings.TrimPrefix(s, "WEBVTT\n")
		if s == "" {
			if len(cues) > 0 {
				bad("no cues in the file, want %d", len(cues))
			}
			return errs
		}
		if !strings.HasPrefix(s, "\n") {
			return append(errs, "no blank line after the header")
		}
		s = s[1:]
	}
	if s == "" {
		if len(cues) > 0 {
			bad("empty file, want %d cues", len(cues))
		}
		return errs
	}
	if !strings.HasSuffix(s, "\n") || strings.HasSuffix(s, "\n\n") {
		bad("the file does not end in exactly one newline")
	}
	blocks := strings.Split(s, "\n\n")
	if len(blocks) != len(cues) {
		return append(errs, fmt.Sprintf("%d blocks, want %d cues", len(blocks), len(cues)))
	}
	for k, b := range blocks {
		if k < len(blocks)-1 {
			b += "\n"
		}
		re, text := srtBlock, 10
		if format == FormatVTT {
			re, text = vttBlock, 9
		}
		m := re.FindStringSubmatch(b)
		if m == nil {
			bad("block %d is not a %s cue: %q", k+1, format, b)
			continue
		}
		if format == FormatSRT && m[1] != fmt.Sprint(k+1) {
			bad("block %d is numbered %s", k+1, m[1])
		}
		stamp := func(h, mi, se, milli string) string { return h + ":" + mi + ":" + se + "." + milli }
		times := m[len(m)-9:]
		if got, want := stamp(times[0], times[1], times[2], times[3]), timestamp(cues[k].Start); got != want {
			bad("block %d starts %s, want %s", k+1, got, want)
		}
		if got, want := stamp(times[4], times[5], times[6], times[7]), timestamp(cues[k].End); got != want {
			bad("block %d ends %s, want %s", k+1, got, want)
		}
		body := m[text]
		if strings.Contains(body, "-->") {
			bad("block %d has --> in its text", k+1)
		}
		if format == FormatSRT && regexp.MustCompile(`<[\pL/!?]`).MatchString(body) {
			bad("block %d has what a player reads as a tag: %q", k+1, body)
		}
		if format == FormatVTT && strings.ContainsAny(strings.NewReplacer("&amp;", "", "&lt;", "", "&gt;", "").Replace(body), "&<>") {
			bad("block %d has an unescaped & or < in its text: %q", k+1, body)
		}
	}
	return errs
}

// timestamp is seconds as HH:MM:SS.mmm, worked out in another way than
// the writers do.
func timestamp(s float64) string {
	d := int64(math.Round(s * 1000))
	return fmt.Sprintf("%02d:%02d:%02d.%03d", d/3600000, d/60000%60, d/1000%60, d%1000)
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }

// TestCheckRulesCatchesBrokenCues makes sure the checks the corpus and
// the fuzzer rely on do fail: one broken rule a case.
func TestCheckRulesCatchesBrokenCues(t *testing.T) {
	words := []wordIn{{"We", 0, 0.2}, {"met", 0.3, 0.5}, {"Ada", 0.6, 0.8}, {"Lovelace", 0.9, 1.3}, {"there", 1.4, 1.6}, {"today.", 1.7, 2}}
	good := []Cue{{Start: 0, End: 3, Lines: []string{"We met Ada Lovelace there today."}}}
	if errs := checkRules(words, 0, DefaultOptions(), good); len(errs) > 0 {
		t.Fatalf("good cues fail: %v", errs)
	}
	tests := map[string]struct {
		o    func(*Options)
		cues []Cue
		want string
	}{
		"too wide":     {func(o *Options) { o.MaxLineChars = 20 }, good, "columns, over"},
		"too many":     {nil, []Cue{{0, 3, []string{"We met", "Ada Lovelace", "there today."}}}, "3 lines"},
		"lone word":    {nil, []Cue{{0, 3, []string{"We", "met Ada Lovelace there today."}}}, "one word alone"},
		"name split":   {nil, []Cue{{0, 3, []string{"We met Ada", "Lovelace there today."}}}, "is split"},
		"word lost":    {nil, []Cue{{0, 3, []string{"We met Ada Lovelace today."}}}, "not shown"},
		"word made up": {nil, []Cue{{0, 3, []string{"We met Ada Lovelace there today. Hm"}}}, "no word says"},
		"too long":     {nil, []Cue{{0, 7.5, good[0].Lines}}, "on screen, over"},
		"too short": {nil, []Cue{{0, 0.5, []string{"We met"}}, {2, 4, []string{"Ada Lovelace there today."}}},
			"under 800, with room"},
		"too fast": {nil, []Cue{{0, 1, []string{"We met Ada Lovelace"}}, {2, 4, []string{"there today."}}},
			"a second, with room"},
		"overlap": {nil, []Cue{{0, 1.5, []string{"We met Ada Lovelace"}}, {1.45, 4, []string{"there today."}}},
			"under the gap"},
	}
	for name, tc := range tests {
		o := DefaultOptions()
		if tc.o != nil {
			tc.o(&o)
		}
		errs := checkRules(words, 0, o, tc.cues)
		if !strings.Contains(strings.Join(errs, "\n"), tc.want) {
			t.Errorf("%s: errors %q, want one with %q", name, errs, tc.want)
		}
	}
}

// TestCheckFileCatchesBrokenFiles does the same for the file checks.
func TestCheckFileCatchesBrokenFiles(t *testing.T) {
	cues := []Cue{{Start: 1, End: 2, Lines: []string{"a"}}}
	if errs := checkFile(FormatSRT, []byte("1\n00:00:01,000 --> 00:00:02,000\na\n"), cues); len(errs) > 0 {
		t.Fatalf("a good file fails: %v", errs)
	}
	tests := map[string]struct {
		format, file string
	}{
		"numbered from 0":  {FormatSRT, "0\n00:00:01,000 --> 00:00:02,000\na\n"},
		"dot in srt":       {FormatSRT, "1\n00:00:01.000 --> 00:00:02,000\na\n"},
		"carriage returns": {FormatSRT, "1\r\n00:00:01,000 --> 00:00:02,000\r\na\r\n"},
		"no final newline": {FormatSRT, "1\n00:00:01,000 --> 00:00:02,000\na"},
		"arrow in text":    {FormatSRT, "1\n00:00:01,000 --> 00:00:02,000\na --> b\n"},
		"a tag in srt":     {FormatSRT, "1\n00:00:01,000 --> 00:00:02,000\n<i>a\n"},
		"wrong time":       {FormatSRT, "1\n00:00:01,001 --> 00:00:02,000\na\n"},
		"byte-order mark":  {FormatVTT, "\uFEFFWEBVTT\n\n00:00:01.000 --> 00:00:02.000\na\n"},
		"no header":        {FormatVTT, "00:00:01.000 --> 00:00:02.000\na\n"},
		"unescaped &":      {FormatVTT, "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na & b\n"},
		"comma in vtt":     {FormatVTT, "WEBVTT\n\n00:00:01,000 --> 00:00:02,000\na\n"},
	}
	for name, tc := range tests {
		if errs := checkFile(tc.format, []byte(tc.file), cues); len(errs) == 0 {
			t.Errorf("%s: no error", name)
		}
	}
}
