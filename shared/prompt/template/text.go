package template

import (
	"fmt"
	"strings"
)

// text is a template text parsed once, at catalog time, into clauses of
// literal pieces and slots. Rendering only fills slots, so nothing a
// client sends is ever parsed.
type text []clause

type clause struct {
	pieces []piece
	sep    byte // ',', ';', '.' or 0 for the text's last clause without one
}

type piece struct {
	lit  string
	slot string // set for a slot, lit is then empty
}

// parseText parses s, refusing braces that are not a slot's.
func parseText(s string) (text, error) {
	var t text
	var cl clause
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			cl.pieces = append(cl.pieces, piece{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '{':
			end := strings.IndexAny(s[i+1:], "{}")
			if end < 0 || s[i+1+end] == '{' {
				return nil, fmt.Errorf("the { at %q has no closing }", excerpt(s, i))
			}
			name := s[i+1 : i+1+end]
			if !paramName.MatchString(name) {
				return nil, fmt.Errorf("{%s} is not a slot: a slot is {prompt} or a param's name (a-z, 0-9, _)", name)
			}
			flush()
			cl.pieces = append(cl.pieces, piece{slot: name})
			i += end + 1
		case c == '}':
			return nil, fmt.Errorf("the } at %q has no opening {", excerpt(s, i))
		case c == ',' || c == ';' || c == '.' && (i+1 == len(s) || isSpace(s[i+1])):
			flush()
			cl.sep = c
			t = append(t, cl)
			cl = clause{}
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	if len(cl.pieces) > 0 {
		t = append(t, cl)
	}
	return t, nil
}

func excerpt(s string, i int) string {
	return s[max(0, i-10):min(len(s), i+10)]
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// slots lists the slots of t in order, repeats included.
func (t text) slots() []string {
	var out []string
	for _, cl := range t {
		for _, p := range cl.pieces {
			if p.slot != "" {
				out = append(out, p.slot)
			}
		}
	}
	return out
}

// sepRank orders separators: where clauses between two kept ones are left
// out, the strongest separator among them joins the two.
var sepRank = map[byte]int{0: 0, ',': 1, ';': 2, '.': 3}

// render fills t's slots with value and leaves out every clause with a
// slot that comes out empty.
func (t text) render(value func(slot string) string) string {
	type kept struct {
		s          string
		sep        byte
		endsInSlot bool
	}
	var out []kept
	for _, cl := range t {
		var b strings.Builder
		empty, endsInSlot := false, false
		for _, p := range cl.pieces {
			if p.slot == "" {
				b.WriteString(p.lit)
				endsInSlot = endsInSlot && strings.TrimSpace(p.lit) == ""
				continue
			}
			v := value(p.slot)
			if v == "" {
				empty = true
				break
			}
			b.WriteString(v)
			endsInSlot = true
		}
		s := collapse(b.String())
		if empty || s == "" {
			if n := len(out); n > 0 && sepRank[cl.sep] > sepRank[out[n-1].sep] {
				out[n-1].sep = cl.sep
			}
			continue
		}
		out = append(out, kept{s: s, sep: cl.sep, endsInSlot: endsInSlot})
	}
	if len(out) == 0 {
		return ""
	}
	// The text ends as the template ends it, whatever was left out.
	out[len(out)-1].sep = t[len(t)-1].sep
	var b strings.Builder
	for _, k := range out {
		s := k.s
		if k.sep != 0 && k.endsInSlot {
			s = strings.TrimRight(s, ".,;: ")
		}
		if s == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
		// A value that ends its own sentence ("is it a fox?") needs no
		// full stop after it.
		if k.sep != 0 && !(k.sep == '.' && k.endsInSlot && strings.ContainsAny(s[len(s)-1:], "?!")) {
			b.WriteByte(k.sep)
		}
	}
	return b.String()
}

// collapse trims s and turns every run of white space into one space.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }
