package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/videoai/mediatasks/shared/testkit/npmtools"
	"github.com/videoai/mediatasks/shared/workflow"
)

// placeholder is a ${Name} that CloudFormation replaces from
// DefinitionSubstitutions.
var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// The definitions as CloudFormation will hand them to Step Functions:
// every placeholder has a substitution, the substituted ARNs are the
// process function and the standard task machine, the result is the
// source file's JSON, and the ASL validator accepts it.
func TestStateMachineDefinitions(t *testing.T) {
	s := sharedStack(t)
	node := npmtools.Node(t)
	validator := filepath.Join(npmtools.Module(t, "asl-validator"), "dist", "bin", "asl-validator.js")
	if _, err := os.Stat(validator); err != nil {
		t.Fatalf("asl-validator entry point: %v", err)
	}
	wantSubstitutions := map[string]string{
		workflow.ProcessFunctionArn:  "arn:aws:lambda:us-east-1:123456789012:function:mediatasks-dev-process",
		workflow.TaskStateMachineArn: "arn:aws:states:us-east-1:123456789012:stateMachine:mediatasks-dev-task-long",
	}
	sources := map[string][]byte{
		"mediatasks-dev-task":      workflow.ExpressTaskDefinition, // Express: polls a job whose provider calls back
		"mediatasks-dev-task-long": workflow.TaskDefinition,
		"mediatasks-dev-batch":     workflow.BatchDefinition,
	}
	machines := s.ofType("AWS::StepFunctions::StateMachine")
	if len(machines) != len(sources) {
		t.Errorf("state machines: %d, want %d", len(machines), len(sources))
	}
	for id, sm := range machines {
		name, _ := sm.Properties["StateMachineName"].(string)
		t.Run(name, func(t *testing.T) {
			// The definition: a string, or an Fn::Join of strings and tokens.
			definition, err := s.resolve(sm.Properties["DefinitionString"])
			if err != nil {
				t.Fatalf("%s: DefinitionString: %v", id, err)
			}
			substitutions := map[string]string{}
			raw, _ := sm.Properties["DefinitionSubstitutions"].(map[string]any)
			for key, v := range raw {
				arn, err := s.resolve(v)
				if err != nil {
					t.Fatalf("substitution %s: %v", key, err)
				}
				if want := wantSubstitutions[key]; arn != want {
					t.Errorf("substitution %s = %s, want %s", key, arn, want)
				}
				substitutions[key] = arn
			}
			for _, m := range placeholder.FindAllStringSubmatch(definition, -1) {
				if _, ok := substitutions[m[1]]; !ok {
					t.Errorf("placeholder ${%s} has no DefinitionSubstitutions entry", m[1])
				}
			}
			final := placeholder.ReplaceAllStringFunc(definition, func(p string) string {
				if arn, ok := substitutions[placeholder.FindStringSubmatch(p)[1]]; ok {
					return arn
				}
				return p
			})
			if strings.Contains(final, "${") {
				t.Errorf("a placeholder is left after substitution:\n%s", final)
			}

			var deployed, source any
			if err := json.Unmarshal([]byte(final), &deployed); err != nil {
				t.Fatalf("the substituted definition is not JSON: %v", err)
			}
			sourceText := string(sources[name])
			for key, arn := range substitutions {
				sourceText = strings.ReplaceAll(sourceText, "${"+key+"}", arn)
			}
			if err := json.Unmarshal([]byte(sourceText), &source); err != nil {
				t.Fatal(err)
			}
			a, _ := json.Marshal(deployed)
			b, _ := json.Marshal(source)
			if !bytes.Equal(a, b) {
				t.Errorf("the definition differs from its source file (shared/workflow)")
			}

			path := filepath.Join(t.TempDir(), name+".asl.json")
			if err := os.WriteFile(path, []byte(final), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(node, validator, "--json-path", path).CombinedOutput()
			if err != nil {
				t.Errorf("asl-validator: %v\n%s", err, out)
			}
		})
	}
}
