package subtitle_test

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/videoai/mediatasks/shared/subtitle"
	"github.com/videoai/mediatasks/shared/transcript"
)

// said makes a transcript of text, each word taking perWord seconds with
// gap seconds between words.
func said(text string, perWord, gap float64) *transcript.Transcript {
	t := &transcript.Transcript{}
	at := 0.0
	for _, w := range strings.Fields(text) {
		t.Words = append(t.Words, transcript.Word{Word: w, Start: at, End: at + perWord, Confidence: 1})
		at += perWord + gap
	}
	return t
}

func TestWritersWriteEachFormatExactly(t *testing.T) {
	cues := []subtitle.Cue{
		{Start: 0, End: 1.5, Lines: []string{"Fish & chips", "<i>cost</i> --> 5"}},
		{Start: 3723.004, End: 360000.25, Lines: []string{"two\nlines", "", "  "}},
		{Start: 4000, End: 4001, Lines: []string{" "}}, // no text: left out
	}
	tests := map[string]struct {
		write func(*bytes.Buffer, []subtitle.Cue) error
		want  string
	}{
		"srt": {
			write: func(b *bytes.Buffer, c []subtitle.Cue) error { return subtitle.WriteSRT(b, c) },
			want: "1\n00:00:00,000 --> 00:00:01,500\nFish & chips\n‹i>cost‹/i> -> 5\n\n" +
				"2\n01:02:03,004 --> 100:00:00,250\ntwo\nlines\n",
		},
		"vtt": {
			write: func(b *bytes.Buffer, c []subtitle.Cue) error { return subtitle.WriteVTT(b, c) },
			want: "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nFish &amp; chips\n&lt;i&gt;cost&lt;/i&gt; --&gt; 5\n\n" +
				"01:02:03.004 --> 100:00:00.250\ntwo\nlines\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b, cues); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("wrote\n%q\nwant\n%q", b.String(), tc.want)
			}
		})
	}
}

func TestAnEmptyTranscriptIsAValidEmptyFile(t *testing.T) {
	for _, tr := range []*transcript.Transcript{nil, {}, {Words: []transcript.Word{{Word: "  "}}}} {
		srt, err := subtitle.Format(tr, subtitle.FormatSRT, subtitle.DefaultOptions())
		if err != nil || len(srt) != 0 {
			t.Errorf("srt = %q, %v; want empty", srt, err)
		}
		vtt, err := subtitle.Format(tr, subtitle.FormatVTT, subtitle.DefaultOptions())
		if err != nil || string(vtt) != "WEBVTT\n" {
			t.Errorf("vtt = %q, %v; want the header alone", vtt, err)
		}
	}
}

func TestWritersRefuseCuesWithImpossibleTimes(t *testing.T) {
	for name, c := range map[string]subtitle.Cue{
		"not a number":     {Start: math.NaN(), End: 1, Lines: []string{"x"}},
		"negative":         {Start: -1, End: 1, Lines: []string{"x"}},
		"ends before":      {Start: 2, End: 1, Lines: []string{"x"}},
		"ends at infinity": {Start: 2, End: math.Inf(1), Lines: []string{"x"}},
	} {
		if err := subtitle.WriteSRT(&bytes.Buffer{}, []subtitle.Cue{c}); !errors.Is(err, subtitle.ErrInvalidCue) {
			t.Errorf("%s: err = %v, want ErrInvalidCue", name, err)
		}
	}
}

type failingWriter struct{}

var errDiskFull = errors.New("disk full")

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestWritersReturnTheWritersError(t *testing.T) {
	if err := subtitle.WriteVTT(failingWriter{}, nil); !errors.Is(err, errDiskFull) {
		t.Errorf("err = %v, want the writer's", err)
	}
}

func TestFormatRefusesUnknownFormatsAndBadOptions(t *testing.T) {
	if _, err := subtitle.Format(&transcript.Transcript{}, "ass", subtitle.DefaultOptions()); !errors.Is(err, subtitle.ErrUnknownFormat) {
		t.Errorf("err = %v, want ErrUnknownFormat", err)
	}
	o := subtitle.DefaultOptions()
	o.MaxLineChars = 5
	if _, err := subtitle.Format(&transcript.Transcript{}, "srt", o); !errors.Is(err, subtitle.ErrInvalidOptions) {
		t.Errorf("err = %v, want ErrInvalidOptions", err)
	}
	if subtitle.ContentType("srt") != subtitle.ContentTypeSRT || subtitle.ContentType("vtt") != subtitle.ContentTypeVTT || subtitle.ContentType("ass") != "" {
		t.Error("content types are wrong")
	}
}

func TestValidateNamesEachBadOption(t *testing.T) {
	if err := subtitle.DefaultOptions().Validate(); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	tests := map[string]struct {
		change func(*subtitle.Options)
		name   string
	}{
		"narrow lines":     {func(o *subtitle.Options) { o.MaxLineChars = 9 }, "max_line_chars"},
		"no lines":         {func(o *subtitle.Options) { o.MaxLines = 0 }, "max_lines"},
		"endless cues":     {func(o *subtitle.Options) { o.MaxCueSeconds = 31 }, "max_cue_seconds"},
		"minimum over max": {func(o *subtitle.Options) { o.MinCueSeconds = 8 }, "min_cue_seconds"},
		"speed NaN":        {func(o *subtitle.Options) { o.MaxCharsPerSecond = math.NaN() }, "max_chars_per_second"},
		"negative gap":     {func(o *subtitle.Options) { o.MinGapSeconds = -0.1 }, "min_gap_seconds"},
	}
	for name, tc := range tests {
		o := subtitle.DefaultOptions()
		tc.change(&o)
		err := o.Validate()
		if !errors.Is(err, subtitle.ErrInvalidOptions) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: err = %v, want one naming %s", name, err, tc.name)
		}
	}
}

func TestCuesBreakAtSentencesThenClausesThenConjunctions(t *testing.T) {
	tr := said("We looked everywhere for the keys. They were in the car, under the seat, "+
		"where nobody had thought of looking because it seemed so unlikely", 0.3, 0.05)
	cues := subtitle.Cues(tr, subtitle.DefaultOptions())
	if len(cues) < 2 || cues[0].Lines[len(cues[0].Lines)-1] != "for the keys." && strings.Join(cues[0].Lines, " ") != "We looked everywhere for the keys." {
		t.Errorf("the first cue is %q, want it to end with the sentence", cues[0].Lines)
	}
	for _, c := range cues {
		for _, l := range c.Lines {
			if strings.HasSuffix(l, " the") || strings.HasSuffix(l, " of") {
				t.Errorf("line %q ends with a word that leans on the next", l)
			}
		}
	}
}

func TestCuesBalanceTwoLines(t *testing.T) {
	tr := said("this sentence is just long enough that it needs two lines to show", 0.25, 0.02)
	cues := subtitle.Cues(tr, subtitle.DefaultOptions())
	if len(cues) != 1 || len(cues[0].Lines) != 2 {
		t.Fatalf("cues = %+v, want one of two lines", cues)
	}
	a, b := len(cues[0].Lines[0]), len(cues[0].Lines[1])
	if a-b > 12 || b-a > 12 {
		t.Errorf("lines %q are %d and %d long: not balanced", cues[0].Lines, a, b)
	}
}

func TestCuesKeepNamesWhole(t *testing.T) {
	// The balanced break would fall between "Ada" and "Lovelace".
	tr := said("the first program was written long ago by Ada Lovelace for a machine", 0.25, 0.02)
	o := subtitle.DefaultOptions()
	o.MaxLineChars = 40
	for _, c := range subtitle.Cues(tr, o) {
		for _, l := range c.Lines {
			if strings.HasSuffix(l, "Ada") || strings.HasPrefix(l, "Lovelace") {
				t.Errorf("the name is split: %q", c.Lines)
			}
		}
	}
}

func TestCuesStretchToTheMinimumWithoutOverlapping(t *testing.T) {
	// "Hi." has 0.3 s before the next sentence, which is too long to
	// share its cue; "Me." has all the silence it needs.
	tr := said("Who is it that keeps on knocking at the front door, again and again, at this late hour?", 0.25, 0.05)
	for i := range tr.Words {
		tr.Words[i].Start += 1.5
		tr.Words[i].End += 1.5
	}
	tr.Words = append([]transcript.Word{{Word: "Hi.", Start: 1, End: 1.2}}, tr.Words...)
	tr.Words = append(tr.Words, transcript.Word{Word: "Me.", Start: 9, End: 9.2})
	cues := subtitle.Cues(tr, subtitle.DefaultOptions())
	if len(cues) < 3 || cues[0].Lines[0] != "Hi." || cues[len(cues)-1].Lines[0] != "Me." {
		t.Fatalf("cues = %+v, want Hi., the sentence, Me.", cues)
	}
	if cues[0].End != 1.417 {
		t.Errorf("first cue ends at %v, want 1.417: the next starts at 1.5, less the gap", cues[0].End)
	}
	for k := 1; k < len(cues); k++ {
		if gap := cues[k].Start - cues[k-1].End; gap < 0.083-1e-9 {
			t.Errorf("cue %d starts %v s after the one before, under the gap", k+1, gap)
		}
	}
	if last := cues[len(cues)-1]; last.End-last.Start < 0.8-1e-9 {
		t.Errorf("the last cue is on %v s, want at least 0.8", last.End-last.Start)
	}
}

func TestCuesExtendIntoSilenceToBeRead(t *testing.T) {
	// 59 characters said in 2 s, then silence: 17 a second needs 3.47 s.
	tr := said("she said that she would come back tomorrow with all the rest", 0.16, 0.02)
	cues := subtitle.Cues(tr, subtitle.DefaultOptions())
	if len(cues) != 1 {
		t.Fatalf("cues = %+v, want one", cues)
	}
	if d := cues[0].End - cues[0].Start; d < 59.0/17 {
		t.Errorf("cue is on %v s, want it kept up long enough to read", d)
	}
}

func TestCuesHardWrapAWordLongerThanALine(t *testing.T) {
	long := strings.Repeat("abcdefghij", 6)
	tr := said("see "+long+" now", 0.5, 0.1)
	var shown strings.Builder
	for _, c := range subtitle.Cues(tr, subtitle.DefaultOptions()) {
		for _, l := range c.Lines {
			if len(l) > 42 {
				t.Errorf("line %q is over 42", l)
			}
			shown.WriteString(strings.ReplaceAll(l, " ", ""))
		}
	}
	if shown.String() != "see"+long+"now" {
		t.Errorf("shown %q, want every character", shown.String())
	}
}

func TestCuesFromSegmentsWhenThereAreNoWords(t *testing.T) {
	tr := &transcript.Transcript{Segments: []transcript.Segment{
		{Start: 1, End: 3, Text: "The first sentence."},
		{Start: 10, End: 12, Text: "And the second."},
	}}
	cues := subtitle.Cues(tr, subtitle.DefaultOptions())
	if len(cues) != 2 || cues[0].Lines[0] != "The first sentence." || cues[0].Start != 1 || cues[1].Start != 10 {
		t.Errorf("cues = %+v, want one a segment, at its time", cues)
	}
}
