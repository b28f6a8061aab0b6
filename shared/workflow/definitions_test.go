package workflow_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/videoai/mediatasks/shared/sfnlocal/asl"
	"github.com/videoai/mediatasks/shared/testkit/npmtools"
	"github.com/videoai/mediatasks/shared/workflow"
	"github.com/videoai/mediatasks/shared/workflow/local"
)

// The definitions are valid ASL by an independent validator, as written
// and as the local engine loads them (after substitution).
func TestDefinitionsAreValidASL(t *testing.T) {
	t.Parallel()
	node := npmtools.Node(t)
	validator := filepath.Join(npmtools.Module(t, "asl-validator"), "dist", "bin", "asl-validator.js")
	if _, err := os.Stat(validator); err != nil {
		t.Fatalf("asl-validator entry point: %v", err)
	}
	for name, def := range map[string][]byte{"task": workflow.TaskDefinition, "task_express": workflow.ExpressTaskDefinition, "batch": workflow.BatchDefinition} {
		path := filepath.Join(t.TempDir(), name+".asl.json")
		if err := os.WriteFile(path, def, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(node, validator, "--json-path", path).CombinedOutput()
		if err != nil {
			t.Errorf("%s definition: asl-validator: %v\n%s", name, err, out)
		}
	}
}

// The definitions are within the subset the local engine runs, with the
// cloud's ARNs as with the local ones.
func TestDefinitionsParseForTheLocalEngine(t *testing.T) {
	t.Parallel()
	subs := map[string]string{
		workflow.ProcessFunctionArn:  "arn:aws:lambda:eu-west-1:123456789012:function:process",
		workflow.TaskStateMachineArn: "arn:aws:states:eu-west-1:123456789012:stateMachine:task",
	}
	for name, def := range map[string][]byte{"task": workflow.TaskDefinition, "task_express": workflow.ExpressTaskDefinition, "batch": workflow.BatchDefinition} {
		if _, err := asl.Parse(def, subs); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The Express variant of the task workflow waits for no task token (an
// Express state machine cannot): a job awaiting its callback is polled.
func TestExpressTaskDefinitionPollsInsteadOfWaiting(t *testing.T) {
	t.Parallel()
	if bytes.Contains(workflow.ExpressTaskDefinition, []byte(".waitForTaskToken")) {
		t.Fatal("the Express task definition waits for a task token")
	}
	m, err := asl.Parse(workflow.ExpressTaskDefinition, local.Substitutions)
	if err != nil {
		t.Fatal(err)
	}
	next, _, err := m.States["Route"].Choose(map[string]any{"step": map[string]any{"state": workflow.StepAwaiting}}, &asl.Context{})
	if err != nil || next != "WaitForJob" {
		t.Fatalf("a job awaiting its callback goes to %q (%v), want WaitForJob", next, err)
	}
}
