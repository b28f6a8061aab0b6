package sim_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/sim"
	"github.com/videoai/mediatasks/shared/task"
)

// benchInputs are one request of each kind, at the sizes the API allows.
var benchInputs = []struct {
	name  string
	typ   task.Type
	input string
}{
	{"image_1024", task.TypeImageGeneration, `{"prompt": "a lighthouse at dusk, oil painting", "size": "1024x1024", "n": 1}`},
	{"image_256_n4", task.TypeImageGeneration, `{"prompt": "a lighthouse at dusk, oil painting", "size": "256x256", "n": 4}`},
	{"video_5s", task.TypeVideoGeneration, `{"prompt": "waves on a beach", "duration_seconds": 5, "aspect_ratio": "16:9"}`},
	{"transcription", task.TypeAudioTranscription, `{"audio_url": "https://example.com/talk.mp3", "language": "en"}`},
	{"subtitles_srt", task.TypeSubtitleGeneration, `{"audio_url": "https://example.com/talk.mp3", "format": "srt", "max_line_chars": 42}`},
}

// BenchmarkStart is a zero-latency sim answering at once; prompts vary
// across 32 palettes, so the image cache is warm after the first round.
func BenchmarkStart(b *testing.B) {
	p := newSim(b, `{"seed": 1}`)
	for _, bi := range benchInputs {
		b.Run(bi.name, func(b *testing.B) {
			reqs := make([]provider.Request, 64)
			for i := range reqs {
				reqs[i] = request(bi.typ, bi.input)
				reqs[i].TaskID = fmt.Sprint("task-", i)
			}
			for _, r := range reqs { // warm the cache, as a running server has
				if _, err := p.Start(b.Context(), r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if _, err := p.Start(b.Context(), reqs[i%len(reqs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkRegistryStart adds what the registry does around a call:
// choice, breaker, concurrency cap, timing, observer.
func BenchmarkRegistryStart(b *testing.B) {
	cfgs := []config.Provider{
		{Name: "a", Type: sim.Type, TaskTypes: []task.Type{task.TypeAudioTranscription}, Weight: 1, MaxConcurrency: 64},
		{Name: "b", Type: sim.Type, TaskTypes: []task.Type{task.TypeAudioTranscription}, Weight: 2, MaxConcurrency: 64},
	}
	r, err := provider.New(cfgs, map[string]provider.Factory{sim.Type: sim.New}, provider.Options{Observer: nopObserver{}})
	if err != nil {
		b.Fatal(err)
	}
	req := request(task.TypeAudioTranscription, `{"upload_id": "up_1"}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			name, err := r.Choose(req.Type, req.TaskID, "", nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.Start(b.Context(), name, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type nopObserver struct{}

func (nopObserver) ObserveProviderCall(string, string, time.Duration, string) {}

// BenchmarkFirstImage is the cost of a cache miss: drawing and encoding
// one PNG of about 1024x1024 (sizes the API does not offer; only the
// first few thousand are kept, so a long run measures misses).
func BenchmarkFirstImage(b *testing.B) {
	p := newSim(b, `{"seed": 1}`)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// A new size each time defeats the cache.
		size := fmt.Sprintf("1024x%d", 1024-i%1000)
		req := request(task.TypeImageGeneration, fmt.Sprintf(`{"prompt": "p", "size": %q}`, size))
		if _, err := p.Start(b.Context(), req); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
