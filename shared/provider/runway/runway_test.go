package runway_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/providertest"
	"github.com/videoai/mediatasks/shared/provider/runway"
	"github.com/videoai/mediatasks/shared/provider/runway/runwayfake"
	"github.com/videoai/mediatasks/shared/task"
)

func newFake(t *testing.T) *runwayfake.Server {
	t.Helper()
	f := runwayfake.New()
	t.Cleanup(f.Close)
	return f
}

// newProvider builds the adapter against fake with extra options merged in.
func newProvider(t *testing.T, fake *runwayfake.Server, timeout time.Duration, extra map[string]any) provider.Provider {
	t.Helper()
	opts := map[string]any{"base_url": fake.URL(), "api_key": runwayfake.Key, "timeout": timeout.String(), "allow_private": true}
	for k, v := range extra {
		opts[k] = v
	}
	raw, _ := json.Marshal(opts)
	p, err := runway.New(config.Provider{Name: "runway", Type: runway.Type, Options: raw})
	if err != nil {
		t.Fatalf("New(%s): %v", raw, err)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func TestConformance(t *testing.T) {
	t.Parallel()
	mp4 := func(t *testing.T, res *provider.Result) {
		f := res.Files[0]
		if f.ContentType != "video/mp4" || f.Ext != ".mp4" || !bytes.Equal(f.Data, runwayfake.MP4) {
			t.Errorf("file %s %s %d bytes; want the fake's MP4", f.ContentType, f.Ext, len(f.Data))
		}
		if res.Cost == nil || res.Extra["runway_task_id"] == "" {
			t.Errorf("cost %+v, extra %v", res.Cost, res.Extra)
		}
		for k, v := range res.Extra {
			if s, ok := v.(string); ok && strings.Contains(s, "_jwt") {
				t.Errorf("extra %s holds a signed URL: %s", k, s)
			}
		}
	}
	providertest.Run(t, providertest.Harness{
		Fake: func(t *testing.T) providertest.Fake { return newFake(t) },
		New: func(t *testing.T, fake providertest.Fake, timeout time.Duration) provider.Provider {
			return newProvider(t, fake.(*runwayfake.Server), timeout, map[string]any{"model": "gen4.5"})
		},
		Key: runwayfake.Key,
		Cases: []providertest.Case{
			{Name: "text to video", Type: task.TypeVideoGeneration, Input: &task.VideoInput{Prompt: "a lighthouse at dusk, waves", DurationSeconds: ptr(5)}, Long: true, Check: mp4},
			{Name: "image to video", Type: task.TypeVideoGeneration, Input: &task.VideoInput{Prompt: "the camera pushes in", ImageURL: "https://images.example.com/frame.jpg", AspectRatio: "1:1"}, Long: true, Check: mp4},
		},
	})
}

func request(input string) provider.Request {
	return provider.Request{TaskID: "task-1", UserID: "u1", Type: task.TypeVideoGeneration, Input: json.RawMessage(input), Attempt: 1}
}

func run(t *testing.T, p provider.Provider, req provider.Request) (*provider.Result, error) {
	t.Helper()
	resp, err := p.Start(t.Context(), req)
	job := resp.Job
	for i := 0; err == nil && !resp.Done(); i++ {
		if i > 20 {
			t.Fatal("the job never ends")
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

func TestMapping(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		model string
		input string
		path  string
		want  map[string]any // fields of the body; nil: left out
	}{
		"gen4.5 text to video, defaults": {
			"gen4.5", `{"prompt":"a fox in snow"}`, "/v1/text_to_video",
			map[string]any{"model": "gen4.5", "promptText": "a fox in snow", "ratio": "1280:720", "duration": 5.0, "promptImage": nil},
		},
		"gen4.5 portrait": {
			"gen4.5", `{"prompt":"a fox","aspect_ratio":"9:16","duration_seconds":10}`, "/v1/text_to_video",
			map[string]any{"ratio": "720:1280", "duration": 10.0},
		},
		"gen4_turbo image to video, square": {
			"gen4_turbo", `{"prompt":"waves roll in","image_url":"https://img.example.com/a.png","aspect_ratio":"1:1","duration_seconds":2}`, "/v1/image_to_video",
			map[string]any{"model": "gen4_turbo", "promptImage": "https://img.example.com/a.png", "promptText": "waves roll in", "ratio": "960:960", "duration": 2.0},
		},
		"veo3.1_fast text to video": {
			"veo3.1_fast", `{"prompt":"rain on a window","duration_seconds":6}`, "/v1/text_to_video",
			map[string]any{"model": "veo3.1_fast", "ratio": "1280:720", "duration": 6.0},
		},
		"veo3 is 8 s": {
			"veo3", `{"prompt":"rain","image_url":"https://img.example.com/a.png","aspect_ratio":"9:16","duration_seconds":8}`, "/v1/image_to_video",
			map[string]any{"ratio": "720:1280", "duration": 8.0},
		},
		"gen3a_turbo ratios": {
			"gen3a_turbo", `{"prompt":"rain","image_url":"https://img.example.com/a.png","duration_seconds":10}`, "/v1/image_to_video",
			map[string]any{"ratio": "1280:768", "duration": 10.0},
		},
		"a new gen4 name is the gen4_turbo family": {
			"gen4_turbo_2027", `{"prompt":"rain","image_url":"https://img.example.com/a.png"}`, "/v1/image_to_video",
			map[string]any{"model": "gen4_turbo_2027", "ratio": "1280:720", "duration": 5.0},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			res, err := run(t, newProvider(t, fake, 10*time.Second, map[string]any{"model": tc.model}), request(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			created := fake.Created()
			if len(created) != 1 || created[0].Path != tc.path {
				t.Fatalf("calls %+v; want one POST %s", created, tc.path)
			}
			c := created[0]
			if c.Header.Get("Authorization") != "Bearer "+runwayfake.Key || c.Header.Get("X-Runway-Version") != "2024-11-06" {
				t.Errorf("headers %v", c.Header)
			}
			body := c.JSON()
			for k, want := range tc.want {
				got, ok := body[k]
				if want == nil {
					if ok {
						t.Errorf("%s = %v, want it left out", k, got)
					}
				} else if got != want {
					t.Errorf("%s = %#v, want %#v", k, got, want)
				}
			}
			if res.Extra["model"] != tc.model || res.Extra["ratio"] != body["ratio"] {
				t.Errorf("extra %v", res.Extra)
			}
		})
	}
}

func TestImageOverHTTPIsSentAsBytes(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	input, _ := json.Marshal(map[string]any{"prompt": "the frame comes alive", "image_url": fake.ImageURL()})
	if _, err := run(t, newProvider(t, fake, 10*time.Second, nil), request(string(input))); err != nil {
		t.Fatal(err)
	}
	img, _ := fake.Created()[0].JSON()["promptImage"].(string)
	data, ok := strings.CutPrefix(img, "data:image/png;base64,")
	b, err := base64.StdEncoding.DecodeString(data)
	if !ok || err != nil || !bytes.Equal(b, fake.PNG()) {
		t.Errorf("promptImage %.60q…; want the PNG as a data URI", img)
	}
}

func TestCheckInput(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	tests := map[string]struct {
		model  string
		input  *task.VideoInput
		fields []string
	}{
		"gen4_turbo has no text to video":          {"gen4_turbo", &task.VideoInput{Prompt: "x"}, []string{"input_data.image_url"}},
		"gen4_turbo with an image":                 {"gen4_turbo", &task.VideoInput{Prompt: "x", ImageURL: "https://a/b.png", AspectRatio: "1:1"}, nil},
		"gen4_turbo over 10 s":                     {"gen4_turbo", &task.VideoInput{Prompt: "x", ImageURL: "https://a/b.png", DurationSeconds: ptr(12)}, []string{"input_data.duration_seconds"}},
		"gen4_turbo 1 s":                           {"gen4_turbo", &task.VideoInput{Prompt: "x", ImageURL: "https://a/b.png", DurationSeconds: ptr(1)}, []string{"input_data.duration_seconds"}},
		"gen4.5 text to video is not square":       {"gen4.5", &task.VideoInput{Prompt: "x", AspectRatio: "1:1"}, []string{"input_data.aspect_ratio"}},
		"gen4.5 image to video is square":          {"gen4.5", &task.VideoInput{Prompt: "x", ImageURL: "https://a/b.png", AspectRatio: "1:1"}, nil},
		"veo3.1 takes 4, 6, 8 (not the default 5)": {"veo3.1", &task.VideoInput{Prompt: "x"}, []string{"input_data.duration_seconds"}},
		"veo3.1 no square, no 7 s":                 {"veo3.1", &task.VideoInput{Prompt: "x", AspectRatio: "1:1", DurationSeconds: ptr(7)}, []string{"input_data.aspect_ratio", "input_data.duration_seconds"}},
		"veo3 only 8 s, from an image":             {"veo3", &task.VideoInput{Prompt: "x", ImageURL: "https://a/b.png", DurationSeconds: ptr(8)}, nil},
		"veo3 no text alone":                       {"veo3", &task.VideoInput{Prompt: "x", DurationSeconds: ptr(8)}, []string{"input_data.image_url"}},
		"an unknown model is careful":              {"mystery-9", &task.VideoInput{Prompt: "x"}, []string{"input_data.image_url"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, fake, time.Second, map[string]any{"model": tc.model}).(provider.Checker)
			errs := p.CheckInput("input_data", tc.input)
			var got []string
			for _, e := range errs {
				got = append(got, e.Field)
				if !strings.Contains(e.Message, tc.model) {
					t.Errorf("%s: %q does not name the model", e.Field, e.Message)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("refused %v (%v), want %v", got, errs, tc.fields)
			}
		})
	}
	// Start refuses the same, before any call.
	p := newProvider(t, fake, time.Second, map[string]any{"model": "gen4_turbo"})
	_, err := p.Start(t.Context(), request(`{"prompt":"x"}`))
	if pe, ok := errors.AsType[*provider.Error](err); !ok || !pe.RequestFault || !strings.Contains(err.Error(), "image_url") {
		t.Errorf("Start of text to video on gen4_turbo: %v; want a fault of the request naming image_url", err)
	}
	if n := len(fake.Created()); n != 0 {
		t.Errorf("%d tasks created; want none", n)
	}
}

func TestPromptLimits(t *testing.T) {
	t.Parallel()
	p := newProvider(t, newFake(t), time.Second, nil).(provider.PromptLimiter)
	if got := p.PromptLimits(task.TypeVideoGeneration); got != (prompt.Limits{MaxPrompt: 1000, Unit: prompt.UnitUTF16}) {
		t.Errorf("limits %+v", got)
	}
}

func TestCost(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		options map[string]any
		input   string
		usd     float64 // -1: none
	}{
		"gen4_turbo 5 s":      {map[string]any{"model": "gen4_turbo"}, `{"prompt":"x","image_url":"https://a/b.png"}`, 0.25},
		"gen4.5 10 s":         {map[string]any{"model": "gen4.5"}, `{"prompt":"x","duration_seconds":10}`, 1.2},
		"veo3 8 s":            {map[string]any{"model": "veo3"}, `{"prompt":"x","image_url":"https://a/b.png","duration_seconds":8}`, 3.2},
		"override, USD per s": {map[string]any{"model": "gen4_turbo", "price": map[string]float64{"gen4_turbo": 0.04}}, `{"prompt":"x","image_url":"https://a/b.png","duration_seconds":10}`, 0.4},
		"unknown price":       {map[string]any{"model": "gen4_turbo_2027"}, `{"prompt":"x","image_url":"https://a/b.png"}`, -1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, err := run(t, newProvider(t, newFake(t), 10*time.Second, tc.options), request(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.usd < 0 && res.Cost != nil:
				t.Errorf("cost %+v; want none", res.Cost)
			case tc.usd >= 0 && (res.Cost == nil || math.Abs(res.Cost.USD-tc.usd) > 1e-9 || res.Cost.PriceVersion != runway.PriceVersion):
				t.Errorf("cost %+v; want %v USD", res.Cost, tc.usd)
			}
		})
	}
}

func TestFailureCodes(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		code    string
		kind    provider.Kind
		safety  bool
		request bool
	}{
		"output moderated":     {"SAFETY.OUTPUT.VIDEO", provider.Permanent, true, true},
		"text moderated early": {"INPUT_PREPROCESSING.SAFETY.TEXT", provider.Permanent, true, true},
		"moderation broke":     {"INPUT_PREPROCESSING.INTERNAL", provider.Transient, false, false},
		"bad output":           {"INTERNAL.BAD_OUTPUT.CODE01", provider.Transient, false, false},
		"internal":             {"INTERNAL", provider.Transient, false, false},
		"asset":                {"ASSET.INVALID", provider.Permanent, false, true},
		"unknown":              {"SOMETHING.NEW", provider.Permanent, false, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			fake.FailTasks(tc.code, "it went wrong")
			_, err := run(t, newProvider(t, fake, 10*time.Second, map[string]any{"model": "gen4.5"}), request(`{"prompt":"x"}`))
			pe, ok := errors.AsType[*provider.Error](err)
			if !ok || pe.Kind != tc.kind || pe.Safety != tc.safety || pe.RequestFault != tc.request ||
				!strings.Contains(pe.Message, tc.code) || !strings.Contains(pe.Message, "it went wrong") {
				t.Errorf("error %v (%+v); want kind %s, safety %v, request fault %v, with code and message", err, pe, tc.kind, tc.safety, tc.request)
			}
		})
	}
}

func TestProblems(t *testing.T) {
	t.Parallel()
	// An error answer's message reaches the task: the fake refuses an API
	// version it does not know with a 400 and Runway's {"error"} body.
	fake := newFake(t)
	p := newProvider(t, fake, 10*time.Second, map[string]any{"api_version": "2099-01-01"})
	_, err := p.Start(t.Context(), request(`{"prompt":"x","image_url":"https://a/b.png"}`))
	pe, ok := errors.AsType[*provider.Error](err)
	if !ok || !pe.RequestFault || !strings.Contains(pe.Message, "X-Runway-Version") {
		t.Errorf("a version the fake refuses: %v; want a fault of the request with Runway's message", err)
	}
	if got := fake.Calls()[0].Header.Get("X-Runway-Version"); got != "2099-01-01" {
		t.Errorf("api_version sent as %q", got)
	}
}

func TestPollAfter(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	req := request(`{"prompt":"x","image_url":"https://a/b.png"}`)
	for opt, want := range map[string]time.Duration{"": runway.PollAfter, "50ms": 50 * time.Millisecond} {
		resp, err := newProvider(t, fake, time.Second, map[string]any{"poll_after": opt}).Start(t.Context(), req)
		if err != nil || resp.PollAfter != want {
			t.Errorf("poll_after %q: PollAfter %s (%v), want %s", opt, resp.PollAfter, err, want)
		}
	}
}

func TestImageURLThatFails(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	input, _ := json.Marshal(map[string]any{"prompt": "x", "image_url": fake.URL() + "/inputs/missing.png"})
	_, err := newProvider(t, fake, time.Second, nil).Start(t.Context(), request(string(input)))
	if pe, ok := errors.AsType[*provider.Error](err); !ok || !pe.RequestFault || pe.Code != "bad_image" {
		t.Errorf("an image_url that is not an image: %v; want a fault of the request, bad_image", err)
	}
	if n := len(fake.Created()); n != 0 {
		t.Errorf("%d tasks created; want none", n)
	}
}

func TestCancelIsADelete(t *testing.T) {
	t.Parallel()
	fake := newFake(t)
	p := newProvider(t, fake, 10*time.Second, nil)
	req := request(`{"prompt":"x","image_url":"https://a/b.png"}`)
	resp, err := p.Start(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Cancel(t.Context(), req, resp.Job); err != nil {
		t.Fatal(err)
	}
	_, err = p.Poll(t.Context(), req, resp.Job)
	if pe, ok := errors.AsType[*provider.Error](err); !ok || pe.Code != "canceled" || pe.Kind != provider.Permanent {
		t.Errorf("poll of a canceled task: %v; want permanent canceled", err)
	}
	for i := 0; i < 2; i++ { // deletes it, then finds it gone
		if err := p.Cancel(t.Context(), req, resp.Job); err != nil {
			t.Errorf("cancel %d of an ended task: %v", i+2, err)
		}
	}
	var deletes int
	for _, c := range fake.Calls() {
		if c.Method == http.MethodDelete {
			deletes++
		}
	}
	if deletes != 3 {
		t.Errorf("%d DELETEs, want 3", deletes)
	}
	if err := p.Cancel(t.Context(), req, "not-a-handle"); err == nil {
		t.Error("cancel of a handle that is not one: want an error")
	}
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		options string
		field   string
	}{
		"unknown option": {`{"api_key":"k","ratio":"16:9"}`, "ratio"},
		"price key":      {`{"api_key":"k","price":{"sora-2":1}}`, "price.sora-2"},
		"negative price": {`{"api_key":"k","price":{"gen4_turbo":-1}}`, "price.gen4_turbo"},
		"api_version":    {`{"api_key":"k","api_version":"latest"}`, "api_version"},
		"no key":         {`{"api_key_env":"RUNWAY_TEST_UNSET_VARIABLE"}`, "api_key_env"},
		"timeout":        {`{"api_key":"k","timeout":"-1s"}`, "timeout"},
		"poll_after":     {`{"api_key":"k","poll_after":"1ns"}`, "poll_after"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := runway.New(config.Provider{Name: "runway", Type: runway.Type, Options: json.RawMessage(tc.options)})
			oe, ok := errors.AsType[*provider.OptionError](err)
			if !ok || oe.Field != tc.field {
				t.Errorf("New(%s): %v; want an option error naming %s", tc.options, err, tc.field)
			}
		})
	}
}

// Runway has no webhooks: its tasks are polled.
func TestNoCallbacks(t *testing.T) {
	t.Parallel()
	if _, ok := newProvider(t, newFake(t), 5*time.Second, nil).(provider.Caller); ok {
		t.Error("the runway adapter is a provider.Caller; Runway cannot call back")
	}
}
