package asl

import (
	"math"
	"time"
)

// EffectiveInput is what the state works on: InputPath applied to the
// state's input, then (Task, Pass) Parameters.
func (s *State) EffectiveInput(input any, ctx *Context) (any, error) {
	v, err := s.InputPath.apply(input, ctx)
	if err != nil {
		return nil, err
	}
	if s.Parameters != nil && s.Type != TypeMap {
		return s.Parameters.Eval(v, ctx)
	}
	return v, nil
}

// Output is the state's output from its input and its result:
// ResultSelector, then ResultPath (into the input), then OutputPath.
func (s *State) Output(input, result any, ctx *Context) (any, error) {
	var err error
	if s.ResultSelector != nil {
		if result, err = s.ResultSelector.Eval(result, ctx); err != nil {
			return nil, err
		}
	}
	var out any
	switch {
	case s.DiscardResult:
		out = input
	case s.ResultPath == nil || s.ResultPath.IsRoot():
		out = result
	default:
		if out, err = s.ResultPath.Set(input, result); err != nil {
			return nil, err
		}
	}
	return s.OutputPath.apply(out, ctx)
}

// ResultIsOutput reports whether the state's output is its result as it
// is, so that a caller holding the result's JSON may skip decoding it.
func (s *State) ResultIsOutput() bool {
	return s.ResultSelector == nil && !s.DiscardResult &&
		(s.ResultPath == nil || s.ResultPath.IsRoot()) && s.OutputPath.IsIdentity()
}

// InputIsEffective reports whether the state's effective input is its
// input as it is.
func (s *State) InputIsEffective() bool {
	return s.InputPath.IsIdentity() && (s.Parameters == nil || s.Type == TypeMap)
}

// PassOutput is a Pass state's output.
func (s *State) PassOutput(input any, ctx *Context) (any, error) {
	eff, err := s.EffectiveInput(input, ctx)
	if err != nil {
		return nil, err
	}
	if s.HasResult {
		eff = s.Result
	}
	return s.Output(input, eff, ctx)
}

// Choose evaluates a Choice state: the next state (Default when no rule
// matches; a States.NoChoiceMatched error without one) and the output.
func (s *State) Choose(input any, ctx *Context) (next string, output any, err error) {
	eff, err := s.InputPath.apply(input, ctx)
	if err != nil {
		return "", nil, err
	}
	for _, r := range s.Choices {
		ok, err := r.Match(eff, ctx)
		if err != nil {
			return "", nil, err
		}
		if ok {
			next = r.Next
			break
		}
	}
	if next == "" {
		if s.Default == "" {
			return "", nil, &Error{Name: "States.NoChoiceMatched", Cause: "no Choice rule matched and there is no Default"}
		}
		next = s.Default
	}
	out, err := s.OutputPath.apply(eff, ctx)
	return next, out, err
}

// PassThrough is the output of a Wait or Succeed state: InputPath, then
// OutputPath.
func (s *State) PassThrough(input any, ctx *Context) (any, error) {
	eff, err := s.InputPath.apply(input, ctx)
	if err != nil {
		return nil, err
	}
	return s.OutputPath.apply(eff, ctx)
}

// Timeout is how long a Task state may run (0: no bound of its own),
// from TimeoutSeconds or TimeoutSecondsPath read in its raw input.
func (s *State) Timeout(input any, ctx *Context) (time.Duration, error) {
	if s.TimeoutSecondsPath == nil {
		return time.Duration(s.TimeoutSeconds) * time.Second, nil
	}
	v, err := s.TimeoutSecondsPath.Get(input, ctx)
	if err != nil {
		return 0, err
	}
	f, ok := number(v)
	if !ok || f < 1 || f != math.Trunc(f) || f > math.MaxInt32 {
		return 0, runtimeErr("TimeoutSecondsPath %s is not a positive integer", s.TimeoutSecondsPath)
	}
	return time.Duration(f) * time.Second, nil
}

// WaitUntil is when a Wait state entered at entered ends.
func (s *State) WaitUntil(input any, ctx *Context, entered time.Time) (time.Time, error) {
	eff, err := s.InputPath.apply(input, ctx)
	if err != nil {
		return time.Time{}, err
	}
	switch {
	case s.SecondsPath != nil:
		v, err := s.SecondsPath.Get(eff, ctx)
		if err != nil {
			return time.Time{}, err
		}
		f, ok := number(v)
		if !ok || f < 0 {
			return time.Time{}, runtimeErr("SecondsPath %s is not a non-negative number", s.SecondsPath)
		}
		return entered.Add(seconds(f)), nil
	case s.TimestampPath != nil:
		v, err := s.TimestampPath.Get(eff, ctx)
		if err != nil {
			return time.Time{}, err
		}
		str, ok := v.(string)
		if !ok {
			return time.Time{}, runtimeErr("TimestampPath %s is not a string", s.TimestampPath)
		}
		t, err := time.Parse(time.RFC3339Nano, str)
		if err != nil {
			return time.Time{}, runtimeErr("TimestampPath %s: %q is not an RFC 3339 time", s.TimestampPath, str)
		}
		return t, nil
	case !s.Timestamp.IsZero():
		return s.Timestamp, nil
	}
	return entered.Add(seconds(s.Seconds)), nil
}

func seconds(f float64) time.Duration {
	return time.Duration(math.Min(f, 1e8) * float64(time.Second))
}

// FailError is the error a Fail state raises.
func (s *State) FailError(input any, ctx *Context) (*Error, error) {
	e := &Error{Name: s.Error, Cause: s.Cause}
	for _, f := range []struct {
		p   *Path
		dst *string
	}{{s.ErrorPath, &e.Name}, {s.CausePath, &e.Cause}} {
		if f.p == nil {
			continue
		}
		v, err := f.p.Get(input, ctx)
		if err != nil {
			return nil, err
		}
		str, ok := v.(string)
		if !ok {
			return nil, runtimeErr("%s is not a string", f.p)
		}
		*f.dst = str
	}
	return e, nil
}

// MapItems evaluates a Map state's input: its effective input, the items,
// and how many may run at once (0: no limit).
func (s *State) MapItems(input any, ctx *Context) (eff any, items []any, maxConcurrency int, err error) {
	if eff, err = s.InputPath.apply(input, ctx); err != nil {
		return nil, nil, 0, err
	}
	v := eff
	if s.ItemsPath != nil {
		if v, err = s.ItemsPath.Get(eff, ctx); err != nil {
			return nil, nil, 0, err
		}
	}
	items, ok := v.([]any)
	if !ok {
		return nil, nil, 0, runtimeErr("Map items are a %s, not an array", typeName(v))
	}
	maxConcurrency = s.MaxConcurrency
	if s.MaxConcurrencyPath != nil {
		mv, err := s.MaxConcurrencyPath.Get(eff, ctx)
		if err != nil {
			return nil, nil, 0, err
		}
		f, ok := number(mv)
		if !ok || f < 0 || f != math.Trunc(f) {
			return nil, nil, 0, runtimeErr("MaxConcurrencyPath %s is not a non-negative integer", s.MaxConcurrencyPath)
		}
		maxConcurrency = int(min(f, math.MaxInt32))
	}
	return eff, items, maxConcurrency, nil
}

// ItemInput is the input of item index: ItemSelector evaluated against
// the Map's effective input with $$.Map.Item set, or the item itself.
func (s *State) ItemInput(eff any, index int, item any, ctx *Context) (any, error) {
	if s.ItemSelector == nil {
		return item, nil
	}
	ctx.MapItem = &MapItem{Index: index, Value: item}
	defer func() { ctx.MapItem = nil }()
	return s.ItemSelector.Eval(eff, ctx)
}
