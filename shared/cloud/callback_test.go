package cloud_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/api"
	"github.com/videoai/mediatasks/shared/cloud"
	"github.com/videoai/mediatasks/shared/task"
)

// A video task whose provider calls back, on the AWS adapters: the
// process function's start step gives the provider the API's callback
// URL, the workflow waits for it (.waitForTaskToken, run here by the
// local engine), the provider's call reaches the API (the submit
// function's handler), which ends the wait with SendTaskSuccess, and the
// task completes with its file in S3; the wait's record is a DynamoDB
// item of its own. A lost callback is recovered by the fallback poll.
func TestVideoTaskOnACallbackEndToEnd(t *testing.T) {
	for name, tc := range map[string]struct {
		simOptions, fallback string
		lost                 bool
	}{
		// The fallback poll is an hour away: only the callback can end
		// the wait within the test.
		"callback": {`{callback_after_ms: 500, seed: 1}`, "1h", false},
		"lost":     {`{callback_after_ms: 0, callback_lost: true, seed: 1}`, "1s", true},
	} {
		t.Run(name, func(t *testing.T) {
			env, sfn := cloudEnv(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			// The API's public URL must be known before the platform is
			// built (the stack gives it to the process function).
			var apiHandler atomic.Pointer[http.Handler]
			var mu sync.Mutex
			var outcomes []string // of the callbacks the API answered
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := apiHandler.Load()
				if h == nil {
					http.Error(w, "not yet", http.StatusServiceUnavailable)
					return
				}
				rec := httptest.NewRecorder()
				(*h).ServeHTTP(rec, r)
				var answer struct{ Outcome string }
				_ = json.Unmarshal(rec.Body.Bytes(), &answer)
				mu.Lock()
				outcomes = append(outcomes, fmt.Sprintf("%d %s", rec.Code, answer.Outcome))
				mu.Unlock()
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
			}))
			defer front.Close()
			t.Setenv(cloud.EnvPublicBaseURL, front.URL)
			t.Setenv(cloud.EnvConfig, fmt.Sprintf(`providers:
  - name: calls
    type: sim
    task_types: [video_generation]
    options: %s
workflow:
  callback_fallback: %s
`, tc.simOptions, tc.fallback))
			p, err := cloud.FromEnv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			apiHandler.Store(&p.API)
			key := apiKey(t, p, "usr_video")

			rec := call(t, p.API, "POST", api.Prefix+"/videos/generate", key, map[string]any{"prompt": "waves on a beach", "duration_seconds": 5})
			if rec.Code != http.StatusAccepted {
				t.Fatalf("submit: %d %s", rec.Code, rec.Body)
			}
			var submitted task.Task
			decodeInto(t, rec.Body.Bytes(), &submitted)

			runCtx, stop := context.WithCancel(ctx)
			var bg sync.WaitGroup
			defer bg.Wait()
			defer stop()
			bg.Go(func() { p.App.RunDispatcher(runCtx) })
			bg.Go(func() { playStepFunctions(runCtx, t, p, sfn, env) })

			var done task.Task
			getUntil(t, p, key, "/tasks/"+submitted.ID, &done, func() error {
				if done.Status != task.StatusCompleted {
					return fmt.Errorf("task is %s", done.Status)
				}
				return nil
			})
			if done.Output == nil || len(done.Output.Files) == 0 {
				t.Fatalf("completed without its video: %+v", done.Output)
			}
			// The call resumes the wait (SendTaskSuccess), or, when it
			// beats the wait's arming, is recorded and ends the wait at
			// once; a lost one is never received.
			mu.Lock()
			got := slices.Clone(outcomes)
			mu.Unlock()
			resumes := len(sfn.Calls("SendTaskSuccess"))
			switch {
			case tc.lost && (len(got) != 0 || resumes != 0):
				t.Fatalf("a lost callback was received: %v, %d SendTaskSuccess", got, resumes)
			case !tc.lost && !(slices.Equal(got, []string{"200 resumed"}) && resumes == 1) && !(slices.Equal(got, []string{"200 recorded"}) && resumes == 0):
				t.Fatalf("callbacks answered %v with %d SendTaskSuccess calls; want one resumed (and its SendTaskSuccess) or one recorded", got, resumes)
			}
		})
	}
}

func decodeInto(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
