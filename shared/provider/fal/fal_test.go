package fal

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/fal/falfake"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/provider/providertest"
	"github.com/videoai/mediatasks/shared/task"
)

func intp(n int) *int { return &n }

func boolp(b bool) *bool { return &b }

// build makes a provider for fake with extra options.
func build(t *testing.T, fake *falfake.Server, timeout time.Duration, opts map[string]any) *Fal {
	t.Helper()
	o := map[string]any{"base_url": fake.URL(), "api_key": falfake.Key, "allow_private": true, "timeout": timeout.String(), "webhook_jwks_url": fake.JWKSURL()}
	maps.Copy(o, opts)
	raw, _ := json.Marshal(o)
	f, err := newFal(config.Provider{Name: "fal-test", Type: Type, Options: raw}, func(string) string { return "" })
	if err != nil {
		t.Fatalf("newFal: %v", err)
	}
	return f
}

func startFake(t *testing.T) *falfake.Server {
	fake := falfake.New()
	t.Cleanup(fake.Close)
	return fake
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		opts  map[string]any
		cases []providertest.Case
	}{
		{"flux", map[string]any{"model": "fal-ai/flux/dev"}, []providertest.Case{
			{Name: "image", Type: task.TypeImageGeneration, Long: true, Input: &task.ImageInput{Prompt: "a red fox in snow", N: intp(2)},
				Check: func(t *testing.T, res *provider.Result) {
					if len(res.Files) != 2 || res.Files[0].ContentType != "image/png" || res.Files[0].Ext != ".png" {
						t.Errorf("files: %+v", res.Files)
					}
					if res.Cost == nil || math.Abs(res.Cost.USD-0.05) > 1e-9 || res.Cost.PriceVersion != PriceVersion {
						t.Errorf("cost of two 1024x1024 flux dev images: %+v, want $0.05", res.Cost)
					}
					if res.Extra["request_id"] == "" || res.Extra["seed"] != int64(1234) {
						t.Errorf("extra: %v", res.Extra)
					}
				}},
		}},
		{"kling", map[string]any{"model": "fal-ai/kling-video/v2.1/master/text-to-video", "image_to_video_model": "fal-ai/kling-video/v2.1/pro/image-to-video"}, []providertest.Case{
			{Name: "text_to_video", Type: task.TypeVideoGeneration, Long: true, Input: &task.VideoInput{Prompt: "waves at dusk", DurationSeconds: intp(10)},
				Check: func(t *testing.T, res *provider.Result) {
					if res.Files[0].ContentType != "video/mp4" || res.Files[0].Ext != ".mp4" {
						t.Errorf("file: %+v", res.Files[0])
					}
					if res.Cost != nil {
						t.Errorf("kling master has no list price here: cost %+v, want none", res.Cost)
					}
				}},
			{Name: "image_to_video", Type: task.TypeVideoGeneration, Long: true, Input: &task.VideoInput{Prompt: "the cat turns", ImageURL: "https://example.com/cat.png", DurationSeconds: intp(10)},
				Check: func(t *testing.T, res *provider.Result) {
					if res.Extra["model"] != "fal-ai/kling-video/v2.1/pro/image-to-video" {
						t.Errorf("model %v: want the image-to-video app", res.Extra["model"])
					}
					if res.Cost == nil || math.Abs(res.Cost.USD-0.98) > 1e-9 {
						t.Errorf("cost of 10 s of kling 2.1 pro: %+v, want $0.98", res.Cost)
					}
				}},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			providertest.Run(t, providertest.Harness{
				Fake: func(t *testing.T) providertest.Fake { return startFake(t) },
				New: func(t *testing.T, fake providertest.Fake, timeout time.Duration) provider.Provider {
					return build(t, fake.(*falfake.Server), timeout, c.opts)
				},
				Key:            falfake.Key,
				Cases:          c.cases,
				CallbackSigned: true,
			})
		})
	}
}

// submit starts in on model and returns what the fake received.
func submit(t *testing.T, model string, typ task.Type, in task.Input, expansion *bool) (map[string]any, http.Header, string) {
	t.Helper()
	fake := startFake(t)
	f := build(t, fake, 5*time.Second, map[string]any{"model": model})
	in.SetDefaults()
	raw, _ := json.Marshal(in)
	if _, err := f.Start(t.Context(), provider.Request{TaskID: "t1", Type: typ, Input: raw, Expansion: expansion}); err != nil {
		t.Fatalf("Start on %s: %v", model, err)
	}
	reqs := fake.Requests()
	last := reqs[len(reqs)-1]
	return fake.Submitted(), last.Header, last.Path
}

func TestInputMapping(t *testing.T) {
	t.Parallel()
	img := task.TypeImageGeneration
	vid := task.TypeVideoGeneration
	cases := map[string]struct {
		model     string
		typ       task.Type
		in        task.Input
		expansion *bool
		want      map[string]any
	}{
		"flux dev: size by name, no negative": {"fal-ai/flux/dev", img,
			&task.ImageInput{Prompt: "p", NegativePrompt: "blur", Size: "1024x1024", N: intp(3)}, nil,
			map[string]any{"prompt": "p", "image_size": "square_hd", "num_images": 3.0, "enable_safety_checker": true}},
		"flux schnell: other sizes as width and height": {"fal-ai/flux/schnell", img,
			&task.ImageInput{Prompt: "p", Size: "1792x1024"}, nil,
			map[string]any{"prompt": "p", "image_size": map[string]any{"width": 1792.0, "height": 1024.0}, "num_images": 1.0, "enable_safety_checker": true}},
		"flux pro: enhance_prompt off": {"fal-ai/flux-pro/v1.1", img,
			&task.ImageInput{Prompt: "p", Size: "512x512"}, boolp(false),
			map[string]any{"prompt": "p", "image_size": "square", "num_images": 1.0, "enhance_prompt": false}},
		"flux ultra: aspect ratio": {"fal-ai/flux-pro/v1.1-ultra", img,
			&task.ImageInput{Prompt: "p", Size: "1024x1792"}, boolp(true),
			map[string]any{"prompt": "p", "aspect_ratio": "9:16", "num_images": 1.0, "enhance_prompt": true}},
		"ideogram v2: negative, style, expand_prompt, one image": {"fal-ai/ideogram/v2", img,
			&task.ImageInput{Prompt: "p", NegativePrompt: "n", Size: "1792x1024", Style: "anime"}, boolp(false),
			map[string]any{"prompt": "p", "negative_prompt": "n", "aspect_ratio": "16:9", "style": "anime", "expand_prompt": false}},
		"fast sdxl: negative and small sizes": {"fal-ai/fast-sdxl", img,
			&task.ImageInput{Prompt: "p", NegativePrompt: "n", Size: "256x256", N: intp(2), Style: "anime"}, nil,
			map[string]any{"prompt": "p", "negative_prompt": "n", "image_size": map[string]any{"width": 256.0, "height": 256.0}, "num_images": 2.0}},
		"kling t2v: duration as a string, aspect ratio": {"fal-ai/kling-video/v2.1/master/text-to-video", vid,
			&task.VideoInput{Prompt: "p", DurationSeconds: intp(10), AspectRatio: "9:16"}, boolp(false),
			map[string]any{"prompt": "p", "duration": "10", "aspect_ratio": "9:16"}},
		"kling i2v: image_url, no aspect ratio": {"fal-ai/kling-video/v1.6/pro/image-to-video", vid,
			&task.VideoInput{Prompt: "p", ImageURL: "https://example.com/a.png", AspectRatio: "1:1"}, nil,
			map[string]any{"prompt": "p", "duration": "5", "image_url": "https://example.com/a.png"}},
		"pika 2.2: duration as an integer": {"fal-ai/pika/v2.2/text-to-video", vid,
			&task.VideoInput{Prompt: "p", DurationSeconds: intp(10), AspectRatio: "1:1"}, nil,
			map[string]any{"prompt": "p", "duration": 10.0, "aspect_ratio": "1:1"}},
		"wan 2.5: duration, enable_prompt_expansion": {"fal-ai/wan-25-preview/text-to-video", vid,
			&task.VideoInput{Prompt: "p", DurationSeconds: intp(10), AspectRatio: "16:9"}, boolp(false),
			map[string]any{"prompt": "p", "duration": "10", "aspect_ratio": "16:9", "enable_prompt_expansion": false}},
		"wan 2.1: no duration": {"fal-ai/wan-t2v", vid,
			&task.VideoInput{Prompt: "p", AspectRatio: "9:16"}, boolp(true),
			map[string]any{"prompt": "p", "aspect_ratio": "9:16", "enable_prompt_expansion": true}},
		"hailuo: 5 s asks for 6, prompt_optimizer": {"fal-ai/minimax/hailuo-02/standard/text-to-video", vid,
			&task.VideoInput{Prompt: "p"}, boolp(false),
			map[string]any{"prompt": "p", "duration": "6", "prompt_optimizer": false}},
		"minimax i2v: image_url": {"fal-ai/minimax/video-01/image-to-video", vid,
			&task.VideoInput{Prompt: "p", ImageURL: "https://example.com/a.png"}, nil,
			map[string]any{"prompt": "p", "image_url": "https://example.com/a.png"}},
		"ltx: enable_prompt_expansion": {"fal-ai/ltx-2/text-to-video", vid,
			&task.VideoInput{Prompt: "p", AspectRatio: "16:9"}, boolp(false),
			map[string]any{"prompt": "p", "aspect_ratio": "16:9", "enable_prompt_expansion": false}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, header, path := submit(t, c.model, c.typ, c.in, c.expansion)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("sent %v\nwant %v", got, c.want)
			}
			if header.Get("Authorization") != "Key "+falfake.Key {
				t.Errorf("Authorization %q", header.Get("Authorization"))
			}
			if path != "/"+c.model {
				t.Errorf("submitted to %s, want /%s", path, c.model)
			}
		})
	}
}

func TestCheckInput(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		model, i2v string
		in         task.Input
		fields     []string
	}{
		"flux: 256 refused":          {"fal-ai/flux/dev", "", &task.ImageInput{Prompt: "p", Size: "256x256"}, []string{"x.size"}},
		"flux: 512 taken":            {"fal-ai/flux/dev", "", &task.ImageInput{Prompt: "p", Size: "512x512", N: intp(4)}, nil},
		"ideogram: 512 refused, n 2": {"fal-ai/ideogram/v2", "", &task.ImageInput{Prompt: "p", Size: "512x512", N: intp(2)}, []string{"x.size", "x.n"}},
		"ideogram v3: n 2 taken":     {"fal-ai/ideogram/v3", "", &task.ImageInput{Prompt: "p", N: intp(2)}, nil},
		"kling v3: 7 s taken":        {"fal-ai/kling-video/v3/pro/text-to-video", "", &task.VideoInput{Prompt: "p", DurationSeconds: intp(7)}, nil},
		"kling: 7 s refused":         {"fal-ai/kling-video/v2.1/master/text-to-video", "", &task.VideoInput{Prompt: "p", DurationSeconds: intp(7)}, []string{"x.duration_seconds"}},
		"kling t2v: image_url refused without an i2v app": {"fal-ai/kling-video/v2.1/master/text-to-video", "",
			&task.VideoInput{Prompt: "p", ImageURL: "https://example.com/a.png", DurationSeconds: intp(5)}, []string{"x.image_url"}},
		"kling t2v: image_url taken with an i2v app": {"fal-ai/kling-video/v2.1/master/text-to-video", "fal-ai/kling-video/v2.1/pro/image-to-video",
			&task.VideoInput{Prompt: "p", ImageURL: "https://example.com/a.png", DurationSeconds: intp(10)}, nil},
		"kling i2v: image_url required": {"fal-ai/kling-video/v2.1/pro/image-to-video", "", &task.VideoInput{Prompt: "p", DurationSeconds: intp(5)}, []string{"x.image_url"}},
		"wan 2.1: 10 s and 1:1 refused": {"fal-ai/wan-t2v", "", &task.VideoInput{Prompt: "p", DurationSeconds: intp(10), AspectRatio: "1:1"}, []string{"x.duration_seconds", "x.aspect_ratio"}},
		"hailuo: 8 s refused, 9:16":     {"fal-ai/minimax/hailuo-02/standard/text-to-video", "", &task.VideoInput{Prompt: "p", DurationSeconds: intp(8), AspectRatio: "9:16"}, []string{"x.duration_seconds", "x.aspect_ratio"}},
		"pika 2.2: 10 s taken":          {"fal-ai/pika/v2.2/text-to-video", "", &task.VideoInput{Prompt: "p", DurationSeconds: intp(10), AspectRatio: "1:1"}, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := map[string]any{"model": c.model}
			if c.i2v != "" {
				opts["image_to_video_model"] = c.i2v
			}
			f := build(t, startFake(t), time.Second, opts)
			var got []string
			for _, e := range f.CheckInput("x", c.in) {
				got = append(got, e.Field)
			}
			if !reflect.DeepEqual(got, c.fields) {
				t.Errorf("refused %v, want %v (%v)", got, c.fields, f.CheckInput("x", c.in))
			}
		})
	}
}

func TestRefusedInputIsNotSubmitted(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	f := build(t, fake, time.Second, map[string]any{"model": "fal-ai/kling-video/v2.1/master/text-to-video"})
	_, err := f.Start(t.Context(), provider.Request{TaskID: "t", Type: task.TypeVideoGeneration, Input: json.RawMessage(`{"prompt":"p","duration_seconds":7}`)})
	if pe, ok := errors.AsType[*provider.Error](err); !ok || pe.Kind != provider.Permanent || !pe.RequestFault || !strings.Contains(pe.Message, "duration_seconds") {
		t.Errorf("Start with 7 s on kling: %v; want a permanent fault of the request naming duration_seconds", err)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("the fake got %d calls; want none", n)
	}
}

func TestPromptLimits(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		model string
		typ   task.Type
		want  prompt.Limits
	}{
		"flux dev":     {"fal-ai/flux/dev", task.TypeImageGeneration, prompt.Limits{MaxPrompt: 512, Unit: prompt.UnitTokens}},
		"flux pro":     {"fal-ai/flux-pro/v1.1", task.TypeImageGeneration, prompt.Limits{MaxPrompt: 512, Unit: prompt.UnitTokens, Expansion: true}},
		"ideogram":     {"fal-ai/ideogram/v3", task.TypeImageGeneration, prompt.Limits{Negative: true, Expansion: true}},
		"sdxl":         {"fal-ai/fast-sdxl", task.TypeImageGeneration, prompt.Limits{MaxPrompt: 77, Unit: prompt.UnitTokens, Negative: true, MaxNegative: 77}},
		"kling t2v":    {"fal-ai/kling-video/v2.1/master/text-to-video", task.TypeVideoGeneration, prompt.Limits{MaxPrompt: 2500, Unit: prompt.UnitChars}},
		"kling i2v":    {"fal-ai/kling-video/v2.1/pro/image-to-video", task.TypeVideoGeneration, prompt.Limits{MaxPrompt: 500, Unit: prompt.UnitChars}},
		"wan":          {"fal-ai/wan-25-preview/text-to-video", task.TypeVideoGeneration, prompt.Limits{MaxPrompt: 1500, Unit: prompt.UnitChars, Expansion: true}},
		"minimax":      {"fal-ai/minimax/video-01", task.TypeVideoGeneration, prompt.Limits{MaxPrompt: 2000, Unit: prompt.UnitChars, Expansion: true}},
		"other type":   {"fal-ai/flux/dev", task.TypeVideoGeneration, prompt.Limits{}},
		"unknown path": {"acme/some-image-model", task.TypeImageGeneration, prompt.Limits{}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := build(t, startFake(t), time.Second, map[string]any{"model": c.model})
			if got := f.PromptLimits(c.typ); got != c.want {
				t.Errorf("limits %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestTaskTypes(t *testing.T) {
	t.Parallel()
	for model, want := range map[string]task.Type{
		"fal-ai/flux/dev": task.TypeImageGeneration, "fal-ai/kling-video/v2.1/pro/image-to-video": task.TypeVideoGeneration,
		"fal-ai/pika/v2.2/text-to-video": task.TypeVideoGeneration, "fal-ai/wan-t2v": task.TypeVideoGeneration,
		"fal-ai/minimax/video-01": task.TypeVideoGeneration, "fal-ai/recraft-v3": task.TypeImageGeneration,
		"fal-ai/veo3": task.TypeVideoGeneration,
	} {
		f := build(t, startFake(t), time.Second, map[string]any{"model": model})
		if got := f.TaskTypes(); len(got) != 1 || got[0] != want {
			t.Errorf("%s serves %v, want %s", model, got, want)
		}
	}
}

func TestCosts(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		model  string
		price  map[string]float64
		typ    task.Type
		in     string
		want   float64
		noCost bool
	}{
		"flux dev 1792x1024 is 2 megapixels": {"fal-ai/flux/dev", nil, task.TypeImageGeneration, `{"prompt":"p","size":"1792x1024"}`, 0.05, false},
		"flux dev price override":            {"fal-ai/flux/dev", map[string]float64{"flux_dev_megapixel": 0.03}, task.TypeImageGeneration, `{"prompt":"p","n":2}`, 0.06, false},
		"flux pro per image":                 {"fal-ai/flux-pro/v1.1", nil, task.TypeImageGeneration, `{"prompt":"p","n":3}`, 0.12, false},
		"schnell has no list price":          {"fal-ai/flux/schnell", nil, task.TypeImageGeneration, `{"prompt":"p"}`, 0, true},
		"schnell with the image price":       {"fal-ai/flux/schnell", map[string]float64{"image": 0.003}, task.TypeImageGeneration, `{"prompt":"p","n":2}`, 0.006, false},
		"kling 2.1 pro 5 s":                  {"fal-ai/kling-video/v2.1/pro/image-to-video", nil, task.TypeVideoGeneration, `{"prompt":"p","image_url":"https://example.com/a.png"}`, 0.49, false},
		"wan with the video_second price":    {"fal-ai/wan-25-preview/text-to-video", map[string]float64{"video_second": 0.05}, task.TypeVideoGeneration, `{"prompt":"p","duration_seconds":10}`, 0.5, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := startFake(t)
			opts := map[string]any{"model": c.model}
			if c.price != nil {
				opts["price"] = c.price
			}
			f := build(t, fake, 5*time.Second, opts)
			req := provider.Request{TaskID: "t", Type: c.typ, Input: json.RawMessage(c.in)}
			resp, err := f.Start(t.Context(), req)
			for i := 0; err == nil && !resp.Done() && i < 10; i++ {
				job := resp.Job
				if resp, err = f.Poll(t.Context(), req, job); err == nil && resp.Job == "" {
					resp.Job = job
				}
			}
			if err != nil || !resp.Done() {
				t.Fatalf("run: %v %+v", err, resp)
			}
			got := resp.Result.Cost
			switch {
			case c.noCost && got != nil:
				t.Errorf("cost %+v, want none", got)
			case !c.noCost && (got == nil || math.Abs(got.USD-c.want) > 1e-9):
				t.Errorf("cost %+v, want $%v", got, c.want)
			}
		})
	}
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		opts  string
		field string
	}{
		"no model":           {`{"api_key":"k"}`, "options.model:"},
		"bad model":          {`{"api_key":"k","model":"flux"}`, "options.model:"},
		"unknown option":     {`{"api_key":"k","model":"fal-ai/flux/dev","steps":4}`, "options.steps:"},
		"unknown price":      {`{"api_key":"k","model":"fal-ai/flux/dev","price":{"gpu":1}}`, "options.price.gpu:"},
		"no key":             {`{"model":"fal-ai/flux/dev"}`, "options.api_key_env:"},
		"i2v of an image":    {`{"api_key":"k","model":"fal-ai/flux/dev","image_to_video_model":"fal-ai/kling-video/v2.1/pro/image-to-video"}`, "options.image_to_video_model:"},
		"i2v not a video":    {`{"api_key":"k","model":"fal-ai/wan-t2v","image_to_video_model":"fal-ai/flux/dev"}`, "options.image_to_video_model:"},
		"bad timeout":        {`{"api_key":"k","model":"fal-ai/flux/dev","timeout":"soon"}`, "options.timeout:"},
		"model not a string": {`{"api_key":"k","model":4}`, "options.model:"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := newFal(config.Provider{Name: "f", Type: Type, Options: json.RawMessage(c.opts)}, func(string) string { return "" })
			if err == nil || !strings.Contains(err.Error(), c.field) {
				t.Errorf("error %v; want %s named", err, c.field)
			}
			if _, ok := errors.AsType[*provider.OptionError](err); !ok {
				t.Errorf("error %v is no *provider.OptionError", err)
			}
		})
	}
	f, err := newFal(config.Provider{Name: "f", Type: Type, Options: json.RawMessage(`{"model":"fal-ai/flux/dev"}`)},
		func(n string) string { return map[string]string{"FAL_KEY": "from-env"}[n] })
	if err != nil || f.set.Key != "from-env" || f.set.BaseURL != DefaultBaseURL {
		t.Errorf("FAL_KEY and the default base URL: %v %+v", err, f.set)
	}
}

func TestProblem(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		status int
		body   string
		kind   provider.Kind
		safety bool
		code   string
	}{
		"validation": {422, `{"detail":[{"loc":["body","image_size"],"msg":"bad size","type":"value_error"}]}`, provider.Permanent, false, "value_error"},
		"safety":     {422, `{"detail":[{"loc":["body","prompt"],"msg":"flagged","type":"content_policy_violation"}]}`, provider.Permanent, true, "content_policy_violation"},
		"timeout":    {504, `{"detail":"Request timed out","error_type":"request_timeout"}`, provider.Transient, false, "request_timeout"},
		"runner 400": {400, `{"detail":"runner gone","error_type":"runner_disconnected"}`, provider.Transient, false, "runner_disconnected"},
		"balance":    {403, `{"detail":"User is locked. Reason: Exhausted balance."}`, provider.Permanent, false, "exhausted_balance"},
		"not json":   {502, `<html>`, provider.Transient, false, "http_502"},
	}
	for name, c := range cases {
		p := problem(c.status, []byte(c.body))
		err := httpapi.Classify("fal", c.status, 0, p)
		if err.Kind != c.kind || err.Safety != c.safety || err.Code != c.code {
			t.Errorf("%s: %+v; want %s safety=%v code %s", name, err, c.kind, c.safety, c.code)
		}
	}
	if !strings.Contains(problem(422, []byte(`{"detail":[{"loc":["body","prompt"],"msg":"too long","type":"x"}]}`)).Message, "prompt: too long") {
		t.Errorf("the message names the field")
	}
}

func TestJobURLsStayOnFalsHost(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	f := build(t, fake, time.Second, map[string]any{"model": "fal-ai/flux/dev"})
	handle := `{"app":"fal-ai/flux/dev","request_id":"r1","status_url":"https://evil.example/steal","response_url":"https://evil.example/r","cancel_url":"https://evil.example/c"}`
	j, _, err := f.decodeJob(provider.Request{}, handle)
	if err != nil {
		t.Fatal(err)
	}
	want := fake.URL() + "/fal-ai/flux/requests/r1"
	if j.Status != want+"/status" || j.Response != want || j.Cancel != want+"/cancel" {
		t.Errorf("a job's foreign URLs were kept: %+v", j)
	}
	if _, _, err := f.decodeJob(provider.Request{}, "not/a/handle"); provider.KindOf(err) != provider.Permanent {
		t.Errorf("a bad handle: %v", err)
	}
}

func TestNSFWImages(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	f := build(t, fake, 5*time.Second, map[string]any{"model": "fal-ai/flux/dev"})
	run := func(in string) (*provider.Result, error) {
		req := provider.Request{TaskID: "t", Type: task.TypeImageGeneration, Input: json.RawMessage(in)}
		resp, err := f.Start(t.Context(), req)
		for i := 0; err == nil && !resp.Done() && i < 10; i++ {
			job := resp.Job
			if resp, err = f.Poll(t.Context(), req, job); err == nil && resp.Job == "" {
				resp.Job = job
			}
		}
		return resp.Result, err
	}
	if _, err := run(`{"prompt":"` + falfake.FlagAll + ` a beach"}`); !provider.IsSafetyRefusal(err) {
		t.Errorf("every image flagged: %v; want a safety refusal", err)
	}
	res, err := run(`{"prompt":"` + falfake.FlagFirst + ` a beach","n":2}`)
	if err != nil || len(res.Files) != 1 || res.Extra["nsfw_images_dropped"] != 1 {
		t.Errorf("one of two images flagged: %v; want the other one kept (%+v)", err, res)
	}
	if err := failure("content_policy_violation", "flagged"); !provider.IsSafetyRefusal(err) {
		t.Errorf("a content_policy_violation failure is no safety refusal: %v", err)
	}
	if err := failure("runner_scheduling_failure", "x"); err.Kind != provider.Transient {
		t.Errorf("runner failure: %v", err)
	}
}
