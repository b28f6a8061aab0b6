package template

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/videoai/mediatasks/shared/task"
)

// providerVariant prefixes a variant key naming a provider type.
const providerVariant = "provider:"

var providerType = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// maxDescription bounds a description, which the listing carries.
const maxDescription = 500

// compiler gathers every problem of a spec with its path, so that an
// operator sees them all at once.
type compiler struct {
	path string // e.g. "prompt.templates[2]"
	errs []error
}

func (c *compiler) bad(field, format string, args ...any) {
	path := c.path
	if field != "" {
		path += "." + field
	}
	c.errs = append(c.errs, &FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// compile checks s and builds its Template; path names s in the errors.
func compile(s Spec, path string) (*Template, []error) {
	c := &compiler{path: path}
	t := &Template{Spec: Spec{
		Name:           s.Name,
		Version:        s.Version,
		Description:    strings.TrimSpace(s.Description),
		TaskTypes:      slices.Clone(s.TaskTypes),
		Prompt:         s.Prompt,
		NegativePrompt: s.NegativePrompt,
	}, params: map[string]*Param{}}

	if !templateName.MatchString(s.Name) {
		c.bad("name", "%q is not a template name: 1 to 64 of a-z, 0-9, _ and -, starting with a letter or digit", s.Name)
	}
	switch {
	case s.Version == 0:
		t.Version = 1
	case s.Version < 0:
		c.bad("version", "must be 1 or more, not %d", s.Version)
	}
	if n := utf8.RuneCountInString(t.Description); n > maxDescription {
		c.bad("description", "must be at most %d characters, not %d", maxDescription, n)
	}
	c.taskTypes(s.TaskTypes)

	for i, p := range s.Params {
		field := fmt.Sprintf("params[%d]", i)
		if q := c.param(p, field); q != nil {
			if slices.ContainsFunc(t.Params, func(o Param) bool { return o.Name == q.Name }) {
				c.bad(field+".name", "%q is the name of another param", q.Name)
				continue
			}
			t.Params = append(t.Params, *q)
		}
	}
	for i := range t.Params {
		t.params[t.Params[i].Name] = &t.Params[i]
	}

	used := map[string]bool{}
	t.prompt = c.text("prompt", s.Prompt, true, t.params, used)
	t.negative = c.text("negative_prompt", s.NegativePrompt, false, t.params, used)
	if len(s.Variants) > 0 {
		t.Variants = map[string]Variant{}
		t.variants = map[string]compiledVariant{}
	}
	for _, key := range slices.Sorted(maps.Keys(s.Variants)) {
		v := s.Variants[key]
		field := "variants." + key
		c.variantKey(field, key, t.TaskTypes)
		if strings.TrimSpace(v.Prompt) == "" && strings.TrimSpace(v.NegativePrompt) == "" {
			c.bad(field, "sets neither prompt nor negative_prompt")
		}
		var cv compiledVariant
		if strings.TrimSpace(v.Prompt) != "" {
			cv.prompt = c.text(field+".prompt", v.Prompt, true, t.params, used)
		}
		if strings.TrimSpace(v.NegativePrompt) != "" {
			cv.negative = c.text(field+".negative_prompt", v.NegativePrompt, false, t.params, used)
		}
		t.Variants[key] = v
		t.variants[key] = cv
	}

	for i, p := range t.Params {
		if !used[p.Name] && !hasNegativePreset(p) {
			c.bad(fmt.Sprintf("params[%d]", i), "{%s} is in no prompt or negative_prompt, so the param would change nothing", p.Name)
		}
	}
	return t, c.errs
}

func (c *compiler) taskTypes(types []string) {
	if len(types) == 0 {
		c.bad("task_types", "must list at least one task type (%s)", taskTypeList())
	}
	for i, tt := range types {
		field := fmt.Sprintf("task_types[%d]", i)
		switch {
		case !task.Type(tt).Valid():
			c.bad(field, "unknown task type %q (known: %s)", tt, taskTypeList())
		case slices.Index(types, tt) < i:
			c.bad(field, "task type %q is listed twice", tt)
		}
	}
}

func (c *compiler) variantKey(field, key string, taskTypes []string) {
	if pt, ok := strings.CutPrefix(key, providerVariant); ok {
		if !providerType.MatchString(pt) {
			c.bad(field, "%q is not a provider type: write provider:<type>, the type as the providers list names it", pt)
		}
		return
	}
	if !slices.Contains(taskTypes, key) {
		c.bad(field, "a variant key is one of the template's task types (%s) or provider:<type>, not %q", strings.Join(taskTypes, ", "), key)
	}
}

// text parses one template text and checks its slots; a prompt text must
// hold {prompt} once, a negative one never. It marks the params it uses.
func (c *compiler) text(field, s string, isPrompt bool, params map[string]*Param, used map[string]bool) text {
	if isPrompt && strings.TrimSpace(s) == "" {
		c.bad(field, "is required, with a {prompt} slot")
		return nil
	}
	t, err := parseText(s)
	if err != nil {
		c.bad(field, "%v", err)
		return nil
	}
	prompts := 0
	for _, slot := range t.slots() {
		switch {
		case slot == "prompt":
			prompts++
		case params[slot] == nil:
			c.bad(field, "unknown slot {%s} (slots: %s)", slot, slotList(params, isPrompt))
		default:
			used[slot] = true
		}
	}
	switch {
	case isPrompt && prompts != 1:
		c.bad(field, "must hold the {prompt} slot once, not %d times", prompts)
	case !isPrompt && prompts > 0:
		c.bad(field, "must not hold {prompt}: the user's prompt goes into the prompt only")
	}
	return t
}

// param checks one param spec and returns it normalised, or nil when it
// is too broken to check the texts against.
func (c *compiler) param(p Param, field string) *Param {
	q := &Param{Name: p.Name, Type: p.Type, MaxLength: p.MaxLength, MaxItems: p.MaxItems,
		Description: strings.TrimSpace(p.Description), Min: p.Min, Max: p.Max}
	if !paramName.MatchString(p.Name) || p.Name == "prompt" {
		c.bad(field+".name", "%q is not a param name: 1 to 64 of a-z, 0-9 and _, starting with a letter, and not \"prompt\"", p.Name)
		return nil
	}
	if !slices.Contains(paramTypes, p.Type) {
		c.bad(field+".type", "must be one of %s, not %q", oneOf(paramTypes), p.Type)
		return nil
	}
	// Each field applies to some types only; one set elsewhere is a
	// mistake the operator should hear of rather than see ignored.
	takes := map[string][]string{
		"allowed":    {TypeEnum},
		"presets":    {TypeEnum, TypeBool},
		"min":        {TypeInt, TypeNumber},
		"max":        {TypeInt, TypeNumber},
		"max_length": {TypeString, TypeList},
		"max_items":  {TypeList},
	}
	set := map[string]bool{
		"allowed": p.Allowed != nil, "presets": p.Presets != nil, "min": p.Min != nil, "max": p.Max != nil,
		"max_length": p.MaxLength != 0, "max_items": p.MaxItems != 0,
	}
	for _, f := range []string{"allowed", "presets", "min", "max", "max_length", "max_items"} {
		if set[f] && !slices.Contains(takes[f], p.Type) {
			c.bad(field+"."+f, "is not taken by a %s param (only by %s)", p.Type, strings.Join(takes[f], " and "))
		}
	}
	if p.MaxLength < 0 {
		c.bad(field+".max_length", "must be 0 (no limit) or more, not %d", p.MaxLength)
	}
	if p.MaxItems < 0 {
		c.bad(field+".max_items", "must be 0 (no limit) or more, not %d", p.MaxItems)
	}

	switch p.Type {
	case TypeInt, TypeNumber:
		c.limits(p, field)
	case TypeEnum:
		c.enum(p, q, field)
	case TypeBool:
		q.Presets = c.presets(p.Presets, field)
		if len(q.Presets) == 0 {
			c.bad(field+".presets", "a bool renders through its presets: give one for \"true\", \"false\" or both")
		}
		for k := range q.Presets {
			if k != "true" && k != "false" {
				c.bad(field+".presets."+k, "a bool's presets are \"true\" and \"false\"")
			}
		}
	}

	if p.Default != nil {
		v, msg := q.check(p.Default)
		if msg != "" {
			c.bad(field+".default", "%s", msg)
		}
		q.Default = v
	}
	return q
}

func (c *compiler) limits(p Param, field string) {
	for _, l := range []struct {
		name string
		v    *float64
	}{{"min", p.Min}, {"max", p.Max}} {
		if l.v == nil {
			continue
		}
		if _, ok := number(*l.v); !ok {
			c.bad(field+"."+l.name, "must be a finite number")
		} else if p.Type == TypeInt && *l.v != math.Trunc(*l.v) {
			c.bad(field+"."+l.name, "must be a whole number for an int, not %s", formatNumber(*l.v))
		}
	}
	if p.Min != nil && p.Max != nil && *p.Min > *p.Max {
		c.bad(field+".max", "must be at least min (%s), not %s", formatNumber(*p.Min), formatNumber(*p.Max))
	}
}

func (c *compiler) enum(p Param, q *Param, field string) {
	switch {
	case len(p.Allowed) > 0 && len(p.Presets) > 0:
		c.bad(field, "give allowed or presets, not both: the preset names are the allowed values")
	case len(p.Presets) > 0:
		q.Presets = c.presets(p.Presets, field)
		q.Allowed = slices.Sorted(maps.Keys(q.Presets))
	case len(p.Allowed) > 0:
		for i, a := range p.Allowed {
			af := fmt.Sprintf("%s.allowed[%d]", field, i)
			switch {
			case a == "" || a != strings.TrimSpace(a):
				c.bad(af, "%q must not be empty or start or end with spaces", a)
			case slices.Index(p.Allowed, a) < i:
				c.bad(af, "%q is listed twice", a)
			}
		}
		q.Allowed = slices.Clone(p.Allowed)
	default:
		c.bad(field, "an enum needs allowed values or presets")
	}
}

func (c *compiler) presets(in map[string]Preset, field string) map[string]Preset {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]Preset, len(in))
	for _, k := range slices.Sorted(maps.Keys(in)) {
		pr := in[k]
		pf := field + ".presets." + k
		if k == "" || k != strings.TrimSpace(k) || len(k) > maxNameLen {
			c.bad(pf, "a preset name must be 1 to %d characters, not starting or ending with spaces", maxNameLen)
		}
		if strings.ContainsAny(pr.Prompt, "{}") {
			c.bad(pf+".prompt", "a preset is a phrase: it holds no slots, so no { or }")
		}
		if strings.ContainsAny(pr.NegativePrompt, "{}") {
			c.bad(pf+".negative_prompt", "a preset is a phrase: it holds no slots, so no { or }")
		}
		out[k] = Preset{Prompt: collapse(pr.Prompt), NegativePrompt: collapse(pr.NegativePrompt)}
	}
	return out
}

func hasNegativePreset(p Param) bool {
	for _, pr := range p.Presets {
		if pr.NegativePrompt != "" {
			return true
		}
	}
	return false
}

func slotList(params map[string]*Param, isPrompt bool) string {
	var names []string
	if isPrompt {
		names = append(names, "{prompt}")
	}
	for _, n := range slices.Sorted(maps.Keys(params)) {
		names = append(names, "{"+n+"}")
	}
	if len(names) == 0 {
		return "none: declare the param first"
	}
	return strings.Join(names, ", ")
}

func taskTypeList() string {
	names := make([]string, len(task.Types))
	for i, t := range task.Types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}
