package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/app"
)

// No body sent to any POST route may cause a 5xx or a panic.
func FuzzSubmitDecoding(f *testing.F) {
	seeds := []struct {
		route uint8
		body  string
	}{
		{0, `{"prompt":"a fox","size":"512x512","n":2,"metadata":{"a":"b"},"priority":"high"}`},
		{0, `{"prompt":"x","prompt_optimization":{"mode":"template","template":"t","params":{"k":"v"}}}`},
		{0, `{"prompt":"x","webhook_url":"https://example.com/h","webhook_events":["task.completed"]}`},
		{1, `{"prompt":"sea","image_url":"https://example.com/a.png","duration_seconds":20,"aspect_ratio":"9:16"}`},
		{2, `{"audio_url":"https://example.com/a.mp3","language":"en-US"}`},
		{2, `{"upload_id":"../../etc/passwd"}`},
		{3, `{"transcription_task_id":"x","format":"vtt","max_line_chars":80}`},
		{4, `{"tasks":[{"task_type":"image_generation","input_data":{"prompt":"x"}},{"task_type":"audio_transcription","input_data":null}]}`},
		{4, `{"tasks":[{"task_type":"video_generation","input_data":{"prompt":"x","n":1}}],"webhook_events":[]}`},
		{5, ``},
		{5, `{}`},
		{6, "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--b--\r\n"},
		{0, `{"prompt":"\ud800","n":1e309}`},
		{0, `{"prompt":"x"}garbage`},
		{0, `[`},
		{4, `{"tasks":{}}`},
	}
	for _, s := range seeds {
		f.Add(s.route, []byte(s.body), "")
	}
	f.Add(uint8(0), []byte(`{"prompt":"x"}`), "wait=0")
	f.Add(uint8(0), []byte(`{"prompt":"x"}`), "k")
	// Prefer: wait is capped at nothing, so that no input makes a run wait.
	h, b := setup(f, withLimits(func(l *app.Limits) { l.PreferWaitMax = time.Millisecond }))
	paths := []string{
		Prefix + "/images/generate", Prefix + "/videos/generate", Prefix + "/audio/transcribe",
		Prefix + "/subtitles/generate", Prefix + "/batches", Prefix + "/tasks/x/cancel", Prefix + "/uploads",
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte, header string) {
		path := paths[int(route)%len(paths)]
		hr := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		hr.Header.Set("Authorization", "Bearer "+b.keyA)
		switch path {
		case Prefix + "/uploads":
			hr.Header.Set("Content-Type", "multipart/form-data; boundary=b")
		default:
			hr.Header.Set("Content-Type", "application/json")
		}
		if header != "" {
			// The same string serves as a preference and as a key.
			hr.Header.Set("Prefer", header)
			hr.Header.Set("Idempotency-Key", header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, hr)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", path, body, rec.Code, rec.Body)
		}
		checkResponse(t, http.MethodPost, path, rec.Code, rec.Header(), rec.Body.Bytes())
	})
}
