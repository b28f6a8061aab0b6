package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/videoai/mediatasks/shared/callback"
	"github.com/videoai/mediatasks/shared/callback/sqlitewaits"
	"github.com/videoai/mediatasks/shared/provider"
)

// secretCaller is a provider that calls back with the secret it was
// given in a header and {"job", "status"} as body.
type secretCaller struct{}

func (secretCaller) VerifyCallback(_ context.Context, h http.Header, body []byte, secret string) (string, bool, error) {
	if h.Get("X-Callback-Secret") != secret {
		return "", false, fmt.Errorf("secret header: %w", provider.ErrBadCallback)
	}
	var ev struct{ Job, Status string }
	if err := json.Unmarshal(body, &ev); err != nil || ev.Job == "" {
		return "", false, fmt.Errorf("body: %w", provider.ErrBadCallback)
	}
	return ev.Job, ev.Status == "succeeded", nil
}

// resumer records the tokens it ends the waits of; a token it ended
// already is ErrNotWaiting, as the runners answer.
type resumer struct {
	mu      sync.Mutex
	resumed []string
	fail    error
}

func (r *resumer) ResumeWait(_ context.Context, token string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	for _, t := range r.resumed {
		if t == token {
			return callback.ErrNotWaiting
		}
	}
	r.resumed = append(r.resumed, token)
	return nil
}

type callbackBundle struct {
	keys     callback.Keys
	waits    *sqlitewaits.Waits
	resumer  *resumer
	received *prometheus.CounterVec
}

// counted is how many calls of provider the receiver counted with outcome.
func (cb *callbackBundle) counted(provider, outcome string) int {
	var m dto.Metric
	if err := cb.received.WithLabelValues(provider, outcome).Write(&m); err != nil {
		panic(err)
	}
	return int(m.GetCounter().GetValue())
}

func setupCallbacks(t *testing.T) (http.Handler, *callbackBundle) {
	t.Helper()
	cb := &callbackBundle{resumer: &resumer{}, received: callback.NewReceived()}
	var err error
	if cb.keys, err = callback.NewKeys([]byte("the platform's callback secret!!")); err != nil {
		t.Fatal(err)
	}
	var b *bundle
	h, b := setup(t, withOptions(func(o *Options) {
		o.Callbacks = &callback.Receiver{
			Keys:    cb.keys,
			Resumer: cb.resumer,
			Callers: func(name string) (provider.Caller, bool) {
				return secretCaller{}, name == "replicate"
			},
			Waits:    waitsProxy{cb},
			Received: cb.received,
		}
	}))
	if cb.waits, err = sqlitewaits.New(context.Background(), b.db); err != nil {
		t.Fatal(err)
	}
	return h, cb
}

// waitsProxy lets the receiver be built before the waits' table (which
// needs the bundle's database).
type waitsProxy struct{ cb *callbackBundle }

func (w waitsProxy) Arm(ctx context.Context, task, p, job, token string) (bool, error) {
	return w.cb.waits.Arm(ctx, task, p, job, token)
}
func (w waitsProxy) Arrive(ctx context.Context, task, p, job string) (string, error) {
	return w.cb.waits.Arrive(ctx, task, p, job)
}
func (w waitsProxy) Forget(ctx context.Context, task string) error {
	return w.cb.waits.Forget(ctx, task)
}

// callbackPath is the path and query of provider's callback URL for task.
func (cb *callbackBundle) callbackPath(provider, task string) string {
	u, _ := url.Parse(cb.keys.URL("http://example.test", provider, task))
	return u.RequestURI()
}

func callbackReq(path, secret, body string) req {
	return req{method: "POST", path: path, body: body, header: map[string]string{"X-Callback-Secret": secret}}
}

func TestProviderCallbackEndsTheWaitOnce(t *testing.T) {
	t.Parallel()
	h, cb := setupCallbacks(t)
	ctx := context.Background()
	if callback.Path != Prefix+"/providers/{name}/callback" {
		t.Fatalf("callback.Path %s is not the API's route", callback.Path)
	}
	if _, err := cb.waits.Arm(ctx, "task-1", "replicate", "job-1", "token-1"); err != nil {
		t.Fatal(err)
	}
	path, secret := cb.callbackPath("replicate", "task-1"), cb.keys.ProviderSecret("replicate")
	done := `{"job":"job-1","status":"succeeded"}`

	for i, want := range []string{"resumed", "ignored"} { // then a retried callback
		rec := do(t, h, callbackReq(path, secret, done))
		wantStatus(t, rec, http.StatusOK)
		if got := decode[map[string]string](t, rec)["outcome"]; got != want {
			t.Fatalf("call %d: outcome %q, want %q", i, got, want)
		}
	}
	if len(cb.resumer.resumed) != 1 || cb.resumer.resumed[0] != "token-1" {
		t.Fatalf("resumed %v, want token-1 once", cb.resumer.resumed)
	}
	// A progress event keeps the wait; an end before the wait is armed is
	// recorded, and the wait armed afterwards sees it.
	rec := do(t, h, callbackReq(path, secret, `{"job":"job-1","status":"processing"}`))
	if got := decode[map[string]string](t, rec)["outcome"]; got != "ignored" {
		t.Fatalf("progress event: %q", got)
	}
	rec = do(t, h, callbackReq(cb.callbackPath("replicate", "task-2"), secret, `{"job":"job-2","status":"succeeded"}`))
	if got := decode[map[string]string](t, rec)["outcome"]; got != "recorded" {
		t.Fatalf("early end: %q", got)
	}
	if arrived, err := cb.waits.Arm(ctx, "task-2", "replicate", "job-2", "token-2"); err != nil || !arrived {
		t.Fatalf("arm after an early end: arrived %v, %v", arrived, err)
	}
	for outcome, want := range map[string]int{"resumed": 1, "ignored": 2, "recorded": 1, "refused": 0} {
		if got := cb.counted("replicate", outcome); got != want {
			t.Errorf("counted %d %s callbacks, want %d", got, outcome, want)
		}
	}
}

func TestProviderCallbackRefusals(t *testing.T) {
	t.Parallel()
	h, cb := setupCallbacks(t)
	secret := cb.keys.ProviderSecret("replicate")
	good := cb.callbackPath("replicate", "task-1")
	body := `{"job":"job-1","status":"succeeded"}`
	// Another task's reference with this task's id: the signature covers both.
	forged := strings.Replace(cb.callbackPath("replicate", "task-2"), "task-2", "task-1", 1)
	tests := map[string]struct {
		r     req
		code  int
		field string
	}{
		"wrong secret":              {callbackReq(good, "guess", body), http.StatusUnauthorized, "signature"},
		"unreadable body":           {callbackReq(good, secret, "{"), http.StatusUnauthorized, "signature"},
		"no task reference":         {callbackReq(Prefix+"/providers/replicate/callback", secret, body), http.StatusUnauthorized, "task"},
		"forged task reference":     {callbackReq(forged, secret, body), http.StatusUnauthorized, "task"},
		"another provider's ref":    {callbackReq(strings.Replace(cb.callbackPath("fal", "task-1"), "/fal/", "/replicate/", 1), secret, body), http.StatusUnauthorized, "task"},
		"another provider's secret": {callbackReq(good, cb.keys.ProviderSecret("fal"), body), http.StatusUnauthorized, "signature"},
		"unknown provider":          {callbackReq(cb.callbackPath("nope", "task-1"), secret, body), http.StatusNotFound, "name"},
		"body over 1 MiB":           {callbackReq(good, secret, `{"job":"`+strings.Repeat("x", maxCallbackBody)+`"}`), http.StatusRequestEntityTooLarge, ""},
		"GET is not a callback":     {req{method: "GET", path: good}, http.StatusMethodNotAllowed, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			wantProblem(t, do(t, h, tc.r), tc.code, tc.field)
		})
	}
	if len(cb.resumer.resumed) != 0 {
		t.Fatalf("a refused callback resumed %v", cb.resumer.resumed)
	}
	// An unknown name is counted under "unknown": no caller grows the
	// metric's labels. (A call without a reference, 413 and 405 never
	// reach the receiver.)
	if got := cb.counted("unknown", "refused"); got != 1 {
		t.Errorf("counted %d refusals of an unknown provider, want 1", got)
	}
	if got := cb.counted("replicate", "refused"); got != 5 {
		t.Errorf("counted %d refused callbacks of replicate, want 5", got)
	}
}

// A failure of the platform (the runner cannot be reached) is a 5xx: the
// provider retries, and the retry finds the wait still armed.
func TestProviderCallbackRetriedAfterAFailure(t *testing.T) {
	t.Parallel()
	h, cb := setupCallbacks(t)
	if _, err := cb.waits.Arm(context.Background(), "task-1", "replicate", "job-1", "token-1"); err != nil {
		t.Fatal(err)
	}
	path, secret := cb.callbackPath("replicate", "task-1"), cb.keys.ProviderSecret("replicate")
	body := `{"job":"job-1","status":"succeeded"}`
	cb.resumer.fail = errors.New("step functions unreachable")
	wantProblem(t, do(t, h, callbackReq(path, secret, body)), http.StatusInternalServerError, "")
	cb.resumer.fail = nil
	rec := do(t, h, callbackReq(path, secret, body))
	if got := decode[map[string]string](t, rec)["outcome"]; got != "resumed" {
		t.Fatalf("the retry: %q", got)
	}
}

// Without a public base URL the server takes no callbacks.
func TestProviderCallbackOff(t *testing.T) {
	t.Parallel()
	h, _ := setup(t)
	wantProblem(t, do(t, h, req{method: "POST", path: Prefix + "/providers/replicate/callback?task=x.y", body: "{}"}), http.StatusNotFound, "")
}
