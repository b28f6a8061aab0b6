package rules

import (
	"reflect"
	"strings"
	"testing"
	"unicode"
)

var taskTypes = []string{"image_generation", "video_generation", "audio_transcription", "subtitle_generation"}

func isVocabulary(typ string) bool {
	return typ == "audio_transcription" || typ == "subtitle_generation"
}

// checkInvariants checks what every output must satisfy, whatever the
// input: the corpus runs it on every line and FuzzEnhance on anything.
func checkInvariants(t testing.TB, typ, in string, r Result) {
	t.Helper()
	in = strings.ToValidUTF8(in, "\uFFFD")
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s %q -> %q: "+format, append([]any{typ, in, r.Prompt}, args...)...)
	}

	if again := Enhance(typ, in); !reflect.DeepEqual(again, r) {
		fail("not deterministic: then %#v", again)
	}
	if strings.TrimFunc(in, unicode.IsSpace) == "" {
		if !reflect.DeepEqual(r, Result{}) {
			fail("white space gives %#v, want the empty Result", r)
		}
		return
	}

	// White space: trimmed, and single spaces outside quoted text.
	if p := r.Prompt; p != strings.TrimFunc(p, unicode.IsSpace) {
		fail("not trimmed")
	}
	outside := outsideQuotes(r.Prompt)
	if strings.Contains(outside, "  ") || strings.ContainsFunc(outside, func(r rune) bool { return r != ' ' && unicode.IsSpace(r) }) {
		fail("white space not normalised outside quotes: %q", outside)
	}

	// Quoted text, byte for byte.
	for _, span := range quotedSpans(in) {
		if isVocabulary(typ) && strings.IndexFunc(span, isWordRune) < 0 {
			continue // nothing to hear in it
		}
		if !strings.Contains(r.Prompt, span) {
			fail("quoted %q lost", span)
		}
	}

	// The user's words, all of them but vocabulary fillers; and for
	// vocabulary no word of its own.
	outFolded := wordSet(r.Prompt, true)
	for w := range wordSet(in, true) {
		if !outFolded[w] && !(isVocabulary(typ) && lexicon[w].slots&slotFiller != 0) {
			fail("word %q lost", w)
		}
	}
	if isVocabulary(typ) {
		inWords := wordSet(in, false)
		for w := range wordSet(r.Prompt, false) {
			if !inWords[w] {
				fail("word %q invented", w)
			}
		}
		if r.NegativePrompt != "" || r.Added != nil {
			fail("vocabulary with a negative prompt %q or additions %q", r.NegativePrompt, r.Added)
		}
	}

	// No phrase twice.
	seen := map[string]bool{}
	for _, p := range phrases(typ, r.Prompt) {
		p = foldOutsideQuotes(p)
		if p == "" {
			continue
		}
		if seen[p] {
			fail("phrase %q twice", p)
		}
		seen[p] = true
	}

	if len(r.Prompt) > len(in)+maxAdded {
		fail("%d bytes from %d", len(r.Prompt), len(in))
	}
	for _, a := range r.Added {
		if a == "" || !strings.Contains(r.Prompt, a) {
			fail("added %q is not in the prompt", a)
		}
	}

	// An enhanced prompt has nothing missing.
	if again := Enhance(typ, r.Prompt); again.Prompt != r.Prompt {
		fail("enhanced again: %q", again.Prompt)
	}
}

// phrases splits an output into its phrases: a vocabulary list into its
// terms, a visual prompt as the rules read it.
func phrases(typ, s string) []string {
	var ps []string
	if isVocabulary(typ) {
		var cur strings.Builder
		for text, quoted := range pieces(s) {
			if quoted {
				cur.WriteString(text)
				continue
			}
			for i, part := range strings.Split(text, ",") {
				if i > 0 {
					ps = append(ps, strings.TrimSpace(cur.String()))
					cur.Reset()
				}
				cur.WriteString(part)
			}
		}
		return append(ps, strings.TrimSpace(cur.String()))
	}
	for _, sg := range segments(s, nil) {
		ps = append(ps, s[sg.start:sg.end])
	}
	return ps
}

// quotedSpans returns the quoted spans of s, marks included.
func quotedSpans(s string) []string {
	var spans []string
	for text, quoted := range pieces(s) {
		if quoted {
			spans = append(spans, text)
		}
	}
	return spans
}

// foldOutsideQuotes lower-cases s but its quoted spans: a phrase's
// identity, since quoted text shows as typed.
func foldOutsideQuotes(s string) string {
	var b strings.Builder
	for text, quoted := range pieces(s) {
		if !quoted {
			text = strings.ToLower(text)
		}
		b.WriteString(text)
	}
	return b.String()
}

// outsideQuotes returns s with each quoted span cut down to "|".
func outsideQuotes(s string) string {
	var b strings.Builder
	for text, quoted := range pieces(s) {
		if quoted {
			text = "|"
		}
		b.WriteString(text)
	}
	return b.String()
}

// wordSet returns the runs of letters, digits and marks in s, lower-cased
// if fold is set.
func wordSet(s string, fold bool) map[string]bool {
	set := map[string]bool{}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !isWordRune(r) }) {
		if fold {
			w = strings.ToLower(w)
		}
		set[w] = true
	}
	return set
}
