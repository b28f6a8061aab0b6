package piapi_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/task"
)

func TestCreateCallbackField(t *testing.T) {
	t.Parallel()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(recv.Close)
	for name, c := range map[string]struct {
		opts     map[string]any
		callback *provider.Callback
		want     map[string]any // config as sent; nil: no config
	}{
		"no callback": {},
		"callback": {callback: &provider.Callback{URL: recv.URL + "/cb?ref=1", Secret: "sec-1"},
			want: map[string]any{"webhook_config": map[string]any{"endpoint": recv.URL + "/cb?ref=1", "secret": "sec-1"}}},
		"callback and service mode": {opts: map[string]any{"service_mode": "private"}, callback: &provider.Callback{URL: recv.URL + "/cb", Secret: "sec-1"},
			want: map[string]any{"service_mode": "private", "webhook_config": map[string]any{"endpoint": recv.URL + "/cb", "secret": "sec-1"}}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := fake(t)
			p := newAdapter(t, f, c.opts)
			req := request(t, &task.VideoInput{Prompt: "rain", DurationSeconds: intp(5)})
			req.Callback = c.callback
			if _, err := p.Start(t.Context(), req); err != nil {
				t.Fatalf("Start: %v", err)
			}
			f.Settle()
			got, ok := f.LastCreate()["config"]
			switch {
			case c.want == nil && ok:
				t.Errorf("config sent without a callback: %v", got)
			case c.want != nil && !reflect.DeepEqual(got, c.want):
				t.Errorf("config = %v, want %v", got, c.want)
			}
		})
	}
}

func TestVerifyCallbackRules(t *testing.T) {
	t.Parallel()
	caller := newAdapter(t, fake(t), nil).(provider.Caller)
	header := func(v string) http.Header {
		h := http.Header{}
		h.Set("x-webhook-secret", v)
		return h
	}
	body := func(status string) string {
		return `{"timestamp":1733335200,"data":{"task_id":"t-1","model":"kling","task_type":"video_generation","status":"` + status + `","config":{"webhook_config":{"endpoint":"https://x","secret":"sec-1"}}}}`
	}
	const handle = `{"id":"t-1","model":"kling"}`
	for name, c := range map[string]struct {
		header http.Header
		secret string
		body   string
		final  bool
		bad    bool
	}{
		"completed":      {header: header("sec-1"), secret: "sec-1", body: body("completed"), final: true},
		"failed":         {header: header("sec-1"), secret: "sec-1", body: body("failed"), final: true},
		"pending":        {header: header("sec-1"), secret: "sec-1", body: body("pending")},
		"processing":     {header: header("sec-1"), secret: "sec-1", body: body("processing")},
		"wrong secret":   {header: header("sec-2"), secret: "sec-1", body: body("completed"), bad: true},
		"no header":      {header: http.Header{}, secret: "sec-1", body: body("completed"), bad: true},
		"no secret":      {header: header(""), secret: "", body: body("completed"), bad: true},
		"no data":        {header: header("sec-1"), secret: "sec-1", body: `{"timestamp":1}`, bad: true},
		"not JSON":       {header: header("sec-1"), secret: "sec-1", body: `<html>`, bad: true},
		"a prefix of it": {header: header("sec-"), secret: "sec-1", body: body("completed"), bad: true},
	} {
		job, final, err := caller.VerifyCallback(t.Context(), c.header, []byte(c.body), c.secret)
		switch {
		case c.bad && !errors.Is(err, provider.ErrBadCallback):
			t.Errorf("%s: VerifyCallback = %q, %v, %v; want ErrBadCallback", name, job, final, err)
		case c.bad && strings.Contains(err.Error(), "sec-"):
			t.Errorf("%s: the error shows a secret: %v", name, err)
		case !c.bad && (err != nil || job != handle || final != c.final):
			t.Errorf("%s: VerifyCallback = %q, %v, %v; want %s, %v", name, job, final, err, handle, c.final)
		}
	}
}
