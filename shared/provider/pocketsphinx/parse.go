package pocketsphinx

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/videoai/mediatasks/shared/transcript"
)

// parseWords reads pocketsphinx_continuous's output with -time yes: for
// each utterance a line with its hypothesis, then one line per token,
// "word start end posterior" (times in seconds from the audio's start),
// between <s> and </s>. Each utterance is a segment; fillers (<s>, </s>,
// <sil>, [NOISE], ++BREATH++ ...) are dropped, and alternate
// pronunciations' suffixes ("probably(2)") cut.
func parseWords(r io.Reader, duration float64) (*transcript.Transcript, error) {
	t := &transcript.Transcript{Language: Language, DurationSeconds: duration}
	var cur []transcript.Word
	flush := func() {
		if len(cur) == 0 {
			return
		}
		texts := make([]string, len(cur))
		for i, w := range cur {
			texts[i] = w.Word
		}
		t.Segments = append(t.Segments, transcript.Segment{Start: cur[0].Start, End: cur[len(cur)-1].End, Text: strings.Join(texts, " ")})
		t.Words = append(t.Words, cur...)
		cur = nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		token, start, end, prob, ok := wordLine(sc.Text())
		switch {
		case !ok: // an utterance's hypothesis: a new utterance begins
			flush()
		case token == "<s>", token == "</s>":
			flush()
		case filler(token):
		default:
			if w := cleanWord(token); w != "" {
				cur = append(cur, transcript.Word{Word: w, Start: start, End: end, Confidence: confidence(prob)})
			}
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the recogniser's words: %w", err)
	}
	parts := make([]string, len(t.Segments))
	for i, s := range t.Segments {
		parts[i] = s.Text
	}
	t.Text = strings.Join(parts, " ")
	return t.Normalize(), nil
}

// wordLine reads one "word start end posterior" line.
func wordLine(line string) (token string, start, end, prob float64, ok bool) {
	f := strings.Fields(line)
	if len(f) != 4 {
		return "", 0, 0, 0, false
	}
	var err [3]error
	start, err[0] = strconv.ParseFloat(f[1], 64)
	end, err[1] = strconv.ParseFloat(f[2], 64)
	prob, err[2] = strconv.ParseFloat(f[3], 64)
	if err[0] != nil || err[1] != nil || err[2] != nil {
		return "", 0, 0, 0, false
	}
	return f[0], start, end, prob, true
}

// filler reports a token that is no word: silence, sentence marks, noise.
func filler(tok string) bool {
	switch {
	case strings.HasPrefix(tok, "<") && strings.HasSuffix(tok, ">"),
		strings.HasPrefix(tok, "[") && strings.HasSuffix(tok, "]"),
		strings.HasPrefix(tok, "++") && strings.HasSuffix(tok, "++"):
		return true
	}
	return false
}

var altSuffix = regexp.MustCompile(`\(\d+\)$`)

// cleanWord cuts an alternate pronunciation's suffix and spells a
// compound's underscores as spaces.
func cleanWord(tok string) string {
	tok = altSuffix.ReplaceAllString(tok, "")
	return strings.TrimSpace(strings.ReplaceAll(tok, "_", " "))
}

// logBase is pocketsphinx's logmath base: integer log scores are
// log_1.0001 of a probability.
var logBase = math.Log(1.0001)

// confidence turns the recogniser's score into 0..1. The 5prealpha
// recogniser prints the word's posterior probability, already 0..1;
// older ones print its log, natural (small negatives) or in logmath
// units (large negative integers).
func confidence(v float64) float64 {
	switch {
	case math.IsNaN(v):
		return 1
	case v >= 0 && v <= 1:
		return v
	case v > 1: // not a probability: the score is unknown
		return 1
	case v >= -100:
		return math.Exp(v)
	}
	return math.Exp(v * logBase)
}

// lastWordEnd is the end time of the last word line in data (0 if none),
// for progress.
func lastWordEnd(data []byte) float64 {
	lines := strings.Split(string(data), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if _, _, end, _, ok := wordLine(lines[i]); ok {
			return end
		}
	}
	return 0
}
