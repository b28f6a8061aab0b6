// Package template holds the templates of the "template" prompt
// optimisation mode: the built-in ones and the operator's own
// (prompt.templates in the configuration file), checked once into a
// Catalog, listed for GET /api/v1/media/prompts/templates and rendered
// with a task's params and prompt.
//
// A template's text:
//   - {prompt} stands once in every prompt text, for the user's prompt;
//     {name} stands for the param of that name. No other brace may appear.
//   - The text is read as clauses, parted by ",", ";" and "." (a full stop
//     before a space or at the end). A clause with a slot that comes out
//     empty is left out whole, with its separator, so that "{mood} mood"
//     leaves no lone "mood" and no comma dangles: give each optional
//     param a clause of its own. Where clauses are left out, the strongest
//     separator they had joins the ones kept (". " over "; " over ", ").
//   - Values are put in as they are: nothing in a prompt or a param value
//     is read as a slot. Runs of white space become one space, and a
//     value's closing ".", ",", ";" or ":" gives way to the separator the
//     template puts after it ("a fox." + ", film grain" is "a fox, film
//     grain"); one closing with "?" or "!" takes no full stop after it.
//
// Params are typed: string (max_length), int and number (min, max), enum
// (allowed values, which render as they are, or presets), bool (rendered
// only through presets for "true" and "false"), and list (terms joined
// with ", ", max_items and max_length per term; given as a JSON array of
// strings or one string of terms parted by commas or new lines). A param
// with no default and no value renders empty.
//
// Style presets are an enum param's values (or a bool's true and false)
// that stand for phrases: in a
// prompt text the param's slot renders the chosen preset's prompt phrase,
// in a negative prompt text its negative phrase; a negative phrase whose
// slot the negative prompt lacks is added at its end, so a preset with
// only a negative phrase (a negative-only style) still counts. Keeping
// presets on the param keeps one name for the API (params.style), the
// listing (its allowed values are the preset names) and the text ({style}).
//
// Variants replace the prompt or the negative prompt for one task type
// (key "video_generation") or one provider type, as the providers list of
// the configuration names it (key "provider:openai").
// Each text is taken from the most specific variant that sets it:
// provider over task type over the template itself.
//
// Templates are versioned, and a task records the one it used as
// "name@version"; a name without a version means its latest version. A
// configured template may take a built-in's name only with a higher
// version, so the built-in stays addressable for tasks that recorded it.
package template

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Param types.
const (
	TypeString = "string"
	TypeInt    = "int"
	TypeNumber = "number"
	TypeBool   = "bool"
	TypeEnum   = "enum"
	TypeList   = "list"
)

var paramTypes = []string{TypeString, TypeInt, TypeNumber, TypeBool, TypeEnum, TypeList}

// Spec is one template as the configuration file writes it (an item of
// prompt.templates), and as the built-ins are written.
type Spec struct {
	Name           string             `json:"name"`
	Version        int                `json:"version,omitempty"` // 1 when left out
	Description    string             `json:"description,omitempty"`
	TaskTypes      []string           `json:"task_types"`
	Prompt         string             `json:"prompt"`
	NegativePrompt string             `json:"negative_prompt,omitempty"`
	Params         []Param            `json:"params,omitempty"`
	Variants       map[string]Variant `json:"variants,omitempty"` // keyed by task type or "provider:<type>"
}

// Param is a value a client may set (prompt_optimization.params.<name>).
type Param struct {
	Name        string            `json:"name"`
	Type        string            `json:"type"`
	Default     any               `json:"default,omitempty"`
	Allowed     []string          `json:"allowed,omitempty"`    // enum values; filled from Presets when those are given
	Presets     map[string]Preset `json:"presets,omitempty"`    // enum: value -> phrases; bool: "true"/"false" -> phrases
	Min         *float64          `json:"min,omitempty"`        // int, number
	Max         *float64          `json:"max,omitempty"`        // int, number
	MaxLength   int               `json:"max_length,omitempty"` // characters of a string, or of each term of a list
	MaxItems    int               `json:"max_items,omitempty"`  // terms of a list
	Description string            `json:"description,omitempty"`
}

// Preset is the phrases one param value stands for. Phrases are plain
// text: a brace in one would look like a slot and is refused.
type Preset struct {
	Prompt         string `json:"prompt,omitempty"`
	NegativePrompt string `json:"negative_prompt,omitempty"`
}

// Variant replaces the template's texts for one task type or provider
// type; a text left empty is the less specific one's.
type Variant struct {
	Prompt         string `json:"prompt,omitempty"`
	NegativePrompt string `json:"negative_prompt,omitempty"`
}

// Template is a checked template. Its Spec is normalised (version set,
// defaults in their Go types, enum values filled from presets) and must
// be treated as read-only.
type Template struct {
	Spec
	prompt, negative text
	variants         map[string]compiledVariant
	params           map[string]*Param
}

type compiledVariant struct {
	prompt, negative text // nil: not set by the variant
}

// Ref is how a task records the template: "name@version".
func (t *Template) Ref() string { return t.Name + "@" + strconv.Itoa(t.Version) }

// Serves reports whether the template is written for the task type.
func (t *Template) Serves(taskType string) bool {
	return slices.Contains(t.TaskTypes, taskType)
}

// Rendered is a template's output for one task.
type Rendered struct {
	Prompt         string `json:"prompt"`
	NegativePrompt string `json:"negative_prompt,omitempty"` // the template's; how it meets the user's own is the caller's choice
	Template       string `json:"template"`                  // "name@version"
}

var (
	// ErrUnknownTemplate is a name or version the catalog does not hold, or
	// a reference that is not "name" or "name@version".
	ErrUnknownTemplate = errors.New("unknown prompt template")
	// ErrWrongTaskType is a template used for a task type it does not serve.
	ErrWrongTaskType = errors.New("prompt template does not serve the task type")
)

// ParamError is a param value the template refuses; the API answers it
// with a 400 naming prompt_optimization.params.<Param>.
type ParamError struct {
	Param   string
	Message string
}

func (e *ParamError) Error() string { return "param " + e.Param + ": " + e.Message }

// FieldError is a problem with one field of a configured template. Path
// is the field's place in the configuration file, such as
// "prompt.templates[2].params[0].default".
type FieldError struct {
	Path    string
	Message string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Message }

// ConfigPath is where the configuration file lists templates; the paths of
// FieldErrors start with it.
const ConfigPath = "prompt.templates"

// ParseRef splits "name" or "name@version"; version 0 means the latest.
func ParseRef(ref string) (name string, version int, err error) {
	name, v, found := strings.Cut(ref, "@")
	if !templateName.MatchString(name) {
		return "", 0, fmt.Errorf("prompt template %q: %w", ref, ErrUnknownTemplate)
	}
	if !found {
		return name, 0, nil
	}
	version, err = strconv.Atoi(v)
	if err != nil || version < 1 || strconv.Itoa(version) != v {
		return "", 0, fmt.Errorf("prompt template %q: the version must be a whole number from 1: %w", ref, ErrUnknownTemplate)
	}
	return name, version, nil
}

// Name rules: template names go into "name@version" and URLs; param names
// are slots and JSON keys.
var (
	templateName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	paramName    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// maxNameLen bounds preset names as the name patterns bound the others.
const maxNameLen = 64
