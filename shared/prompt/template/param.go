package template

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// check validates a value for p and returns it in its Go type (string,
// float64, bool or []string), or why it is refused. Defaults and clients'
// values go through it alike, so a default obeys the limits a client does.
func (p *Param) check(v any) (any, string) {
	switch p.Type {
	case TypeString:
		s, ok := v.(string)
		if !ok {
			return nil, "must be a string"
		}
		if p.MaxLength > 0 && utf8.RuneCountInString(s) > p.MaxLength {
			return nil, fmt.Sprintf("must be at most %d characters", p.MaxLength)
		}
		return s, ""
	case TypeEnum:
		s, ok := v.(string)
		if !ok || !slices.Contains(p.Allowed, s) {
			return nil, "must be one of " + oneOf(p.Allowed)
		}
		return s, ""
	case TypeBool:
		b, ok := v.(bool)
		if !ok {
			return nil, "must be true or false"
		}
		return b, ""
	case TypeInt, TypeNumber:
		f, ok := number(v)
		if !ok {
			return nil, "must be a number"
		}
		if p.Type == TypeInt && f != math.Trunc(f) {
			return nil, "must be a whole number, not " + formatNumber(f)
		}
		if msg := p.inRange(f); msg != "" {
			return nil, msg
		}
		return f, ""
	case TypeList:
		terms, ok := listTerms(v)
		if !ok {
			return nil, "must be a list of strings"
		}
		if p.MaxItems > 0 && len(terms) > p.MaxItems {
			return nil, fmt.Sprintf("must have at most %d terms, not %d", p.MaxItems, len(terms))
		}
		for _, t := range terms {
			if p.MaxLength > 0 && utf8.RuneCountInString(t) > p.MaxLength {
				return nil, fmt.Sprintf("terms must be at most %d characters: %q is longer", p.MaxLength, t)
			}
		}
		return terms, ""
	}
	return nil, "has an unknown type" // compile refuses unknown types first
}

func (p *Param) inRange(f float64) string {
	switch {
	case p.Min != nil && p.Max != nil && (f < *p.Min || f > *p.Max):
		return fmt.Sprintf("must be between %s and %s, not %s", formatNumber(*p.Min), formatNumber(*p.Max), formatNumber(f))
	case p.Min != nil && f < *p.Min:
		return fmt.Sprintf("must be at least %s, not %s", formatNumber(*p.Min), formatNumber(f))
	case p.Max != nil && f > *p.Max:
		return fmt.Sprintf("must be at most %s, not %s", formatNumber(*p.Max), formatNumber(f))
	}
	return ""
}

// number takes what a JSON decoder gives (float64, json.Number) and the
// ints a Go caller may write.
func number(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

// listTerms reads a list as a JSON array of strings, or as one string of
// terms parted by commas or new lines (a form field, or a params map of
// strings). Terms are trimmed, blanks dropped, and a term given twice
// (in any case) is kept once, where it first stood.
func listTerms(v any) ([]string, bool) {
	var raw []string
	switch l := v.(type) {
	case string:
		raw = strings.FieldsFunc(l, func(r rune) bool { return r == ',' || r == '\n' })
	case []string:
		raw = l
	case []any:
		for _, item := range l {
			s, ok := item.(string)
			if !ok {
				return nil, false
			}
			raw = append(raw, s)
		}
	default:
		return nil, false
	}
	terms := []string{}
	seen := map[string]bool{}
	for _, t := range raw {
		t = collapse(t)
		if k := strings.ToLower(t); t != "" && !seen[k] {
			seen[k] = true
			terms = append(terms, t)
		}
	}
	return terms, true
}

// text renders a checked value for a slot; negative picks a preset's
// negative phrase over its prompt phrase.
func (p *Param) text(v any, negative bool) string {
	if v == nil {
		return ""
	}
	if p.Presets != nil {
		pr := p.Presets[presetKey(v)]
		if negative {
			return pr.NegativePrompt
		}
		return pr.Prompt
	}
	switch v := v.(type) {
	case string:
		return collapse(v)
	case float64:
		return formatNumber(v)
	case []string:
		return strings.Join(v, ", ")
	}
	return "" // a bool without presets: compile refuses it
}

// presetKey is the key of a value in Presets: the enum value itself, or
// "true"/"false" for a bool.
func presetKey(v any) string {
	if b, ok := v.(bool); ok {
		return strconv.FormatBool(b)
	}
	s, _ := v.(string)
	return s
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// oneOf lists values for a message: a, b or c.
func oneOf(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = strconv.Quote(v)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
