package prompt

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/videoai/mediatasks/shared/prompt/template"
	"github.com/videoai/mediatasks/shared/task"
)

// ExperimentsPath is where the configuration file lists experiments; the
// paths of their FieldErrors start with it.
const ExperimentsPath = "prompt.experiments"

// Experiment is an A/B test of prompt optimisation: the tasks of its
// types that ask for no optimisation of their own are split between its
// arms by a hash of the task id, so a task keeps its arm over retries and
// failovers, and each arm's outcomes show in the stats. A task that asks
// for a mode itself is left out: the user's choice is not overridden.
type Experiment struct {
	Name string `json:"name"`
	// TaskTypes are the types it applies to; empty: every type all its
	// arms can serve (a template serves the types it names).
	TaskTypes []task.Type `json:"task_types,omitempty"`
	Arms      []Arm       `json:"arms"`
}

// Arm is one side of an experiment.
type Arm struct {
	Name string `json:"name"`
	// Weight is the arm's share of the tasks, relative to the others'
	// (default 1).
	Weight *float64 `json:"weight,omitempty"`
	// Optimization is what the arm's tasks get; nil: the prompt as
	// written (mode manual: fitted to the provider's limits, nothing
	// more).
	Optimization *task.PromptOptimization `json:"prompt_optimization,omitempty"`
}

func (a Arm) weight() float64 {
	if a.Weight == nil {
		return 1
	}
	return *a.Weight
}

// experimentName is what experiment and arm names may be: they are
// counter names in the stores.
var experimentName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// CheckExperiments names every problem of the experiments, each a
// *FieldError with its path under ExperimentsPath; the templates are those
// their arms may name.
func CheckExperiments(exps []Experiment, templates *template.Catalog) error {
	_, err := resolveExperiments(exps, (&Optimizer{templates: templates}).Check)
	return err
}

// resolveExperiments names every problem of the experiments, by its path
// under ExperimentsPath, and returns them with their task types filled
// in; check tells whether an arm's optimisation can be carried out for a
// task type.
func resolveExperiments(exps []Experiment, check func(task.Type, *task.PromptOptimization) error) ([]Experiment, error) {
	out := make([]Experiment, len(exps))
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Field: path, Message: fmt.Sprintf(format, args...)})
	}
	seen := map[string]bool{}
	for i, e := range exps {
		path := fmt.Sprintf("%s[%d]", ExperimentsPath, i)
		if !experimentName.MatchString(e.Name) {
			bad(path+".name", "must be lower-case letters, digits, '_' or '-' (at most 64), not %q", e.Name)
		} else if seen[e.Name] {
			bad(path+".name", "%q names two experiments", e.Name)
		}
		seen[e.Name] = true
		for j, tp := range e.TaskTypes {
			if !tp.Valid() {
				bad(fmt.Sprintf("%s.task_types[%d]", path, j), "unknown task type %q", tp)
			}
		}
		out[i] = e
		if len(e.TaskTypes) == 0 {
			out[i].TaskTypes = servedByAll(e.Arms, check)
		}
		before := len(errs)
		if len(e.Arms) < 2 {
			bad(path+".arms", "must list at least two arms")
		}
		arms := map[string]bool{}
		total := 0.0
		for j, a := range e.Arms {
			apath := fmt.Sprintf("%s.arms[%d]", path, j)
			if !experimentName.MatchString(a.Name) {
				bad(apath+".name", "must be lower-case letters, digits, '_' or '-' (at most 64), not %q", a.Name)
			} else if arms[a.Name] {
				bad(apath+".name", "%q names two arms", a.Name)
			}
			arms[a.Name] = true
			if w := a.weight(); !(w >= 0 && w <= 1e6) {
				bad(apath+".weight", "must be from 0 to 1000000, not %v", w)
			} else {
				total += w
			}
			po := a.Optimization
			if po == nil {
				continue
			}
			if !slices.Contains(task.OptimizationModes, po.Mode) {
				bad(apath+".prompt_optimization.mode", "must be one of %s, not %q", task.OneOf(task.OptimizationModes), po.Mode)
				continue
			}
			types := e.TaskTypes
			if len(types) == 0 && len(out[i].TaskTypes) == 0 && !servesAny(po, check) {
				types = task.Types[:1] // serves nothing: say why for one type
			}
			for _, tp := range types {
				if err := check(tp, po); err != nil {
					var fe *FieldError
					if errors.As(err, &fe) {
						bad(apath+"."+fe.Field, "for %s: %s", tp, fe.Message)
					} else {
						bad(apath+".prompt_optimization", "for %s: %v", tp, err)
					}
					break
				}
			}
		}
		if len(e.Arms) >= 2 && total <= 0 {
			bad(path+".arms", "the weights must not all be 0")
		}
		if len(errs) == before && len(out[i].TaskTypes) == 0 {
			bad(path+".task_types", "no task type is served by every arm: name the types")
		}
	}
	return out, errors.Join(errs...)
}

func servesAny(po *task.PromptOptimization, check func(task.Type, *task.PromptOptimization) error) bool {
	for _, tp := range task.Types {
		if check(tp, po) == nil {
			return true
		}
	}
	return false
}

// servedByAll are the task types every arm's optimisation can serve.
func servedByAll(arms []Arm, check func(task.Type, *task.PromptOptimization) error) []task.Type {
	var types []task.Type
	for _, tp := range task.Types {
		ok := true
		for _, a := range arms {
			if a.Optimization != nil && slices.Contains(task.OptimizationModes, a.Optimization.Mode) && check(tp, a.Optimization) != nil {
				ok = false
				break
			}
		}
		if ok {
			types = append(types, tp)
		}
	}
	return types
}

// assign is the arm of the first experiment that applies to a task of
// the type, chosen by a hash of the experiment's name and the task id
// (so that two experiments split the same tasks independently).
func assign(exps []Experiment, taskType task.Type, taskID string) (Arm, *task.PromptExperiment, bool) {
	for _, e := range exps {
		if !slices.Contains(e.TaskTypes, taskType) {
			continue
		}
		total := 0.0
		for _, a := range e.Arms {
			total += a.weight()
		}
		sum := sha256.Sum256([]byte(e.Name + "\x00" + taskID))
		// The top 53 bits as a fraction in [0, 1): exact in a float64.
		at := float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53) * total
		var chosen *Arm
		for i, a := range e.Arms {
			if a.weight() <= 0 {
				continue
			}
			chosen = &e.Arms[i] // the last with weight, should rounding pass them all
			if at < a.weight() {
				break
			}
			at -= a.weight()
		}
		if chosen != nil {
			return *chosen, &task.PromptExperiment{Name: e.Name, Arm: chosen.Name}, true
		}
	}
	return Arm{}, nil, false
}

// Assign is the optimisation a task that asked for none gets from the
// experiments, and the arm it fell in; false when no experiment applies.
func (o *Optimizer) Assign(taskType task.Type, taskID string) (task.PromptOptimization, *task.PromptExperiment, bool) {
	arm, exp, ok := assign(o.experiments, taskType, taskID)
	if !ok {
		return task.PromptOptimization{}, nil, false
	}
	if arm.Optimization == nil {
		return task.PromptOptimization{Mode: ModeManual}, exp, true
	}
	return *arm.Optimization, exp, true
}
