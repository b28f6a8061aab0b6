package prompt_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/videoai/mediatasks/shared/prompt"
	"github.com/videoai/mediatasks/shared/task"
)

func weight(w float64) *float64 { return &w }

// Tasks are split between the arms by their weights, each task always to
// the same arm; the raw arm is mode manual; types outside the experiment
// get nothing.
func TestExperimentsSplitTasksByWeight(t *testing.T) {
	t.Parallel()
	o, err := prompt.New(prompt.Options{Experiments: []prompt.Experiment{{
		Name:      "style",
		TaskTypes: []task.Type{task.TypeImageGeneration},
		Arms: []prompt.Arm{
			{Name: "raw"},
			{Name: "auto", Weight: weight(3), Optimization: &task.PromptOptimization{Mode: "auto"}},
			{Name: "never", Weight: weight(0), Optimization: &task.PromptOptimization{Mode: "template", Template: "photo"}},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	const n = 20000
	for i := range n {
		id := fmt.Sprintf("task-%d", i)
		po, exp, ok := o.Assign(task.TypeImageGeneration, id)
		if !ok || exp.Name != "style" {
			t.Fatalf("task %s: no arm", id)
		}
		counts[exp.Arm]++
		if want := map[string]string{"raw": "manual", "auto": "auto"}[exp.Arm]; po.Mode != want {
			t.Fatalf("arm %s gives mode %q, want %q", exp.Arm, po.Mode, want)
		}
		if po2, exp2, _ := o.Assign(task.TypeImageGeneration, id); *exp2 != *exp || po2.Mode != po.Mode {
			t.Fatalf("task %s: arm %v then %v", id, exp, exp2)
		}
	}
	if counts["never"] != 0 {
		t.Errorf("an arm of weight 0 got %d tasks", counts["never"])
	}
	// 3 to 1, within 5 standard deviations of the binomial.
	share := float64(counts["auto"]) / n
	if sd := math.Sqrt(0.75 * 0.25 / n); math.Abs(share-0.75) > 5*sd {
		t.Errorf("auto arm has %.3f of the tasks, want 0.75 (counts %v)", share, counts)
	}
	if _, _, ok := o.Assign(task.TypeVideoGeneration, "task-1"); ok {
		t.Error("a video task fell in an image experiment")
	}
}

// Bad experiments are refused at start, each problem named by its path.
func TestExperimentsAreChecked(t *testing.T) {
	t.Parallel()
	_, err := prompt.New(prompt.Options{Experiments: []prompt.Experiment{
		{Name: "Bad Name", Arms: []prompt.Arm{{Name: "a"}}},
		{Name: "ok", TaskTypes: []task.Type{"painting"}, Arms: []prompt.Arm{
			{Name: "a", Weight: weight(-1)},
			{Name: "a", Optimization: &task.PromptOptimization{Mode: "magic"}},
			{Name: "b", Optimization: &task.PromptOptimization{Mode: "template", Template: "no-such-template"}},
		}},
		{Name: "zero", Arms: []prompt.Arm{{Name: "a", Weight: weight(0)}, {Name: "b", Weight: weight(0)}}},
	}})
	if err == nil {
		t.Fatal("bad experiments were taken")
	}
	for _, want := range []string{
		"prompt.experiments[0].name", "prompt.experiments[0].arms: must list at least two",
		"prompt.experiments[1].task_types[0]", "prompt.experiments[1].arms[0].weight",
		"prompt.experiments[1].arms[1].name", "prompt.experiments[1].arms[1].prompt_optimization.mode",
		"prompt.experiments[1].arms[2].prompt_optimization.template",
		"prompt.experiments[2].arms: the weights must not all be 0",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
	var fe *prompt.FieldError
	if !errors.As(err, &fe) {
		t.Errorf("error %T is not a FieldError", err)
	}
}
