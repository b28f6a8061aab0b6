package template

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Render fills the template for one task: the texts of the most specific
// variant for providerType and taskType, params checked and completed
// with their defaults (a null value is a missing one), and the user's
// prompt put in as it is. Param problems are *ParamError values (joined
// when there are several: errors.As finds the first, in the template's
// order of params after unknown names); a task type the template does not
// serve is ErrWrongTaskType.
func (t *Template) Render(taskType, providerType string, params map[string]any, prompt string) (Rendered, error) {
	if !t.Serves(taskType) {
		return Rendered{}, fmt.Errorf("prompt template %s serves %s, not %q: %w", t.Ref(), strings.Join(t.TaskTypes, ", "), taskType, ErrWrongTaskType)
	}
	values, err := t.values(params)
	if err != nil {
		return Rendered{}, err
	}
	promptText, negativeText := t.texts(taskType, providerType)

	user := collapse(prompt)
	out := Rendered{Template: t.Ref()}
	out.Prompt = promptText.render(func(slot string) string {
		if slot == "prompt" {
			return user
		}
		return t.params[slot].text(values[slot], false)
	})
	negatives := []string{negativeText.render(func(slot string) string {
		return t.params[slot].text(values[slot], true)
	})}
	// A preset's negative phrase counts even where the negative prompt has
	// no slot for it: that is how a negative-only style works.
	inNegative := negativeText.slots()
	for _, p := range t.Params {
		if p.Presets != nil && !slices.Contains(inNegative, p.Name) {
			negatives = append(negatives, p.text(values[p.Name], true))
		}
	}
	out.NegativePrompt = strings.Join(slices.DeleteFunc(negatives, func(s string) bool { return s == "" }), ", ")
	return out, nil
}

// texts picks each text from the most specific variant that sets it.
func (t *Template) texts(taskType, providerType string) (prompt, negative text) {
	prompt, negative = t.prompt, t.negative
	keys := []string{taskType}
	if providerType != "" {
		keys = append(keys, providerVariant+providerType)
	}
	for _, k := range keys { // less specific first: a later one wins
		v, ok := t.variants[k]
		if !ok {
			continue
		}
		if v.prompt != nil {
			prompt = v.prompt
		}
		if v.negative != nil {
			negative = v.negative
		}
	}
	return prompt, negative
}

// values checks the client's params and fills in the defaults.
func (t *Template) values(params map[string]any) (map[string]any, error) {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(params)) {
		if t.params[name] == nil {
			errs = append(errs, &ParamError{Param: name, Message: "unknown param of template " + t.Ref() + " (params: " + t.paramNames() + ")"})
		}
	}
	values := make(map[string]any, len(t.Params))
	for i := range t.Params {
		p := &t.Params[i]
		v, given := params[p.Name]
		if !given || v == nil {
			values[p.Name] = p.Default
			continue
		}
		checked, msg := p.check(v)
		if msg != "" {
			errs = append(errs, &ParamError{Param: p.Name, Message: msg})
			continue
		}
		values[p.Name] = checked
	}
	switch len(errs) {
	case 0:
		return values, nil
	case 1:
		return nil, errs[0]
	}
	return nil, errors.Join(errs...)
}

func (t *Template) paramNames() string {
	if len(t.Params) == 0 {
		return "none"
	}
	names := make([]string, len(t.Params))
	for i, p := range t.Params {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}
