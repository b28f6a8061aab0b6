package template

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Catalog holds the built-in templates and the configured ones, checked.
// It does not change after NewCatalog, so any number of goroutines may use
// it.
type Catalog struct {
	byName map[string][]*Template // each name's versions, oldest first
}

// NewCatalog checks the built-ins and the configured templates (extra, the
// configuration's prompt.templates in order) and builds the catalog. Every
// problem is a *FieldError naming its path; all of them are returned,
// joined. A configured template may not take a built-in's name with a
// version the built-ins already reach: a task that recorded "photo@1"
// must find the built-in photo@1 again.
func NewCatalog(extra []Spec) (*Catalog, error) {
	c := &Catalog{byName: map[string][]*Template{}}
	var errs []error
	where := map[string]string{} // "name@version" -> the path that defined it
	builtinMax := map[string]int{}
	for _, s := range builtins() {
		t, problems := compile(s, "built-in template "+s.Name)
		if len(problems) > 0 {
			errs = append(errs, problems...) // a bug in this package, caught by its tests
			continue
		}
		where[t.Ref()] = "a built-in template"
		builtinMax[t.Name] = max(builtinMax[t.Name], t.Version)
		c.byName[t.Name] = append(c.byName[t.Name], t)
	}
	for i, s := range extra {
		path := fmt.Sprintf("%s[%d]", ConfigPath, i)
		t, problems := compile(s, path)
		if len(problems) > 0 {
			errs = append(errs, problems...)
			continue
		}
		switch {
		case where[t.Ref()] != "":
			errs = append(errs, &FieldError{Path: path + ".version", Message: fmt.Sprintf("%s is already %s: give this one another version", t.Ref(), where[t.Ref()])})
			continue
		case builtinMax[t.Name] >= t.Version:
			errs = append(errs, &FieldError{Path: path + ".version", Message: fmt.Sprintf("%s is a built-in template up to version %d: a configured %s needs a higher version", t.Name, builtinMax[t.Name], t.Name)})
			continue
		}
		where[t.Ref()] = path
		c.byName[t.Name] = append(c.byName[t.Name], t)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, ts := range c.byName {
		slices.SortFunc(ts, func(a, b *Template) int { return a.Version - b.Version })
	}
	return c, nil
}

// Lookup finds a template by name and version; version 0 is the latest.
// A name or version the catalog does not hold is ErrUnknownTemplate.
func (c *Catalog) Lookup(name string, version int) (*Template, error) {
	ts := c.byName[name]
	if len(ts) == 0 {
		return nil, fmt.Errorf("prompt template %q (templates: %s): %w", name, strings.Join(slices.Sorted(maps.Keys(c.byName)), ", "), ErrUnknownTemplate)
	}
	if version == 0 {
		return ts[len(ts)-1], nil
	}
	for _, t := range ts {
		if t.Version == version {
			return t, nil
		}
	}
	versions := make([]string, len(ts))
	for i, t := range ts {
		versions[i] = strconv.Itoa(t.Version)
	}
	return nil, fmt.Errorf("prompt template %s@%d (versions: %s): %w", name, version, strings.Join(versions, ", "), ErrUnknownTemplate)
}

// Render renders the template ref names ("name", its latest version, or
// "name@version") for a task; see Template.Render.
func (c *Catalog) Render(ref, taskType, providerType string, params map[string]any, prompt string) (Rendered, error) {
	name, version, err := ParseRef(ref)
	if err != nil {
		return Rendered{}, err
	}
	t, err := c.Lookup(name, version)
	if err != nil {
		return Rendered{}, err
	}
	return t.Render(taskType, providerType, params, prompt)
}

// Info is one template as GET /api/v1/media/prompts/templates lists it.
type Info struct {
	Name        string      `json:"name"`
	Version     int         `json:"version"`
	TaskTypes   []string    `json:"task_types"`
	Description string      `json:"description"`
	Params      []ParamInfo `json:"params"`
}

// ParamInfo is what a client needs to set a param.
type ParamInfo struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Default     any      `json:"default,omitempty"`
	Allowed     []string `json:"allowed,omitempty"`
	Min         *float64 `json:"min,omitempty"`
	Max         *float64 `json:"max,omitempty"`
	MaxLength   int      `json:"max_length,omitempty"`
	MaxItems    int      `json:"max_items,omitempty"`
	Description string   `json:"description,omitempty"`
}

// List returns every version of every template, by name and, within a
// name, latest first: the first of a name is what the name alone renders.
func (c *Catalog) List() []Info {
	var out []Info
	for _, name := range slices.Sorted(maps.Keys(c.byName)) {
		ts := c.byName[name]
		for i := len(ts) - 1; i >= 0; i-- {
			out = append(out, ts[i].Info())
		}
	}
	return out
}

// Info describes t for the listing.
func (t *Template) Info() Info {
	in := Info{Name: t.Name, Version: t.Version, TaskTypes: slices.Clone(t.TaskTypes), Description: t.Description,
		Params: make([]ParamInfo, len(t.Params))}
	for i, p := range t.Params {
		in.Params[i] = ParamInfo{Name: p.Name, Type: p.Type, Default: p.Default, Allowed: slices.Clone(p.Allowed),
			Min: p.Min, Max: p.Max, MaxLength: p.MaxLength, MaxItems: p.MaxItems, Description: p.Description}
	}
	return in
}
