package sim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/task"
)

// Segment is one timed stretch of a transcript, times in seconds.
type Segment struct {
	ID    int     `json:"id"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Text  string  `json:"text"`
}

// Transcript is the JSON file a simulated transcription produces.
type Transcript struct {
	Simulated       bool      `json:"simulated"`
	Language        string    `json:"language"`
	DurationSeconds float64   `json:"duration_seconds"`
	Text            string    `json:"text"`
	Segments        []Segment `json:"segments"`
}

// source names the audio of a task: the same audio gives the same
// transcript, whichever signed URL the platform hands over.
func source(m task.MediaRef) string {
	switch {
	case m.AudioURL != "":
		return "url:" + m.AudioURL
	case m.UploadID != "":
		return "upload:" + m.UploadID
	}
	return "task:" + m.TranscriptionTaskID
}

var words = strings.Fields(`the a this our new every small bright quiet long morning evening city river
	mountain forest light sound story camera frame scene voice music road window garden
	shows moves turns opens follows carries finds brings holds watches reaches crosses
	slowly gently together again today always nearly across over under through toward
	beside beyond with from into after before while people friends travellers children`)

// makeTranscript invents a transcript of 15 to 60 seconds from the
// source: about 2.5 words a second, in segments of 2.5 to 6.5 seconds.
func makeTranscript(src, language string) Transcript {
	seed := hashString(src)
	r := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	total := 15 + float64(seed%46)
	tr := Transcript{Simulated: true, Language: language}
	var text strings.Builder
	for t := 0.0; t < total-2; {
		d := min(2.5+r.Float64()*4, total-t)
		n := max(3, int(d*2.5))
		var sb strings.Builder
		for i := range n {
			w := words[r.IntN(len(words))]
			if i == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			} else {
				sb.WriteByte(' ')
			}
			sb.WriteString(w)
		}
		sb.WriteByte('.')
		seg := Segment{ID: len(tr.Segments), Start: ms3(t), End: ms3(t + d), Text: sb.String()}
		tr.Segments = append(tr.Segments, seg)
		if text.Len() > 0 {
			text.WriteByte(' ')
		}
		text.WriteString(seg.Text)
		t += d + 0.2 + r.Float64()*0.6 // a pause between sentences
	}
	tr.DurationSeconds = ms3(total)
	tr.Text = text.String()
	return tr
}

// ms3 rounds seconds to the millisecond.
func ms3(s float64) float64 { return math.Round(s*1000) / 1000 }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func transcriptResult(in *task.TranscriptionInput, render bool) (*provider.Result, error) {
	if !render {
		return nil, nil
	}
	tr := makeTranscript(source(in.Media()), orDefault(in.Language, "en"))
	data, err := json.Marshal(tr)
	if err != nil {
		return nil, provider.NewTransient("encode", "encode the transcript", err)
	}
	return &provider.Result{
		Files: []provider.File{{ContentType: "application/json", Ext: ".json", Data: data}},
		Text:  tr.Text,
		Extra: map[string]any{"language": tr.Language, "segments": len(tr.Segments), "duration_seconds": tr.DurationSeconds},
	}, nil
}

// cue is one subtitle: its lines and times in milliseconds.
type cue struct {
	start, end int
	lines      []string
}

// gapMs is the pause between two cues of one sentence: two frames at 24 fps.
const gapMs = 84

// subtitleResult writes the input's subtitles (its fields left out have
// their defaults).
func subtitleResult(in *task.SubtitleInput, render bool) (*provider.Result, error) {
	format := in.Format
	if format != "srt" && format != "vtt" {
		return nil, provider.NewRejected("invalid_input", fmt.Sprintf("format must be srt or vtt, not %q", format), nil)
	}
	lineChars := *in.MaxLineChars
	if lineChars < 10 || lineChars > 200 {
		return nil, provider.NewRejected("invalid_input", fmt.Sprintf("max_line_chars must be from 10 to 200, not %d", lineChars), nil)
	}
	if !render {
		return nil, nil
	}
	tr := makeTranscript(source(in.Media()), orDefault(in.Language, "en"))
	cues := makeCues(tr.Segments, lineChars)
	file := provider.File{ContentType: "application/x-subrip", Ext: ".srt"}
	sep := byte(',')
	b := make([]byte, 0, 64*len(cues)+16)
	if format == "vtt" {
		file = provider.File{ContentType: "text/vtt", Ext: ".vtt"}
		sep = '.'
		b = append(b, "WEBVTT\n\n"...)
	}
	for i, c := range cues {
		if format == "srt" {
			b = append(strconv.AppendInt(b, int64(i+1), 10), '\n')
		}
		b = appendTimestamp(b, c.start, sep)
		b = append(b, " --> "...)
		b = append(appendTimestamp(b, c.end, sep), '\n')
		for _, l := range c.lines {
			b = append(append(b, l...), '\n')
		}
		b = append(b, '\n')
	}
	file.Data = b
	return &provider.Result{
		Files: []provider.File{file},
		Text:  tr.Text,
		Extra: map[string]any{
			"format": format, "cues": len(cues), "language": tr.Language,
			"max_line_chars": lineChars, "duration_seconds": tr.DurationSeconds,
		},
	}, nil
}

// makeCues wraps each segment's text into lines of at most maxChars and
// groups them two lines a cue, sharing the segment's time by characters.
func makeCues(segs []Segment, maxChars int) []cue {
	var out []cue
	for _, s := range segs {
		lines := wrap(s.Text, maxChars)
		var groups [][]string
		for i := 0; i < len(lines); i += 2 {
			groups = append(groups, lines[i:min(i+2, len(lines))])
		}
		chars := 0
		for _, l := range lines {
			chars += utf8.RuneCountInString(l)
		}
		start, end := int(s.Start*1000+0.5), int(s.End*1000+0.5)
		t, done := start, 0
		for i, g := range groups {
			for _, l := range g {
				done += utf8.RuneCountInString(l)
			}
			next := start + (end-start)*done/max(chars, 1)
			c := cue{start: t, end: next, lines: g}
			if i < len(groups)-1 {
				c.end = max(c.start+1, next-gapMs)
			}
			out = append(out, c)
			t = next
		}
	}
	return out
}

// wrap breaks text into lines of at most maxChars characters, at spaces;
// a word longer than a line is cut.
func wrap(text string, maxChars int) []string {
	var lines []string
	line, n := "", 0 // n counts line's characters
	for _, w := range strings.Fields(text) {
		wn := utf8.RuneCountInString(w)
		for wn > maxChars {
			if line != "" {
				lines, line, n = append(lines, line), "", 0
			}
			r := []rune(w)
			lines, w, wn = append(lines, string(r[:maxChars])), string(r[maxChars:]), wn-maxChars
		}
		switch {
		case line == "":
			line, n = w, wn
		case n+1+wn <= maxChars:
			line, n = line+" "+w, n+1+wn
		default:
			lines, line, n = append(lines, line), w, wn
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// appendTimestamp appends milliseconds as HH:MM:SS,mmm (SRT) or
// HH:MM:SS.mmm (VTT).
func appendTimestamp(b []byte, ms int, sep byte) []byte {
	two := func(b []byte, v int) []byte { return append(b, byte('0'+v/10%10), byte('0'+v%10)) }
	b = two(b, ms/3600000)
	b = two(append(b, ':'), ms/60000%60)
	b = two(append(b, ':'), ms/1000%60)
	return append(b, sep, byte('0'+ms/100%10), byte('0'+ms/10%10), byte('0'+ms%10))
}
