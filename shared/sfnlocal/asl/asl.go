// Package asl parses, validates and evaluates state machines written in the
// Amazon States Language with JSONPath, the subset that the platform's
// workflows use. It does no I/O: the engine package runs machines durably.
//
// A definition outside the subset is refused when it is parsed, with an
// error naming the state and the field, rather than being run differently
// from Step Functions.
package asl

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// State types.
const (
	TypeTask    = "Task"
	TypeChoice  = "Choice"
	TypeWait    = "Wait"
	TypePass    = "Pass"
	TypeMap     = "Map"
	TypeSucceed = "Succeed"
	TypeFail    = "Fail"
)

// Machine is a parsed state machine, or the ItemProcessor of a Map state.
type Machine struct {
	Comment string
	StartAt string
	States  map[string]*State
}

// OptPath is an InputPath or OutputPath: absent is `$`; null makes `{}`.
type OptPath struct {
	Path *Path
	Null bool
}

func (o OptPath) apply(data any, ctx *Context) (any, error) {
	switch {
	case o.Null:
		return map[string]any{}, nil
	case o.Path == nil || o.Path.IsRoot():
		return data, nil
	}
	return o.Path.Get(data, ctx)
}

// IsIdentity reports whether the path passes its data unchanged.
func (o OptPath) IsIdentity() bool { return !o.Null && (o.Path == nil || o.Path.IsRoot()) }

// State is one state of a machine. Which fields are set depends on Type.
type State struct {
	Name    string
	Type    string
	Comment string
	Next    string
	End     bool

	InputPath      OptPath
	OutputPath     OptPath
	Parameters     *Template // Task, Pass
	ResultSelector *Template // Task, Map
	ResultPath     *Path     // nil: `$` unless DiscardResult
	DiscardResult  bool      // ResultPath null

	// Task
	Resource       string
	TimeoutSeconds int
	// TimeoutSecondsPath reads the timeout from the state's input
	// (instead of TimeoutSeconds).
	TimeoutSecondsPath *Path
	// HeartbeatSeconds: a waitForTaskToken Task fails with
	// States.HeartbeatTimeout when no heartbeat (or outcome) comes this
	// long after its token was issued or last beat.
	HeartbeatSeconds int
	Retry            []Retrier
	Catch            []Catcher

	// Pass
	Result    any
	HasResult bool

	// Choice
	Choices []*Rule
	Default string

	// Wait
	Seconds       float64
	SecondsPath   *Path
	Timestamp     time.Time
	TimestampPath *Path

	// Fail
	Error, Cause         string
	ErrorPath, CausePath *Path

	// Map
	ItemsPath          *Path
	ItemSelector       *Template
	Processor          *Machine
	MaxConcurrency     int
	MaxConcurrencyPath *Path
}

// allowed lists the fields each state type may have, beyond Type and
// Comment.
var allowed = map[string][]string{
	TypeTask:    {"Resource", "InputPath", "Parameters", "ResultSelector", "ResultPath", "OutputPath", "Next", "End", "Retry", "Catch", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds"},
	TypePass:    {"InputPath", "Parameters", "Result", "ResultPath", "OutputPath", "Next", "End"},
	TypeChoice:  {"InputPath", "OutputPath", "Choices", "Default"},
	TypeWait:    {"InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp", "TimestampPath", "Next", "End"},
	TypeSucceed: {"InputPath", "OutputPath"},
	TypeFail:    {"Error", "Cause", "ErrorPath", "CausePath"},
	TypeMap:     {"InputPath", "ItemsPath", "ItemSelector", "ItemProcessor", "MaxConcurrency", "MaxConcurrencyPath", "ResultPath", "ResultSelector", "OutputPath", "Retry", "Catch", "Next", "End"},
}

var substitution = regexp.MustCompile(`\$\{([^}]*)\}`)

// Parse substitutes every `${Name}` in the definition's string values by
// substitutions[Name] (as CDK's DefinitionSubstitutions do; an unknown name
// is an error), then parses and validates the machine.
func Parse(definition []byte, substitutions map[string]string) (*Machine, error) {
	doc, err := Decode(definition)
	if err != nil {
		return nil, fmt.Errorf("parse state machine: %w", err)
	}
	var missing []string
	doc = substitute(doc, substitutions, &missing)
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("parse state machine: no substitution for %s", strings.Join(slices.Compact(missing), ", "))
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, errors.New("parse state machine: the definition is not a JSON object")
	}
	for k, v := range top {
		switch k {
		case "StartAt", "States", "Comment", "Version":
		case "QueryLanguage":
			if v != "JSONPath" {
				return nil, fmt.Errorf("parse state machine: QueryLanguage %v is not supported (only JSONPath)", v)
			}
		default:
			return nil, fmt.Errorf("parse state machine: field %q is not supported", k)
		}
	}
	m, err := parseMachine(top)
	if err != nil {
		return nil, fmt.Errorf("parse state machine: %w", err)
	}
	return m, nil
}

// Substitute returns the definition with every `${Name}` in its string
// values replaced by substitutions[Name], as Parse does first (for handing
// the same definition to another interpreter).
func Substitute(definition []byte, substitutions map[string]string) ([]byte, error) {
	doc, err := Decode(definition)
	if err != nil {
		return nil, fmt.Errorf("substitute: %w", err)
	}
	var missing []string
	doc = substitute(doc, substitutions, &missing)
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("substitute: no substitution for %s", strings.Join(slices.Compact(missing), ", "))
	}
	return json.Marshal(doc)
}

func substitute(v any, subs map[string]string, missing *[]string) any {
	switch x := v.(type) {
	case string:
		if !strings.Contains(x, "${") {
			return x
		}
		return substitution.ReplaceAllStringFunc(x, func(m string) string {
			name := m[2 : len(m)-1]
			s, ok := subs[name]
			if !ok {
				*missing = append(*missing, name)
			}
			return s
		})
	case []any:
		for i := range x {
			x[i] = substitute(x[i], subs, missing)
		}
	case map[string]any:
		for k := range x {
			x[k] = substitute(x[k], subs, missing)
		}
	}
	return v
}

func parseMachine(top map[string]any) (*Machine, error) {
	m := &Machine{States: map[string]*State{}}
	m.Comment, _ = top["Comment"].(string)
	start, ok := top["StartAt"].(string)
	if !ok || start == "" {
		return nil, errors.New("StartAt is missing")
	}
	m.StartAt = start
	states, ok := top["States"].(map[string]any)
	if !ok || len(states) == 0 {
		return nil, errors.New("States is missing or empty")
	}
	for _, name := range sortedKeys(states) {
		def, ok := states[name].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("state %q is not an object", name)
		}
		s, err := parseState(name, def)
		if err != nil {
			return nil, err
		}
		m.States[name] = s
	}
	if _, ok := m.States[start]; !ok {
		return nil, fmt.Errorf("StartAt %q is not a state", start)
	}
	for _, name := range sortedKeys(m.States) {
		s := m.States[name]
		targets := []struct{ field, to string }{{"Next", s.Next}, {"Default", s.Default}}
		for i, c := range s.Choices {
			targets = append(targets, struct{ field, to string }{fmt.Sprintf("Choices[%d].Next", i), c.Next})
		}
		for i, c := range s.Catch {
			targets = append(targets, struct{ field, to string }{fmt.Sprintf("Catch[%d].Next", i), c.Next})
		}
		for _, t := range targets {
			if t.to == "" {
				continue
			}
			if _, ok := m.States[t.to]; !ok {
				return nil, fmt.Errorf("state %q: field %q: no state %q", name, t.field, t.to)
			}
		}
	}
	return m, nil
}

// Each calls fn for every state, including those of Map item processors.
func (m *Machine) Each(fn func(*State)) {
	for _, name := range sortedKeys(m.States) {
		s := m.States[name]
		fn(s)
		if s.Processor != nil {
			s.Processor.Each(fn)
		}
	}
}

// Scope finds the item processor that runs the items of the Map states
// named by path (Map state names, outermost first); an empty path is m.
func (m *Machine) Scope(path []string) (*Machine, error) {
	cur := m
	for _, name := range path {
		s, ok := cur.States[name]
		if !ok || s.Processor == nil {
			return nil, fmt.Errorf("no Map state %q", name)
		}
		cur = s.Processor
	}
	return cur, nil
}

func parseState(name string, def map[string]any) (*State, error) {
	s := &State{Name: name}
	fail := func(field string, format string, args ...any) error {
		return fmt.Errorf("state %q: field %q: %s", name, field, fmt.Sprintf(format, args...))
	}
	typ, _ := def["Type"].(string)
	fields, ok := allowed[typ]
	if !ok {
		return nil, fail("Type", "%q is not supported", def["Type"])
	}
	s.Type = typ
	for _, k := range sortedKeys(def) {
		if k == "Type" || k == "Comment" || slices.Contains(fields, k) {
			continue
		}
		if k == "QueryLanguage" && def[k] == "JSONPath" {
			continue
		}
		return nil, fmt.Errorf("state %q: field %q is not supported", name, k)
	}
	s.Comment, _ = def["Comment"].(string)

	str := func(field string) (string, bool, error) {
		v, ok := def[field]
		if !ok {
			return "", false, nil
		}
		x, isStr := v.(string)
		if !isStr {
			return "", false, fail(field, "is a %s, not a string", typeName(v))
		}
		return x, true, nil
	}
	path := func(field string) (*Path, error) {
		x, ok, err := str(field)
		if err != nil || !ok {
			return nil, err
		}
		p, err := ParsePath(x)
		if err != nil {
			return nil, fail(field, "%v", err)
		}
		return p, nil
	}
	optPath := func(field string) (OptPath, error) {
		if v, ok := def[field]; ok && v == nil {
			return OptPath{Null: true}, nil
		}
		p, err := path(field)
		return OptPath{Path: p}, err
	}
	template := func(field string) (*Template, error) {
		v, ok := def[field]
		if !ok {
			return nil, nil
		}
		if _, isObj := v.(map[string]any); !isObj && field != "Parameters" {
			return nil, fail(field, "is not an object")
		}
		t, err := ParseTemplate(v)
		if err != nil {
			return nil, fail(field, "%v", err)
		}
		return t, nil
	}
	integer := func(field string, least int) (int, bool, error) {
		v, ok := def[field]
		if !ok {
			return 0, false, nil
		}
		f, isNum := number(v)
		if !isNum || f != math.Trunc(f) || f < float64(least) || f > math.MaxInt32 {
			return 0, false, fail(field, "must be an integer of at least %d", least)
		}
		return int(f), true, nil
	}

	var err error
	if s.Next, _, err = str("Next"); err != nil {
		return nil, err
	}
	if v, ok := def["End"]; ok {
		if s.End, ok = v.(bool); !ok {
			return nil, fail("End", "is not a boolean")
		}
	}
	switch typ {
	case TypeChoice, TypeSucceed, TypeFail:
	default:
		if (s.Next == "") == !s.End {
			return nil, fmt.Errorf("state %q: needs exactly one of Next and End", name)
		}
	}
	if s.InputPath, err = optPath("InputPath"); err != nil {
		return nil, err
	}
	if s.OutputPath, err = optPath("OutputPath"); err != nil {
		return nil, err
	}
	if v, ok := def["ResultPath"]; ok && v == nil {
		s.DiscardResult = true
	} else if s.ResultPath, err = path("ResultPath"); err != nil {
		return nil, err
	} else if s.ResultPath != nil && s.ResultPath.context {
		return nil, fail("ResultPath", "cannot write the context object")
	}
	if s.Parameters, err = template("Parameters"); err != nil {
		return nil, err
	}
	if s.ResultSelector, err = template("ResultSelector"); err != nil {
		return nil, err
	}
	if s.Retry, err = parseRetry(def, fail); err != nil {
		return nil, err
	}
	if s.Catch, err = parseCatch(def, fail); err != nil {
		return nil, err
	}

	switch typ {
	case TypeTask:
		if s.Resource, _, err = str("Resource"); err != nil {
			return nil, err
		}
		if s.Resource == "" {
			return nil, fail("Resource", "is missing")
		}
		if s.TimeoutSeconds, _, err = integer("TimeoutSeconds", 1); err != nil {
			return nil, err
		}
		if s.TimeoutSecondsPath, err = path("TimeoutSecondsPath"); err != nil {
			return nil, err
		}
		if s.TimeoutSecondsPath != nil && s.TimeoutSeconds > 0 {
			return nil, fmt.Errorf("state %q: needs at most one of TimeoutSeconds and TimeoutSecondsPath", name)
		}
		if s.HeartbeatSeconds, _, err = integer("HeartbeatSeconds", 1); err != nil {
			return nil, err
		}
		if s.HeartbeatSeconds > 0 && s.TimeoutSeconds > 0 && s.HeartbeatSeconds >= s.TimeoutSeconds {
			return nil, fail("HeartbeatSeconds", "must be smaller than TimeoutSeconds")
		}
	case TypePass:
		s.Result, s.HasResult = def["Result"]
	case TypeChoice:
		list, ok := def["Choices"].([]any)
		if !ok || len(list) == 0 {
			return nil, fail("Choices", "must be a non-empty array")
		}
		for i, e := range list {
			rm, ok := e.(map[string]any)
			if !ok {
				return nil, fail("Choices", "[%d] is not an object", i)
			}
			r, err := parseRule(rm, true)
			if err != nil {
				return nil, fail("Choices", "[%d]: %v", i, err)
			}
			s.Choices = append(s.Choices, r)
		}
		if s.Default, _, err = str("Default"); err != nil {
			return nil, err
		}
	case TypeWait:
		n := 0
		if v, ok := def["Seconds"]; ok {
			n++
			f, isNum := number(v)
			if !isNum || f < 0 {
				return nil, fail("Seconds", "must be a non-negative number")
			}
			s.Seconds = f
		}
		if s.SecondsPath, err = path("SecondsPath"); err != nil {
			return nil, err
		}
		if ts, ok, err := str("Timestamp"); err != nil {
			return nil, err
		} else if ok {
			if s.Timestamp, err = time.Parse(time.RFC3339Nano, ts); err != nil {
				return nil, fail("Timestamp", "%q is not an RFC 3339 time", ts)
			}
		}
		if s.TimestampPath, err = path("TimestampPath"); err != nil {
			return nil, err
		}
		for _, f := range []string{"SecondsPath", "Timestamp", "TimestampPath"} {
			if _, ok := def[f]; ok {
				n++
			}
		}
		if n != 1 {
			return nil, fmt.Errorf("state %q: needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath", name)
		}
	case TypeFail:
		if s.Error, _, err = str("Error"); err != nil {
			return nil, err
		}
		if s.Cause, _, err = str("Cause"); err != nil {
			return nil, err
		}
		if s.ErrorPath, err = path("ErrorPath"); err != nil {
			return nil, err
		}
		if s.CausePath, err = path("CausePath"); err != nil {
			return nil, err
		}
	case TypeMap:
		if s.ItemsPath, err = path("ItemsPath"); err != nil {
			return nil, err
		}
		if s.ItemSelector, err = template("ItemSelector"); err != nil {
			return nil, err
		}
		if s.MaxConcurrency, _, err = integer("MaxConcurrency", 0); err != nil {
			return nil, err
		}
		if s.MaxConcurrencyPath, err = path("MaxConcurrencyPath"); err != nil {
			return nil, err
		}
		proc, ok := def["ItemProcessor"].(map[string]any)
		if !ok {
			return nil, fail("ItemProcessor", "is missing or not an object")
		}
		for _, k := range sortedKeys(proc) {
			switch k {
			case "StartAt", "States", "Comment":
			case "ProcessorConfig":
				cfg, ok := proc[k].(map[string]any)
				if !ok {
					return nil, fail("ItemProcessor", "ProcessorConfig is not an object")
				}
				for ck, cv := range cfg {
					if ck != "Mode" || cv != "INLINE" {
						return nil, fail("ItemProcessor", "ProcessorConfig %s %v is not supported (only Mode INLINE)", ck, cv)
					}
				}
			default:
				return nil, fail("ItemProcessor", "field %q is not supported", k)
			}
		}
		if s.Processor, err = parseMachine(proc); err != nil {
			return nil, fmt.Errorf("state %q: field %q: %w", name, "ItemProcessor", err)
		}
	}
	return s, nil
}

func parseErrorEquals(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, errors.New("ErrorEquals must be a non-empty array of error names")
	}
	out := make([]string, len(list))
	for i, e := range list {
		if out[i], ok = e.(string); !ok {
			return nil, errors.New("ErrorEquals must be a non-empty array of error names")
		}
	}
	if slices.Contains(out, ErrAll) && len(out) > 1 {
		return nil, errors.New("States.ALL must be alone in its ErrorEquals")
	}
	return out, nil
}

func parseRetry(def map[string]any, fail func(string, string, ...any) error) ([]Retrier, error) {
	v, ok := def["Retry"]
	if !ok {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fail("Retry", "is not an array")
	}
	out := make([]Retrier, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fail("Retry", "[%d] is not an object", i)
		}
		r := Retrier{IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2}
		for _, k := range sortedKeys(m) {
			val := m[k]
			f, isNum := number(val)
			switch k {
			case "ErrorEquals":
				var err error
				if r.ErrorEquals, err = parseErrorEquals(val); err != nil {
					return nil, fail("Retry", "[%d]: %v", i, err)
				}
			case "IntervalSeconds", "MaxDelaySeconds":
				if !isNum || f != math.Trunc(f) || f < 1 {
					return nil, fail("Retry", "[%d]: %s must be a positive integer", i, k)
				}
				if k == "IntervalSeconds" {
					r.IntervalSeconds = f
				} else {
					r.MaxDelaySeconds = f
				}
			case "MaxAttempts":
				if !isNum || f != math.Trunc(f) || f < 0 {
					return nil, fail("Retry", "[%d]: MaxAttempts must be a non-negative integer", i)
				}
				r.MaxAttempts = int(min(f, math.MaxInt32))
			case "BackoffRate":
				if !isNum || f < 1 {
					return nil, fail("Retry", "[%d]: BackoffRate must be at least 1", i)
				}
				r.BackoffRate = f
			case "JitterStrategy":
				switch val {
				case "FULL":
					r.JitterFull = true
				case "NONE":
				default:
					return nil, fail("Retry", "[%d]: JitterStrategy %v is not FULL or NONE", i, val)
				}
			case "Comment":
			default:
				return nil, fail("Retry", "[%d]: field %q is not supported", i, k)
			}
		}
		if r.ErrorEquals == nil {
			return nil, fail("Retry", "[%d]: ErrorEquals is missing", i)
		}
		if slices.Contains(r.ErrorEquals, ErrAll) && i != len(list)-1 {
			return nil, fail("Retry", "[%d]: States.ALL must be in the last retrier", i)
		}
		out[i] = r
	}
	return out, nil
}

func parseCatch(def map[string]any, fail func(string, string, ...any) error) ([]Catcher, error) {
	v, ok := def["Catch"]
	if !ok {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fail("Catch", "is not an array")
	}
	out := make([]Catcher, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fail("Catch", "[%d] is not an object", i)
		}
		var c Catcher
		for _, k := range sortedKeys(m) {
			val := m[k]
			switch k {
			case "ErrorEquals":
				var err error
				if c.ErrorEquals, err = parseErrorEquals(val); err != nil {
					return nil, fail("Catch", "[%d]: %v", i, err)
				}
			case "Next":
				if c.Next, ok = val.(string); !ok || c.Next == "" {
					return nil, fail("Catch", "[%d]: Next must be a state name", i)
				}
			case "ResultPath":
				if val == nil {
					c.DiscardResult = true
					continue
				}
				s, ok := val.(string)
				if !ok {
					return nil, fail("Catch", "[%d]: ResultPath is not a string", i)
				}
				p, err := ParsePath(s)
				if err != nil || p.context {
					return nil, fail("Catch", "[%d]: ResultPath %q is not a reference path", i, s)
				}
				c.ResultPath = p
			case "Comment":
			default:
				return nil, fail("Catch", "[%d]: field %q is not supported", i, k)
			}
		}
		if c.ErrorEquals == nil || c.Next == "" {
			return nil, fail("Catch", "[%d]: needs ErrorEquals and Next", i)
		}
		if slices.Contains(c.ErrorEquals, ErrAll) && i != len(list)-1 {
			return nil, fail("Catch", "[%d]: States.ALL must be in the last catcher", i)
		}
		out[i] = c
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Marshal encodes a value for storing or for an action's input.
func Marshal(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	return b, nil
}
