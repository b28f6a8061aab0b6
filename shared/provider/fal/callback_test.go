package fal

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/fal/falfake"
	"github.com/videoai/mediatasks/shared/task"
)

func TestSubmitCallbackField(t *testing.T) {
	t.Parallel()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(recv.Close)
	for name, c := range map[string]struct {
		callback *provider.Callback
		want     string // the fal_webhook query; "" for none
	}{
		"no callback": {},
		"callback": {callback: &provider.Callback{URL: recv.URL + "/api/v1/media/providers/fal/callback?ref=a&b=c"},
			want: recv.URL + "/api/v1/media/providers/fal/callback?ref=a&b=c"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := startFake(t)
			f := build(t, fake, 5*time.Second, map[string]any{"model": "fal-ai/flux/dev"})
			raw, _ := json.Marshal(&task.ImageInput{Prompt: "a dog"})
			if _, err := f.Start(t.Context(), provider.Request{TaskID: "t1", Type: task.TypeImageGeneration, Input: raw, Callback: c.callback}); err != nil {
				t.Fatalf("Start: %v", err)
			}
			fake.Settle()
			reqs := fake.Requests()
			submit := reqs[len(reqs)-1]
			got, ok := submit.Query["fal_webhook"]
			switch {
			case c.want == "" && ok:
				t.Errorf("fal_webhook sent without a callback: %v", got)
			case c.want != "" && (len(got) != 1 || got[0] != c.want):
				t.Errorf("fal_webhook = %v, want %s", got, c.want)
			}
			if submit.Path != "/fal-ai/flux/dev" {
				t.Errorf("submitted to %s", submit.Path)
			}
		})
	}
}

func TestVerifyCallbackRules(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	f := build(t, fake, 5*time.Second, map[string]any{"model": "fal-ai/flux/dev"})
	now := time.Now()
	f.now = func() time.Time { return now }
	body := []byte(`{"request_id":"req-1","gateway_request_id":"req-1","status":"OK","payload":{"images":[]}}`)
	for name, c := range map[string]struct {
		header func() http.Header
		body   []byte
		ok     bool
	}{
		"signed now":           {header: func() http.Header { return fake.Sign("req-1", now, body) }, body: body, ok: true},
		"signed 4 min ago":     {header: func() http.Header { return fake.Sign("req-1", now.Add(-4*time.Minute), body) }, body: body, ok: true},
		"signed 6 min ago":     {header: func() http.Header { return fake.Sign("req-1", now.Add(-6*time.Minute), body) }, body: body},
		"signed 6 min ahead":   {header: func() http.Header { return fake.Sign("req-1", now.Add(6*time.Minute), body) }, body: body},
		"another request id":   {header: func() http.Header { return fake.Sign("req-2", now, body) }, body: body},
		"no user id":           {header: func() http.Header { h := fake.Sign("req-1", now, body); h.Del(headerUserID); return h }, body: body},
		"signature not hex":    {header: func() http.Header { h := fake.Sign("req-1", now, body); h.Set(headerSignature, "zz"); return h }, body: body},
		"another user signed":  {header: func() http.Header { h := fake.Sign("req-1", now, body); h.Set(headerUserID, "someone-else"); return h }, body: body},
		"signed body not JSON": {header: func() http.Header { return fake.Sign("req-1", now, []byte("not json")) }, body: []byte("not json")},
	} {
		job, final, err := f.VerifyCallback(t.Context(), c.header(), c.body, "")
		switch {
		case c.ok && (err != nil || job != "req-1" || !final):
			t.Errorf("%s: VerifyCallback = %q, %v, %v; want req-1, final", name, job, final, err)
		case !c.ok && !errors.Is(err, provider.ErrBadCallback):
			t.Errorf("%s: VerifyCallback = %q, %v, %v; want ErrBadCallback", name, job, final, err)
		}
	}
	if n := len(fake.JWKSFetches()); n != 1 {
		t.Errorf("the key set was read %d times; want once, then kept", n)
	}
	for _, h := range fake.JWKSFetches() {
		if h.Get("Authorization") != "" {
			t.Errorf("the key set was read with credentials: %q", h.Get("Authorization"))
		}
	}
}

func TestVerifyCallbackKeys(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	f := build(t, fake, 5*time.Second, map[string]any{"model": "fal-ai/flux/dev"})
	now := time.Now()
	f.now = func() time.Time { return now }
	body := []byte(`{"request_id":"req-1","status":"OK"}`)
	verify := func() error {
		_, _, err := f.VerifyCallback(t.Context(), fake.Sign("req-1", now, body), body, "")
		return err
	}
	if err := verify(); err != nil {
		t.Fatalf("VerifyCallback: %v", err)
	}
	// A rotation within a minute of the read is not read again (a
	// forged call cannot make us call fal at will)...
	fake.RotateKey()
	if err := verify(); !errors.Is(err, provider.ErrBadCallback) || len(fake.JWKSFetches()) != 1 {
		t.Fatalf("right after a rotation: %v, %d reads of the key set; want ErrBadCallback and 1", err, len(fake.JWKSFetches()))
	}
	// ... later it is, once.
	now = now.Add(2 * time.Minute)
	if err := verify(); err != nil || len(fake.JWKSFetches()) != 2 {
		t.Fatalf("after a rotation: %v, %d reads of the key set; want accepted after a second read", err, len(fake.JWKSFetches()))
	}
	// The keys expire with their TTL.
	now = now.Add(jwksTTL)
	if err := verify(); err != nil || len(fake.JWKSFetches()) != 3 {
		t.Fatalf("after the keys' TTL: %v, %d reads; want a third read", err, len(fake.JWKSFetches()))
	}
}

func TestVerifyCallbackKeysUnavailable(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	fake := startFake(t)
	f := build(t, fake, 5*time.Second, map[string]any{"model": "fal-ai/flux/dev", "webhook_jwks_url": down.URL + "/.well-known/jwks.json"})
	body := []byte(`{"request_id":"req-1","status":"OK"}`)
	_, _, err := f.VerifyCallback(t.Context(), fake.Sign("req-1", time.Now(), body), body, "")
	// Not the caller's fault: the platform answers so that fal retries.
	if err == nil || errors.Is(err, provider.ErrBadCallback) || provider.KindOf(err) != provider.Transient {
		t.Errorf("with the key set unavailable: %v; want a transient error, not ErrBadCallback", err)
	}
	if strings.Contains(err.Error(), falfake.Key) {
		t.Errorf("an error shows the API key: %v", err)
	}
}

func TestJWKSURLOption(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	if f := build(t, fake, 5*time.Second, map[string]any{"model": "fal-ai/flux/dev", "webhook_jwks_url": ""}); f.jwksURL != DefaultWebhookJWKSURL {
		t.Errorf("default key set URL %q", f.jwksURL)
	}
	raw, _ := json.Marshal(map[string]any{"model": "fal-ai/flux/dev", "api_key": "k", "webhook_jwks_url": "ftp://keys"})
	_, err := newFal(config.Provider{Name: "f", Type: Type, Options: raw}, func(string) string { return "" })
	var oe *provider.OptionError
	if !errors.As(err, &oe) || oe.Field != "webhook_jwks_url" {
		t.Errorf("an ftp key set URL: %v; want an option error naming webhook_jwks_url", err)
	}
}

func TestJobHandles(t *testing.T) {
	t.Parallel()
	// poll polls job to its end with a fresh adapter each time.
	poll := func(t *testing.T, fake *falfake.Server, opts map[string]any, req provider.Request, job string) {
		t.Helper()
		for i := 0; i < 10; i++ {
			resp, err := build(t, fake, 5*time.Second, opts).Poll(t.Context(), req, job)
			if err != nil {
				t.Fatalf("Poll of %s: %v", job, err)
			}
			if resp.Done() {
				return
			}
		}
		t.Fatalf("job %s still pending after 10 polls", job)
	}
	t.Run("the request id, its app chosen again from the request", func(t *testing.T) {
		t.Parallel()
		fake := startFake(t)
		opts := map[string]any{"model": "fal-ai/wan-t2v", "image_to_video_model": "fal-ai/wan-i2v"}
		raw, _ := json.Marshal(&task.VideoInput{Prompt: "a boat", ImageURL: "https://media.example.com/still.png"})
		req := provider.Request{TaskID: "t1", Type: task.TypeVideoGeneration, Input: raw}
		resp, err := build(t, fake, 5*time.Second, opts).Start(t.Context(), req)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		if !requestIDRe.MatchString(resp.Job) {
			t.Fatalf("the handle %q is not fal's request id", resp.Job)
		}
		poll(t, fake, opts, req, resp.Job) // the fake answers 404 for a request under another app
		for _, r := range fake.Requests() {
			if r.Method == http.MethodGet && !strings.HasPrefix(r.Path, "/fal-ai/wan-i2v/requests/"+resp.Job) {
				t.Errorf("polled %s; want the image-to-video app's request", r.Path)
			}
		}
	})
	t.Run("a JSON job of an earlier version", func(t *testing.T) {
		t.Parallel()
		fake := startFake(t)
		opts := map[string]any{"model": "fal-ai/flux/dev"}
		raw, _ := json.Marshal(&task.ImageInput{Prompt: "a dog"})
		req := provider.Request{TaskID: "t1", Type: task.TypeImageGeneration, Input: raw}
		resp, err := build(t, fake, 5*time.Second, opts).Start(t.Context(), req)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		root := fake.URL() + "/fal-ai/flux/requests/" + resp.Job
		old, _ := json.Marshal(map[string]string{"app": "fal-ai/flux/dev", "request_id": resp.Job, "status_url": root + "/status", "response_url": root, "cancel_url": root + "/cancel"})
		poll(t, fake, opts, provider.Request{TaskID: "t1", Type: task.TypeImageGeneration, Input: raw}, string(old))
	})
}
