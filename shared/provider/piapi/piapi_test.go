package piapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/piapi"
	"github.com/videoai/mediatasks/shared/provider/piapi/piapifake"
	"github.com/videoai/mediatasks/shared/provider/providertest"
	"github.com/videoai/mediatasks/shared/task"
)

func intp(n int) *int    { return &n }
func boolp(b bool) *bool { return &b }

func fake(t *testing.T) *piapifake.Server {
	t.Helper()
	f := piapifake.New()
	t.Cleanup(f.Close)
	return f
}

func newAdapter(t *testing.T, f *piapifake.Server, opts map[string]any) provider.Provider {
	t.Helper()
	all := map[string]any{"api_key": piapifake.Key, "allow_private": true}
	if f != nil {
		all["base_url"] = f.URL()
	}
	for k, v := range opts {
		all[k] = v
	}
	raw, _ := json.Marshal(all)
	p, err := piapi.New(config.Provider{Name: "piapi-test", Type: piapi.Type, Options: raw})
	if err != nil {
		t.Fatalf("New(%s): %v", raw, err)
	}
	return p
}

func request(t *testing.T, in task.Input) provider.Request {
	t.Helper()
	in.SetDefaults()
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return provider.Request{TaskID: "task_1", Type: in.Type(), Input: raw, Attempt: 1}
}

// run starts req and polls it to its end.
func run(t *testing.T, p provider.Provider, req provider.Request) (*provider.Result, error) {
	t.Helper()
	resp, err := p.Start(t.Context(), req)
	job := resp.Job
	for i := 0; err == nil && !resp.Done(); i++ {
		if i > 50 {
			t.Fatal("the task never ends")
		}
		if resp.Job != "" {
			job = resp.Job
		}
		resp, err = p.Poll(t.Context(), req, job)
	}
	if err != nil {
		return nil, err
	}
	return resp.Result, nil
}

func harness(opts map[string]any, cases ...providertest.Case) providertest.Harness {
	return providertest.Harness{
		Fake: func(t *testing.T) providertest.Fake { return fake(t) },
		New: func(t *testing.T, f providertest.Fake, timeout time.Duration) provider.Provider {
			o := map[string]any{"timeout": timeout.String()}
			for k, v := range opts {
				o[k] = v
			}
			return newAdapter(t, f.(*piapifake.Server), o)
		},
		Key:               piapifake.Key,
		Cases:             cases,
		NonFinalCallbacks: true,
	}
}

func oneFile(contentType, ext string) func(t *testing.T, res *provider.Result) {
	return func(t *testing.T, res *provider.Result) {
		if len(res.Files) != 1 || res.Files[0].ContentType != contentType || res.Files[0].Ext != ext {
			t.Fatalf("files %+v; want one %s", res.Files, contentType)
		}
		if res.Extra["piapi_task_id"] == "" || res.Extra["piapi_task_id"] == nil {
			t.Errorf("no piapi_task_id in Extra: %v", res.Extra)
		}
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	providertest.Run(t, harness(map[string]any{"kling_version": "4.0"},
		providertest.Case{Name: "flux image", Type: task.TypeImageGeneration, Long: true,
			Input: &task.ImageInput{Prompt: "a paper boat on a pond"}, Check: oneFile("image/png", ".png")},
		providertest.Case{Name: "flux batch", Type: task.TypeImageGeneration, Long: true,
			Input: &task.ImageInput{Prompt: "four kites", N: intp(4), Size: "512x512"},
			Check: func(t *testing.T, res *provider.Result) {
				if len(res.Files) != 4 {
					t.Errorf("%d files, want 4", len(res.Files))
				}
			}},
		providertest.Case{Name: "kling text to video", Type: task.TypeVideoGeneration, Long: true,
			Input: &task.VideoInput{Prompt: "waves at dusk"}, Check: oneFile("video/mp4", ".mp4")},
		providertest.Case{Name: "kling image to video", Type: task.TypeVideoGeneration, Long: true,
			Input: &task.VideoInput{Prompt: "the cat turns its head", ImageURL: "https://example.com/cat.png", DurationSeconds: intp(10)},
			Check: oneFile("video/mp4", ".mp4")},
	))
}

func TestConformanceHailuo(t *testing.T) {
	t.Parallel()
	providertest.Run(t, harness(map[string]any{"video_model": "hailuo"},
		providertest.Case{Name: "hailuo text to video", Type: task.TypeVideoGeneration, Long: true,
			Input: &task.VideoInput{Prompt: "a fox runs through snow"}, Check: oneFile("video/mp4", ".mp4")},
		providertest.Case{Name: "hailuo image to video", Type: task.TypeVideoGeneration, Long: true,
			Input: &task.VideoInput{Prompt: "", ImageURL: "https://example.com/fox.jpg"}, Check: oneFile("video/mp4", ".mp4")},
	))
}

func TestMapping(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		opts      map[string]any
		input     task.Input
		expansion *bool
		want      map[string]any // model, task_type, config and input fields
		not       []string       // input fields left out
	}{
		"flux defaults": {
			input: &task.ImageInput{Prompt: "a lighthouse"},
			want:  map[string]any{"model": "Qubico/flux1-schnell", "task_type": "txt2img", "prompt": "a lighthouse", "width": 1024.0, "height": 1024.0},
			not:   []string{"negative_prompt", "batch_size"},
		},
		"flux every field": {
			input: &task.ImageInput{Prompt: "owls", NegativePrompt: "blur", Size: "512x512", N: intp(3)},
			want:  map[string]any{"prompt": "owls", "negative_prompt": "blur", "width": 512.0, "height": 512.0, "batch_size": 3.0},
		},
		"flux dev by model": {
			opts:  map[string]any{"model": "Qubico/flux1-dev", "service_mode": "public"},
			input: &task.ImageInput{Prompt: "x", Size: "256x256"},
			want:  map[string]any{"model": "Qubico/flux1-dev", "config": map[string]any{"service_mode": "public"}, "width": 256.0},
		},
		"kling text to video": {
			input: &task.VideoInput{Prompt: "waves", AspectRatio: "9:16"},
			want: map[string]any{"model": "kling", "task_type": "video_generation", "prompt": "waves", "duration": 5.0,
				"aspect_ratio": "9:16", "mode": "std"},
			not: []string{"image_url", "version"},
		},
		"kling image to video with options": {
			opts:  map[string]any{"kling_version": "2.1", "kling_mode": "pro"},
			input: &task.VideoInput{Prompt: "smile", ImageURL: "https://example.com/a.png", DurationSeconds: intp(10), AspectRatio: "1:1"},
			want:  map[string]any{"image_url": "https://example.com/a.png", "duration": 10.0, "mode": "pro", "version": "2.1"},
			not:   []string{"aspect_ratio"},
		},
		"hailuo text to video, expansion left to hailuo": {
			opts:  map[string]any{"video_model": "hailuo"},
			input: &task.VideoInput{Prompt: "a fox"},
			want:  map[string]any{"model": "hailuo", "task_type": "video_generation", "prompt": "a fox", "model_in_input": "t2v-01"},
			not:   []string{"expand_prompt", "image_url", "duration", "aspect_ratio"},
		},
		"hailuo image to video, expansion off": {
			opts:      map[string]any{"model": "hailuo"},
			input:     &task.VideoInput{Prompt: "the fox blinks", ImageURL: "https://example.com/fox.jpg"},
			expansion: boolp(false),
			want:      map[string]any{"model_in_input": "i2v-01", "image_url": "https://example.com/fox.jpg", "expand_prompt": false},
		},
		"hailuo expansion on": {
			opts:      map[string]any{"video_model": "hailuo"},
			input:     &task.VideoInput{Prompt: "a fox"},
			expansion: boolp(true),
			want:      map[string]any{"expand_prompt": true},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := fake(t)
			p := newAdapter(t, f, c.opts)
			req := request(t, c.input)
			req.Expansion = c.expansion
			if _, err := run(t, p, req); err != nil {
				t.Fatalf("run: %v", err)
			}
			body := f.LastCreate()
			input, _ := body["input"].(map[string]any)
			for k, v := range c.want {
				var got any
				switch k {
				case "model", "task_type", "config":
					got = body[k]
				case "model_in_input":
					got = input["model"]
				default:
					got = input[k]
				}
				if !reflect.DeepEqual(got, v) {
					t.Errorf("%s = %#v, want %#v", k, got, v)
				}
			}
			for _, k := range c.not {
				if v, ok := input[k]; ok {
					t.Errorf("input.%s sent (%v); want it left out", k, v)
				}
			}
			for _, r := range f.Requests() {
				if r.APIKey != piapifake.Key {
					t.Errorf("%s %s: x-api-key %q", r.Method, r.Path, r.APIKey)
				}
			}
		})
	}
}

func TestCosts(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		opts  map[string]any
		input task.Input
		want  string // USD, or "none"
	}{
		"flux schnell x3":        {input: &task.ImageInput{Prompt: "x", N: intp(3)}, want: "0.0045"},
		"flux dev":               {opts: map[string]any{"image_model": "Qubico/flux1-dev"}, input: &task.ImageInput{Prompt: "x"}, want: "0.0150"},
		"flux dev-advanced":      {opts: map[string]any{"model": "Qubico/flux1-dev-advanced"}, input: &task.ImageInput{Prompt: "x"}, want: "0.0200"},
		"flux unknown variant":   {opts: map[string]any{"model": "Qubico/flux1-ultra"}, input: &task.ImageInput{Prompt: "x"}, want: "none"},
		"flux price override":    {opts: map[string]any{"price": map[string]float64{"flux1-schnell": 0.01}}, input: &task.ImageInput{Prompt: "x", N: intp(2)}, want: "0.0200"},
		"kling 4.0 std 5 s":      {opts: map[string]any{"kling_version": "4.0"}, input: &task.VideoInput{Prompt: "x"}, want: "0.8335"},
		"kling 4.0 pro 10 s":     {opts: map[string]any{"kling_version": "4.0", "kling_mode": "pro"}, input: &task.VideoInput{Prompt: "x", DurationSeconds: intp(10)}, want: "2.5000"},
		"kling unpriced version": {opts: map[string]any{"kling_version": "2.1"}, input: &task.VideoInput{Prompt: "x"}, want: "none"},
		"kling price override":   {opts: map[string]any{"price": map[string]float64{"kling_std_per_second": 0.1}}, input: &task.VideoInput{Prompt: "x"}, want: "0.5000"},
		"hailuo":                 {opts: map[string]any{"video_model": "hailuo"}, input: &task.VideoInput{Prompt: "x"}, want: "0.2000"},
		"hailuo override":        {opts: map[string]any{"video_model": "hailuo", "price": map[string]float64{"hailuo": 0.3}}, input: &task.VideoInput{Prompt: "x"}, want: "0.3000"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := fake(t)
			res, err := run(t, newAdapter(t, f, c.opts), request(t, c.input))
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			got := "none"
			if res.Cost != nil {
				got = fmt.Sprintf("%.4f", res.Cost.USD)
				if res.Cost.PriceVersion != piapi.PriceVersion {
					t.Errorf("price version %q", res.Cost.PriceVersion)
				}
			}
			if got != c.want {
				t.Errorf("cost %s, want %s", got, c.want)
			}
		})
	}
}

func TestCheckInput(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		opts  map[string]any
		input task.Input
		want  []string // fields refused
	}{
		"flux 1024 square":         {input: &task.ImageInput{Prompt: "x", Size: "1024x1024", N: intp(4)}},
		"flux too many pixels":     {input: &task.ImageInput{Prompt: "x", Size: "1792x1024"}, want: []string{"input_data.size"}},
		"flux portrait too large":  {input: &task.ImageInput{Prompt: "x", Size: "1024x1792"}, want: []string{"input_data.size"}},
		"flux dev batch":           {opts: map[string]any{"image_model": "Qubico/flux1-dev"}, input: &task.ImageInput{Prompt: "x", Size: "512x512", N: intp(2)}, want: []string{"input_data.n"}},
		"flux style":               {input: &task.ImageInput{Prompt: "x", Size: "512x512", Style: "anime"}, want: []string{"input_data.style"}},
		"kling 7 s":                {input: &task.VideoInput{Prompt: "x", DurationSeconds: intp(7)}, want: []string{"input_data.duration_seconds"}},
		"kling 10 s":               {input: &task.VideoInput{Prompt: "x", DurationSeconds: intp(10)}},
		"hailuo takes no duration": {opts: map[string]any{"video_model": "hailuo"}, input: &task.VideoInput{Prompt: "x", DurationSeconds: intp(7)}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newAdapter(t, nil, c.opts).(provider.Checker)
			c.input.SetDefaults()
			var got []string
			for _, e := range p.CheckInput("input_data", c.input) {
				got = append(got, e.Field)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("refused %v, want %v", got, c.want)
			}
		})
	}
}

func TestPromptLimits(t *testing.T) {
	t.Parallel()
	kling := newAdapter(t, nil, nil).(provider.PromptLimiter)
	hailuo := newAdapter(t, nil, map[string]any{"video_model": "hailuo"}).(provider.PromptLimiter)
	cases := map[string]struct {
		got, want prompt.Limits
	}{
		"flux":   {kling.PromptLimits(task.TypeImageGeneration), prompt.Limits{Negative: true}},
		"kling":  {kling.PromptLimits(task.TypeVideoGeneration), prompt.Limits{MaxPrompt: 2500, Unit: prompt.UnitChars}},
		"hailuo": {hailuo.PromptLimits(task.TypeVideoGeneration), prompt.Limits{MaxPrompt: 2000, Unit: prompt.UnitChars, Expansion: true}},
	}
	for name, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: %+v, want %+v", name, c.got, c.want)
		}
	}
}

func TestFailedTaskIsClassified(t *testing.T) {
	t.Parallel()
	f := fake(t)
	p := newAdapter(t, f, nil)
	f.Fail(providertest.FaultSafety)
	_, err := run(t, p, request(t, &task.ImageInput{Prompt: "x"}))
	if !provider.IsSafetyRefusal(err) || !strings.Contains(err.Error(), piapifake.SafetyMessage) || !strings.Contains(err.Error(), "piapi_10000") {
		t.Errorf("error %v; want a safety refusal with PiAPI's code and message", err)
	}
}

func TestCancelOnlyPending(t *testing.T) {
	t.Parallel()
	f := fake(t)
	p := newAdapter(t, f, nil)
	req := request(t, &task.VideoInput{Prompt: "x"})
	resp, err := p.Start(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Poll(t.Context(), req, resp.Job); err != nil { // now processing
		t.Fatal(err)
	}
	if err := p.Cancel(t.Context(), req, resp.Job); err != nil {
		t.Errorf("Cancel of a processing task: %v; want nil (PiAPI cancels pending tasks only)", err)
	}
	if len(f.Canceled()) != 0 {
		t.Errorf("canceled %v", f.Canceled())
	}
	if err := p.Cancel(t.Context(), req, "not a handle"); provider.KindOf(err) != provider.Permanent {
		t.Errorf("Cancel of a bad handle: %v; want permanent", err)
	}
	f.Fail(providertest.FaultServer)
	if err := p.Cancel(t.Context(), req, resp.Job); provider.KindOf(err) != provider.Transient {
		t.Errorf("Cancel on a 500: %v; want transient", err)
	}
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		opts  string
		field string
	}{
		"unknown model":     {`{"api_key":"k","model":"midjourney"}`, "options.model"},
		"image_model video": {`{"api_key":"k","image_model":"kling"}`, "options.image_model"},
		"video_model image": {`{"api_key":"k","video_model":"Qubico/flux1-dev"}`, "options.video_model"},
		"kling_mode":        {`{"api_key":"k","kling_mode":"turbo"}`, "options.kling_mode"},
		"kling_version":     {`{"api_key":"k","kling_version":"latest!"}`, "options.kling_version"},
		"service_mode":      {`{"api_key":"k","service_mode":"shared"}`, "options.service_mode"},
		"price key":         {`{"api_key":"k","price":{"midjourney":1}}`, "options.price.midjourney"},
		"no key":            {`{"api_key_env":"PIAPI_TEST_SURELY_UNSET"}`, "options.api_key_env"},
		"unknown option":    {`{"api_key":"k","webhook":"x"}`, "options.webhook"},
		"turbo version ok":  {`{"api_key":"k","kling_version":"2.5-turbo","model":"kling-turbo"}`, ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := piapi.New(config.Provider{Name: "p", Type: piapi.Type, Options: json.RawMessage(c.opts)})
			if c.field == "" {
				if err != nil {
					t.Fatalf("New(%s): %v", c.opts, err)
				}
				return
			}
			var oe *provider.OptionError
			if !errors.As(err, &oe) || !strings.Contains(err.Error(), c.field+":") {
				t.Errorf("New(%s) = %v; want an option error naming %s", c.opts, err, c.field)
			}
		})
	}
}

func TestErrorInEnvelope(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		code    int
		message string
		kind    provider.Kind
		quota   bool
	}{
		"server":  {500, "internal error", provider.Transient, false},
		"credits": {400, "insufficient credits, please top up", provider.Permanent, true},
		"input":   {400, "invalid request: bad width", provider.Permanent, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := fake(t)
			f.FailInEnvelope(c.code, c.message)
			_, err := newAdapter(t, f, nil).Start(t.Context(), request(t, &task.ImageInput{Prompt: "x"}))
			pe, _ := errors.AsType[*provider.Error](err)
			if provider.KindOf(err) != c.kind || pe == nil || !strings.Contains(pe.Message, c.message) {
				t.Fatalf("error %v; want %s with PiAPI's message", err, c.kind)
			}
			if c.quota && pe.RequestFault {
				t.Errorf("a quota problem is the account's, not the request's: %v", err)
			}
		})
	}
}
