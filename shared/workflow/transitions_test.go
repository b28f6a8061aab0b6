package workflow_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/videoai/mediatasks/shared/sfnlocal/asl"
	"github.com/videoai/mediatasks/shared/sfnlocal/difftest"
	"github.com/videoai/mediatasks/shared/workflow"
	"github.com/videoai/mediatasks/shared/workflow/local"
)

// The state transitions of a 2-minute video task (what a Standard
// workflow is billed by), counted by the independent interpreter: polled
// every 10 s it takes 39; with a callback that arrives it takes 6; a
// callback lost once costs one fallback poll, 3 more.
func TestVideoTaskTransitions(t *testing.T) {
	t.Parallel()
	def, err := asl.Substitute(workflow.TaskDefinition, local.Substitutions)
	if err != nil {
		t.Fatal(err)
	}
	polled := difftest.Scenario{
		Input: json.RawMessage(`{"task_id":"v1","tried":[]}`),
		Handlers: map[string][]difftest.Response{
			"Start":    {{Return: json.RawMessage(`{"state":"pending","provider":"p1","job":"j1","poll_after_seconds":10,"polls":0}`)}},
			"Complete": {{Return: json.RawMessage(`{"task_id":"v1","status":"completed"}`)}},
		},
	}
	for i := 1; i < 12; i++ { // the job ends at the 12th poll, 120 s in
		polled.Handlers["Poll"] = append(polled.Handlers["Poll"], difftest.Response{
			Return: json.RawMessage(fmt.Sprintf(`{"state":"pending","provider":"p1","job":"j1","poll_after_seconds":10,"polls":%d}`, i))})
	}
	polled.Handlers["Poll"] = append(polled.Handlers["Poll"], difftest.Response{Return: json.RawMessage(`{"state":"done","provider":"p1","output_key":"k"}`)})

	tests := map[string]struct {
		scenario func(t *testing.T) difftest.Scenario
		want     int
	}{
		"polled every 10 s":  {func(*testing.T) difftest.Scenario { return polled }, 39},
		"callback":           {scenarioFile("testdata/task.callback.scenario.json"), 6},
		"callback lost once": {scenarioFile("testdata/task.callback_lost.scenario.json"), 9},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := difftest.RunNode(t, def, tc.scenario(t))
			if r.Status != "SUCCEEDED" || r.Transitions != tc.want {
				t.Fatalf("%s with %d transitions (%s %s), want SUCCEEDED with %d", r.Status, r.Transitions, r.Error, r.Cause, tc.want)
			}
		})
	}
}

func scenarioFile(path string) func(t *testing.T) difftest.Scenario {
	return func(t *testing.T) difftest.Scenario {
		sc, err := difftest.LoadScenario(path)
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
}
