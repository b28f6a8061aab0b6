package sdwebui_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/providertest"
	"github.com/videoai/mediatasks/shared/provider/sdwebui"
	"github.com/videoai/mediatasks/shared/provider/sdwebui/sdwebuifake"
	"github.com/videoai/mediatasks/shared/task"
)

func newAdapter(t *testing.T, opts map[string]any) provider.Provider {
	t.Helper()
	raw, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := sdwebui.New(config.Provider{Name: "sd-test", Type: sdwebui.Type, Options: raw})
	if err != nil {
		t.Fatalf("New(%s): %v", raw, err)
	}
	return p
}

func fake(t *testing.T) *sdwebuifake.Server {
	t.Helper()
	f := sdwebuifake.New()
	t.Cleanup(f.Close)
	return f
}

func intp(n int) *int { return &n }

func TestConformance(t *testing.T) {
	t.Parallel()
	providertest.Run(t, providertest.Harness{
		Fake: func(t *testing.T) providertest.Fake { return fake(t) },
		New: func(t *testing.T, f providertest.Fake, timeout time.Duration) provider.Provider {
			return newAdapter(t, map[string]any{"base_url": f.URL(), "api_key": sdwebuifake.Key,
				"timeout": timeout.String(), "price": map[string]float64{"image": 0.002}})
		},
		Key: sdwebuifake.Key,
		Cases: []providertest.Case{
			{Name: "one image", Type: task.TypeImageGeneration, Input: &task.ImageInput{Prompt: "a red fox in snow"},
				Check: func(t *testing.T, res *provider.Result) {
					if len(res.Files) != 1 || res.Files[0].ContentType != "image/png" || res.Files[0].Ext != ".png" {
						t.Fatalf("files %+v; want one PNG", res.Files)
					}
					if _, err := png.Decode(bytes.NewReader(res.Files[0].Data)); err != nil {
						t.Errorf("the image is not a PNG: %v", err)
					}
					if res.Extra["seed"] == nil {
						t.Errorf("no seed in Extra: %v", res.Extra)
					}
				}},
			{Name: "a batch of three", Type: task.TypeImageGeneration, Input: &task.ImageInput{Prompt: "three owls", N: intp(3), Size: "512x512"},
				Check: func(t *testing.T, res *provider.Result) {
					if len(res.Files) != 3 {
						t.Errorf("%d files, want 3 (no grid)", len(res.Files))
					}
					if res.Cost == nil || fmt.Sprintf("%.4f", res.Cost.USD) != "0.0060" {
						t.Errorf("cost %+v, want 3 x 0.002", res.Cost)
					}
				}},
		},
		// The web UI refuses no content and answers bytes, not URLs.
		Skip: []providertest.Fault{providertest.FaultSafety, providertest.FaultExpiredOutput},
	})
}

func TestMapping(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		opts  map[string]any
		input task.ImageInput
		want  map[string]any // fields of the txt2img body
		not   []string       // fields that must be left out
	}{
		"defaults": {
			input: task.ImageInput{Prompt: "a lighthouse"},
			want: map[string]any{"prompt": "a lighthouse", "width": 1024.0, "height": 1024.0, "batch_size": 1.0,
				"n_iter": 1.0, "seed": -1.0, "send_images": true, "save_images": false,
				"override_settings": map[string]any{"return_grid": false}},
			not: []string{"negative_prompt", "steps", "cfg_scale", "sampler_name", "scheduler", "styles", "init_images"},
		},
		"every input field": {
			input: task.ImageInput{Prompt: "a castle", NegativePrompt: "blurry, text", Size: "1792x1024", N: intp(2), Style: "cinematic"},
			want: map[string]any{"prompt": "a castle", "negative_prompt": "blurry, text", "width": 1792.0, "height": 1024.0,
				"batch_size": 2.0, "styles": []any{"cinematic"}},
		},
		"portrait": {
			input: task.ImageInput{Prompt: "a tower", Size: "1024x1792"},
			want:  map[string]any{"width": 1024.0, "height": 1792.0},
		},
		"options": {
			opts:  map[string]any{"steps": 28, "cfg_scale": 5.5, "sampler": "DPM++ 2M", "scheduler": "Karras", "model": "sdxl_base_1.0.safetensors"},
			input: task.ImageInput{Prompt: "a boat", Size: "256x256"},
			want: map[string]any{"steps": 28.0, "cfg_scale": 5.5, "sampler_name": "DPM++ 2M", "scheduler": "Karras",
				"width": 256.0, "height": 256.0,
				"override_settings": map[string]any{"return_grid": false, "sd_model_checkpoint": "sdxl_base_1.0.safetensors"}},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := fake(t)
			opts := map[string]any{"base_url": f.URL(), "api_key": sdwebuifake.Key}
			for k, v := range c.opts {
				opts[k] = v
			}
			p := newAdapter(t, opts)
			in := c.input
			in.SetDefaults()
			raw, _ := json.Marshal(&in)
			resp, err := p.Start(t.Context(), provider.Request{TaskID: "t1", Type: task.TypeImageGeneration, Input: raw})
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			if !resp.Done() {
				t.Fatalf("Start answered no result: %+v", resp)
			}
			got := f.Last("/sdapi/v1/txt2img")
			for k, v := range c.want {
				if !reflect.DeepEqual(got.Body[k], v) {
					t.Errorf("%s = %#v, want %#v", k, got.Body[k], v)
				}
			}
			for _, k := range c.not {
				if _, ok := got.Body[k]; ok {
					t.Errorf("%s sent (%v); want it left out", k, got.Body[k])
				}
			}
			wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(sdwebuifake.Key))
			if got.Auth != wantAuth {
				t.Errorf("Authorization %q, want %q", got.Auth, wantAuth)
			}
			if resp.Result.Cost != nil {
				t.Errorf("cost %+v without a price option; want none", resp.Result.Cost)
			}
		})
	}
}

func TestNoAuthByDefault(t *testing.T) {
	t.Parallel()
	f := sdwebuifake.NewWithKey("")
	t.Cleanup(f.Close)
	p, err := sdwebui.New(config.Provider{Name: "sd", Type: sdwebui.Type, Options: json.RawMessage(`{"base_url":"` + f.URL() + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(&task.ImageInput{Prompt: "x", Size: "512x512"})
	resp, err := p.Start(t.Context(), provider.Request{TaskID: "t", Type: task.TypeImageGeneration, Input: raw})
	if err != nil || !resp.Done() {
		t.Fatalf("Start: %+v, %v", resp, err)
	}
	if a := f.Last("/sdapi/v1/txt2img").Auth; a != "" {
		t.Errorf("Authorization %q sent with no key configured", a)
	}
	if got := resp.Result.Extra["model"]; got != "v1-5-pruned-emaonly" {
		t.Errorf("Extra model %v; want the server's loaded checkpoint", got)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		opts     map[string]any
		input    string
		kind     provider.Kind
		code     string
		contains string
	}{
		"unknown sampler": {opts: map[string]any{"sampler": "No Such Sampler"}, input: `{"prompt":"x","size":"512x512"}`,
			kind: provider.Permanent, code: "HTTPException", contains: "Sampler not found"},
		"bad size": {input: `{"prompt":"x","size":"big"}`, kind: provider.Permanent, code: "invalid_size"},
		"wrong key": {opts: map[string]any{"api_key": "someone:else"}, input: `{"prompt":"x"}`,
			kind: provider.Permanent, code: "http_401", contains: "Incorrect username or password"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := fake(t)
			opts := map[string]any{"base_url": f.URL(), "api_key": sdwebuifake.Key}
			for k, v := range c.opts {
				opts[k] = v
			}
			p := newAdapter(t, opts)
			_, err := p.Start(t.Context(), provider.Request{TaskID: "t", Type: task.TypeImageGeneration, Input: json.RawMessage(c.input)})
			if provider.KindOf(err) != c.kind {
				t.Fatalf("error %v is %q, want %q", err, provider.KindOf(err), c.kind)
			}
			pe, _ := errors.AsType[*provider.Error](err)
			if pe == nil || pe.Code != c.code || !strings.Contains(pe.Message, c.contains) {
				t.Errorf("error %v: want code %q and a message with %q", err, c.code, c.contains)
			}
			if strings.Contains(err.Error(), "fake-pass") {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
}

func TestCancelInterrupts(t *testing.T) {
	t.Parallel()
	f := fake(t)
	p := newAdapter(t, map[string]any{"base_url": f.URL(), "api_key": sdwebuifake.Key})
	if err := p.Cancel(t.Context(), provider.Request{TaskID: "t"}, "any"); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if len(f.Canceled()) != 1 {
		t.Errorf("interrupts %v, want 1", f.Canceled())
	}
	quiet := newAdapter(t, map[string]any{"base_url": f.URL(), "api_key": sdwebuifake.Key, "interrupt": false})
	if err := quiet.Cancel(t.Context(), provider.Request{TaskID: "t"}, "any"); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if len(f.Canceled()) != 1 {
		t.Errorf("with interrupt false, interrupts %v; want none more", f.Canceled())
	}
}

func TestTimeoutInterrupts(t *testing.T) {
	t.Parallel()
	f := fake(t)
	p := newAdapter(t, map[string]any{"base_url": f.URL(), "api_key": sdwebuifake.Key, "timeout": "200ms"})
	f.Fail(providertest.FaultHang)
	raw, _ := json.Marshal(&task.ImageInput{Prompt: "x", Size: "512x512"})
	if _, err := p.Start(t.Context(), provider.Request{TaskID: "t", Type: task.TypeImageGeneration, Input: raw}); provider.KindOf(err) != provider.Transient {
		t.Fatalf("Start: %v; want a transient timeout", err)
	}
	// The interrupt is sent in the background: wait for it, without a
	// timed assertion (the test's own deadline bounds the wait). The fake
	// records it even while it hangs.
	for f.Last("/sdapi/v1/interrupt").Method != "POST" {
		select {
		case <-t.Context().Done():
			t.Fatal("no interrupt after the call timed out")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestLimitsAndChecks(t *testing.T) {
	t.Parallel()
	p := newAdapter(t, nil)
	if got, want := p.(provider.PromptLimiter).PromptLimits(task.TypeImageGeneration), (prompt.Limits{Negative: true}); got != want {
		t.Errorf("PromptLimits = %+v, want %+v", got, want)
	}
	for _, size := range task.ImageSizes {
		in := &task.ImageInput{Prompt: "x", Size: size, N: intp(4)}
		if errs := p.(provider.Checker).CheckInput("input_data", in); len(errs) > 0 {
			t.Errorf("size %s, n 4 refused: %v", size, errs)
		}
	}
	if got := p.TaskTypes(); !reflect.DeepEqual(got, []task.Type{task.TypeImageGeneration}) {
		t.Errorf("TaskTypes = %v", got)
	}
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		opts  string
		field string
	}{
		"steps":        {`{"steps": 0}`, "options.steps"},
		"cfg_scale":    {`{"cfg_scale": 99}`, "options.cfg_scale"},
		"api_key":      {`{"api_key": "no-colon"}`, "options.api_key"},
		"price":        {`{"price": {"per_megapixel": 1}}`, "options.price.per_megapixel"},
		"unknown":      {`{"sampler_name": "Euler"}`, "options.sampler_name"},
		"base_url":     {`{"base_url": "ftp://box"}`, "options.base_url"},
		"timeout":      {`{"timeout": "forever"}`, "options.timeout"},
		"wrong type":   {`{"steps": "many"}`, "options.steps"},
		"interrupt":    {`{"interrupt": "yes"}`, "options.interrupt"},
		"max_output":   {`{"max_output_bytes": -1}`, "options.max_output_bytes"},
		"scheduler ok": {`{"scheduler": "Karras"}`, ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := sdwebui.New(config.Provider{Name: "sd", Type: sdwebui.Type, Options: json.RawMessage(c.opts)})
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
