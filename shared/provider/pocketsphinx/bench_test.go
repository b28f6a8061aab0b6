package pocketsphinx

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkTranscribe recognises the synthesised corpus through Start
// and Poll, sentence by sentence (a job each: short clips, the
// recogniser's start-up in every one) and as one paragraph, and reports
// the word error rate over the corpus (WER) and the real-time factor
// (RTF: seconds from Start to the result per second of audio; CPU-RTF:
// the tools' CPU seconds per second of audio, which other load on the
// machine does not inflate). It
// reports; it asserts nothing.
func BenchmarkTranscribe(b *testing.B) {
	needTools(b)
	b.Run("sentences", func(b *testing.B) { benchTranscribe(b, corpus) })
	b.Run("paragraph", func(b *testing.B) { benchTranscribe(b, []string{strings.Join(corpus, " ")}) })
}

func benchTranscribe(b *testing.B, texts []string) {
	wavs := make([][]byte, len(texts))
	audio := 0.0
	for i, s := range texts {
		wavs[i] = synth(b, s)
		audio += wavSeconds(b, wavs[i])
	}
	p := newProvider(b, b.TempDir(), nil)
	var edits, refWords int
	var busy time.Duration
	cpu := 0.0
	n := 0
	for b.Loop() {
		for i, wav := range wavs {
			req := transcriptionRequest("t_bench_"+strconv.Itoa(n)+"_"+strconv.Itoa(i), held(wav, "audio/wav", "s.wav"), "en")
			began := time.Now()
			res, _, err := finish(b, p, req, start(b, p, req))
			busy += time.Since(began)
			if err != nil {
				b.Fatalf("text %d: %v", i, err)
			}
			cpu += res.Extra["cpu_seconds"].(float64)
			r, h := werWords(texts[i]), werWords(res.Text)
			edits += editDistance(r, h)
			refWords += len(r)
			if n == 0 && testing.Verbose() {
				b.Logf("%q -> %q", texts[i], strings.Join(h, " "))
			}
		}
		n++
	}
	b.ReportMetric(float64(edits)/float64(refWords), "WER")
	b.ReportMetric(busy.Seconds()/(audio*float64(n)), "RTF")
	b.ReportMetric(cpu/(audio*float64(n)), "CPU-RTF")
	b.ReportMetric(audio, "audio-s/op")
}
