package subtitle

import (
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// ErrInvalidCue is wrapped by the writers' errors for a cue whose times
// are not numbers, negative, or end before they start.
var ErrInvalidCue = errors.New("invalid cue")

// WriteSRT writes cues as SubRip: cues numbered from 1, each its number,
// its times as HH:MM:SS,mmm --> HH:MM:SS,mmm and its lines, a blank line
// between cues, UTF-8 with no byte-order mark, "\n" line ends. No cues is
// an empty file. SRT has no escapes, so "-->", which would read as a
// timing line, is written "->", and a "<" that would open a tag (players
// read <i>, <b>, <u> and <font>) is written "‹".
func WriteSRT(w io.Writer, cues []Cue) error {
	return write(w, cues, "", ',', true, srtText)
}

// WriteVTT writes cues as WebVTT: the WEBVTT header, then each cue's
// times as HH:MM:SS.mmm --> HH:MM:SS.mmm and its lines, a blank line
// before each cue, UTF-8 with no byte-order mark, "\n" line ends. "&", "<"
// and ">" are written as character references, which also keeps "-->"
// out of cue text.
func WriteVTT(w io.Writer, cues []Cue) error {
	return write(w, cues, "WEBVTT\n", '.', false, vttText)
}

var vttEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func vttText(line string) string { return vttEscaper.Replace(line) }

func srtText(line string) string {
	for strings.Contains(line, "-->") { // "--->" holds "-->" again once one is taken out
		line = strings.ReplaceAll(line, "-->", "->")
	}
	return srtTagOpening.ReplaceAllString(line, "‹$1")
}

// srtTagOpening is a "<" before what a tag's name or end starts with.
var srtTagOpening = regexp.MustCompile(`<([\pL/!?])`)

func write(w io.Writer, cues []Cue, header string, msSep byte, numbered bool, escape func(string) string) error {
	b := make([]byte, 0, len(header)+80*len(cues))
	b = append(b, header...)
	written := 0
	for i, c := range cues {
		if !(c.Start >= 0 && c.End >= c.Start) || math.IsInf(c.End, 1) {
			return fmt.Errorf("write cue %d (%v to %v): %w", i+1, c.Start, c.End, ErrInvalidCue)
		}
		lines := cueLines(c.Lines)
		if len(lines) == 0 {
			continue // a cue with no text is not a cue in either format
		}
		if written > 0 || header != "" {
			b = append(b, '\n')
		}
		written++
		if numbered {
			b = append(strconv.AppendInt(b, int64(written), 10), '\n')
		}
		b = appendTimestamp(b, c.Start, msSep)
		b = append(b, " --> "...)
		b = append(appendTimestamp(b, c.End, msSep), '\n')
		for _, l := range lines {
			b = append(append(b, escape(l)...), '\n')
		}
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write subtitles: %w", err)
	}
	return nil
}

// cueLines are a cue's lines as they can be written: a line end inside
// one starts another, and blank lines, which would end the cue, are left
// out.
func cueLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		for _, part := range strings.FieldsFunc(clean(strings.ReplaceAll(l, "\r\n", "\n")), func(r rune) bool { return r == '\n' || r == '\r' }) {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// appendTimestamp appends seconds as HH:MM:SS followed by msSep and
// milliseconds; hours go past 99 when they must.
func appendTimestamp(b []byte, seconds float64, msSep byte) []byte {
	ms := int64(math.Round(min(seconds, 1e9) * 1000))
	two := func(b []byte, v int64) []byte {
		if v < 10 {
			b = append(b, '0')
		}
		return strconv.AppendInt(b, v, 10)
	}
	b = two(b, ms/3_600_000)
	b = two(append(b, ':'), ms/60_000%60)
	b = two(append(b, ':'), ms/1000%60)
	b = append(b, msSep)
	frac := ms % 1000
	if frac < 100 {
		b = append(b, '0')
	}
	return two(b, frac)
}
