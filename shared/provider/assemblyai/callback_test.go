package assemblyai_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/assemblyai"
	"github.com/videoai/mediatasks/shared/task"
)

func TestCreateCallbackFields(t *testing.T) {
	t.Parallel()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(recv.Close)
	fields := []string{"webhook_url", "webhook_auth_header_name", "webhook_auth_header_value"}
	for name, c := range map[string]struct {
		callback *provider.Callback
		want     []string // the fields' values; nil: absent
	}{
		"no callback": {},
		"callback": {callback: &provider.Callback{URL: recv.URL + "/cb?ref=1", Secret: "s3cret-value"},
			want: []string{recv.URL + "/cb?ref=1", assemblyai.CallbackHeader, "s3cret-value"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t)
			p := newProvider(t, fake, 5*time.Second, nil)
			raw, _ := json.Marshal(&task.TranscriptionInput{AudioURL: "https://media.example.com/talk.mp3"})
			if _, err := p.Start(t.Context(), provider.Request{TaskID: "t1", Type: task.TypeAudioTranscription, Input: raw, Media: publicMedia(), Callback: c.callback}); err != nil {
				t.Fatalf("Start: %v", err)
			}
			fake.Settle()
			body := fake.Created()[0]
			for i, f := range fields {
				got, ok := body[f]
				switch {
				case c.want == nil && ok:
					t.Errorf("%s sent without a callback: %v", f, got)
				case c.want != nil && got != c.want[i]:
					t.Errorf("%s = %v, want %s", f, got, c.want[i])
				}
			}
		})
	}
}

func TestVerifyCallbackRules(t *testing.T) {
	t.Parallel()
	caller := newProvider(t, newFake(t), 5*time.Second, nil).(provider.Caller)
	header := func(v string) http.Header {
		h := http.Header{}
		h.Set(assemblyai.CallbackHeader, v)
		return h
	}
	for name, c := range map[string]struct {
		header http.Header
		secret string
		body   string
		job    string
		final  bool
		bad    bool
	}{
		"completed":            {header: header("sec-1"), secret: "sec-1", body: `{"transcript_id":"tr-1","status":"completed"}`, job: "tr-1", final: true},
		"error":                {header: header("sec-1"), secret: "sec-1", body: `{"transcript_id":"tr-1","status":"error"}`, job: "tr-1", final: true},
		"processing":           {header: header("sec-1"), secret: "sec-1", body: `{"transcript_id":"tr-1","status":"processing"}`, job: "tr-1"},
		"wrong secret":         {header: header("sec-2"), secret: "sec-1", body: `{"transcript_id":"tr-1","status":"completed"}`, bad: true},
		"a prefix of it":       {header: header("sec"), secret: "sec-1", body: `{"transcript_id":"tr-1","status":"completed"}`, bad: true},
		"no header":            {header: http.Header{}, secret: "sec-1", body: `{"transcript_id":"tr-1","status":"completed"}`, bad: true},
		"no secret to compare": {header: header(""), secret: "", body: `{"transcript_id":"tr-1","status":"completed"}`, bad: true},
		"no transcript id":     {header: header("sec-1"), secret: "sec-1", body: `{"status":"completed"}`, bad: true},
		"not JSON":             {header: header("sec-1"), secret: "sec-1", body: `<html>`, bad: true},
	} {
		job, final, err := caller.VerifyCallback(t.Context(), c.header, []byte(c.body), c.secret)
		switch {
		case c.bad && !errors.Is(err, provider.ErrBadCallback):
			t.Errorf("%s: VerifyCallback = %q, %v, %v; want ErrBadCallback", name, job, final, err)
		case c.bad && (strings.Contains(err.Error(), "sec-1") || strings.Contains(err.Error(), "sec-2")):
			t.Errorf("%s: the error shows a secret: %v", name, err)
		case !c.bad && (err != nil || job != c.job || final != c.final):
			t.Errorf("%s: VerifyCallback = %q, %v, %v; want %q, %v", name, job, final, err, c.job, c.final)
		}
	}
}
