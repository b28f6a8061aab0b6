// Package subtitle makes subtitle cues from a transcript's timed words and
// writes them as SRT or WebVTT.
//
// A cue holds at most MaxLines lines of at most MaxLineChars columns, is on
// screen from MinCueSeconds to MaxCueSeconds, is read at no more than
// MaxCharsPerSecond and leaves MinGapSeconds before the next. Cues and lines
// are broken where a reader expects a pause: at sentence ends first, then at
// clause punctuation, then before a conjunction or a preposition; a line is
// never a lone word in a cue of several, a name ("New York", "Ada
// Lovelace") is never split, and two lines are balanced. The choice is made
// for the whole transcript at once (a shortest path over the places a cue
// may end), so one awkward stretch does not push the ones after it into
// worse breaks.
//
// Widths are display columns: a CJK or other wide character counts two, so
// that the same MaxLineChars suits Latin and CJK text, and the reading
// speed is counted in the same columns.
package subtitle

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/videoai/mediatasks/shared/transcript"
)

// The formats Format writes, as a subtitle task names them, and their
// files' content types.
const (
	FormatSRT = "srt"
	FormatVTT = "vtt"

	ContentTypeSRT = "application/x-subrip"
	ContentTypeVTT = "text/vtt"
)

// ErrInvalidOptions is wrapped by Validate's errors; ErrUnknownFormat by
// Format's when the format is neither srt nor vtt.
var (
	ErrInvalidOptions = errors.New("invalid subtitle options")
	ErrUnknownFormat  = errors.New("unknown subtitle format")
)

// Options are the rules cues are made to. DefaultOptions gives the common
// broadcast ones.
type Options struct {
	MaxLineChars      int     // columns a line may take (a wide character takes two)
	MaxLines          int     // lines a cue may have
	MaxCueSeconds     float64 // longest time a cue stays on screen
	MinCueSeconds     float64 // shortest, where the next cue leaves room
	MaxCharsPerSecond float64 // reading speed, in columns (spaces included)
	MinGapSeconds     float64 // blank time between two cues
}

// DefaultOptions are 2 lines of 42 columns, 0.8 to 7 s on screen, 17
// characters a second and two frames (at 24 fps) between cues.
func DefaultOptions() Options {
	return Options{
		MaxLineChars:      42,
		MaxLines:          2,
		MaxCueSeconds:     7,
		MinCueSeconds:     0.8,
		MaxCharsPerSecond: 17,
		MinGapSeconds:     0.083,
	}
}

// Validate says which option is out of its range, naming it as the
// configuration does.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...))
	}
	if o.MaxLineChars < 10 || o.MaxLineChars > 200 {
		bad("max_line_chars must be from 10 to 200, not %d", o.MaxLineChars)
	}
	if o.MaxLines < 1 || o.MaxLines > 3 {
		bad("max_lines must be from 1 to 3, not %d", o.MaxLines)
	}
	if !inRange(o.MaxCueSeconds, 1, 30) {
		bad("max_cue_seconds must be from 1 to 30, not %v", o.MaxCueSeconds)
	}
	if !inRange(o.MinCueSeconds, 0, 5) || o.MinCueSeconds > o.MaxCueSeconds {
		bad("min_cue_seconds must be from 0 to 5 and at most max_cue_seconds, not %v", o.MinCueSeconds)
	}
	if !inRange(o.MaxCharsPerSecond, 5, 60) {
		bad("max_chars_per_second must be from 5 to 60, not %v", o.MaxCharsPerSecond)
	}
	if !inRange(o.MinGapSeconds, 0, 1) {
		bad("min_gap_seconds must be from 0 to 1, not %v", o.MinGapSeconds)
	}
	return errors.Join(errs...)
}

func inRange(v, lo, hi float64) bool { return v >= lo && v <= hi } // false for NaN

// Cue is one subtitle: its lines, shown from Start to End seconds (whole
// milliseconds).
type Cue struct {
	Start, End float64
	Lines      []string
}

// Cues lays the transcript's words out as cues by o, which Validate has
// passed (Cues clamps what it must to stay safe, but the rules are only
// kept for valid options). Words need not be normalized: times that are
// not numbers, negative or out of order are put right first. A
// transcript with no words but timed segments (some providers give no
// more) has each segment's words spread over its time. The last cue stays
// within the transcript's duration when that is known.
func Cues(t *transcript.Transcript, o Options) []Cue {
	if t == nil {
		return nil
	}
	o = o.safe()
	toks := tokens(timedWords(t), o.MaxLineChars)
	if len(toks) == 0 {
		return nil
	}
	mediaEnd := math.MaxInt64
	if d := millis(t.DurationSeconds); d > 0 && d >= toks[len(toks)-1].end {
		mediaEnd = d
	}
	p := newPlanner(toks, o, mediaEnd)
	return p.cues(p.plan())
}

// timedWords are the transcript's words or, when it has none, its
// segments' words, each segment's time shared by their lengths.
func timedWords(t *transcript.Transcript) []transcript.Word {
	if len(t.Words) > 0 {
		return t.Words
	}
	var words []transcript.Word
	for _, seg := range t.Segments {
		start := seg.Start
		if !(start >= 0) || math.IsInf(start, 1) { // also NaN
			start = 0
		}
		spread := transcript.Spread("", seg.Text, seg.End-start)
		for _, w := range spread.Words {
			w.Start += start
			w.End += start
			words = append(words, w)
		}
	}
	return words
}

// safe clamps options so that Cues never loops, divides by zero or lays
// out a line no character fits in, whatever it is given.
func (o Options) safe() Options {
	o.MaxLineChars = min(max(o.MaxLineChars, 2), 1000)
	o.MaxLines = min(max(o.MaxLines, 1), 5)
	fix := func(v *float64, lo, hi, def float64) {
		if math.IsNaN(*v) {
			*v = def
		}
		*v = min(max(*v, lo), hi)
	}
	d := DefaultOptions()
	fix(&o.MaxCueSeconds, 0.1, 3600, d.MaxCueSeconds)
	fix(&o.MinCueSeconds, 0, o.MaxCueSeconds, d.MinCueSeconds)
	fix(&o.MaxCharsPerSecond, 1, 1000, d.MaxCharsPerSecond)
	fix(&o.MinGapSeconds, 0, 10, d.MinGapSeconds)
	return o
}

// Format makes the transcript's subtitle file in format ("srt" or "vtt").
// An empty transcript gives a valid empty file.
func Format(t *transcript.Transcript, format string, o Options) ([]byte, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("format subtitles: %w", err)
	}
	write := WriteSRT
	switch format {
	case FormatSRT:
	case FormatVTT:
		write = WriteVTT
	default:
		return nil, fmt.Errorf("format subtitles as %q: %w (want %s or %s)", format, ErrUnknownFormat, FormatSRT, FormatVTT)
	}
	var b bytes.Buffer
	if err := write(&b, Cues(t, o)); err != nil {
		return nil, fmt.Errorf("format subtitles as %s: %w", format, err)
	}
	return b.Bytes(), nil
}

// ContentType is the content type of a file in format, "" for an unknown
// format.
func ContentType(format string) string {
	switch format {
	case FormatSRT:
		return ContentTypeSRT
	case FormatVTT:
		return ContentTypeVTT
	}
	return ""
}

// millis is seconds as whole milliseconds, 0 for what is not a time, and
// at most about 31 years so that sums cannot overflow.
func millis(s float64) int {
	if !(s > 0) { // also NaN
		return 0
	}
	return int(math.Round(min(s, 1e9) * 1000))
}
