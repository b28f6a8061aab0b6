package engine_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/sfnlocal/engine"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/testkit/clocktest"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type bundle struct {
	db    *sqlitedb.DB
	path  string
	clock *clocktest.Fake
	stop  func() // cancels Run and waits for it to return
}

type setupOptions struct {
	resources map[string]engine.Action
	rand      func() float64
	path      string // an existing database file, to restart on
	clock     *clocktest.Fake
	dropped   func(machine, name, state string, result json.RawMessage)
	workers   int
	rank      func(machine string, input json.RawMessage) int
}

// setup opens the database, makes an engine with the resources, loads the
// machines and runs the engine until the test ends.
func setup(t *testing.T, o setupOptions, machines map[string]string) (*engine.Engine, *bundle) {
	t.Helper()
	b := &bundle{path: o.path, clock: o.clock}
	if b.path == "" {
		b.path = filepath.Join(t.TempDir(), "wf.db")
	}
	if b.clock == nil {
		b.clock = clocktest.NewFake(start)
	}
	db, err := sqlitedb.Open(b.path, sqlitedb.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	b.db = db
	e, err := engine.New(context.Background(), db, engine.Options{
		Workers: cmp.Or(o.workers, 8), Resources: o.resources, Now: b.clock.Now, Rand: o.rand, Dropped: o.dropped, Rank: o.rank,
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, def := range machines {
		if err := e.Load(name, []byte(def), nil); err != nil {
			t.Fatalf("load %s: %v", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	b.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
			db.Close()
		})
	}
	t.Cleanup(b.stop)
	return e, b
}

// wait polls until cond holds; the bound only keeps a broken engine from
// hanging the test.
func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitEnd(t *testing.T, e *engine.Engine, machine, name string) engine.Execution {
	t.Helper()
	var x engine.Execution
	wait(t, "the end of "+name, func() bool {
		var err error
		if x, err = e.Describe(context.Background(), machine, name); err != nil {
			t.Fatal(err)
		}
		return x.Status != engine.StatusRunning
	})
	return x
}

func startExec(t *testing.T, e *engine.Engine, machine, name, input string) {
	t.Helper()
	if _, existed, err := e.Start(context.Background(), machine, name, json.RawMessage(input)); err != nil || existed {
		t.Fatalf("start %s: existed %v, %v", name, existed, err)
	}
}

func sameJSON(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("output %s, want %s", gb, wb)
	}
}

// dueAt reads a stored due time (the end of a Wait or retry delay).
func dueAt(t *testing.T, db *sqlitedb.DB, name string) (time.Time, bool) {
	t.Helper()
	var due *int64
	if err := db.Read.QueryRow(`SELECT due_at FROM workflow_executions WHERE name = ?`, name).Scan(&due); err != nil {
		t.Fatal(err)
	}
	if due == nil {
		return time.Time{}, false
	}
	return time.Unix(0, *due).UTC(), true
}

func add(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
	var v struct{ A, B int }
	if err := json.Unmarshal(in, &v); err != nil {
		return nil, err
	}
	return json.RawMessage(fmt.Sprintf(`{"sum":%d}`, v.A+v.B)), nil
}

func TestStatesRun(t *testing.T) {
	t.Parallel()
	def := `{"StartAt":"Init","States":{
		"Init":{"Type":"Pass","Result":{"a":2},"ResultPath":"$.in","Next":"Add"},
		"Add":{"Type":"Task","Resource":"add","Parameters":{"A.$":"$.in.a","B.$":"$.b"},"ResultSelector":{"n.$":"$.sum"},"ResultPath":"$.res","Next":"Pause"},
		"Pause":{"Type":"Wait","Seconds":30,"Next":"Big?"},
		"Big?":{"Type":"Choice","Choices":[{"Variable":"$.res.n","NumericGreaterThan":5,"Next":"Big"}],"Default":"Small"},
		"Big":{"Type":"Succeed","OutputPath":"$.res"},
		"Small":{"Type":"Fail","Error":"Too.Small","CausePath":"$.why"}}}`
	e, b := setup(t, setupOptions{resources: map[string]engine.Action{"add": add}}, map[string]string{"m": def})
	startExec(t, e, "m", "big", `{"b":10}`)
	startExec(t, e, "m", "small", `{"b":1,"why":"below six"}`)
	for _, name := range []string{"big", "small"} {
		wait(t, name+" waiting", func() bool { _, ok := dueAt(t, b.db, name); return ok })
		due, _ := dueAt(t, b.db, name)
		if !due.Equal(start.Add(30 * time.Second)) {
			t.Fatalf("%s due at %v", name, due)
		}
		x, err := e.Describe(context.Background(), "m", name)
		if err != nil || x.Status != engine.StatusRunning || x.State != "Pause" {
			t.Fatalf("%s during the wait: %+v, %v", name, x, err)
		}
	}
	b.clock.Add(30 * time.Second)
	e.Wake()
	x := waitEnd(t, e, "m", "big")
	if x.Status != engine.StatusSucceeded {
		t.Fatalf("big: %+v", x)
	}
	sameJSON(t, x.Output, `{"n":12}`)
	x = waitEnd(t, e, "m", "small")
	if x.Status != engine.StatusFailed || x.Error != "Too.Small" || x.Cause != "below six" || x.StoppedAt == nil {
		t.Fatalf("small: %+v", x)
	}
	st, err := e.Stats(context.Background())
	if err != nil || st.Executions[engine.StatusSucceeded] != 1 || st.Executions[engine.StatusFailed] != 1 {
		t.Fatalf("stats %+v, %v", st, err)
	}
}

func TestRetryBackoffWithJitter(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	flaky := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		if calls.Add(1) <= 3 {
			return nil, &engine.TaskError{Name: "Provider.Transient", Cause: "busy"}
		}
		return json.RawMessage(`"ok"`), nil
	}
	def := `{"StartAt":"Call","States":{"Call":{"Type":"Task","Resource":"flaky","End":true,
		"Retry":[{"ErrorEquals":["Other"],"MaxAttempts":1},
			{"ErrorEquals":["Provider.Transient"],"IntervalSeconds":2,"BackoffRate":3,"MaxDelaySeconds":10,"MaxAttempts":3,"JitterStrategy":"FULL"}]}}}`
	e, b := setup(t, setupOptions{resources: map[string]engine.Action{"flaky": flaky}, rand: func() float64 { return 0.5 }},
		map[string]string{"m": def})
	startExec(t, e, "m", "x", `{}`)
	// Delays: 2*3^n capped at 10, halved by the jitter.
	for i, delay := range []time.Duration{time.Second, 3 * time.Second, 5 * time.Second} {
		now := b.clock.Now()
		wait(t, fmt.Sprintf("retry %d stored", i), func() bool {
			due, ok := dueAt(t, b.db, "x")
			return ok && due.After(now) && calls.Load() == int32(i+1)
		})
		due, _ := dueAt(t, b.db, "x")
		if want := now.Add(delay); !due.Equal(want) {
			t.Fatalf("retry %d due at %v, want %v", i, due, want)
		}
		b.clock.Add(delay - time.Millisecond)
		e.Wake()
		if n := calls.Load(); n != int32(i+1) {
			t.Fatalf("called %d times before the delay ended", n)
		}
		b.clock.Add(time.Millisecond)
		e.Wake()
	}
	x := waitEnd(t, e, "m", "x")
	if x.Status != engine.StatusSucceeded || calls.Load() != 4 {
		t.Fatalf("%+v after %d calls", x, calls.Load())
	}
	sameJSON(t, x.Output, `"ok"`)
}

func TestRetriesExhaustedThenCaught(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	failing := func(context.Context, json.RawMessage) (json.RawMessage, error) {
		calls.Add(1)
		return nil, errors.New("disk on fire")
	}
	def := `{"StartAt":"Call","States":{
		"Call":{"Type":"Task","Resource":"failing","Next":"Done",
			"Retry":[{"ErrorEquals":["States.TaskFailed"],"MaxAttempts":2,"JitterStrategy":"FULL"}],
			"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"Handled"}]},
		"Handled":{"Type":"Pass","End":true},
		"Done":{"Type":"Succeed"}}}`
	e, _ := setup(t, setupOptions{resources: map[string]engine.Action{"failing": failing}, rand: func() float64 { return 0 }},
		map[string]string{"m": def})
	startExec(t, e, "m", "x", `{"keep":1}`)
	x := waitEnd(t, e, "m", "x")
	if x.Status != engine.StatusSucceeded || calls.Load() != 3 {
		t.Fatalf("%+v after %d calls", x, calls.Load())
	}
	sameJSON(t, x.Output, `{"keep":1,"error":{"Error":"States.TaskFailed","Cause":"disk on fire"}}`)
}

func TestTimeoutCaught(t *testing.T) {
	t.Parallel()
	slow := func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	def := `{"StartAt":"Slow","States":{
		"Slow":{"Type":"Task","Resource":"slow","TimeoutSeconds":1,"End":true,
			"Catch":[{"ErrorEquals":["States.TaskFailed"],"Next":"Wrong"},{"ErrorEquals":["States.Timeout"],"ResultPath":"$.timeout","Next":"Late"}]},
		"Wrong":{"Type":"Fail","Error":"Wrong"},
		"Late":{"Type":"Pass","OutputPath":"$.timeout.Error","End":true}}}`
	e, _ := setup(t, setupOptions{resources: map[string]engine.Action{"slow": slow}}, map[string]string{"m": def})
	startExec(t, e, "m", "x", `{}`)
	x := waitEnd(t, e, "m", "x")
	if x.Status != engine.StatusSucceeded {
		t.Fatalf("%+v", x)
	}
	sameJSON(t, x.Output, `"States.Timeout"`)
}

// concurrency counts the calls running at once.
type concurrency struct {
	mu       sync.Mutex
	cond     *sync.Cond
	cur, max int
	started  int
}

func newConcurrency() *concurrency {
	c := &concurrency{}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// enter counts a call in, then holds it until limit calls run at once (or
// every call has started, or a while passed), so that an engine running
// more than limit at once is seen doing it.
func (c *concurrency) enter(limit, total int) {
	defer time.Sleep(20 * time.Millisecond) // slow: calls beyond the limit would start meanwhile
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur++
	c.started++
	c.max = max(c.max, c.cur)
	c.cond.Broadcast()
	give := time.Now().Add(2 * time.Second)
	for c.cur < limit && c.started < total && time.Now().Before(give) {
		go func() { time.Sleep(10 * time.Millisecond); c.cond.Broadcast() }()
		c.cond.Wait()
	}
}

func (c *concurrency) leave() {
	c.mu.Lock()
	c.cur--
	c.mu.Unlock()
}

func TestMapMaxConcurrency(t *testing.T) {
	t.Parallel()
	const items, limit = 12, 3
	c := newConcurrency()
	work := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		c.enter(limit, items)
		defer c.leave()
		var v struct{ I, V int }
		if err := json.Unmarshal(in, &v); err != nil {
			return nil, err
		}
		return json.RawMessage(fmt.Sprintf(`{"i":%d,"v":%d}`, v.I, v.V*10)), nil
	}
	def := `{"StartAt":"Each","States":{"Each":{"Type":"Map","ItemsPath":"$.list","MaxConcurrency":3,
		"ItemSelector":{"I.$":"$$.Map.Item.Index","V.$":"$$.Map.Item.Value"},
		"ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":"work","End":true}}},
		"ResultPath":"$.out","End":true}}}`
	e, _ := setup(t, setupOptions{resources: map[string]engine.Action{"work": work}}, map[string]string{"m": def})
	list := make([]string, items)
	want := make([]string, items)
	for i := range list {
		list[i] = fmt.Sprint(i + 1)
		want[i] = fmt.Sprintf(`{"i":%d,"v":%d}`, i, (i+1)*10)
	}
	startExec(t, e, "m", "x", `{"list":[`+strings.Join(list, ",")+`]}`)
	x := waitEnd(t, e, "m", "x")
	if x.Status != engine.StatusSucceeded {
		t.Fatalf("%+v", x)
	}
	sameJSON(t, x.Output, `{"list":[`+strings.Join(list, ",")+`],"out":[`+strings.Join(want, ",")+`]}`)
	if c.max != limit {
		t.Fatalf("at most %d items ran at once, want %d", c.max, limit)
	}
}

func TestMapItemFailure(t *testing.T) {
	t.Parallel()
	work := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		if string(in) == `3` {
			return nil, &engine.TaskError{Name: "Item.Bad", Cause: "three"}
		}
		return in, nil
	}
	def := `{"StartAt":"Each","States":{
		"Each":{"Type":"Map","ItemsPath":"$.list",%s
			"ItemProcessor":{"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":"work","End":true%s},
				"Fallback":{"Type":"Pass","Result":"caught","End":true}}},
			"Catch":[{"ErrorEquals":["Item.Bad"],"ResultPath":"$.err","Next":"Caught"}],"End":true},
		"Caught":{"Type":"Pass","OutputPath":"$.err","End":true}}}`
	uncaught := fmt.Sprintf(def, `"MaxConcurrency":2,`, "")
	caughtInItem := fmt.Sprintf(def, "", `,"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Fallback"}]`)
	e, _ := setup(t, setupOptions{resources: map[string]engine.Action{"work": work}},
		map[string]string{"uncaught": uncaught, "inItem": caughtInItem})
	startExec(t, e, "uncaught", "x", `{"list":[1,2,3,4,5,6]}`)
	startExec(t, e, "inItem", "x", `{"list":[1,2,3,4]}`)
	x := waitEnd(t, e, "uncaught", "x")
	if x.Status != engine.StatusSucceeded {
		t.Fatalf("uncaught: %+v", x)
	}
	sameJSON(t, x.Output, `{"Error":"Item.Bad","Cause":"three"}`)
	x = waitEnd(t, e, "inItem", "x")
	if x.Status != engine.StatusSucceeded {
		t.Fatalf("inItem: %+v", x)
	}
	sameJSON(t, x.Output, `[1,2,"caught",4]`)
}

const childDef = `{"StartAt":"Check","States":{
	"Check":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericLessThan":0,"Next":"Refuse"}],"Default":"Double"},
	"Double":{"Type":"Task","Resource":"double","End":true},
	"Refuse":{"Type":"Fail","Error":"Child.Negative","Cause":"n < 0"}}}`

func double(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
	var v struct{ N int }
	if err := json.Unmarshal(in, &v); err != nil {
		return nil, err
	}
	return json.RawMessage(fmt.Sprintf(`{"n":%d}`, 2*v.N)), nil
}

func TestChildExecution(t *testing.T) {
	t.Parallel()
	parent := `{"StartAt":"Run","States":{
		"Run":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution.sync:2",
			"Parameters":{"StateMachineArn":"arn:aws:states:eu-west-1:123456789012:stateMachine:child","Name.$":"$.id","Input":{"n.$":"$.n"}},
			"ResultSelector":{"name.$":"$.Name","status.$":"$.Status","out.$":"$.Output.n"},
			"Catch":[{"ErrorEquals":["States.TaskFailed"],"ResultPath":"$.error","Next":"Broke"}],"End":true},
		"Broke":{"Type":"Pass","End":true}}}`
	e, _ := setup(t, setupOptions{resources: map[string]engine.Action{"double": double}},
		map[string]string{"parent": parent, "child": childDef})
	startExec(t, e, "parent", "ok", `{"id":"c1","n":21}`)
	startExec(t, e, "parent", "bad", `{"id":"c2","n":-1}`)
	x := waitEnd(t, e, "parent", "ok")
	if x.Status != engine.StatusSucceeded {
		t.Fatalf("ok: %+v", x)
	}
	sameJSON(t, x.Output, `{"name":"c1","status":"SUCCEEDED","out":42}`)
	child, err := e.Describe(context.Background(), "child", "c1")
	if err != nil || child.Status != engine.StatusSucceeded {
		t.Fatalf("child c1: %+v, %v", child, err)
	}

	x = waitEnd(t, e, "parent", "bad")
	if x.Status != engine.StatusSucceeded {
		t.Fatalf("bad: %+v", x)
	}
	var out struct {
		Error struct{ Error, Cause string }
	}
	if err := json.Unmarshal(x.Output, &out); err != nil {
		t.Fatal(err)
	}
	var cause struct{ Status, Error, Cause, Name string }
	if err := json.Unmarshal([]byte(out.Error.Cause), &cause); err != nil {
		t.Fatalf("cause %q: %v", out.Error.Cause, err)
	}
	if out.Error.Error != "States.TaskFailed" || cause.Status != "FAILED" || cause.Error != "Child.Negative" || cause.Cause != "n < 0" || cause.Name != "c2" {
		t.Fatalf("error %+v, cause %+v", out.Error, cause)
	}

	// A child that exists is attached to, not started again.
	startExec(t, e, "parent", "again", `{"id":"c1","n":5}`)
	x = waitEnd(t, e, "parent", "again")
	sameJSON(t, x.Output, `{"name":"c1","status":"SUCCEEDED","out":42}`)
}

func TestStartExistingName(t *testing.T) {
	t.Parallel()
	def := `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":100,"End":true}}}`
	e, _ := setup(t, setupOptions{}, map[string]string{"m": def})
	first, existed, err := e.Start(context.Background(), "m", "same", json.RawMessage(`{"v":1}`))
	if err != nil || existed {
		t.Fatalf("first start: %v %v", existed, err)
	}
	second, existed, err := e.Start(context.Background(), "m", "same", json.RawMessage(`{"v":2}`))
	if err != nil || !existed {
		t.Fatalf("second start: %v %v", existed, err)
	}
	sameJSON(t, second.Input, `{"v":1}`)
	if second.Status != engine.StatusRunning || !second.StartedAt.Equal(first.StartedAt) {
		t.Fatalf("second %+v", second)
	}
	if _, _, err := e.Start(context.Background(), "nope", "x", nil); !errors.Is(err, engine.ErrMachineNotFound) {
		t.Fatalf("unknown machine: %v", err)
	}
	if _, err := e.Describe(context.Background(), "m", "nope"); !errors.Is(err, engine.ErrExecutionNotFound) {
		t.Fatalf("unknown execution: %v", err)
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	var inFlight, canceled atomic.Int32
	block := func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
		inFlight.Add(1)
		<-ctx.Done()
		canceled.Add(1)
		return nil, ctx.Err()
	}
	task := `{"StartAt":"Block","States":{"Block":{"Type":"Task","Resource":"block","End":true}}}`
	mapDef := `{"StartAt":"Each","States":{"Each":{"Type":"Map","ItemsPath":"$.list",
		"ItemProcessor":{"StartAt":"Block","States":{"Block":{"Type":"Task","Resource":"block","End":true}}},"End":true}}}`
	parent := `{"StartAt":"Run","States":{"Run":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution.sync:2",
		"Parameters":{"StateMachineArn":"task","Name":"kid"},"End":true}}}`
	e, _ := setup(t, setupOptions{resources: map[string]engine.Action{"block": block}},
		map[string]string{"task": task, "map": mapDef, "parent": parent})

	startExec(t, e, "task", "t", `{}`)
	wait(t, "the action", func() bool { return inFlight.Load() == 1 })
	x, err := e.Stop(context.Background(), "task", "t", "User.Cancel", "no longer wanted")
	if err != nil || x.Status != engine.StatusAborted || x.Error != "User.Cancel" || x.Cause != "no longer wanted" {
		t.Fatalf("stop: %+v, %v", x, err)
	}
	wait(t, "the cancel", func() bool { return canceled.Load() == 1 })
	again, err := e.Stop(context.Background(), "task", "t", "Other", "")
	if err != nil || again.Status != engine.StatusAborted || again.Error != "User.Cancel" {
		t.Fatalf("second stop: %+v, %v", again, err)
	}

	startExec(t, e, "map", "m", `{"list":[1,2,3]}`)
	wait(t, "the items", func() bool { return inFlight.Load() == 4 })
	if x, err := e.Stop(context.Background(), "map", "m", "Stop", ""); err != nil || x.Status != engine.StatusAborted {
		t.Fatalf("stop map: %+v, %v", x, err)
	}
	wait(t, "the items' cancel", func() bool { return canceled.Load() == 4 })

	startExec(t, e, "parent", "p", `{}`)
	wait(t, "the child's action", func() bool { return inFlight.Load() == 5 })
	if x, err := e.Stop(context.Background(), "parent", "p", "Stop", ""); err != nil || x.Status != engine.StatusAborted {
		t.Fatalf("stop parent: %+v, %v", x, err)
	}
	wait(t, "the child's cancel", func() bool { return canceled.Load() == 5 })
	if kid, err := e.Describe(context.Background(), "task", "kid"); err != nil || kid.Status != engine.StatusAborted {
		t.Fatalf("child: %+v, %v", kid, err)
	}
	if _, err := e.Stop(context.Background(), "task", "nope", "", ""); !errors.Is(err, engine.ErrExecutionNotFound) {
		t.Fatalf("stop unknown: %v", err)
	}
}

// A result an Action returns after its execution was stopped is dropped,
// and handed to Dropped, so that what it stands for can be undone.
func TestDroppedResult(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	slow := func(context.Context, json.RawMessage) (json.RawMessage, error) {
		close(started)
		<-release // a call that does not heed its context
		return json.RawMessage(`{"job":"j-1"}`), nil
	}
	type drop struct {
		machine, name, state string
		result               json.RawMessage
	}
	got := make(chan drop, 1)
	def := `{"StartAt":"Call","States":{"Call":{"Type":"Task","Resource":"slow","Next":"After"},"After":{"Type":"Pass","End":true}}}`
	e, _ := setup(t, setupOptions{resources: map[string]engine.Action{"slow": slow},
		dropped: func(machine, name, state string, result json.RawMessage) { got <- drop{machine, name, state, result} }},
		map[string]string{"m": def})
	startExec(t, e, "m", "x", `{}`)
	<-started
	if x, err := e.Stop(context.Background(), "m", "x", "Stop", ""); err != nil || x.Status != engine.StatusAborted {
		t.Fatalf("stop: %+v, %v", x, err)
	}
	close(release)
	select {
	case d := <-got:
		if d.machine != "m" || d.name != "x" || d.state != "Call" || string(d.result) != `{"job":"j-1"}` {
			t.Fatalf("dropped %+v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the late result was not handed to Dropped")
	}
	if x, err := e.Describe(context.Background(), "m", "x"); err != nil || x.Status != engine.StatusAborted || len(x.Output) != 0 {
		t.Fatalf("after the late result: %+v, %v", x, err)
	}
}

func TestStoppedChildFailsWaitingParent(t *testing.T) {
	t.Parallel()
	block := func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	task := `{"StartAt":"Block","States":{"Block":{"Type":"Task","Resource":"block","End":true}}}`
	parent := `{"StartAt":"Run","States":{"Run":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution.sync:2",
		"Parameters":{"StateMachineArn":"task","Name":"kid"},"End":true}}}`
	e, _ := setup(t, setupOptions{resources: map[string]engine.Action{"block": block}},
		map[string]string{"task": task, "parent": parent})
	startExec(t, e, "parent", "p", `{}`)
	wait(t, "the child", func() bool { _, err := e.Describe(context.Background(), "task", "kid"); return err == nil })
	if _, err := e.Stop(context.Background(), "task", "kid", "Canceled", "by the user"); err != nil {
		t.Fatal(err)
	}
	x := waitEnd(t, e, "parent", "p")
	if x.Status != engine.StatusFailed || x.Error != "States.TaskFailed" || !strings.Contains(x.Cause, `"Status":"ABORTED"`) {
		t.Fatalf("parent %+v", x)
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	var release atomic.Bool
	var calls atomic.Int32
	work := func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		calls.Add(1)
		if !release.Load() {
			<-ctx.Done() // the engine closes while this runs
			return nil, ctx.Err()
		}
		return in, nil
	}
	waitDef := `{"StartAt":"Pause","States":{"Pause":{"Type":"Wait","Seconds":60,"Next":"Work"},"Work":{"Type":"Task","Resource":"work","End":true}}}`
	mapDef := `{"StartAt":"Each","States":{"Each":{"Type":"Map","MaxConcurrency":2,
		"ItemProcessor":{"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":"work","End":true}}},"End":true}}}`
	machines := map[string]string{"wait": waitDef, "map": mapDef}
	resources := map[string]engine.Action{"work": work}
	e, b := setup(t, setupOptions{resources: resources}, machines)
	startExec(t, e, "wait", "w", `{"v":"w"}`)
	startExec(t, e, "map", "m", `[1,2,3,4,5]`)
	wait(t, "the wait stored", func() bool { _, ok := dueAt(t, b.db, "w"); return ok })
	wait(t, "two items running", func() bool { return calls.Load() == 2 })
	due, _ := dueAt(t, b.db, "w")
	b.stop()

	b.clock.Add(20 * time.Second) // time passes while the engine is down
	release.Store(true)
	e, b2 := setup(t, setupOptions{resources: resources, path: b.path, clock: b.clock}, machines)
	x := waitEnd(t, e, "map", "m")
	if x.Status != engine.StatusSucceeded {
		t.Fatalf("map after restart: %+v", x)
	}
	sameJSON(t, x.Output, `[1,2,3,4,5]`)
	if got, ok := dueAt(t, b2.db, "w"); !ok || !got.Equal(due) {
		t.Fatalf("the wait's deadline moved: %v, was %v", got, due)
	}
	if x, err := e.Describe(context.Background(), "wait", "w"); err != nil || x.Status != engine.StatusRunning || x.State != "Pause" {
		t.Fatalf("wait before its deadline: %+v, %v", x, err)
	}
	b2.clock.Add(40 * time.Second)
	e.Wake()
	x = waitEnd(t, e, "wait", "w")
	if x.Status != engine.StatusSucceeded {
		t.Fatalf("wait after restart: %+v", x)
	}
	sameJSON(t, x.Output, `{"v":"w"}`)
	// The two items in flight at the close ran again: at least once.
	if n := calls.Load(); n != 2+5+1 {
		t.Fatalf("%d calls, want 8", n)
	}
}

func TestLoadRefusals(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, setupOptions{resources: map[string]engine.Action{"known": double}}, nil)
	tests := map[string]struct{ def, want string }{
		"unsupported field": {`{"StartAt":"Poll","States":{"Poll":{"Type":"Task","Resource":"known","HeartbeatSeconds":10,"End":true}}}`,
			`state "Poll": field "HeartbeatSeconds" is supported only on a .waitForTaskToken resource`},
		"unknown resource": {`{"StartAt":"Call","States":{"Call":{"Type":"Task","Resource":"arn:aws:lambda:x:function:nope","End":true}}}`,
			`state "Call": field "Resource": no action for "arn:aws:lambda:x:function:nope"`},
		"resource in map": {`{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Task","Resource":"nope","End":true}}},"End":true}}}`,
			`state "I": field "Resource"`},
		"parallel": {`{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[],"End":true}}}`, `state "P": field "Type"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := e.Load("m", []byte(tc.def), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load error %v, want %s", err, tc.want)
			}
		})
	}
}

// Executions that ended before the cut-off go, with their Map items;
// running ones and recent ones stay, and a purged name can start again.
func TestPurgeEnded(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	hold := func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return in, nil
	}
	mapDef := `{"StartAt":"Each","States":{"Each":{"Type":"Map","ItemsPath":"$.list",
		"ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":"add","End":true}}},
		"End":true}}}`
	holdDef := `{"StartAt":"Hold","States":{"Hold":{"Type":"Task","Resource":"hold","End":true}}}`
	e, b := setup(t, setupOptions{resources: map[string]engine.Action{"add": add, "hold": hold}}, map[string]string{"map": mapDef, "hold": holdDef})
	startExec(t, e, "map", "old", `{"list":[{"a":1,"b":2},{"a":3,"b":4}]}`)
	waitEnd(t, e, "map", "old")
	startExec(t, e, "hold", "running", `{}`)
	b.clock.Add(48 * time.Hour)
	startExec(t, e, "map", "recent", `{"list":[{"a":1,"b":1}]}`)
	waitEnd(t, e, "map", "recent")

	n, err := e.PurgeEnded(context.Background(), b.clock.Now().Add(-24*time.Hour), 100)
	if err != nil || n != 1 {
		t.Fatalf("purged %d, %v; want the old execution only", n, err)
	}
	if _, err := e.Describe(context.Background(), "map", "old"); !errors.Is(err, engine.ErrExecutionNotFound) {
		t.Fatalf("old execution after the purge: %v", err)
	}
	for _, name := range []string{"recent", "running"} {
		machine := map[string]string{"recent": "map", "running": "hold"}[name]
		if _, err := e.Describe(context.Background(), machine, name); err != nil {
			t.Fatalf("%s after the purge: %v", name, err)
		}
	}
	var items int
	if err := b.db.Read.QueryRow(`SELECT count(*) FROM workflow_executions WHERE kind = 1`).Scan(&items); err != nil {
		t.Fatal(err)
	}
	if items != 1 {
		t.Fatalf("%d Map items left, want the recent execution's one", items)
	}
	close(gate)
	if x := waitEnd(t, e, "hold", "running"); x.Status != engine.StatusSucceeded {
		t.Fatalf("running execution: %+v", x)
	}
	// The purged name starts anew.
	if _, existed, err := e.Start(context.Background(), "map", "old", json.RawMessage(`{"list":[]}`)); err != nil || existed {
		t.Fatalf("restart a purged name: existed %v, %v", existed, err)
	}
}

// Running counts the executions callers started until they end, stopped
// or finished (not a Map's items nor the children it starts); Freed says
// when one ends.
func TestRunningCountsStartedExecutions(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	block := func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
		select {
		case <-release:
			return json.RawMessage(`{}`), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	task := `{"StartAt":"Block","States":{"Block":{"Type":"Task","Resource":"block","End":true}}}`
	parent := `{"StartAt":"Each","States":{"Each":{"Type":"Map","ItemsPath":"$.list","ItemProcessor":{"StartAt":"Run","States":{"Run":{"Type":"Task",
		"Resource":"arn:aws:states:::states:startExecution.sync:2","Parameters":{"StateMachineArn":"task","Name.$":"States.Format('kid-{}', $)"},"End":true}}},"End":true}}}`
	e, _ := setup(t, setupOptions{resources: map[string]engine.Action{"block": block}}, map[string]string{"task": task, "parent": parent})
	for _, n := range []string{"a", "b", "c"} {
		startExec(t, e, "task", n, `{}`)
	}
	startExec(t, e, "parent", "p", `{"list":[1,2]}`)
	wait(t, "the children", func() bool {
		_, err := e.Describe(context.Background(), "task", "kid-2")
		return err == nil
	})
	if got := e.Running("task"); got != 3 {
		t.Errorf("Running(task) = %d with 3 started and 2 children of a Map; want 3", got)
	}
	if got := e.Running("parent"); got != 1 {
		t.Errorf("Running(parent) = %d, want 1", got)
	}
	select { // drain a signal left by nothing: none should be there
	case <-e.Freed():
		t.Error("Freed signalled before anything ended")
	default:
	}
	if _, err := e.Stop(context.Background(), "task", "a", "Stop", ""); err != nil {
		t.Fatal(err)
	}
	<-e.Freed()
	if got := e.Running("task"); got != 2 {
		t.Errorf("Running(task) = %d after a stop, want 2", got)
	}
	close(release)
	waitEnd(t, e, "parent", "p")
	wait(t, "every end", func() bool { return e.Running("task") == 0 && e.Running("parent") == 0 })
}

// A Task's Action runs off the workers: with one worker and an Action
// that hangs, other executions still run to their end.
func TestAHangingActionHoldsNoWorker(t *testing.T) {
	t.Parallel()
	hang := func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	quick := func(context.Context, json.RawMessage) (json.RawMessage, error) { return json.RawMessage(`{}`), nil }
	e, _ := setup(t, setupOptions{workers: 1, resources: map[string]engine.Action{"hang": hang, "quick": quick}}, map[string]string{
		"hang":  `{"StartAt":"H","States":{"H":{"Type":"Task","Resource":"hang","End":true}}}`,
		"quick": `{"StartAt":"Q","States":{"Q":{"Type":"Task","Resource":"quick","Next":"Q2"},"Q2":{"Type":"Task","Resource":"quick","End":true}}}`,
	})
	for i := range 3 {
		startExec(t, e, "hang", fmt.Sprintf("h%d", i), `{}`)
	}
	wait(t, "the hangs", func() bool { s, _ := e.Stats(context.Background()); return s.InFlight == 3 })
	for i := range 5 {
		startExec(t, e, "quick", fmt.Sprintf("q%d", i), `{}`)
	}
	for i := range 5 {
		if x := waitEnd(t, e, "quick", fmt.Sprintf("q%d", i)); x.Status != engine.StatusSucceeded {
			t.Fatalf("q%d: %+v", i, x)
		}
	}
	for i := range 3 {
		if _, err := e.Stop(context.Background(), "hang", fmt.Sprintf("h%d", i), "Stop", ""); err != nil {
			t.Fatal(err)
		}
	}
}
