package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/sfnlocal/engine"
)

const tokenResource = "arn:aws:states:::lambda:invoke.waitForTaskToken"

// tokenMachine waits for a token (60 s, caught into Fallback on a
// timeout), as the task workflow waits for a provider's callback.
const tokenMachine = `{"StartAt":"Await","States":{
	"Await":{"Type":"Task","Resource":"` + tokenResource + `",
		"Parameters":{"FunctionName":"process","Payload":{"id.$":"$.id","token.$":"$$.Task.Token"}},
		"TimeoutSeconds":60,"ResultPath":"$.callback","Next":"Done",
		"Retry":[{"ErrorEquals":["Job.Lost"],"IntervalSeconds":1,"MaxAttempts":1}],
		"Catch":[{"ErrorEquals":["States.Timeout"],"ResultPath":"$.error","Next":"Fallback"}]},
	"Fallback":{"Type":"Pass","Result":"polled","ResultPath":"$.fallback","End":true},
	"Done":{"Type":"Succeed"}}}`

// tokens records the tokens its Action was given, by execution.
type tokens struct {
	mu    sync.Mutex
	got   map[string][]string
	calls int
}

func (k *tokens) action(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
	var p struct {
		FunctionName string
		Payload      struct{ ID, Token string }
	}
	if err := json.Unmarshal(in, &p); err != nil {
		return nil, err
	}
	if p.Payload.Token == "" || p.Payload.Token != engine.TaskToken(ctx) {
		return nil, errors.New("the action was not given its token")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls++
	k.got[p.Payload.ID] = append(k.got[p.Payload.ID], p.Payload.Token)
	return json.RawMessage(`"ignored"`), nil
}

func (k *tokens) last(id string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if l := k.got[id]; len(l) > 0 {
		return l[len(l)-1]
	}
	return ""
}

func (k *tokens) count(id string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.got[id])
}

func tokenSetup(t *testing.T, o setupOptions) (*engine.Engine, *bundle, *tokens) {
	k := &tokens{got: map[string][]string{}}
	o.resources = map[string]engine.Action{tokenResource: k.action}
	e, b := setup(t, o, map[string]string{"m": tokenMachine})
	return e, b, k
}

func TestTaskTokenSuccessEndsTheWait(t *testing.T) {
	t.Parallel()
	e, _, k := tokenSetup(t, setupOptions{})
	startExec(t, e, "m", "x", `{"id":"x"}`)
	wait(t, "the token", func() bool { return k.last("x") != "" })
	token := k.last("x")
	// Before the success the execution waits in Await.
	if x, err := e.Describe(context.Background(), "m", "x"); err != nil || x.Status != engine.StatusRunning || x.State != "Await" {
		t.Fatalf("before the success: %+v, %v", x, err)
	}
	if err := e.SendTaskSuccess(context.Background(), token, json.RawMessage(`{"job":"j1"}`)); err != nil {
		t.Fatal(err)
	}
	x := waitEnd(t, e, "m", "x")
	if x.Status != engine.StatusSucceeded {
		t.Fatalf("after the success: %+v", x)
	}
	sameJSON(t, x.Output, `{"id":"x","callback":{"job":"j1"}}`)
	// A token is answered once: a second success, a failure or a
	// heartbeat find no task waiting on it.
	for name, send := range map[string]func() error{
		"success":   func() error { return e.SendTaskSuccess(context.Background(), token, json.RawMessage(`{}`)) },
		"failure":   func() error { return e.SendTaskFailure(context.Background(), token, "X", "y") },
		"heartbeat": func() error { return e.SendTaskHeartbeat(context.Background(), token) },
		"unknown":   func() error { return e.SendTaskSuccess(context.Background(), "nope", json.RawMessage(`{}`)) },
	} {
		if err := send(); !errors.Is(err, engine.ErrTaskTokenNotFound) {
			t.Errorf("%s after the end: %v, want ErrTaskTokenNotFound", name, err)
		}
	}
}

func TestTaskTokenFailureIsRetriedWithANewToken(t *testing.T) {
	t.Parallel()
	e, b, k := tokenSetup(t, setupOptions{})
	startExec(t, e, "m", "x", `{"id":"x"}`)
	wait(t, "the token", func() bool { return k.count("x") == 1 })
	first := k.last("x")
	if err := e.SendTaskFailure(context.Background(), first, "Job.Lost", "the provider lost it"); err != nil {
		t.Fatal(err)
	}
	// The retry waits 1 s, then runs the state again with another token.
	wait(t, "the retry's delay stored", func() bool { _, ok := dueAt(t, b.db, "x"); return ok })
	b.clock.Add(time.Second)
	e.Wake()
	wait(t, "the retry's token", func() bool { return k.count("x") == 2 })
	second := k.last("x")
	if second == first {
		t.Fatal("the retry was given the same token")
	}
	if err := e.SendTaskSuccess(context.Background(), first, json.RawMessage(`{}`)); !errors.Is(err, engine.ErrTaskTokenNotFound) {
		t.Fatalf("the first attempt's token still answered: %v", err)
	}
	// Retries exhausted: the failure ends the execution with its error.
	if err := e.SendTaskFailure(context.Background(), second, "Job.Lost", "again"); err != nil {
		t.Fatal(err)
	}
	x := waitEnd(t, e, "m", "x")
	if x.Status != engine.StatusFailed || x.Error != "Job.Lost" || x.Cause != "again" {
		t.Fatalf("after the second failure: %+v", x)
	}
}

func TestTaskTokenTimeoutIsCaught(t *testing.T) {
	t.Parallel()
	e, b, k := tokenSetup(t, setupOptions{})
	startExec(t, e, "m", "x", `{"id":"x"}`)
	wait(t, "the token", func() bool { return k.count("x") == 1 })
	b.clock.Add(60 * time.Second)
	e.Wake()
	x := waitEnd(t, e, "m", "x")
	if x.Status != engine.StatusSucceeded {
		t.Fatalf("after the timeout: %+v", x)
	}
	var out struct {
		Fallback string
		Error    struct{ Error string }
	}
	if err := json.Unmarshal(x.Output, &out); err != nil || out.Fallback != "polled" || out.Error.Error != "States.Timeout" {
		t.Fatalf("output %s (%v): want the fallback after States.Timeout", x.Output, err)
	}
	if err := e.SendTaskSuccess(context.Background(), k.last("x"), json.RawMessage(`{}`)); !errors.Is(err, engine.ErrTaskTokenNotFound) {
		t.Fatalf("a timed-out token answered: %v", err)
	}
}

func TestTaskTokenHeartbeatTimeout(t *testing.T) {
	t.Parallel()
	k := &tokens{got: map[string][]string{}}
	def := `{"StartAt":"Await","States":{"Await":{"Type":"Task","Resource":"` + tokenResource + `",
		"Parameters":{"Payload":{"id.$":"$.id","token.$":"$$.Task.Token"}},"HeartbeatSeconds":10,"TimeoutSeconds":600,"End":true}}}`
	e, b := setup(t, setupOptions{resources: map[string]engine.Action{tokenResource: k.action}}, map[string]string{"m": def})
	startExec(t, e, "m", "x", `{"id":"x"}`)
	wait(t, "the token", func() bool { return k.count("x") == 1 })
	if err := e.SendTaskHeartbeat(context.Background(), k.last("x")); err != nil {
		t.Fatal(err)
	}
	b.clock.Add(10 * time.Second)
	e.Wake()
	x := waitEnd(t, e, "m", "x")
	if x.Status != engine.StatusFailed || x.Error != "States.HeartbeatTimeout" {
		t.Fatalf("after 10 s without a heartbeat: %+v", x)
	}
}

// The wait is stored: an engine closed (as by kill -9: nothing is written
// at the close) and opened again on the same file keeps the token, does
// not call the action again, and a success sent to the new engine ends
// the wait; a wait whose timeout passed while the engine was down falls
// back at once.
func TestTaskTokenSurvivesARestart(t *testing.T) {
	t.Parallel()
	e, b, k := tokenSetup(t, setupOptions{})
	startExec(t, e, "m", "answered", `{"id":"answered"}`)
	wait(t, "the first token", func() bool { return k.count("answered") == 1 })
	// The Action's call is recorded after it returns, and the run then
	// parks on its timeout: a stop before that record calls it again
	// (at least once, as after any crash mid-call), which is not what
	// this test is about.
	wait(t, "the wait parked", func() bool {
		s, err := e.Stats(context.Background())
		return err == nil && s.Waiting == 1 && s.InFlight == 0
	})
	b.stop()

	b.clock.Add(30 * time.Second)
	k2 := &tokens{got: map[string][]string{}}
	e, b2 := setup(t, setupOptions{path: b.path, clock: b.clock, resources: map[string]engine.Action{tokenResource: k2.action}}, map[string]string{"m": tokenMachine})
	startExec(t, e, "m", "late", `{"id":"late"}`)
	wait(t, "the second token", func() bool { return k2.count("late") == 1 })
	if err := e.SendTaskSuccess(context.Background(), k.last("answered"), json.RawMessage(`{"ok":true}`)); err != nil {
		t.Fatalf("the token issued before the restart: %v", err)
	}
	x := waitEnd(t, e, "m", "answered")
	sameJSON(t, x.Output, `{"id":"answered","callback":{"ok":true}}`)
	if n := k2.count("answered"); n != 0 {
		t.Fatalf("the action ran %d times again after the restart", n)
	}

	b2.stop()
	b.clock.Add(60 * time.Second) // past the second wait's timeout, while down
	e, _ = setup(t, setupOptions{path: b.path, clock: b.clock, resources: map[string]engine.Action{tokenResource: k2.action}}, map[string]string{"m": tokenMachine})
	x = waitEnd(t, e, "m", "late")
	if x.Status != engine.StatusSucceeded || !json.Valid(x.Output) || !contains(x.Output, `"fallback":"polled"`) {
		t.Fatalf("a wait timed out while down: %+v", x)
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }
