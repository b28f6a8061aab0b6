package asl

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Template is a payload template (Parameters, ResultSelector,
// ItemSelector): a JSON value whose object keys ending in `.$` take their
// value from a path or an intrinsic function.
type Template struct {
	root node
}

type node interface {
	eval(data any, ctx *Context) (any, error)
}

type literal struct{ v any }

type object struct {
	keys  []string
	nodes []node
}

type array []node

type pathNode struct{ p *Path }

type call struct {
	name string
	args []node
}

// ParseTemplate compiles a decoded payload template.
func ParseTemplate(v any) (*Template, error) {
	n, err := compile(v)
	if err != nil {
		return nil, err
	}
	return &Template{root: n}, nil
}

// Eval builds the payload from data (the state's effective input).
func (t *Template) Eval(data any, ctx *Context) (any, error) {
	return t.root.eval(data, ctx)
}

func compile(v any) (node, error) {
	switch x := v.(type) {
	case map[string]any:
		o := &object{}
		for _, k := range sortedKeys(x) {
			val := x[k]
			if name, ok := strings.CutSuffix(k, ".$"); ok {
				s, isStr := val.(string)
				if !isStr {
					return nil, fmt.Errorf("key %q: a .$ key takes a path or an intrinsic function, not a %s", k, typeName(val))
				}
				n, err := parseExpr(s)
				if err != nil {
					return nil, fmt.Errorf("key %q: %w", k, err)
				}
				o.keys = append(o.keys, name)
				o.nodes = append(o.nodes, n)
				continue
			}
			n, err := compile(val)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", k, err)
			}
			o.keys = append(o.keys, k)
			o.nodes = append(o.nodes, n)
		}
		return o, nil
	case []any:
		// Objects inside arrays are templates too, as in Step Functions.
		a := make(array, len(x))
		for i, e := range x {
			n, err := compile(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			a[i] = n
		}
		return a, nil
	}
	return literal{v}, nil
}

// parseExpr parses the value of a `.$` key: a path or an intrinsic call.
func parseExpr(s string) (node, error) {
	if strings.HasPrefix(s, "States.") {
		p := &exprParser{src: s}
		n, err := p.call()
		if err != nil {
			return nil, fmt.Errorf("intrinsic %s: %w", s, err)
		}
		p.space()
		if p.pos != len(p.src) {
			return nil, fmt.Errorf("intrinsic %s: unexpected %q", s, p.src[p.pos:])
		}
		return n, nil
	}
	p, err := ParsePath(s)
	if err != nil {
		return nil, err
	}
	return pathNode{p}, nil
}

func (l literal) eval(any, *Context) (any, error) { return l.v, nil }

func (o *object) eval(data any, ctx *Context) (any, error) {
	out := make(map[string]any, len(o.keys))
	for i, k := range o.keys {
		v, err := o.nodes[i].eval(data, ctx)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func (a array) eval(data any, ctx *Context) (any, error) {
	out := make([]any, len(a))
	for i, n := range a {
		v, err := n.eval(data, ctx)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (p pathNode) eval(data any, ctx *Context) (any, error) { return p.p.Get(data, ctx) }

// intrinsics are the supported intrinsic functions, with their argument
// counts (-1: any).
var intrinsics = map[string]int{
	"States.Format":        -1,
	"States.StringToJson":  1,
	"States.JsonToString":  1,
	"States.Array":         -1,
	"States.ArrayLength":   1,
	"States.ArrayContains": 2,
	"States.MathAdd":       2,
	"States.UUID":          0,
}

func (c *call) eval(data any, ctx *Context) (any, error) {
	args := make([]any, len(c.args))
	for i, a := range c.args {
		v, err := a.eval(data, ctx)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	switch c.name {
	case "States.Format":
		if len(args) == 0 {
			return nil, intrinsicErr("States.Format needs a template")
		}
		tmpl, ok := args[0].(string)
		if !ok {
			return nil, intrinsicErr("States.Format: the template is a %s, not a string", typeName(args[0]))
		}
		var b strings.Builder
		n := 1
		for i := 0; i < len(tmpl); i++ {
			ch := tmpl[i]
			if ch == '\\' && i+1 < len(tmpl) {
				i++
				b.WriteByte(tmpl[i])
				continue
			}
			if ch == '{' && i+1 < len(tmpl) && tmpl[i+1] == '}' {
				if n >= len(args) {
					return nil, intrinsicErr("States.Format: more {} than arguments")
				}
				b.WriteString(formatArg(args[n]))
				n++
				i++
				continue
			}
			b.WriteByte(ch)
		}
		if n != len(args) {
			return nil, intrinsicErr("States.Format: %d arguments for %d {}", len(args)-1, n-1)
		}
		return b.String(), nil
	case "States.StringToJson":
		s, ok := args[0].(string)
		if !ok {
			return nil, intrinsicErr("States.StringToJson: the argument is a %s, not a string", typeName(args[0]))
		}
		v, err := Decode([]byte(s))
		if err != nil {
			return nil, intrinsicErr("States.StringToJson: %v", err)
		}
		return v, nil
	case "States.JsonToString":
		b, err := json.Marshal(args[0])
		if err != nil {
			return nil, intrinsicErr("States.JsonToString: %v", err)
		}
		return string(b), nil
	case "States.Array":
		return args, nil
	case "States.ArrayLength":
		a, ok := args[0].([]any)
		if !ok {
			return nil, intrinsicErr("States.ArrayLength: the argument is a %s, not an array", typeName(args[0]))
		}
		return json.Number(strconv.Itoa(len(a))), nil
	case "States.ArrayContains":
		a, ok := args[0].([]any)
		if !ok {
			return nil, intrinsicErr("States.ArrayContains: the first argument is a %s, not an array", typeName(args[0]))
		}
		for _, e := range a {
			if Equal(e, args[1]) {
				return true, nil
			}
		}
		return false, nil
	case "States.MathAdd":
		var sum float64
		for _, a := range args {
			f, ok := number(a)
			if !ok {
				return nil, intrinsicErr("States.MathAdd: a %s is not a number", typeName(a))
			}
			sum += f
		}
		return numberValue(sum), nil
	case "States.UUID":
		return uuid.NewString(), nil
	}
	return nil, intrinsicErr("unknown intrinsic %s", c.name)
}

// formatArg writes a States.Format argument: strings as they are, other
// values as JSON.
func formatArg(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// number reads a JSON number value.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	case int:
		return float64(n), true
	}
	return 0, false
}

// numberValue writes a number as integers are written when it is one.
func numberValue(f float64) json.Number {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return json.Number(strconv.FormatInt(int64(f), 10))
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
}

// Equal compares two decoded JSON values; numbers compare by value.
func Equal(a, b any) bool {
	fa, aNum := number(a)
	fb, bNum := number(b)
	if aNum || bNum {
		return aNum && bNum && fa == fb
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !Equal(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// exprParser reads an intrinsic call:
//
//	call := Name '(' [arg {',' arg}] ')'
//	arg  := 'string' | number | true | false | null | path | call
type exprParser struct {
	src string
	pos int
}

func (p *exprParser) space() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
}

func (p *exprParser) call() (node, error) {
	p.space()
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] != '(' {
		p.pos++
	}
	name := strings.TrimSpace(p.src[start:p.pos])
	want, ok := intrinsics[name]
	if !ok {
		return nil, fmt.Errorf("function %q is not supported", name)
	}
	if p.pos == len(p.src) {
		return nil, fmt.Errorf("missing ( after %s", name)
	}
	p.pos++
	c := &call{name: name}
	p.space()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
	} else {
		for {
			a, err := p.arg()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			p.space()
			if p.pos >= len(p.src) {
				return nil, fmt.Errorf("missing ) in %s", name)
			}
			if p.src[p.pos] == ')' {
				p.pos++
				break
			}
			if p.src[p.pos] != ',' {
				return nil, fmt.Errorf("unexpected %q in %s", p.src[p.pos], name)
			}
			p.pos++
		}
	}
	if want >= 0 && len(c.args) != want {
		return nil, fmt.Errorf("%s takes %d arguments, not %d", name, want, len(c.args))
	}
	return c, nil
}

func (p *exprParser) arg() (node, error) {
	p.space()
	if p.pos >= len(p.src) {
		return nil, fmt.Errorf("missing argument")
	}
	rest := p.src[p.pos:]
	switch {
	case rest[0] == '\'':
		var b strings.Builder
		for i := 1; i < len(rest); i++ {
			switch rest[i] {
			case '\\':
				if i+1 < len(rest) {
					i++
					// \{ and \} stay escaped for States.Format to see.
					if rest[i] == '{' || rest[i] == '}' {
						b.WriteByte('\\')
					}
					b.WriteByte(rest[i])
				}
			case '\'':
				p.pos += i + 1
				return literal{b.String()}, nil
			default:
				b.WriteByte(rest[i])
			}
		}
		return nil, fmt.Errorf("unterminated string")
	case rest[0] == '$':
		end := pathEnd(rest)
		path, err := ParsePath(rest[:end])
		if err != nil {
			return nil, err
		}
		p.pos += end
		return pathNode{path}, nil
	case strings.HasPrefix(rest, "States."):
		return p.call()
	}
	end := strings.IndexAny(rest, ",) ")
	if end < 0 {
		end = len(rest)
	}
	word := rest[:end]
	p.pos += end
	switch word {
	case "true":
		return literal{true}, nil
	case "false":
		return literal{false}, nil
	case "null":
		return literal{nil}, nil
	}
	if _, err := strconv.ParseFloat(word, 64); err != nil {
		return nil, fmt.Errorf("argument %q is not a string, number, boolean, null, path or function", word)
	}
	return literal{json.Number(word)}, nil
}

// pathEnd finds where a path argument ends: at a ',' or ')' outside
// brackets and quotes.
func pathEnd(s string) int {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '[':
			depth++
		case c == ']':
			depth--
		case depth == 0 && (c == ',' || c == ')' || c == ' '):
			return i
		}
	}
	return len(s)
}
