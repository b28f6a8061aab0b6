package asl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Path is a reference path: `$`, `$.a.b`, `$.a[0]`, `$['x']`, or the same
// rooted at the context object (`$$.Execution.Id`).
//
// Written by hand rather than with a JSONPath library: ASL reference paths
// only select one node by names and indexes (no wildcards, filters, slices
// or recursive descent), which is a few dozen lines, and ResultPath needs
// to create the missing objects along the path, which no query library
// does.
type Path struct {
	text    string
	context bool // rooted at $$
	segs    []segment
}

type segment struct {
	key   string
	index int // -1 for a key
}

// String is the path as written.
func (p *Path) String() string { return p.text }

// IsRoot reports whether the path is `$`.
func (p *Path) IsRoot() bool { return !p.context && len(p.segs) == 0 }

// ParsePath parses a reference path.
func ParsePath(s string) (*Path, error) {
	p := &Path{text: s}
	rest := s
	switch {
	case strings.HasPrefix(s, "$$"):
		p.context = true
		rest = s[2:]
	case strings.HasPrefix(s, "$"):
		rest = s[1:]
	default:
		return nil, fmt.Errorf("path %q must start with $", s)
	}
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			key := rest[:end]
			if key == "" {
				return nil, fmt.Errorf("path %q: empty name (recursive descent is not supported)", s)
			}
			if strings.ContainsAny(key, "*?@()]'\" ") {
				return nil, fmt.Errorf("path %q: %q is not a plain name (only reference paths are supported)", s, key)
			}
			p.segs = append(p.segs, segment{key: key, index: -1})
			rest = rest[end:]
		case '[':
			rest = rest[1:]
			if rest != "" && (rest[0] == '\'' || rest[0] == '"') {
				q := rest[0]
				end := strings.IndexByte(rest[1:], q)
				if end < 0 || len(rest) < end+3 || rest[end+2] != ']' {
					return nil, fmt.Errorf("path %q: unterminated quoted name", s)
				}
				p.segs = append(p.segs, segment{key: rest[1 : end+1], index: -1})
				rest = rest[end+3:]
				continue
			}
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("path %q: missing ]", s)
			}
			n, err := strconv.Atoi(rest[:end])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("path %q: [%s] is not an array index (only reference paths are supported)", s, rest[:end])
			}
			p.segs = append(p.segs, segment{index: n})
			rest = rest[end+1:]
		default:
			return nil, fmt.Errorf("path %q: unexpected %q", s, rest[0])
		}
	}
	return p, nil
}

// MustParsePath is ParsePath for paths known to be valid.
func MustParsePath(s string) *Path {
	p, err := ParsePath(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Lookup selects the path's node in data (or in the context object); ok
// is false when the path matches nothing.
func (p *Path) Lookup(data any, ctx *Context) (v any, ok bool) {
	if p.context {
		if ctx == nil {
			return nil, false
		}
		data = ctx.object()
	}
	v = data
	for _, s := range p.segs {
		if s.index < 0 {
			m, isMap := v.(map[string]any)
			if !isMap {
				return nil, false
			}
			if v, ok = m[s.key]; !ok {
				return nil, false
			}
			continue
		}
		a, isArr := v.([]any)
		if !isArr || s.index >= len(a) {
			return nil, false
		}
		v = a[s.index]
	}
	return v, true
}

// Get is Lookup where a path matching nothing is a States.Runtime error.
func (p *Path) Get(data any, ctx *Context) (any, error) {
	v, ok := p.Lookup(data, ctx)
	if !ok {
		return nil, runtimeErr("path %s matched nothing", p.text)
	}
	return v, nil
}

// Set returns data with value placed at the path, creating missing
// objects along it as Step Functions does. data is not modified: the
// objects along the path are copied, so values shared with data stay as
// they were.
func (p *Path) Set(data, value any) (any, error) {
	if p.context {
		return nil, runtimeErr("ResultPath %s cannot write the context object", p.text)
	}
	return setPath(p.text, data, p.segs, value, true)
}

func setPath(text string, cur any, segs []segment, value any, present bool) (any, error) {
	if len(segs) == 0 {
		return value, nil
	}
	s := segs[0]
	if s.index >= 0 {
		a, ok := cur.([]any)
		if !ok || s.index >= len(a) {
			return nil, runtimeErr("ResultPath %s: no array element [%d] to write", text, s.index)
		}
		out := make([]any, len(a))
		copy(out, a)
		v, err := setPath(text, a[s.index], segs[1:], value, true)
		if err != nil {
			return nil, err
		}
		out[s.index] = v
		return out, nil
	}
	var m map[string]any
	switch c := cur.(type) {
	case map[string]any:
		m = c
	case nil:
		if present {
			return nil, runtimeErr("ResultPath %s: cannot add a field to null", text)
		}
	default:
		return nil, runtimeErr("ResultPath %s: cannot add a field to a %s", text, typeName(cur))
	}
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	child, ok := m[s.key]
	v, err := setPath(text, child, segs[1:], value, ok)
	if err != nil {
		return nil, err
	}
	out[s.key] = v
	return out, nil
}

// Context is what the context object `$$` holds while a state runs.
type Context struct {
	ExecutionID        string
	ExecutionName      string
	ExecutionStartTime time.Time
	ExecutionInput     json.RawMessage // decoded only when a path reads it
	StateMachineID     string
	StateMachineName   string
	StateName          string
	StateEnteredTime   time.Time
	RetryCount         int
	// TaskToken is `$$.Task.Token` in a waitForTaskToken Task ("": none).
	TaskToken string
	// MapItem is set while a Map state builds an item's input.
	MapItem *MapItem

	obj map[string]any
}

// MapItem is `$$.Map.Item`.
type MapItem struct {
	Index int
	Value any
}

// TimeFormat is how the context object writes times (as Step Functions
// does: UTC, milliseconds).
const TimeFormat = "2006-01-02T15:04:05.000Z"

// object builds the context object once per Context: most states never
// read it, so it is not built up front.
func (c *Context) object() map[string]any {
	if c.obj != nil {
		if c.MapItem != nil {
			c.obj["Map"] = map[string]any{"Item": map[string]any{"Index": json.Number(strconv.Itoa(c.MapItem.Index)), "Value": c.MapItem.Value}}
		} else {
			delete(c.obj, "Map")
		}
		return c.obj
	}
	var input any
	if len(c.ExecutionInput) > 0 {
		input, _ = Decode(c.ExecutionInput)
	}
	c.obj = map[string]any{
		"Execution": map[string]any{
			"Id":        c.ExecutionID,
			"Name":      c.ExecutionName,
			"StartTime": c.ExecutionStartTime.UTC().Format(TimeFormat),
			"Input":     input,
		},
		"State": map[string]any{
			"Name":        c.StateName,
			"EnteredTime": c.StateEnteredTime.UTC().Format(TimeFormat),
			"RetryCount":  json.Number(strconv.Itoa(c.RetryCount)),
		},
		"StateMachine": map[string]any{
			"Id":   c.StateMachineID,
			"Name": c.StateMachineName,
		},
	}
	if c.TaskToken != "" {
		c.obj["Task"] = map[string]any{"Token": c.TaskToken}
	}
	return c.object()
}

// Decode parses JSON into the values this package evaluates: nil, bool,
// json.Number (so integers keep every digit), string, []any, map[string]any.
func Decode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode JSON: data after the value")
	}
	return v, nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number, float64, int:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
