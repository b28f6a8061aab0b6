package steps_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/callback"
	"github.com/videoai/mediatasks/shared/callback/sqlitewaits"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/workflow"
	"github.com/videoai/mediatasks/shared/workflow/steps"
)

type nopCaller struct{}

func (nopCaller) VerifyCallback(context.Context, http.Header, []byte, string) (string, bool, error) {
	return "", false, provider.ErrBadCallback
}

// withCallbacks rebuilds b's actions with callbacks at baseURL.
func withCallbacks(t *testing.T, b *bundle, baseURL string) (callback.Keys, callback.Waits) {
	t.Helper()
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "waits.db"), sqlitedb.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	waits, err := sqlitewaits.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := callback.NewKeys([]byte("sixteen bytes or more of secret"))
	if err != nil {
		t.Fatal(err)
	}
	b.actions = steps.New(steps.Deps{App: b.app, Blobs: b.blobs, Providers: b.prov, AllowPrivateOutputs: true,
		Callbacks: &steps.Callbacks{BaseURL: baseURL, Keys: keys, Waits: waits}})
	return keys, waits
}

func (b *bundle) step(t *testing.T, in any) workflow.Step {
	t.Helper()
	out, err := b.invoke(t, in)
	if err != nil {
		t.Fatal(err)
	}
	var s workflow.Step
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// A provider that can call back is told the callback URL (under the
// public base URL, with the task's signed reference) and its secret, and
// the step waits for the call; a provider that cannot, or a server
// without a public base URL, polls as before.
func TestStartAsksForACallbackWhenTheProviderCanCallBack(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		caller  bool
		baseURL string
		want    bool
	}{
		"caller with a base URL": {true, "https://tasks.example.com", true},
		"not a caller":           {false, "https://tasks.example.com", false},
		"no base URL":            {true, "", false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			keys, _ := withCallbacks(t, b, tc.baseURL)
			if tc.caller {
				b.prov.caller = nopCaller{}
			}
			var sent provider.Request
			b.prov.start = func(req provider.Request) (provider.Response, error) {
				sent = req
				return provider.Response{Job: "job-1", PollAfter: 10 * time.Second}, nil
			}
			tk := b.submit(t)
			step := b.step(t, map[string]any{"action": "start", "task_id": tk.ID, "tried": []string{}})
			if !tc.want {
				if sent.Callback != nil || step.State != workflow.StepPending || step.CallbackSeconds != nil {
					t.Fatalf("sent callback %+v, step %+v; want a plain pending job", sent.Callback, step)
				}
				return
			}
			if sent.Callback == nil {
				t.Fatal("the provider was not told a callback")
			}
			u, err := url.Parse(sent.Callback.URL)
			if err != nil || !strings.HasPrefix(sent.Callback.URL, tc.baseURL+"/api/v1/media/providers/p1/callback?") {
				t.Fatalf("callback URL %s", sent.Callback.URL)
			}
			if id, err := keys.TaskOf(u.Query().Get(callback.RefParam), "p1"); err != nil || id != tk.ID {
				t.Fatalf("the URL's reference names %q (%v), want %s", id, err, tk.ID)
			}
			if sent.Callback.Secret != keys.ProviderSecret("p1") || sent.Callback.Secret == keys.ProviderSecret("p2") {
				t.Fatal("the callback secret is not the provider's own")
			}
			if step.State != workflow.StepAwaiting || step.CallbackSeconds == nil || *step.CallbackSeconds != int(callback.DefaultFallback.Seconds()) ||
				step.PollAfterSeconds == nil || *step.PollAfterSeconds != 10 {
				t.Fatalf("step %+v, want awaiting_callback for the default fallback, keeping poll_after_seconds", step)
			}
			// The fallback poll of a job still running waits again.
			polled := b.step(t, map[string]any{"action": "poll", "task_id": tk.ID, "state": step.State, "provider": "p1", "job": "job-1", "polls": 0})
			if polled.State != workflow.StepAwaiting {
				t.Fatalf("fallback poll answered %+v, want awaiting_callback", polled)
			}
		})
	}
}

// await_callback records the wait's token; when the job's end came first
// it fails with Callback.Arrived, so that the workflow polls at once.
func TestAwaitCallbackArmsTheWait(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, waits := withCallbacks(t, b, "https://tasks.example.com")
	ctx := context.Background()
	first, second := b.submit(t), b.submit(t)
	for _, tk := range []string{first.ID, second.ID} {
		if _, err := b.app.StartAttempt(ctx, tk, "p1", nil); err != nil {
			t.Fatal(err)
		}
	}
	await := func(taskID string) error {
		_, err := b.invoke(t, map[string]any{"action": "await_callback", "task_id": taskID, "provider": "p1", "job": "job-1", "token": "tok-" + taskID})
		return err
	}
	if err := await(first.ID); err != nil {
		t.Fatal(err)
	}
	if token, err := waits.Arrive(ctx, first.ID, "p1", "job-1"); err != nil || token != "tok-"+first.ID {
		t.Fatalf("the armed wait's token: %q, %v", token, err)
	}
	if _, err := waits.Arrive(ctx, second.ID, "p1", "job-1"); err != nil {
		t.Fatal(err)
	}
	var se *workflow.StepError
	if err := await(second.ID); !errors.As(err, &se) || se.Name != workflow.ErrNameCallbackArrived {
		t.Fatalf("await after the end arrived: %v, want %s", err, workflow.ErrNameCallbackArrived)
	}
	if _, err := b.invoke(t, map[string]any{"action": "await_callback", "task_id": first.ID}); !errors.As(err, &se) || se.Name != workflow.ErrNameBadInput {
		t.Fatalf("await without a token: %v, want %s", err, workflow.ErrNameBadInput)
	}
}
