// Package difftest checks the engine against an independent interpreter of
// the Amazon States Language (npm aws-local-stepfunctions, run by node 22
// from tools/npm): both run one definition with the same scripted Task
// results, and what each did (final status, output, error, and the Task
// calls with their inputs) must be the same.
//
// Tasks are scripted per state name, so any definition can be checked,
// waitForTaskToken Tasks too: there a scripted response is the token's
// outcome (this engine's action sends it with SendTaskSuccess or
// SendTaskFailure; the other side returns it), and `$$.Task.Token` reads
// TaskToken on both sides.
//
// such as the platform's own; a startExecution.sync Task runs a child in
// this engine but cannot on the other side, so definitions with one are
// out of reach. aws-local-stepfunctions also starts the Map items queued
// behind MaxConcurrency after one has failed (Step Functions and this
// engine do not): a scenario where an item fails uncaught should make it
// the last one to start.
package difftest

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/sfnlocal/asl"
	"github.com/videoai/mediatasks/shared/sfnlocal/engine"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/testkit/npmtools"
)

//go:embed run.mjs
var harness []byte

// Scenario is an execution's input and the scripted results of its Tasks.
type Scenario struct {
	Input json.RawMessage `json:"input"`
	// Handlers script each Task state by name: call n (0-based) gets
	// response n, or the last response past the end of the list.
	Handlers map[string][]Response `json:"handlers"`
	// Unordered compares the calls as a set: for Maps running items at
	// once, whose calls interleave differently in each run.
	Unordered bool `json:"unordered,omitempty"`
}

// Response is one scripted Task result.
type Response struct {
	Return json.RawMessage `json:"return,omitempty"` // the result
	Echo   bool            `json:"echo,omitempty"`   // the input back
	Throw  *Thrown         `json:"throw,omitempty"`  // a named error
}

// Thrown is a scripted error.
type Thrown struct {
	Error string `json:"error"`
	Cause string `json:"cause"`
}

// Result is what one interpreter did.
type Result struct {
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  string          `json:"error"`
	Cause  string          `json:"cause"`
	Calls  []Call          `json:"calls"`
	// Transitions counts the states entered and the retries, as Step
	// Functions bills a Standard workflow (RunNode only).
	Transitions int `json:"transitions"`
}

// Call is a Task call.
type Call struct {
	State string          `json:"state"`
	Input json.RawMessage `json:"input"`
}

// Compare runs the definition (after substitutions) on both interpreters
// and reports every difference as a test error.
func Compare(t testing.TB, definition []byte, substitutions map[string]string, sc Scenario) {
	t.Helper()
	def, err := asl.Substitute(definition, substitutions)
	if err != nil {
		t.Fatal(err)
	}
	want := RunNode(t, def, sc)
	got := RunEngine(t, def, sc)
	if got.Status != want.Status {
		t.Errorf("status: engine %s, aws-local-stepfunctions %s (%s: %s)", got.Status, want.Status, want.Error, want.Cause)
	}
	if got.Status == engine.StatusSucceeded && !sameJSON(got.Output, want.Output) {
		t.Errorf("output: engine %s, aws-local-stepfunctions %s", got.Output, want.Output)
	}
	if got.Error != want.Error {
		t.Errorf("error: engine %q, aws-local-stepfunctions %q", got.Error, want.Error)
	}
	// The interpreters word their own runtime errors differently.
	if got.Cause != want.Cause && got.Error != asl.ErrRuntime {
		t.Errorf("cause: engine %q, aws-local-stepfunctions %q", got.Cause, want.Cause)
	}
	g, w := callKeys(got.Calls), callKeys(want.Calls)
	if sc.Unordered {
		slices.Sort(g)
		slices.Sort(w)
	}
	if !slices.Equal(g, w) {
		t.Errorf("calls:\nengine:                 %v\naws-local-stepfunctions: %v", g, w)
	}
}

func callKeys(calls []Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.State + " " + canonical(c.Input)
	}
	return out
}

func canonical(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func sameJSON(a, b json.RawMessage) bool { return canonical(a) == canonical(b) }

// The execution RunEngine starts, and its id ($$.Execution.Id) on the
// engine, which RunNode gives aws-local-stepfunctions too.
const (
	executionName = "differential"
	executionID   = "arn:aws:states:local:000000000000:execution:machine:" + executionName
)

// RunNode runs a (substituted) definition on aws-local-stepfunctions.
func RunNode(t testing.TB, definition []byte, sc Scenario) Result {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{"run.mjs": harness, "definition.json": definition}
	scenario, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	// The Context Object the engine gives the execution RunEngine starts,
	// for definitions that pass $$.Execution.Id to their Tasks, and the
	// token RunEngine's calls show in place of the engine's own.
	scenario, err = json.Marshal(struct {
		Scenario
		Context map[string]any `json:"context"`
	}{sc, map[string]any{"Execution": map[string]any{"Id": executionID, "Name": executionName}, "Task": map[string]any{"Token": TaskToken}}})
	if err != nil {
		t.Fatal(err)
	}
	files["scenario.json"] = scenario
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npmtools.Node(t), filepath.Join(dir, "run.mjs"),
		filepath.Join(dir, "definition.json"), filepath.Join(dir, "scenario.json"))
	// ESM imports ignore NODE_PATH: link the packages next to the script.
	if err := os.Symlink(npmtools.NodePath(t), filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws-local-stepfunctions: %v\n%s", err, stderr.Bytes())
	}
	var r Result
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("aws-local-stepfunctions printed %q: %v", out, err)
	}
	return r
}

// RunEngine runs a (substituted) definition on this engine, in a fresh
// database, with waits and retry delays taking no time.
func RunEngine(t testing.TB, definition []byte, sc Scenario) Result {
	t.Helper()
	m, err := asl.Parse(definition, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var calls []Call
	counts := map[string]int{}
	var e *engine.Engine
	scripted := func(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
		state := engine.StateName(ctx)
		token := engine.TaskToken(ctx)
		if token != "" {
			input = bytes.ReplaceAll(input, []byte(token), []byte(TaskToken))
		}
		mu.Lock()
		calls = append(calls, Call{State: state, Input: append(json.RawMessage(nil), input...)})
		n := counts[state]
		counts[state]++
		mu.Unlock()
		script := sc.Handlers[state]
		if len(script) == 0 {
			return nil, &engine.TaskError{Name: "Harness.NoScript", Cause: "no script for state " + state}
		}
		r := script[min(n, len(script)-1)]
		if token != "" {
			return answerToken(ctx, e, token, r, input)
		}
		switch {
		case r.Throw != nil:
			return nil, &engine.TaskError{Name: r.Throw.Error, Cause: r.Throw.Cause}
		case r.Echo:
			return input, nil
		case r.Return == nil:
			return json.RawMessage("null"), nil
		}
		return r.Return, nil
	}
	resources := map[string]engine.Action{}
	m.Each(func(s *asl.State) {
		if s.Type == asl.TypeTask {
			resources[s.Resource] = scripted
		}
	})
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "wf.db"), sqlitedb.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Every reading of this clock is an hour past the last: a Wait or a
	// retry delay (under an hour) has ended by the time it is looked at.
	var ticks atomic.Int64
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * time.Hour) }
	e, err = engine.New(context.Background(), db, engine.Options{
		Workers: 4, Resources: resources, Now: now, Rand: func() float64 { return 0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Load("machine", definition, nil); err != nil {
		t.Fatal(err)
	}
	input := sc.Input
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	if _, _, err := e.Start(context.Background(), "machine", executionName, input); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	var x engine.Execution
	deadline := time.Now().Add(time.Minute)
	for {
		if x, err = e.Describe(context.Background(), "machine", executionName); err != nil {
			t.Fatal(err)
		}
		if x.Status != engine.StatusRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the engine did not finish: %+v", x)
		}
		e.Wake()
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	return Result{Status: x.Status, Output: x.Output, Error: x.Error, Cause: x.Cause, Calls: slices.Clone(calls)}
}

// TaskToken is `$$.Task.Token` on the other side, and what this engine's
// tokens are replaced with in the calls compared.
const TaskToken = "difftest-task-token"

// answerToken sends a scripted response as a token's outcome, from the
// Task's own action (as a function given the token may).
func answerToken(ctx context.Context, e *engine.Engine, token string, r Response, input json.RawMessage) (json.RawMessage, error) {
	var err error
	switch {
	case r.Throw != nil:
		err = e.SendTaskFailure(ctx, token, r.Throw.Error, r.Throw.Cause)
	case r.Echo:
		err = e.SendTaskSuccess(ctx, token, input)
	case r.Return == nil:
		err = e.SendTaskSuccess(ctx, token, json.RawMessage("null"))
	default:
		err = e.SendTaskSuccess(ctx, token, r.Return)
	}
	return nil, err
}

// LoadScenario reads a scenario file.
func LoadScenario(path string) (Scenario, error) {
	var sc Scenario
	b, err := os.ReadFile(path)
	if err != nil {
		return sc, fmt.Errorf("load scenario %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &sc); err != nil {
		return sc, fmt.Errorf("load scenario %s: %w", path, err)
	}
	return sc, nil
}
