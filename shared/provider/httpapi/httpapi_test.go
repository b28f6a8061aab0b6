package httpapi_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		status  int
		problem httpapi.Problem
		kind    provider.Kind
		request bool // a fault of the request, not the provider
		safety  bool
	}{
		{400, httpapi.Problem{}, provider.Permanent, true, false},
		{400, httpapi.Problem{Code: "content_policy_violation", Safety: true}, provider.Permanent, true, true},
		{401, httpapi.Problem{}, provider.Permanent, false, false},
		{403, httpapi.Problem{}, provider.Permanent, false, false},
		{404, httpapi.Problem{}, provider.Permanent, true, false},
		{408, httpapi.Problem{}, provider.Transient, false, false},
		{409, httpapi.Problem{}, provider.Transient, false, false},
		{422, httpapi.Problem{}, provider.Permanent, true, false},
		{429, httpapi.Problem{}, provider.Throttled, false, false},
		{429, httpapi.Problem{Code: "insufficient_quota", Quota: true}, provider.Permanent, false, false},
		{500, httpapi.Problem{}, provider.Transient, false, false},
		{503, httpapi.Problem{}, provider.Transient, false, false},
		{400, httpapi.Problem{Transient: true}, provider.Transient, false, false},
	}
	for _, c := range cases {
		err := httpapi.Classify("p", c.status, 0, c.problem)
		if err.Kind != c.kind || err.RequestFault != c.request || err.Safety != c.safety {
			t.Errorf("%d %+v: got %+v", c.status, c.problem, err)
		}
		if !strings.Contains(err.Message, "answered") || err.Code == "" {
			t.Errorf("%d: message %q, code %q: want what the provider answered", c.status, err.Message, err.Code)
		}
	}
	if e := httpapi.Classify("p", 503, 3*time.Second, httpapi.Problem{}); e.Kind != provider.Throttled || e.RetryAfter != 3*time.Second {
		t.Errorf("503 with Retry-After: %+v; want throttled for 3s", e)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	h := http.Header{}
	h.Set("Retry-After", "7")
	if got := httpapi.RetryAfter(h, now); got != 7*time.Second {
		t.Errorf("Retry-After 7: %s", got)
	}
	h.Set("retry-after-ms", "1500")
	if got := httpapi.RetryAfter(h, now); got != 1500*time.Millisecond {
		t.Errorf("retry-after-ms 1500 wins: %s", got)
	}
	if got := httpapi.RetryAfter(http.Header{}, now); got != 0 {
		t.Errorf("no header: %s", got)
	}
}

func TestClientCallsAndFaults(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sk-secret" {
			w.WriteHeader(401)
			return
		}
		switch r.URL.Path {
		case "/v1/ok":
			w.Write([]byte(`{"id":"job1"}`))
		case "/v1/cut":
			w.Write([]byte(`{"id":"jo`))
		case "/v1/slow":
			<-r.Context().Done()
		case "/v1/limited":
			w.Header().Set("Retry-After", "4")
			w.WriteHeader(429)
			w.Write([]byte(`{"error":{"code":"rate_limit_exceeded","message":"slow down"}}`))
		}
	}))
	defer srv.Close()
	s, err := httpapi.Options{BaseURL: srv.URL + "/v1/", APIKey: "sk-secret", Timeout: "200ms"}.Resolve(httpapi.Defaults{KeyRequired: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := httpapi.NewClient("fake", s, func(h http.Header) { h.Set("Authorization", "Bearer "+s.Key) })
	cl.Problem = func(status int, body []byte) httpapi.Problem {
		return httpapi.Problem{Code: "rate_limit_exceeded", Message: "slow down"}
	}
	var out struct{ ID string }
	if _, err := cl.JSON(t.Context(), httpapi.Call{Method: "POST", Path: "ok", JSON: map[string]string{"a": "b"}}, &out); err != nil || out.ID != "job1" {
		t.Fatalf("ok: %v %+v", err, out)
	}
	_, err = cl.JSON(t.Context(), httpapi.Call{Method: "GET", Path: "cut"}, &out)
	if provider.KindOf(err) != provider.Transient {
		t.Errorf("truncated answer: %v", err)
	}
	_, err = cl.Do(t.Context(), httpapi.Call{Method: "GET", Path: "slow"})
	if provider.KindOf(err) != provider.Transient || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v", err)
	}
	_, err = cl.Do(t.Context(), httpapi.Call{Method: "GET", Path: "limited"})
	if provider.KindOf(err) != provider.Throttled || provider.RetryAfterOf(err) != 4*time.Second || !strings.Contains(err.Error(), "slow down") {
		t.Errorf("429: %v", err)
	}
	for _, e := range []error{err} {
		if strings.Contains(e.Error(), "sk-secret") {
			t.Errorf("the key shows in %v", e)
		}
	}
}

func TestResolveNamesBadOptions(t *testing.T) {
	_, err := httpapi.Options{BaseURL: "ftp://x", Timeout: "soon", Price: map[string]float64{"nope": 1}}.Resolve(
		httpapi.Defaults{KeyRequired: true, EnvKey: "NO_SUCH_KEY_VAR", PriceKeys: []string{"image"}}, func(string) string { return "" })
	for _, field := range []string{"base_url", "timeout", "price.nope", "api_key_env"} {
		if err == nil || !strings.Contains(err.Error(), "options."+field+":") {
			t.Errorf("want options.%s named in %v", field, err)
		}
	}
	s, err := httpapi.Options{APIKeyEnv: "MY_KEY"}.Resolve(httpapi.Defaults{BaseURL: "https://api.example.com/v1", KeyRequired: true},
		func(n string) string { return map[string]string{"MY_KEY": "k"}[n] })
	if err != nil || s.Key != "k" || s.BaseURL != "https://api.example.com/v1" || s.Timeout != time.Minute {
		t.Errorf("resolve: %+v %v", s, err)
	}
}

func TestFetcherGuardsCapsAndChecks(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n" + strings.Repeat("x", 100))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/img":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(png)
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>"))
		case "/gone":
			w.WriteHeader(410)
		}
	}))
	defer srv.Close()
	guarded := httpapi.NewFetcher(httpapi.Settings{Timeout: time.Second})
	if _, _, err := guarded.Get(t.Context(), srv.URL+"/img", "image/"); provider.KindOf(err) != provider.Permanent {
		t.Errorf("a loopback output URL: %v; want refused", err)
	}
	f := httpapi.NewFetcher(httpapi.Settings{Timeout: time.Second, AllowPrivate: true, MaxOutputBytes: 1000})
	data, ct, err := f.Get(t.Context(), srv.URL+"/img", "image/")
	if err != nil || ct != "image/png" || len(data) != len(png) {
		t.Errorf("get: %v %q %d", err, ct, len(data))
	}
	if _, _, err := f.Get(t.Context(), srv.URL+"/html", "image/"); provider.KindOf(err) != provider.Permanent {
		t.Errorf("text/html for an image: %v", err)
	}
	_, _, err = f.Get(t.Context(), srv.URL+"/gone")
	if pe, _ := errors.AsType[*provider.Error](err); pe == nil || pe.Code != "output_expired" {
		t.Errorf("410: %v", err)
	}
	small := httpapi.NewFetcher(httpapi.Settings{Timeout: time.Second, AllowPrivate: true, MaxOutputBytes: 10})
	if _, _, err := small.Get(t.Context(), srv.URL+"/img"); provider.KindOf(err) != provider.Permanent {
		t.Errorf("over the cap: %v", err)
	}
	if _, _, err := f.Get(t.Context(), "http://169.254.169.254/latest/meta-data"); !errors.Is(err, webhook.ErrBlocked) {
		t.Errorf("the metadata address is fetched with allow_private; it must not be")
	}
}

// A still the platform holds goes on in image_url: a public https URL as
// it is, else its bytes as a data URI where the provider takes one, else
// a fault of the request; a still that is no image is refused.
func TestResolveStill(t *testing.T) {
	t.Parallel()
	f := httpapi.NewFetcher(httpapi.Settings{Timeout: time.Second})
	held := func(data, ct string, url string) *provider.Media {
		return &provider.Media{URL: url, ContentType: ct, Public: strings.HasPrefix(url, "https://s3."),
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(data)), nil }}
	}
	video := func() *task.VideoInput { return &task.VideoInput{Prompt: "zoom", ImageTaskID: "t1"} }
	for name, tc := range map[string]struct {
		m       *provider.Media
		dataURI bool
		want    string
		code    string
	}{
		"public":       {held("png", "image/png", "https://s3.example.com/a.png?sig=1"), false, "https://s3.example.com/a.png?sig=1", ""},
		"data URI":     {held("png", "image/png", "http://127.0.0.1:8080/files/a.png"), true, "data:image/png;base64,cG5n", ""},
		"URL only":     {held("png", "image/png", "http://127.0.0.1:8080/files/a.png"), false, "", "still_not_public"},
		"not an image": {held("abc", "audio/wav", "http://127.0.0.1:8080/files/a.wav"), true, "", "bad_image"},
		"none handed":  {nil, true, "", "no_still"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := video()
			err := f.ResolveStill(t.Context(), in, tc.m, 1<<20, tc.dataURI)
			if tc.code != "" {
				if pe, ok := errors.AsType[*provider.Error](err); !ok || pe.Code != tc.code || !pe.RequestFault {
					t.Fatalf("err = %v, want a fault of the request %s", err, tc.code)
				}
				return
			}
			if err != nil || in.ImageURL != tc.want {
				t.Fatalf("image_url = %q (%v), want %q", in.ImageURL, err, tc.want)
			}
		})
	}
	own := &task.VideoInput{Prompt: "x", ImageURL: "https://example.com/a.png"}
	if err := f.ResolveStill(t.Context(), own, nil, 0, true); err != nil || own.ImageURL != "https://example.com/a.png" {
		t.Errorf("a user's image_url: %q, %v", own.ImageURL, err)
	}
}
