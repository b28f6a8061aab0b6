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
// callback lost once costs one fallback poll, 3 more. Also the sims'
// jobs the README's cost model prices.
func TestVideoTaskTransitions(t *testing.T) {
	t.Parallel()
	def, err := asl.Substitute(workflow.TaskDefinition, local.Substitutions)
	if err != nil {
		t.Fatal(err)
	}
	// polled is a job that ends at its polls-th poll, after seconds each.
	polled := func(polls, seconds int) difftest.Scenario {
		sc := difftest.Scenario{
			Input: json.RawMessage(`{"task_id":"v1","tried":[]}`),
			Handlers: map[string][]difftest.Response{
				"Start":    {{Return: json.RawMessage(fmt.Sprintf(`{"state":"pending","provider":"p1","job":"j1","poll_after_seconds":%d,"polls":0}`, seconds))}},
				"Complete": {{Return: json.RawMessage(`{"task_id":"v1","status":"completed"}`)}},
			},
		}
		for i := 1; i < polls; i++ {
			sc.Handlers["Poll"] = append(sc.Handlers["Poll"], difftest.Response{
				Return: json.RawMessage(fmt.Sprintf(`{"state":"pending","provider":"p1","job":"j1","poll_after_seconds":%d,"polls":%d}`, seconds, i))})
		}
		sc.Handlers["Poll"] = append(sc.Handlers["Poll"], difftest.Response{Return: json.RawMessage(`{"state":"done","provider":"p1","output_key":"k"}`)})
		return sc
	}
	atOnce := difftest.Scenario{
		Input: json.RawMessage(`{"task_id":"i1","tried":[]}`),
		Handlers: map[string][]difftest.Response{
			"Start":    {{Return: json.RawMessage(`{"state":"done","provider":"p1","output_key":"k"}`)}},
			"Complete": {{Return: json.RawMessage(`{"task_id":"i1","status":"completed"}`)}},
		},
	}

	tests := map[string]struct {
		scenario func(t *testing.T) difftest.Scenario
		want     int
	}{
		"polled every 10 s": {func(*testing.T) difftest.Scenario { return polled(12, 10) }, 39},
		// The sims' jobs of the cost model (README): an image answered at
		// once, a video after 3 polls, a transcript after 1.
		"image at once":          {func(*testing.T) difftest.Scenario { return atOnce }, 3},
		"sim video, 3 polls":     {func(*testing.T) difftest.Scenario { return polled(3, 1) }, 12},
		"sim transcript, 1 poll": {func(*testing.T) difftest.Scenario { return polled(1, 1) }, 6},
		"callback":               {scenarioFile("testdata/task.callback.scenario.json"), 6},
		"callback lost once":     {scenarioFile("testdata/task.callback_lost.scenario.json"), 9},
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
