package functions_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/videoai/mediatasks/shared/cloud"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/workflow"
)

// apiGateway is API Gateway in front of the submit function: each HTTP
// request becomes the function's payload 2.0 event, and its answer the
// HTTP answer. Providers call back here.
func apiGateway(t *testing.T, submit *atomic.Pointer[lambdaFunction]) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fn := submit.Load()
		if fn == nil {
			http.Error(w, "no function yet", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		ev := httpEvent(r.Method, strings.TrimPrefix(r.URL.Path, "/api/v1/media"), "", string(body))
		ev.RawQueryString = r.URL.RawQuery
		for k := range r.Header {
			ev.Headers[strings.ToLower(k)] = r.Header.Get(k)
		}
		inv, err := fn.tryInvoke(ev)
		if err != nil || inv.ErrorType != "" {
			http.Error(w, fmt.Sprintf("%v %s", err, inv.ErrorType), http.StatusBadGateway)
			return
		}
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(inv.Result, &resp); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.StatusCode)
		io.WriteString(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A video task whose provider calls back, through the functions under the
// Lambda emulator, each step invoked as its state machine would: start
// tells the provider the callback URL (the API's) and answers
// awaiting_callback; the AwaitCallback state's call records the task
// token; the provider's call, through API Gateway to the submit function,
// ends the wait with SendTaskSuccess; poll and complete finish the task.
// With the callback lost, nothing answers the token, and the poll Step
// Functions makes when the wait times out completes the task.
func TestVideoTaskOnACallbackUnderTheEmulator(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		simOptions string
		lost       bool
	}{
		"callback": {`{callback_after_ms: 300, seed: 1}`, false},
		"lost":     {`{callback_after_ms: 0, callback_lost: true, seed: 1}`, true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var submitFn atomic.Pointer[lambdaFunction]
			gw := apiGateway(t, &submitFn)
			p := setup(t, platformOptions{config: fmt.Sprintf(`providers:
  - name: calls
    type: sim
    task_types: [video_generation]
    options: %s
workflow:
  callback_fallback: 90s
`, tc.simOptions)})
			p.env[cloud.EnvPublicBaseURL] = gw.URL
			fns := p.start(t, "submit", "status", "process")
			submitFn.Store(fns["submit"])
			process := fns["process"]

			resp := p.request(t, fns["submit"], http.MethodPost, "/videos/generate", map[string]any{"prompt": "waves on a beach", "duration_seconds": 5})
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("submit: %d %s", resp.StatusCode, resp.Body)
			}
			var submitted task.Task
			if err := json.Unmarshal([]byte(resp.Body), &submitted); err != nil {
				t.Fatal(err)
			}
			url := p.cloud.TaskQueues[task.PriorityNormal]
			var started events.SQSEventResponse
			process.invoke(t, sqsEvent(url, p.receive(t, url)...)).decode(t, &started)
			execution := ""
			for _, e := range p.sfn.Executions() {
				if e.Name == submitted.ID {
					execution = e.ARN
				}
			}
			if execution == "" {
				t.Fatalf("no execution of %s", submitted.ID)
			}

			var step workflow.Step
			process.invoke(t, map[string]any{"action": workflow.ActionStart, "task_id": submitted.ID, "tried": []string{}}).decode(t, &step)
			if step.State != workflow.StepAwaiting || step.CallbackSeconds == nil || *step.CallbackSeconds != 90 || step.Job == "" {
				t.Fatalf("start answered %+v, want awaiting_callback for 90 s", step)
			}
			token := p.sfn.IssueToken(execution)
			inv := process.invoke(t, map[string]any{"action": workflow.ActionAwaitCallback, "task_id": submitted.ID,
				"provider": step.Provider, "job": step.Job, "token": token})
			switch {
			case inv.ErrorType == workflow.ErrNameCallbackArrived && !tc.lost:
				// The provider was quicker than the wait: its end is
				// recorded, and the definitions poll at once.
				t.Log("the callback came before the wait was armed")
			case inv.ErrorType != "":
				t.Fatalf("await_callback failed: %s: %s", inv.ErrorType, inv.ErrorMessage)
			case !tc.lost:
				waitFor(t, "the callback's SendTaskSuccess", func() bool { _, ok := p.sfn.Answered(token); return ok })
			}

			if tc.lost {
				// Nothing will answer the token: the sim sends no call. The
				// wait's timeout goes to Poll.
				if _, ok := p.sfn.Answered(token); ok {
					t.Fatal("a lost callback answered the token")
				}
			}
			var polled workflow.Step
			process.invoke(t, map[string]any{"action": workflow.ActionPoll, "task_id": submitted.ID, "state": step.State,
				"provider": step.Provider, "job": step.Job, "polls": 0}).decode(t, &polled)
			if polled.State != workflow.StepDone {
				t.Fatalf("poll answered %+v, want done", polled)
			}
			var outcome struct{ Status task.Status }
			process.invoke(t, map[string]any{"action": workflow.ActionComplete, "task_id": submitted.ID, "step": polled}).decode(t, &outcome)
			if outcome.Status != task.StatusCompleted {
				t.Fatalf("complete answered %+v", outcome)
			}
			resp = p.request(t, fns["status"], http.MethodGet, "/tasks/"+submitted.ID, nil)
			var read task.Task
			if json.Unmarshal([]byte(resp.Body), &read) != nil || read.Status != task.StatusCompleted || read.Output == nil || len(read.Output.Files) == 0 {
				t.Fatalf("status: %d %s", resp.StatusCode, resp.Body)
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // a failure bound, not a measure
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
