package workflow_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/videoai/mediatasks/shared/sfnlocal/difftest"
	"github.com/videoai/mediatasks/shared/workflow"
	"github.com/videoai/mediatasks/shared/workflow/local"
)

// The local engine runs the task workflow as an independent interpreter
// (npm aws-local-stepfunctions) does: the same final status, output and
// error, and the same step calls with the same inputs, for each scripted
// scenario (done at once, a polled job with a transient poll failure,
// retries then failover, no provider left, a broken step, an ended task).
func TestTaskWorkflowMatchesAnIndependentInterpreter(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob("testdata/task.*.scenario.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("scenarios: %v %v", paths, err)
	}
	for _, path := range paths {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "task."), ".scenario.json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sc, err := difftest.LoadScenario(path)
			if err != nil {
				t.Fatal(err)
			}
			difftest.Compare(t, workflow.TaskDefinition, local.Substitutions, sc)
		})
	}
}
