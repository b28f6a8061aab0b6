package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/gif"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/sim"
	"github.com/videoai/mediatasks/shared/task"
)

// newSim builds a sim provider with the given options (a JSON object).
func newSim(t testing.TB, opts string) provider.Provider {
	t.Helper()
	p, err := sim.New(config.Provider{Name: "sim-test", Type: sim.Type, TaskTypes: task.Types, Weight: 1, Options: json.RawMessage(opts)})
	if err != nil {
		t.Fatalf("sim.New(%s): %v", opts, err)
	}
	return p
}

func request(typ task.Type, input string) provider.Request {
	return provider.Request{TaskID: "task-1", UserID: "local", Type: typ, Input: json.RawMessage(input), Attempt: 1}
}

// run starts req and polls it to the end.
func run(t *testing.T, p provider.Provider, req provider.Request) *provider.Result {
	t.Helper()
	resp, err := p.Start(t.Context(), req)
	for i := 0; err == nil && !resp.Done(); i++ {
		if i > 100 {
			t.Fatal("the job never ends")
		}
		resp, err = p.Poll(t.Context(), req, resp.Job)
	}
	if err != nil {
		t.Fatalf("%s: %v", req.Type, err)
	}
	if resp.Result.Extra["simulated"] != true {
		t.Errorf("result is not marked simulated: %v", resp.Result.Extra)
	}
	return resp.Result
}

func one(t *testing.T, res *provider.Result, contentType, ext string) []byte {
	t.Helper()
	if len(res.Files) != 1 {
		t.Fatalf("%d files, want 1", len(res.Files))
	}
	f := res.Files[0]
	if f.ContentType != contentType || f.Ext != ext || len(f.Data) == 0 {
		t.Fatalf("file %s %s (%d bytes), want %s %s", f.ContentType, f.Ext, len(f.Data), contentType, ext)
	}
	return f.Data
}

func TestImages(t *testing.T) {
	t.Parallel()
	p := newSim(t, `{"seed": 7}`)
	tests := map[string]struct {
		input string
		w, h  int
		n     int
	}{
		"default":   {`{"prompt": "a lighthouse at dusk"}`, 1024, 1024, 1},
		"small, 3":  {`{"prompt": "a lighthouse at dusk", "size": "256x256", "n": 3}`, 256, 256, 3},
		"landscape": {`{"prompt": "a fox", "size": "1792x1024", "style": "vivid", "provider": "sim-test"}`, 1792, 1024, 1},
		"portrait":  {`{"prompt": "a fox", "size": "1024x1792"}`, 1024, 1792, 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := run(t, p, request(task.TypeImageGeneration, tc.input))
			if len(res.Files) != tc.n {
				t.Fatalf("%d files, want %d", len(res.Files), tc.n)
			}
			for i, f := range res.Files {
				if f.ContentType != "image/png" || f.Ext != ".png" {
					t.Errorf("file %d is %s %s", i, f.ContentType, f.Ext)
				}
				img, err := png.Decode(bytes.NewReader(f.Data))
				if err != nil {
					t.Fatalf("file %d: %v", i, err)
				}
				if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
					t.Errorf("file %d is %dx%d, want %dx%d", i, b.Dx(), b.Dy(), tc.w, tc.h)
				}
			}
			if tc.n > 1 && bytes.Equal(res.Files[0].Data, res.Files[1].Data) {
				t.Error("the images of one task are all alike")
			}
			if res.Extra["width"] != tc.w || res.Extra["size"] != fmt.Sprintf("%dx%d", tc.w, tc.h) {
				t.Errorf("extra %v", res.Extra)
			}
		})
	}
	t.Run("deterministic", func(t *testing.T) {
		t.Parallel()
		in := `{"prompt": "a red kite", "size": "256x256"}`
		a := run(t, p, request(task.TypeImageGeneration, in))
		b := run(t, newSim(t, ``), request(task.TypeImageGeneration, in))
		if !bytes.Equal(a.Files[0].Data, b.Files[0].Data) || a.Extra["seed"] != b.Extra["seed"] {
			t.Error("the same prompt gave different images")
		}
		a.Files[0].Data[100] ^= 0xff // the caller owns its copy
		c := run(t, p, request(task.TypeImageGeneration, in))
		if !bytes.Equal(c.Files[0].Data, b.Files[0].Data) {
			t.Error("changing a result changed the cache")
		}
		other := run(t, p, request(task.TypeImageGeneration, `{"prompt": "a blue kite", "size": "256x256"}`))
		if bytes.Equal(other.Files[0].Data, a.Files[0].Data) {
			t.Error("two prompts gave the same image")
		}
	})
	t.Run("bad size", func(t *testing.T) {
		t.Parallel()
		_, err := p.Start(t.Context(), request(task.TypeImageGeneration, `{"prompt": "x", "size": "big"}`))
		if provider.KindOf(err) != provider.Permanent {
			t.Fatalf("%v, want permanent", err)
		}
	})
}

func TestVideo(t *testing.T) {
	t.Parallel()
	p := newSim(t, `{"poll_steps": 2, "poll_after_ms": 0}`)
	tests := map[string]struct {
		input        string
		w, h, frames int
	}{
		"default":  {`{"prompt": "waves"}`, 160, 90, 10},
		"portrait": {`{"prompt": "waves", "aspect_ratio": "9:16", "duration_seconds": 1}`, 90, 160, 2},
		"square":   {`{"prompt": "waves", "aspect_ratio": "1:1", "duration_seconds": 20, "image_url": "https://example.com/a.png"}`, 160, 160, 40},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := run(t, p, request(task.TypeVideoGeneration, tc.input))
			data := one(t, res, "image/gif", ".gif")
			g, err := gif.DecodeAll(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if g.Config.Width != tc.w || g.Config.Height != tc.h || len(g.Image) != tc.frames {
				t.Fatalf("%dx%d with %d frames, want %dx%d with %d", g.Config.Width, g.Config.Height, len(g.Image), tc.w, tc.h, tc.frames)
			}
			total := 0
			for _, d := range g.Delay {
				total += d
			}
			if secs := res.Extra["duration_seconds"].(int); total != secs*100 {
				t.Errorf("plays %d/100 s, want %d s", total, secs)
			}
			if res.Extra["frames"] != tc.frames || res.Extra["width"] != tc.w || res.Extra["height"] != tc.h {
				t.Errorf("extra %v", res.Extra)
			}
			if len(data) > 64<<10 {
				t.Errorf("the clip is %d bytes; it should be small", len(data))
			}
		})
	}
}

// A transcription and a subtitle task answer an invented transcript in
// the one shape: timed sentences and words in order within the duration,
// the same audio giving the same transcript; the platform writes the
// files.
func TestTranscription(t *testing.T) {
	t.Parallel()
	p := newSim(t, `{"poll_steps": 1, "poll_after_ms": 0}`)
	res := run(t, p, request(task.TypeAudioTranscription, `{"audio_url": "https://example.com/talk.mp3", "language": "pt-BR"}`))
	tr := res.Transcript
	if tr == nil || len(res.Files) != 0 || res.Extra["simulated"] != true {
		t.Fatalf("result %+v; want a transcript and no files, simulated", res)
	}
	if tr.Language != "pt-BR" || tr.Text == "" || len(tr.Segments) < 2 || len(tr.Words) < 3*len(tr.Segments) {
		t.Fatalf("transcript %+v", tr)
	}
	if tr.DurationSeconds < 15 || tr.DurationSeconds > 60 {
		t.Errorf("duration %v", tr.DurationSeconds)
	}
	var joined, words []string
	last := 0.0
	for i, s := range tr.Segments {
		if s.Start < last || s.End <= s.Start || s.End > tr.DurationSeconds || s.Text == "" {
			t.Errorf("segment %d: %+v after %v", i, s, last)
		}
		last = s.End
		joined = append(joined, s.Text)
	}
	last = 0
	for i, w := range tr.Words {
		if w.Start < last || w.End < w.Start || w.End > tr.DurationSeconds || w.Confidence <= 0 || w.Confidence > 1 {
			t.Errorf("word %d: %+v after %v", i, w, last)
		}
		last = w.End
		words = append(words, w.Word)
	}
	if strings.Join(joined, " ") != tr.Text || strings.Join(words, " ") != tr.Text {
		t.Error("the text is not the segments' nor the words' text")
	}
	again := run(t, p, request(task.TypeAudioTranscription, `{"audio_url": "https://example.com/talk.mp3", "language": "pt-BR"}`))
	if again.Transcript.Text != tr.Text {
		t.Error("the same audio gave another transcript")
	}
	upload := run(t, p, request(task.TypeAudioTranscription, `{"upload_id": "up_1"}`))
	if upload.Transcript.Text == tr.Text || upload.Transcript.Language != "en" {
		t.Errorf("another audio: %q, %v", upload.Transcript.Text, upload.Transcript.Language)
	}
	subs := run(t, p, request(task.TypeSubtitleGeneration, `{"audio_url": "https://example.com/talk.mp3", "format": "vtt", "language": "pt-BR"}`))
	if subs.Transcript == nil || subs.Transcript.Text != tr.Text {
		t.Errorf("a subtitle task of the same audio: %+v", subs.Transcript)
	}
}

func TestPollStepsThroughHandles(t *testing.T) {
	t.Parallel()
	opts := `{"poll_steps": 3, "poll_after_ms": 250, "seed": 1}`
	req := request(task.TypeVideoGeneration, `{"prompt": "clouds"}`)
	resp, err := newSim(t, opts).Start(t.Context(), req)
	if err != nil || resp.Done() || resp.Job == "" || resp.Progress != 0 || resp.PollAfter != 250*time.Millisecond {
		t.Fatalf("Start: %+v, %v", resp, err)
	}
	seen := map[string]bool{resp.Job: true}
	for step := 1; step <= 3; step++ {
		// A fresh provider each time: the handle alone carries the job.
		resp, err = newSim(t, opts).Poll(t.Context(), req, resp.Job)
		if err != nil {
			t.Fatalf("poll %d: %v", step, err)
		}
		if step < 3 {
			if resp.Done() || seen[resp.Job] || resp.Progress != float64(step)/3 {
				t.Fatalf("poll %d: %+v", step, resp)
			}
			seen[resp.Job] = true
		} else if !resp.Done() || resp.Progress != 1 {
			t.Fatalf("last poll: %+v", resp)
		}
	}

	p := newSim(t, opts)
	job, _ := p.Start(t.Context(), req)
	other := req
	other.TaskID = "task-2"
	for name, tc := range map[string]struct {
		req provider.Request
		job string
	}{
		"another task's job": {other, job.Job},
		"not a handle":       {req, "nonsense"},
		"bad step":           {req, "sim1.x.0"},
	} {
		if _, err := p.Poll(t.Context(), tc.req, tc.job); provider.KindOf(err) != provider.Permanent {
			t.Errorf("%s: Poll %v, want permanent", name, err)
		}
		if err := p.Cancel(t.Context(), tc.req, tc.job); provider.KindOf(err) != provider.Permanent {
			t.Errorf("%s: Cancel %v, want permanent", name, err)
		}
	}
	if err := p.Cancel(t.Context(), req, job.Job); err != nil {
		t.Errorf("Cancel: %v", err)
	}

	// A bad input is refused when the job is created, not at its end.
	if _, err := p.Start(t.Context(), request(task.TypeVideoGeneration, `{"prompt": 3}`)); provider.KindOf(err) != provider.Permanent {
		t.Errorf("Start of input that is not the expected JSON: %v, want permanent", err)
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	img := request(task.TypeImageGeneration, `{"prompt": "x", "size": "256x256"}`)
	p := newSim(t, `{"fail_rate": 0}`)
	for range 200 {
		if _, err := p.Start(t.Context(), img); err != nil {
			t.Fatalf("fail_rate 0: %v", err)
		}
	}
	tests := map[string]struct {
		kind       provider.Kind
		retryAfter time.Duration
	}{
		"":          {provider.Transient, 0},
		"transient": {provider.Transient, 0},
		"throttled": {provider.Throttled, time.Second},
		"permanent": {provider.Permanent, 0},
	}
	for with, tc := range tests {
		opts := `{"fail_rate": 1}`
		if with != "" {
			opts = fmt.Sprintf(`{"fail_rate": 1, "fail_with": %q, "poll_steps": 1}`, with)
		}
		p := newSim(t, opts)
		for range 20 {
			_, err := p.Start(t.Context(), img)
			if provider.KindOf(err) != tc.kind || provider.RetryAfterOf(err) != tc.retryAfter {
				t.Fatalf("fail_with %q: %v", with, err)
			}
			if pe, _ := errors.AsType[*provider.Error](err); pe.RequestFault {
				t.Fatalf("fail_with %q: a simulated outage must count against the provider", with)
			}
		}
		if with != "" {
			if _, err := p.Poll(t.Context(), img, "sim1.0."+"x"); provider.KindOf(err) != provider.Permanent {
				t.Fatalf("poll of a bad handle: %v", err)
			}
		}
	}

	// Seeded: the same calls fail every run; a retry draws anew.
	pattern := func() string {
		p := newSim(t, `{"fail_rate": 0.5, "seed": 42}`)
		var b strings.Builder
		for range 64 {
			if _, err := p.Start(t.Context(), img); err != nil {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	a := pattern()
	if a != pattern() {
		t.Error("a seeded provider fails on different calls each run")
	}
	if n := strings.Count(a, "x"); n < 16 || n > 48 {
		t.Errorf("fail_rate 0.5 failed %d of 64 calls: %s", n, a)
	}
}

func TestHangAndLatencyHonourTheContext(t *testing.T) {
	t.Parallel()
	img := request(task.TypeImageGeneration, `{"prompt": "x", "size": "256x256"}`)
	for name, opts := range map[string]string{
		"hang":    `{"fail_rate": 1, "fail_with": "hang"}`,
		"latency": `{"latency_ms": 600000}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newSim(t, opts)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
			defer cancel()
			began := time.Now()
			_, err := p.Start(ctx, img)
			if !errors.Is(err, context.DeadlineExceeded) || provider.KindOf(err) != provider.Transient {
				t.Fatalf("%v, want a deadline", err)
			}
			if d := time.Since(began); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
			ctx, cancel = context.WithCancel(t.Context())
			cancel()
			if _, err := p.Start(ctx, img); provider.KindOf(err) != provider.Canceled {
				t.Fatalf("canceled: %v", err)
			}
		})
	}
	t.Run("waits", func(t *testing.T) {
		t.Parallel()
		p := newSim(t, `{"latency_ms": 30, "poll_steps": 1, "poll_after_ms": 0}`)
		began := time.Now()
		resp, err := p.Start(t.Context(), img)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Poll(t.Context(), img, resp.Job); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(began); d < 60*time.Millisecond {
			t.Fatalf("Start and Poll took %v, want at least 60 ms", d)
		}
	})
}

func TestOptionsAreStrict(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		opts string
		want string
	}{
		"unknown":        {`{"latency": 5}`, "providers[0].options.latency: is not an option of this provider type"},
		"fail_rate":      {`{"fail_rate": 1.5}`, "providers[0].options.fail_rate: must be between 0 and 1, not 1.5"},
		"fail_with":      {`{"fail_with": "sometimes"}`, `providers[0].options.fail_with: must be one of transient, throttled, permanent or hang, not "sometimes"`},
		"latency_ms":     {`{"latency_ms": -1}`, "providers[0].options.latency_ms: must be between 0 and 600000, not -1"},
		"poll_steps int": {`{"poll_steps": 1.5}`, "providers[0].options.poll_steps: must be an integer"},
		"seed type":      {`{"seed": "x"}`, "providers[0].options.seed: must be an integer"},
		"two": {`{"fail_rate": -1, "poll_after_ms": -5}`,
			"providers[0].options.fail_rate: must be between 0 and 1, not -1; providers[0].options.poll_after_ms: must be between 0 and 600000, not -5"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := config.Provider{Name: "s", Type: sim.Type, TaskTypes: task.Types, Weight: 1, Options: json.RawMessage(tc.opts)}
			_, err := provider.New([]config.Provider{cfg}, map[string]provider.Factory{sim.Type: sim.New}, provider.Options{})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestDefaultConfigs(t *testing.T) {
	t.Parallel()
	r, err := provider.New(sim.DefaultConfigs(), map[string]provider.Factory{sim.Type: sim.New}, provider.Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, typ := range task.Types {
		if names := r.Names(typ); len(names) != 1 || !strings.HasPrefix(names[0], "sim-") {
			t.Errorf("%s is served by %v", typ, names)
		}
	}
}

// TestThroughTheRegistry runs a polled job end to end through the
// registry, as the workflow does.
func TestThroughTheRegistry(t *testing.T) {
	t.Parallel()
	cfg := config.Provider{Name: "sim-video", Type: sim.Type, TaskTypes: []task.Type{task.TypeVideoGeneration}, Weight: 1,
		MaxConcurrency: 2, Options: json.RawMessage(`{"poll_steps": 2, "poll_after_ms": 0}`)}
	r, err := provider.New([]config.Provider{cfg}, map[string]provider.Factory{sim.Type: sim.New}, provider.Options{})
	if err != nil {
		t.Fatal(err)
	}
	req := request(task.TypeVideoGeneration, `{"prompt": "rain"}`)
	name, err := r.Choose(req.Type, req.TaskID, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.Start(t.Context(), name, req)
	for err == nil && !resp.Done() {
		resp, err = r.Poll(t.Context(), name, req, resp.Job)
	}
	if err != nil || len(resp.Result.Files) != 1 {
		t.Fatalf("%+v, %v", resp, err)
	}
	if h := r.ProviderHealth()[name]; h.Status != "up" || h.Detail.LatencySamples != 3 {
		t.Errorf("health %+v", h)
	}
}
