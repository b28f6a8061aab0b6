package sim

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/transcript"
)

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
// source: about 2.5 words a second, in sentences of 2.5 to 6.5 seconds,
// each word timed within its sentence.
func makeTranscript(src, language string) *transcript.Transcript {
	seed := hashString(src)
	r := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	total := 15 + float64(seed%46)
	tr := &transcript.Transcript{Language: language, DurationSeconds: ms3(total)}
	for t := 0.0; t < total-2; {
		d := min(2.5+r.Float64()*4, total-t)
		n := max(3, int(d*2.5))
		ws := make([]string, n)
		for i := range n {
			ws[i] = words[r.IntN(len(words))]
		}
		ws[0] = strings.ToUpper(ws[0][:1]) + ws[0][1:]
		ws[n-1] += "."
		seg := transcript.Segment{Start: ms3(t), End: ms3(t + d), Text: strings.Join(ws, " ")}
		tr.Segments = append(tr.Segments, seg)
		for _, w := range transcript.Spread("", seg.Text, d).Words {
			w.Start, w.End = ms3(w.Start+t), ms3(w.End+t)
			w.Confidence = ms3(0.85 + r.Float64()*0.15)
			tr.Words = append(tr.Words, w)
		}
		t += d + 0.2 + r.Float64()*0.6 // a pause between sentences
	}
	return tr.Normalize()
}

// ms3 rounds seconds to the millisecond.
func ms3(s float64) float64 { return math.Round(s*1000) / 1000 }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// transcriptResult is the input's transcript; the platform writes its
// file (and a subtitle task's subtitles) as it does for every provider.
func transcriptResult(m task.MediaRef, language string, render bool) (*provider.Result, error) {
	if !render {
		return nil, nil
	}
	return &provider.Result{Transcript: makeTranscript(source(m), orDefault(language, "en")), Extra: map[string]any{}}, nil
}
