// Package transcript is the one shape of a transcript, whoever made it:
// the text, timed segments and timed words, times in seconds. Every
// transcription provider answers in it; the platform writes it as the
// transcript file of a task and makes subtitles from its words.
package transcript

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// ContentType is the transcript file's.
const ContentType = "application/json"

// Transcript is a transcription's result.
type Transcript struct {
	Language        string    `json:"language,omitempty"` // ISO 639-1 when known
	DurationSeconds float64   `json:"duration_seconds"`
	Text            string    `json:"text"`
	Segments        []Segment `json:"segments"`
	Words           []Word    `json:"words"`
	// EstimatedTimings says the provider gave no word timings and they
	// were spread over the audio by length (Spread).
	EstimatedTimings bool `json:"estimated_timings,omitempty"`
}

// Segment is a timed stretch of the transcript, a sentence or so.
type Segment struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Text  string  `json:"text"`
}

// Word is one timed word. Confidence is 0 to 1 (1 when the provider gives
// none).
type Word struct {
	Word       string  `json:"word"`
	Start      float64 `json:"start"`
	End        float64 `json:"end"`
	Confidence float64 `json:"confidence"`
}

// Normalize puts a provider's transcript in order: blank words dropped,
// words and segments sorted by start, every time within [0, duration]
// and rounded to the millisecond, end never before start, the duration at
// least the last end, the text made from the words when the provider gave
// none, and segments made from the words at sentence ends when it gave
// none. It returns t for chaining.
func (t *Transcript) Normalize() *Transcript {
	words := t.Words[:0]
	for _, w := range t.Words {
		w.Word = strings.TrimSpace(w.Word)
		if w.Word == "" {
			continue
		}
		if !(w.Confidence >= 0 && w.Confidence <= 1) { // also NaN
			w.Confidence = 1
		}
		words = append(words, w)
	}
	t.Words = words
	segs := t.Segments[:0]
	for _, s := range t.Segments {
		s.Text = strings.TrimSpace(s.Text)
		if s.Text != "" {
			segs = append(segs, s)
		}
	}
	t.Segments = segs
	for _, w := range t.Words {
		t.DurationSeconds = max(t.DurationSeconds, w.End)
	}
	for _, s := range t.Segments {
		t.DurationSeconds = max(t.DurationSeconds, s.End)
	}
	if !(t.DurationSeconds >= 0) || math.IsInf(t.DurationSeconds, 0) {
		t.DurationSeconds = 0
	}
	t.DurationSeconds = ms(t.DurationSeconds)
	clamp := func(start, end float64) (float64, float64) {
		start = ms(min(max(start, 0), t.DurationSeconds))
		end = ms(min(max(end, start), t.DurationSeconds))
		return start, end
	}
	for i := range t.Words {
		t.Words[i].Start, t.Words[i].End = clamp(t.Words[i].Start, t.Words[i].End)
		t.Words[i].Confidence = math.Round(t.Words[i].Confidence*1000) / 1000
	}
	for i := range t.Segments {
		t.Segments[i].Start, t.Segments[i].End = clamp(t.Segments[i].Start, t.Segments[i].End)
	}
	slices.SortStableFunc(t.Words, func(a, b Word) int { return cmpFloat(a.Start, b.Start) })
	slices.SortStableFunc(t.Segments, func(a, b Segment) int { return cmpFloat(a.Start, b.Start) })
	if len(t.Words) == 0 && len(t.Segments) > 0 {
		// Timed segments but no timed words: each segment's words are
		// spread over its time, so subtitles can still be made.
		for _, s := range t.Segments {
			for _, w := range Spread("", s.Text, s.End-s.Start).Words {
				w.Start, w.End = ms(w.Start+s.Start), ms(w.End+s.Start)
				t.Words = append(t.Words, w)
			}
		}
		t.EstimatedTimings = true
	}
	t.Text = strings.TrimSpace(t.Text)
	if t.Text == "" {
		t.Text = t.joinWords()
	}
	if len(t.Segments) == 0 && len(t.Words) > 0 {
		t.Segments = sentences(t.Words)
	}
	if t.Segments == nil {
		t.Segments = []Segment{}
	}
	if t.Words == nil {
		t.Words = []Word{}
	}
	return t
}

func (t *Transcript) joinWords() string {
	parts := make([]string, len(t.Words))
	for i, w := range t.Words {
		parts[i] = w.Word
	}
	return strings.Join(parts, " ")
}

// sentences groups words into segments that end where a word ends a
// sentence, or after 30 words.
func sentences(words []Word) []Segment {
	var out []Segment
	var cur []string
	start := 0.0
	for i, w := range words {
		if len(cur) == 0 {
			start = w.Start
		}
		cur = append(cur, w.Word)
		last := i == len(words)-1
		if last || endsSentence(w.Word) || len(cur) >= 30 {
			out = append(out, Segment{Start: start, End: w.End, Text: strings.Join(cur, " ")})
			cur = cur[:0]
		}
	}
	return out
}

func endsSentence(word string) bool {
	word = strings.TrimRight(word, `"'”’)]`)
	return strings.HasSuffix(word, ".") || strings.HasSuffix(word, "?") || strings.HasSuffix(word, "!") ||
		strings.HasSuffix(word, "…")
}

// Spread makes timed words from a text with no timings, over duration
// seconds: each word's share of the time is its share of the text's
// letters. It is for providers that answer text alone; the transcript says
// its timings are estimated.
func Spread(language, text string, duration float64) *Transcript {
	t := &Transcript{Language: language, Text: strings.TrimSpace(text), DurationSeconds: max(duration, 0), EstimatedTimings: true}
	fields := strings.Fields(t.Text)
	total := 0
	for _, f := range fields {
		total += utf8.RuneCountInString(f) + 1 // a space's worth of pause after each
	}
	at := 0.0
	for _, f := range fields {
		d := 0.0
		if total > 0 {
			d = t.DurationSeconds * float64(utf8.RuneCountInString(f)+1) / float64(total)
		}
		t.Words = append(t.Words, Word{Word: f, Start: at, End: at + d*0.9, Confidence: 1})
		at += d
	}
	return t.Normalize()
}

// Encode is the transcript file's bytes: indented JSON, UTF-8, ending in
// a newline.
func (t *Transcript) Encode() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(t); err != nil {
		return nil, fmt.Errorf("encode transcript: %w", err)
	}
	return b.Bytes(), nil
}

func ms(s float64) float64 { return math.Round(s*1000) / 1000 }

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
