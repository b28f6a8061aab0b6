package transcript_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/videoai/mediatasks/shared/transcript"
)

func TestNormalizeOrdersClampsAndFillsIn(t *testing.T) {
	tr := (&transcript.Transcript{
		DurationSeconds: 2,
		Words: []transcript.Word{
			{Word: "world.", Start: 1.0004, End: 1.6, Confidence: 0.9},
			{Word: "  ", Start: 0.5, End: 0.6},
			{Word: "Hello", Start: 0.2, End: 0.1, Confidence: math.NaN()},
			{Word: "Again", Start: 1.7, End: 3.5, Confidence: 2},
		},
	}).Normalize()
	if len(tr.Words) != 3 || tr.Words[0].Word != "Hello" || tr.Words[2].Word != "Again" {
		t.Fatalf("words = %+v", tr.Words)
	}
	if tr.Words[0].End != tr.Words[0].Start || tr.Words[0].Confidence != 1 {
		t.Errorf("first word = %+v, want end clamped to start and confidence 1", tr.Words[0])
	}
	if tr.Words[1].Start != 1 {
		t.Errorf("start = %v, want rounded to 1", tr.Words[1].Start)
	}
	if tr.DurationSeconds != 3.5 || tr.Words[2].End != 3.5 {
		t.Errorf("duration %v, last end %v: want 3.5 from the last word", tr.DurationSeconds, tr.Words[2].End)
	}
	if tr.Text != "Hello world. Again" {
		t.Errorf("text = %q", tr.Text)
	}
	if len(tr.Segments) != 2 || tr.Segments[0].Text != "Hello world." || tr.Segments[1].Start != 1.7 {
		t.Errorf("segments = %+v, want two split at the full stop", tr.Segments)
	}
}

func TestSpreadCoversTheDurationInOrder(t *testing.T) {
	tr := transcript.Spread("en", "one two three four", 4)
	if !tr.EstimatedTimings || len(tr.Words) != 4 {
		t.Fatalf("transcript = %+v", tr)
	}
	prev := 0.0
	for _, w := range tr.Words {
		if w.Start < prev || w.End < w.Start || w.End > 4 {
			t.Fatalf("words out of order or range: %+v", tr.Words)
		}
		prev = w.End
	}
	if last := tr.Words[3]; last.End < 3.5 {
		t.Errorf("last word ends at %v, want near the end of 4 s", last.End)
	}
	b, err := tr.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"language", "duration_seconds", "text", "segments", "words", "estimated_timings"} {
		if _, ok := back[k]; !ok {
			t.Errorf("encoded transcript has no %q: %s", k, b)
		}
	}
}

func TestNormalizeOfNothingEncodesEmptyLists(t *testing.T) {
	b, err := (&transcript.Transcript{}).Normalize().Encode()
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Segments []any `json:"segments"`
		Words    []any `json:"words"`
	}
	if err := json.Unmarshal(b, &back); err != nil || back.Segments == nil || back.Words == nil {
		t.Errorf("encoded %s: want empty lists, not null", b)
	}
}

// Segments with no words get words spread over each segment's time.
func TestNormalizeMakesWordsFromSegments(t *testing.T) {
	t.Parallel()
	tr := (&transcript.Transcript{Segments: []transcript.Segment{
		{Start: 1, End: 2, Text: "Hello there."},
		{Start: 5, End: 7, Text: "Second part now."},
	}}).Normalize()
	if !tr.EstimatedTimings || len(tr.Words) != 5 {
		t.Fatalf("words %+v (estimated %v)", tr.Words, tr.EstimatedTimings)
	}
	for i, w := range tr.Words {
		seg := tr.Segments[0]
		if i >= 2 {
			seg = tr.Segments[1]
		}
		if w.Start < seg.Start || w.End > seg.End || w.End < w.Start {
			t.Errorf("word %d %+v outside its segment %+v", i, w, seg)
		}
	}
	if tr.Text != "Hello there. Second part now." {
		t.Errorf("text %q", tr.Text)
	}
}
