package asl

import (
	"fmt"
	"strings"
)

// Rule is a Choice rule (or, without Next, a rule nested in And, Or, Not).
type Rule struct {
	And  []*Rule
	Or   []*Rule
	Not  *Rule
	Next string

	Variable *Path
	Op       string // comparison operator, without the Path suffix
	// The operand: a literal, or a path when ValuePath is set.
	Str       string
	Num       float64
	Bool      bool
	ValuePath *Path
}

// comparisons are the supported operators and whether each also exists
// with a Path suffix.
var comparisons = map[string]bool{
	"StringEquals":             true,
	"StringMatches":            false,
	"NumericEquals":            true,
	"NumericLessThan":          true,
	"NumericLessThanEquals":    true,
	"NumericGreaterThan":       true,
	"NumericGreaterThanEquals": true,
	"BooleanEquals":            true,
	"IsPresent":                false,
	"IsNull":                   false,
	"IsString":                 false,
	"IsNumeric":                false,
	"IsBoolean":                false,
}

// parseRule compiles one rule; top says whether it is a top-level Choice
// (which has Next) or nested.
func parseRule(m map[string]any, top bool) (*Rule, error) {
	r := &Rule{}
	var op string
	for k, v := range m {
		switch k {
		case "Next":
			if !top {
				return nil, fmt.Errorf("a nested rule has no Next")
			}
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("Next is not a string")
			}
			r.Next = s
		case "Comment":
		case "Variable":
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("Variable is not a string")
			}
			p, err := ParsePath(s)
			if err != nil {
				return nil, fmt.Errorf("Variable: %w", err)
			}
			r.Variable = p
		case "And", "Or":
			list, ok := v.([]any)
			if !ok || len(list) == 0 {
				return nil, fmt.Errorf("%s takes a non-empty array of rules", k)
			}
			for i, e := range list {
				em, ok := e.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s[%d] is not a rule", k, i)
				}
				sub, err := parseRule(em, false)
				if err != nil {
					return nil, fmt.Errorf("%s[%d]: %w", k, i, err)
				}
				if k == "And" {
					r.And = append(r.And, sub)
				} else {
					r.Or = append(r.Or, sub)
				}
			}
			op = setOp(op, k)
		case "Not":
			em, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("Not takes a rule")
			}
			sub, err := parseRule(em, false)
			if err != nil {
				return nil, fmt.Errorf("Not: %w", err)
			}
			r.Not = sub
			op = setOp(op, k)
		default:
			name, isPath := strings.CutSuffix(k, "Path")
			hasPath, known := comparisons[name]
			if !known || (isPath && !hasPath) {
				if _, whole := comparisons[k]; !whole {
					return nil, fmt.Errorf("field %q is not supported", k)
				}
				name, isPath = k, false
			}
			op = setOp(op, name)
			r.Op = name
			if isPath {
				s, ok := v.(string)
				if !ok {
					return nil, fmt.Errorf("%s is not a string", k)
				}
				p, err := ParsePath(s)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", k, err)
				}
				r.ValuePath = p
				continue
			}
			switch {
			case strings.HasPrefix(name, "String"):
				s, ok := v.(string)
				if !ok {
					return nil, fmt.Errorf("%s takes a string", k)
				}
				r.Str = s
			case strings.HasPrefix(name, "Numeric"):
				f, ok := number(v)
				if !ok {
					return nil, fmt.Errorf("%s takes a number", k)
				}
				r.Num = f
			default:
				b, ok := v.(bool)
				if !ok {
					return nil, fmt.Errorf("%s takes true or false", k)
				}
				r.Bool = b
			}
		}
	}
	switch {
	case op == "":
		return nil, fmt.Errorf("the rule has no comparison")
	case strings.Contains(op, ","):
		return nil, fmt.Errorf("the rule has more than one comparison (%s)", op)
	case r.Op != "" && r.Variable == nil:
		return nil, fmt.Errorf("%s needs a Variable", r.Op)
	case r.Op == "" && r.Variable != nil:
		return nil, fmt.Errorf("%s takes no Variable", op)
	case top && r.Next == "":
		return nil, fmt.Errorf("the rule has no Next")
	}
	return r, nil
}

func setOp(cur, op string) string {
	if cur == "" {
		return op
	}
	return cur + "," + op
}

// Match evaluates the rule against the Choice state's effective input.
func (r *Rule) Match(data any, ctx *Context) (bool, error) {
	switch {
	case r.And != nil:
		for _, s := range r.And {
			ok, err := s.Match(data, ctx)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case r.Or != nil:
		for _, s := range r.Or {
			ok, err := s.Match(data, ctx)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case r.Not != nil:
		ok, err := r.Not.Match(data, ctx)
		return !ok, err
	}
	v, found := r.Variable.Lookup(data, ctx)
	if r.Op == "IsPresent" {
		return found == r.Bool, nil
	}
	if !found {
		return false, runtimeErr("Choice: Variable %s matched nothing", r.Variable)
	}
	switch r.Op {
	case "IsNull":
		return (v == nil) == r.Bool, nil
	case "IsString":
		_, ok := v.(string)
		return ok == r.Bool, nil
	case "IsNumeric":
		_, ok := number(v)
		return ok == r.Bool, nil
	case "IsBoolean":
		_, ok := v.(bool)
		return ok == r.Bool, nil
	}
	str, num, boolean := r.Str, r.Num, r.Bool
	if r.ValuePath != nil {
		w, err := r.ValuePath.Get(data, ctx)
		if err != nil {
			return false, err
		}
		var ok bool
		switch {
		case strings.HasPrefix(r.Op, "String"):
			str, ok = w.(string)
		case strings.HasPrefix(r.Op, "Numeric"):
			num, ok = number(w)
		default:
			boolean, ok = w.(bool)
		}
		if !ok {
			return false, nil
		}
	}
	switch r.Op {
	case "StringEquals":
		s, ok := v.(string)
		return ok && s == str, nil
	case "StringMatches":
		s, ok := v.(string)
		return ok && wildcardMatch(str, s), nil
	case "BooleanEquals":
		b, ok := v.(bool)
		return ok && b == boolean, nil
	}
	f, ok := number(v)
	if !ok {
		return false, nil
	}
	switch r.Op {
	case "NumericEquals":
		return f == num, nil
	case "NumericLessThan":
		return f < num, nil
	case "NumericLessThanEquals":
		return f <= num, nil
	case "NumericGreaterThan":
		return f > num, nil
	case "NumericGreaterThanEquals":
		return f >= num, nil
	}
	return false, fmt.Errorf("unknown operator %s", r.Op)
}

// wildcardMatch is StringMatches: `*` matches any run of characters; `\*`
// and `\\` are a literal star and backslash.
func wildcardMatch(pattern, s string) bool {
	type tok struct {
		star bool
		c    byte
	}
	var toks []tok
	for i := 0; i < len(pattern); i++ {
		switch {
		case pattern[i] == '\\' && i+1 < len(pattern):
			i++
			toks = append(toks, tok{c: pattern[i]})
		case pattern[i] == '*':
			toks = append(toks, tok{star: true})
		default:
			toks = append(toks, tok{c: pattern[i]})
		}
	}
	// Greedy matching with backtracking to the last star: linear in
	// practice, never exponential.
	ti, si, starT, starS := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case ti < len(toks) && !toks[ti].star && toks[ti].c == s[si]:
			ti++
			si++
		case ti < len(toks) && toks[ti].star:
			starT, starS = ti, si
			ti++
		case starT >= 0:
			starS++
			si = starS
			ti = starT + 1
		default:
			return false
		}
	}
	for ti < len(toks) && toks[ti].star {
		ti++
	}
	return ti == len(toks)
}
