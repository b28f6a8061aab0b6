package replicate

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/provider/providertest"
	"github.com/videoai/mediatasks/shared/provider/replicate/replicatefake"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

func intp(n int) *int { return &n }

func boolp(b bool) *bool { return &b }

const sdxl = "stability-ai/sdxl:7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"

func build(t *testing.T, fake *replicatefake.Server, timeout time.Duration, opts map[string]any) *Replicate {
	t.Helper()
	o := map[string]any{"base_url": fake.URL(), "api_key": replicatefake.Key, "allow_private": true, "timeout": timeout.String()}
	maps.Copy(o, opts)
	raw, _ := json.Marshal(o)
	r, err := newReplicate(config.Provider{Name: "replicate-test", Type: Type, Options: raw}, func(string) string { return "" })
	if err != nil {
		t.Fatalf("newReplicate: %v", err)
	}
	return r
}

func startFake(t *testing.T) *replicatefake.Server {
	fake := replicatefake.New()
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
		// Prefer: wait answers the result in the create call.
		{"flux waited", map[string]any{"model": "black-forest-labs/flux-schnell"}, []providertest.Case{
			{Name: "image", Type: task.TypeImageGeneration, Input: &task.ImageInput{Prompt: "a lighthouse", N: intp(2)},
				Check: func(t *testing.T, res *provider.Result) {
					if len(res.Files) != 2 || res.Files[0].ContentType != "image/png" || res.Files[0].Ext != ".png" {
						t.Errorf("files %+v", res.Files)
					}
					if res.Cost == nil || math.Abs(res.Cost.USD-0.006) > 1e-9 || res.Cost.PriceVersion != PriceVersion {
						t.Errorf("cost of two flux-schnell images: %+v, want $0.006", res.Cost)
					}
				}},
		}},
		{"sdxl polled", map[string]any{"model": sdxl, "wait": 0, "hardware": "gpu-a100-large"}, []providertest.Case{
			{Name: "image by version", Type: task.TypeImageGeneration, Long: true, Input: &task.ImageInput{Prompt: "a lighthouse", NegativePrompt: "fog"},
				Check: func(t *testing.T, res *provider.Result) {
					if res.Cost == nil || math.Abs(res.Cost.USD-2.5*0.0014) > 1e-9 {
						t.Errorf("cost of 2.5 s on an A100: %+v, want $%v", res.Cost, 2.5*0.0014)
					}
					if res.Extra["predict_time"] != 2.5 {
						t.Errorf("extra %v", res.Extra)
					}
				}},
		}},
		{"kling", map[string]any{"model": "kwaivgi/kling-v1.6-standard"}, []providertest.Case{
			{Name: "text_to_video", Type: task.TypeVideoGeneration, Long: true, Input: &task.VideoInput{Prompt: "rain on a window", DurationSeconds: intp(10)},
				Check: func(t *testing.T, res *provider.Result) {
					if res.Files[0].ContentType != "video/mp4" || res.Files[0].Ext != ".mp4" {
						t.Errorf("file %+v", res.Files[0])
					}
					if res.Cost != nil {
						t.Errorf("no price known for kling here: %+v", res.Cost)
					}
				}},
			{Name: "image_to_video", Type: task.TypeVideoGeneration, Long: true, Input: &task.VideoInput{Prompt: "the dog runs", ImageURL: "https://example.com/dog.png"}},
		}},
		{"data URIs", map[string]any{"model": "acme/" + replicatefake.DataURIModel + "-video", "price": map[string]float64{"video_second": 0.1}}, []providertest.Case{
			{Name: "video as a data URI", Type: task.TypeVideoGeneration, Long: true, Input: &task.VideoInput{Prompt: "a tide"},
				Check: func(t *testing.T, res *provider.Result) {
					if res.Cost == nil || math.Abs(res.Cost.USD-0.5) > 1e-9 {
						t.Errorf("5 s at video_second 0.1: %+v", res.Cost)
					}
				}},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			skip := []providertest.Fault(nil)
			if c.name == "data URIs" {
				skip = []providertest.Fault{providertest.FaultExpiredOutput} // no URL to expire
			}
			providertest.Run(t, providertest.Harness{
				Fake: func(t *testing.T) providertest.Fake { return startFake(t) },
				New: func(t *testing.T, fake providertest.Fake, timeout time.Duration) provider.Provider {
					return build(t, fake.(*replicatefake.Server), timeout, c.opts)
				},
				Key:            replicatefake.Key,
				Cases:          c.cases,
				Skip:           skip,
				CallbackSigned: true,
			})
		})
	}
}

func TestInputMapping(t *testing.T) {
	t.Parallel()
	img, vid := task.TypeImageGeneration, task.TypeVideoGeneration
	cases := map[string]struct {
		model     string
		typ       task.Type
		in        task.Input
		expansion *bool
		path      string
		want      map[string]any
		prefer    string
	}{
		"flux schnell": {"black-forest-labs/flux-schnell", img, &task.ImageInput{Prompt: "p", NegativePrompt: "n", Size: "1792x1024", N: intp(3)}, nil,
			"/v1/models/black-forest-labs/flux-schnell/predictions",
			map[string]any{"prompt": "p", "aspect_ratio": "16:9", "num_outputs": 3.0, "output_format": "png"}, "wait=30"},
		"flux dev 512": {"black-forest-labs/flux-dev", img, &task.ImageInput{Prompt: "p", Size: "512x512"}, boolp(false),
			"/v1/models/black-forest-labs/flux-dev/predictions",
			map[string]any{"prompt": "p", "aspect_ratio": "1:1", "megapixels": "0.25", "num_outputs": 1.0, "output_format": "png"}, "wait=30"},
		"flux 1.1 pro custom size, upsampling": {"black-forest-labs/flux-1.1-pro", img, &task.ImageInput{Prompt: "p", Size: "256x256"}, boolp(true),
			"/v1/models/black-forest-labs/flux-1.1-pro/predictions",
			map[string]any{"prompt": "p", "aspect_ratio": "custom", "width": 256.0, "height": 256.0, "output_format": "png", "prompt_upsampling": true}, "wait=30"},
		"sdxl by version": {sdxl, img, &task.ImageInput{Prompt: "p", NegativePrompt: "n", Size: "1024x1792", N: intp(2)}, nil,
			"/v1/predictions",
			map[string]any{"prompt": "p", "negative_prompt": "n", "width": 1024.0, "height": 1792.0, "num_outputs": 2.0}, "wait=30"},
		"ideogram v2: magic prompt off": {"ideogram-ai/ideogram-v2", img, &task.ImageInput{Prompt: "p", NegativePrompt: "n"}, boolp(false),
			"/v1/models/ideogram-ai/ideogram-v2/predictions",
			map[string]any{"prompt": "p", "negative_prompt": "n", "aspect_ratio": "1:1", "magic_prompt_option": "Off"}, "wait=30"},
		"kling t2v": {"kwaivgi/kling-v1.6-standard", vid, &task.VideoInput{Prompt: "p", DurationSeconds: intp(10), AspectRatio: "9:16"}, nil,
			"/v1/models/kwaivgi/kling-v1.6-standard/predictions",
			map[string]any{"prompt": "p", "duration": 10.0, "aspect_ratio": "9:16"}, ""},
		"kling i2v: start_image": {"kwaivgi/kling-v2.1", vid, &task.VideoInput{Prompt: "p", ImageURL: "https://example.com/a.png"}, nil,
			"/v1/models/kwaivgi/kling-v2.1/predictions",
			map[string]any{"prompt": "p", "duration": 5.0, "start_image": "https://example.com/a.png"}, ""},
		"wan 2.5 t2v: expansion": {"wan-video/wan-2.5-t2v", vid, &task.VideoInput{Prompt: "p", DurationSeconds: intp(10)}, boolp(false),
			"/v1/models/wan-video/wan-2.5-t2v/predictions",
			map[string]any{"prompt": "p", "duration": 10.0, "aspect_ratio": "16:9", "enable_prompt_expansion": false}, ""},
		"wan 2.2 i2v: image, no duration": {"wan-video/wan-2.2-i2v-fast", vid, &task.VideoInput{Prompt: "p", ImageURL: "https://example.com/a.png"}, boolp(false),
			"/v1/models/wan-video/wan-2.2-i2v-fast/predictions",
			map[string]any{"prompt": "p", "image": "https://example.com/a.png"}, ""},
		"hailuo: 6 s, prompt_optimizer": {"minimax/hailuo-02", vid, &task.VideoInput{Prompt: "p", ImageURL: "https://example.com/a.png"}, boolp(true),
			"/v1/models/minimax/hailuo-02/predictions",
			map[string]any{"prompt": "p", "duration": 6.0, "first_frame_image": "https://example.com/a.png", "prompt_optimizer": true}, ""},
		"minimax video-01": {"minimax/video-01", vid, &task.VideoInput{Prompt: "p"}, nil,
			"/v1/models/minimax/video-01/predictions",
			map[string]any{"prompt": "p"}, ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := startFake(t)
			r := build(t, fake, time.Minute, map[string]any{"model": c.model})
			c.in.SetDefaults()
			raw, _ := json.Marshal(c.in)
			if _, err := r.Start(t.Context(), provider.Request{TaskID: "t", Type: c.typ, Input: raw, Expansion: c.expansion}); err != nil {
				t.Fatalf("Start: %v", err)
			}
			got := fake.Created()
			if got.Path != c.path {
				t.Errorf("path %s, want %s", got.Path, c.path)
			}
			if !reflect.DeepEqual(got.Body["input"], c.want) {
				t.Errorf("input %v\nwant  %v", got.Body["input"], c.want)
			}
			if v := strings.Split(c.model, ":"); len(v) == 2 && got.Body["version"] != v[1] {
				t.Errorf("version %v, want %s", got.Body["version"], v[1])
			}
			if got.Header.Get("Prefer") != c.prefer {
				t.Errorf("Prefer %q, want %q", got.Header.Get("Prefer"), c.prefer)
			}
			if got.Header.Get("Authorization") != "Bearer "+replicatefake.Key {
				t.Errorf("Authorization %q", got.Header.Get("Authorization"))
			}
		})
	}
}

func TestCheckInput(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		model  string
		in     task.Input
		fields []string
	}{
		"flux: 256 and n 5":        {"black-forest-labs/flux-schnell", &task.ImageInput{Prompt: "p", Size: "256x256", N: intp(5)}, []string{"x.size", "x.n"}},
		"flux: 512 taken":          {"black-forest-labs/flux-dev", &task.ImageInput{Prompt: "p", Size: "512x512", N: intp(4)}, nil},
		"flux pro: one image":      {"black-forest-labs/flux-1.1-pro", &task.ImageInput{Prompt: "p", Size: "256x256", N: intp(2)}, []string{"x.n"}},
		"ultra: ratio sizes only":  {"black-forest-labs/flux-1.1-pro-ultra", &task.ImageInput{Prompt: "p", Size: "512x512"}, []string{"x.size"}},
		"sdxl: any size":           {sdxl, &task.ImageInput{Prompt: "p", Size: "256x256", N: intp(4)}, nil},
		"kling: 7 s":               {"kwaivgi/kling-v1.6-standard", &task.VideoInput{Prompt: "p", DurationSeconds: intp(7)}, []string{"x.duration_seconds"}},
		"kling v2.1: needs image":  {"kwaivgi/kling-v2.1", &task.VideoInput{Prompt: "p", DurationSeconds: intp(5)}, []string{"x.image_url"}},
		"wan t2v: no image, 1:1":   {"wan-video/wan-2.2-t2v-fast", &task.VideoInput{Prompt: "p", ImageURL: "https://example.com/a.png", DurationSeconds: intp(10), AspectRatio: "1:1"}, []string{"x.duration_seconds", "x.image_url"}},
		"wan 2.1 t2v: 1:1":         {"wan-video/wan-2.1-t2v-480p", &task.VideoInput{Prompt: "p", DurationSeconds: intp(5), AspectRatio: "1:1"}, []string{"x.aspect_ratio"}},
		"hailuo: 8 s":              {"minimax/hailuo-02", &task.VideoInput{Prompt: "p", DurationSeconds: intp(8), AspectRatio: "16:9"}, []string{"x.duration_seconds"}},
		"other video: no image":    {"acme/some-video", &task.VideoInput{Prompt: "p", ImageURL: "https://example.com/a.png", DurationSeconds: intp(5)}, []string{"x.image_url"}},
		"other image: one at most": {"acme/painter", &task.ImageInput{Prompt: "p", N: intp(2)}, []string{"x.n"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := build(t, startFake(t), time.Second, map[string]any{"model": c.model})
			var got []string
			for _, e := range r.CheckInput("x", c.in) {
				got = append(got, e.Field)
			}
			if !reflect.DeepEqual(got, c.fields) {
				t.Errorf("refused %v, want %v (%v)", got, c.fields, r.CheckInput("x", c.in))
			}
		})
	}
}

func TestPromptLimits(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		model string
		typ   task.Type
		want  prompt.Limits
	}{
		"flux schnell": {"black-forest-labs/flux-schnell", task.TypeImageGeneration, prompt.Limits{MaxPrompt: 512, Unit: prompt.UnitTokens}},
		"flux pro":     {"black-forest-labs/flux-1.1-pro", task.TypeImageGeneration, prompt.Limits{MaxPrompt: 512, Unit: prompt.UnitTokens, Expansion: true}},
		"sdxl":         {sdxl, task.TypeImageGeneration, prompt.Limits{MaxPrompt: 77, Unit: prompt.UnitTokens, Negative: true, MaxNegative: 77}},
		"ideogram v2":  {"ideogram-ai/ideogram-v2", task.TypeImageGeneration, prompt.Limits{Negative: true, Expansion: true}},
		"kling":        {"kwaivgi/kling-v2.1", task.TypeVideoGeneration, prompt.Limits{MaxPrompt: 2500, Unit: prompt.UnitChars}},
		"wan 2.5":      {"wan-video/wan-2.5-t2v", task.TypeVideoGeneration, prompt.Limits{MaxPrompt: 1500, Unit: prompt.UnitChars, Expansion: true}},
		"wan 2.2":      {"wan-video/wan-2.2-t2v-fast", task.TypeVideoGeneration, prompt.Limits{MaxPrompt: 1500, Unit: prompt.UnitChars}},
		"other type":   {"black-forest-labs/flux-schnell", task.TypeVideoGeneration, prompt.Limits{}},
	}
	for name, c := range cases {
		r := build(t, startFake(t), time.Second, map[string]any{"model": c.model})
		if got := r.PromptLimits(c.typ); got != c.want {
			t.Errorf("%s: %+v, want %+v", name, got, c.want)
		}
	}
}

// run carries a request to its end.
func run(t *testing.T, r *Replicate, typ task.Type, in string) (*provider.Result, error) {
	t.Helper()
	req := provider.Request{TaskID: "t", Type: typ, Input: json.RawMessage(in)}
	resp, err := r.Start(t.Context(), req)
	for i := 0; err == nil && !resp.Done() && i < 10; i++ {
		job := resp.Job
		if resp, err = r.Poll(t.Context(), req, job); err == nil && resp.Job == "" {
			resp.Job = job
		}
	}
	return resp.Result, err
}

func TestCosts(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		opts   map[string]any
		typ    task.Type
		in     string
		want   float64
		noCost bool
	}{
		"flux dev per image":          {map[string]any{"model": "black-forest-labs/flux-dev"}, task.TypeImageGeneration, `{"prompt":"p","n":4}`, 0.1, false},
		"flux 1.1 pro per image":      {map[string]any{"model": "black-forest-labs/flux-1.1-pro"}, task.TypeImageGeneration, `{"prompt":"p"}`, 0.04, false},
		"flux schnell override":       {map[string]any{"model": "black-forest-labs/flux-schnell", "price": map[string]float64{"flux_schnell": 0.01}}, task.TypeImageGeneration, `{"prompt":"p","n":3}`, 0.03, false},
		"sdxl on an L40S":             {map[string]any{"model": sdxl, "hardware": "gpu-l40s"}, task.TypeImageGeneration, `{"prompt":"p"}`, 2.5 * 0.000975, false},
		"hardware_second override":    {map[string]any{"model": sdxl, "hardware": "gpu-l40s", "price": map[string]float64{"hardware_second": 0.002}}, task.TypeImageGeneration, `{"prompt":"p"}`, 0.005, false},
		"image price beats hardware":  {map[string]any{"model": sdxl, "hardware": "gpu-l40s", "price": map[string]float64{"image": 0.01}}, task.TypeImageGeneration, `{"prompt":"p","n":2}`, 0.02, false},
		"sdxl, no hardware, no price": {map[string]any{"model": sdxl}, task.TypeImageGeneration, `{"prompt":"p"}`, 0, true},
		"hailuo video_second":         {map[string]any{"model": "minimax/hailuo-02", "price": map[string]float64{"video_second": 0.045}}, task.TypeVideoGeneration, `{"prompt":"p","duration_seconds":10}`, 0.45, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := build(t, startFake(t), 5*time.Second, c.opts)
			res, err := run(t, r, c.typ, c.in)
			if err != nil {
				t.Fatal(err)
			}
			switch got := res.Cost; {
			case c.noCost && got != nil:
				t.Errorf("cost %+v, want none", got)
			case !c.noCost && (got == nil || math.Abs(got.USD-c.want) > 1e-6):
				t.Errorf("cost %+v, want $%v", got, c.want)
			}
		})
	}
}

func TestSafetyAndFailures(t *testing.T) {
	t.Parallel()
	for _, wait := range []int{0, 30} {
		r := build(t, startFake(t), 5*time.Second, map[string]any{"model": "black-forest-labs/flux-schnell", "wait": wait})
		_, err := run(t, r, task.TypeImageGeneration, `{"prompt":"`+replicatefake.NSFWPrompt+` x"}`)
		if !provider.IsSafetyRefusal(err) {
			t.Errorf("wait %d: an NSFW failure: %v; want a safety refusal", wait, err)
		}
		if err == nil || !strings.Contains(err.Error(), "NSFW content detected") {
			t.Errorf("the error says what Replicate said: %v", err)
		}
	}
	for text, kind := range map[string]provider.Kind{
		"The input or output was flagged as sensitive. Please try again with different inputs. (E005)": provider.Permanent,
		"Prediction interrupted; please retry (code: PA)":                                              provider.Transient,
		"CUDA out of memory":                        provider.Transient,
		"ValueError: width must be a multiple of 8": provider.Permanent,
	} {
		if e := failure(text); e.Kind != kind {
			t.Errorf("%q: %v, want %s", text, e, kind)
		}
	}
	if !failure("flagged as sensitive (E005)").Safety {
		t.Errorf("E005 is a safety refusal")
	}
}

func TestProblem(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		status int
		body   string
		kind   provider.Kind
		code   string
		msg    string
	}{
		"validation": {422, `{"title":"Input validation failed","detail":"- input: prompt is required","status":422,"invalid_fields":[{"field":"input","description":"prompt is required"}]}`,
			provider.Permanent, "input_validation_failed", "input: prompt is required"},
		"throttled": {429, `{"title":"Too Many Requests","detail":"Request was throttled.","status":429}`, provider.Throttled, "too_many_requests", "throttled"},
		"credit":    {402, `{"title":"Insufficient credit","detail":"You have insufficient credit to run this model.","status":402}`, provider.Permanent, "insufficient_credit", "insufficient credit"},
		"nsfw":      {400, `{"title":"Bad request","detail":"NSFW content detected","status":400}`, provider.Permanent, "nsfw", "NSFW"},
		"server":    {503, `{"detail":"Service Unavailable","status":503}`, provider.Transient, "http_503", "Service Unavailable"},
	}
	for name, c := range cases {
		p := problem(c.status, []byte(c.body))
		err := httpapi.Classify("replicate", c.status, 0, p)
		if err.Kind != c.kind || err.Code != c.code || !strings.Contains(err.Message, c.msg) {
			t.Errorf("%s: %+v; want %s, code %s, message with %q", name, err, c.kind, c.code, c.msg)
		}
	}
	if !problem(400, []byte(`{"detail":"NSFW content detected"}`)).Safety {
		t.Errorf("an NSFW answer is a safety refusal")
	}
}

func TestProgressFromLogs(t *testing.T) {
	t.Parallel()
	for logs, want := range map[string]float64{
		"":                             0,
		"Using seed: 1\n 25%|██ | 1/4": 0.25,
		" 25%|██ | 1/4\n 75%|███████ | 3/4": 0.75,
		"100%|██████████| 4/4":              0.99,
	} {
		if got := progressOf(logs); math.Abs(got-want) > 1e-9 {
			t.Errorf("%q: %v, want %v", logs, got, want)
		}
	}
	fake := startFake(t)
	r := build(t, fake, 5*time.Second, map[string]any{"model": "kwaivgi/kling-v1.6-standard"})
	req := provider.Request{TaskID: "t", Type: task.TypeVideoGeneration, Input: json.RawMessage(`{"prompt":"p"}`)}
	resp, err := r.Start(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err = r.Poll(t.Context(), req, resp.Job); err != nil || resp.Progress != 0.5 || resp.PollAfter != videoPollAfter {
		t.Errorf("processing at 50%%: %+v %v", resp, err)
	}
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		opts  string
		field string
	}{
		"no model":       {`{"api_key":"k"}`, "options.model:"},
		"bad model":      {`{"api_key":"k","model":"flux"}`, "options.model:"},
		"bad version":    {`{"api_key":"k","model":"stability-ai/sdxl:abc"}`, "options.model:"},
		"wait too long":  {`{"api_key":"k","model":"a/b","wait":90}`, "options.wait:"},
		"wait a string":  {`{"api_key":"k","model":"a/b","wait":"30"}`, "options.wait:"},
		"hardware":       {`{"api_key":"k","model":"a/b","hardware":"gpu-abacus"}`, "options.hardware:"},
		"unknown price":  {`{"api_key":"k","model":"a/b","price":{"flux":1}}`, "options.price.flux:"},
		"unknown option": {`{"api_key":"k","model":"a/b","webhook":"x"}`, "options.webhook:"},
		"no key":         {`{"model":"a/b"}`, "options.api_key_env:"},
		"model a number": {`{"api_key":"k","model":1}`, "options.model:"},
	}
	for name, c := range cases {
		_, err := newReplicate(config.Provider{Name: "r", Type: Type, Options: json.RawMessage(c.opts)}, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v; want %s named", name, err, c.field)
		}
		if _, ok := errors.AsType[*provider.OptionError](err); !ok {
			t.Errorf("%s: %v is no *provider.OptionError", name, err)
		}
	}
	r, err := newReplicate(config.Provider{Name: "r", Type: Type, Options: json.RawMessage(`{"model":"kwaivgi/kling-v2.1"}`)},
		func(n string) string { return map[string]string{"REPLICATE_API_TOKEN": "r8_env"}[n] })
	if err != nil || r.set.Key != "r8_env" || r.set.BaseURL != DefaultBaseURL || r.wait != 0 {
		t.Errorf("defaults: %v %+v wait %d", err, r.set, r.wait)
	}
}

func TestThrottleHintFromDetail(t *testing.T) {
	t.Parallel()
	err := httpapi.Classify("replicate", 429, 0, problem(429, []byte(`{"title":"Too Many Requests","detail":"Request was throttled. Expected available in 12 seconds.","status":429}`)))
	if got := provider.RetryAfterOf(throttleHint(err)); got != 12*time.Second {
		t.Errorf("RetryAfter %s, want the 12 s the detail names", got)
	}
	withHeader := httpapi.Classify("replicate", 429, 3*time.Second, problem(429, []byte(`{"detail":"Expected available in 12 seconds."}`)))
	if got := provider.RetryAfterOf(throttleHint(withHeader)); got != 3*time.Second {
		t.Errorf("Retry-After wins: %s", got)
	}
}

func TestWaitFitsTheTimeout(t *testing.T) {
	t.Parallel()
	for timeout, want := range map[time.Duration]int{time.Minute: 30, 10 * time.Second: 5, 3 * time.Second: 0} {
		r := build(t, startFake(t), timeout, map[string]any{"model": "black-forest-labs/flux-schnell"})
		if r.wait != want {
			t.Errorf("timeout %s: wait %d, want %d", timeout, r.wait, want)
		}
	}
}

func TestTaskTypes(t *testing.T) {
	t.Parallel()
	for m, want := range map[string]task.Type{
		"black-forest-labs/flux-schnell": task.TypeImageGeneration, sdxl: task.TypeImageGeneration,
		"kwaivgi/kling-v2.1": task.TypeVideoGeneration, "wan-video/wan-2.2-t2v-fast": task.TypeVideoGeneration,
		"minimax/video-01": task.TypeVideoGeneration, "google/veo-3": task.TypeVideoGeneration, "recraft-ai/recraft-v3": task.TypeImageGeneration,
	} {
		r := build(t, startFake(t), time.Second, map[string]any{"model": m})
		if got := r.TaskTypes(); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %v, want %s", m, got, want)
		}
	}
}

func TestJobHandleChecked(t *testing.T) {
	t.Parallel()
	r := build(t, startFake(t), time.Second, map[string]any{"model": "black-forest-labs/flux-schnell"})
	req := provider.Request{TaskID: "t", Type: task.TypeImageGeneration, Input: json.RawMessage(`{"prompt":"p"}`)}
	for _, job := range []string{"", "../models", "a/b", "x?y"} {
		if _, err := r.Poll(t.Context(), req, job); provider.KindOf(err) != provider.Permanent {
			t.Errorf("Poll %q: %v; want refused", job, err)
		}
	}
}

func TestCreateCallbackFields(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		callback *provider.Callback
		want     map[string]any // nil: the fields are absent
	}{
		"no callback": {},
		"callback": {callback: &provider.Callback{URL: "https://api.example.com/api/v1/media/providers/replicate/callback?ref=abc", Secret: "ignored"},
			want: map[string]any{"webhook": "https://api.example.com/api/v1/media/providers/replicate/callback?ref=abc", "webhook_events_filter": []any{"completed"}}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := startFake(t)
			r := build(t, fake, 10*time.Second, map[string]any{"model": "kwaivgi/kling-v1.6-standard"})
			raw, _ := json.Marshal(task.VideoInput{Prompt: "rain", DurationSeconds: intp(5)})
			req := provider.Request{TaskID: "t1", Type: task.TypeVideoGeneration, Input: raw, Callback: c.callback}
			if c.callback != nil {
				req.Callback.URL = strings.Replace(req.Callback.URL, "https://api.example.com", fake.URL(), 1) // the fake calls it back
			}
			if _, err := r.Start(t.Context(), req); err != nil {
				t.Fatalf("Start: %v", err)
			}
			fake.Settle()
			body := fake.Created().Body
			for _, field := range []string{"webhook", "webhook_events_filter"} {
				got, ok := body[field]
				switch {
				case c.want == nil && ok:
					t.Errorf("%s sent without a callback: %v", field, got)
				case c.want != nil && field == "webhook" && got != req.Callback.URL:
					t.Errorf("webhook = %v, want %s", got, req.Callback.URL)
				case c.want != nil && field != "webhook" && !reflect.DeepEqual(got, c.want[field]):
					t.Errorf("%s = %v, want %v", field, got, c.want[field])
				}
			}
		})
	}
}

// signedBy signs body as Replicate does, with secret, at ts.
func signedBy(t *testing.T, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	sig, err := webhook.Sign([]string{secret}, id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(webhook.HeaderID, id)
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(webhook.HeaderSignature, sig)
	return h
}

func TestVerifyCallbackEvents(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		status string
		final  bool
	}{
		"start":      {"starting", false},
		"processing": {"processing", false},
		"succeeded":  {"succeeded", true},
		"failed":     {"failed", true},
		"canceled":   {"canceled", true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := startFake(t)
			r := build(t, fake, 10*time.Second, map[string]any{"model": sdxl})
			body := []byte(`{"id":"pred42","status":"` + c.status + `","output":null}`)
			job, final, err := r.VerifyCallback(t.Context(), signedBy(t, fake.Secret(), "msg_1", time.Now(), body), body, "")
			if err != nil || job != "pred42" || final != c.final {
				t.Errorf("VerifyCallback = %q, %v, %v; want pred42, %v, nil", job, final, err, c.final)
			}
		})
	}
}

func TestVerifyCallbackSecret(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	r := build(t, fake, 10*time.Second, map[string]any{"model": sdxl})
	now := time.Now()
	r.now = func() time.Time { return now }
	body := []byte(`{"id":"pred42","status":"succeeded"}`)
	secretFetches := func() int {
		n := 0
		for _, req := range fake.Requests() {
			if strings.HasSuffix(req.Path, "/webhooks/default/secret") {
				n++
			}
		}
		return n
	}
	verify := func(secret string) error {
		_, _, err := r.VerifyCallback(t.Context(), signedBy(t, secret, "msg_1", now, body), body, "")
		return err
	}

	if err := verify(fake.Secret()); err != nil {
		t.Fatalf("first callback: %v", err)
	}
	if err := verify(fake.Secret()); err != nil || secretFetches() != 1 {
		t.Fatalf("second callback: %v, %d secret fetches; want the secret fetched once", err, secretFetches())
	}
	// A forged call within a minute of the fetch does not fetch again.
	forged, _ := webhook.NewSecret()
	if err := verify(forged); !errors.Is(err, provider.ErrBadCallback) || secretFetches() != 1 {
		t.Fatalf("forged callback: %v, %d secret fetches; want ErrBadCallback and no fetch", err, secretFetches())
	}
	if strings.Contains(fmt.Sprint(verify(forged)), strings.TrimPrefix(fake.Secret(), webhook.SecretPrefix)) {
		t.Error("an error shows the signing secret")
	}
	// Rotated later: one mismatch fetches the new secret.
	fake.RotateSecret()
	now = now.Add(2 * time.Minute)
	if err := verify(fake.Secret()); err != nil || secretFetches() != 2 {
		t.Fatalf("callback after a rotation: %v, %d secret fetches; want it accepted after one more fetch", err, secretFetches())
	}
}

func TestVerifyCallbackSecretUnavailable(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	r := build(t, fake, 10*time.Second, map[string]any{"model": sdxl})
	fake.Fail(providertest.FaultServer)
	body := []byte(`{"id":"pred42","status":"succeeded"}`)
	_, _, err := r.VerifyCallback(t.Context(), signedBy(t, fake.Secret(), "msg_1", time.Now(), body), body, "")
	// Not the caller's fault: the platform answers so that Replicate retries.
	if err == nil || errors.Is(err, provider.ErrBadCallback) || provider.KindOf(err) != provider.Transient {
		t.Errorf("with the secret unavailable: %v; want a transient error, not ErrBadCallback", err)
	}
	if strings.Contains(err.Error(), replicatefake.Key) {
		t.Errorf("an error shows the API key: %v", err)
	}
}
