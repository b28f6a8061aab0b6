package task

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// FieldError names one field that breaks a rule, by its JSON path in the
// request ("prompt", "prompt_optimization.mode",
// "tasks[3].input_data.prompt"), with what is wrong in words a client can
// show.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// FieldErrors are every broken rule of one value, in the order of its
// fields; none means the value is valid.
type FieldErrors []FieldError

func (es FieldErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Field + ": " + e.Message
	}
	return "invalid: " + strings.Join(parts, "; ")
}

// Limits of a submit's fields, in characters unless said otherwise. The
// API's OpenAPI document states the same numbers.
const (
	MaxPromptChars      = 4000 // prompt and negative_prompt
	maxNameChars        = 64   // style, template
	maxURLChars         = 2048 // bytes
	maxParams           = 32   // prompt_optimization.params
	maxParamValChars    = 4000
	maxKeyChars         = 64 // keys of metadata and of prompt_optimization.params
	maxMetadataPairs    = 16
	maxMetadataValChars = 512
)

var (
	// languageRe is BCP-47 in outline: a 2-8 letter primary subtag and
	// optional subtags ("en", "pt-BR", "zh-Hant-TW").
	languageRe = regexp.MustCompile(`^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,4}$`)
	// providerRe is a provider's name in the registry.
	providerRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
)

// validator collects the field errors of one value.
type validator struct{ errs FieldErrors }

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// FieldPath names field name under prefix ("" at the root of the
// request), as a FieldError's Field does: "tasks[0].input_data" and
// "prompt" are "tasks[0].input_data.prompt".
func FieldPath(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// blank reports whether s has no character but spaces.
func blank(s string) bool { return strings.TrimSpace(s) == "" }

// text checks a string field: a required one must hold a character that
// is not a space; the length limit counts the string as sent, since it
// is stored and handed on as sent.
func (v *validator) text(prefix, name, s string, required bool, maxChars int) {
	n := utf8.RuneCountInString(s)
	switch {
	case required && n == 0:
		v.add(FieldPath(prefix, name), "is required")
	case required && blank(s):
		v.add(FieldPath(prefix, name), "is required: it holds only spaces")
	case n > maxChars:
		v.add(FieldPath(prefix, name), "must be at most %d characters (got %d)", maxChars, n)
	}
}

// oneOf checks a field left out ("") or set to one of allowed.
func (v *validator) oneOf(prefix, name, s string, allowed []string) {
	if s != "" && !slices.Contains(allowed, s) {
		v.add(FieldPath(prefix, name), "must be one of %s", OneOf(allowed))
	}
}

// intRange checks a number left out (nil) or from lo to hi.
func (v *validator) intRange(prefix, name string, n *int, lo, hi int) {
	if n != nil && (*n < lo || *n > hi) {
		v.add(FieldPath(prefix, name), "must be from %d to %d", lo, hi)
	}
}

// httpURL checks an absolute http(s) URL; credentials are refused when
// noUserinfo is set. It reports whether s passed.
func (v *validator) httpURL(field, s string, noUserinfo bool) bool {
	if len(s) > maxURLChars {
		v.add(field, "must be at most %d characters", maxURLChars)
		return false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		v.add(field, "must be an absolute http or https URL")
		return false
	}
	if noUserinfo && u.User != nil {
		v.add(field, "must not carry credentials")
		return false
	}
	return true
}

// atMostOne checks that no more than one of the named values is set.
func (v *validator) atMostOne(prefix string, names []string, values ...string) bool {
	set := 0
	for i, s := range values {
		if s == "" {
			continue
		}
		if blank(s) {
			v.add(FieldPath(prefix, names[i]), "must not be only spaces")
			return false
		}
		set++
	}
	if set <= 1 {
		return true
	}
	field := prefix
	if field == "" {
		field = names[0]
	}
	v.add(field, "only one of %q may be given", names)
	return false
}

// exactlyOne checks that one and only one of the named values is set. The
// error names the object that holds them, or at the root of the request
// (which has no name) the first of them.
func (v *validator) exactlyOne(prefix string, names []string, values ...string) bool {
	set := 0
	for i, s := range values {
		if s == "" {
			continue
		}
		if blank(s) {
			v.add(FieldPath(prefix, names[i]), "must not be only spaces")
			return false
		}
		set++
	}
	if set == 1 {
		return true
	}
	field := prefix
	if field == "" {
		field = names[0]
	}
	if set == 0 {
		v.add(field, "one of %q is required", names)
	} else {
		v.add(field, "only one of %q may be given", names)
	}
	return false
}

func (v *validator) language(prefix, s string) {
	if s != "" && !languageRe.MatchString(s) {
		v.add(FieldPath(prefix, "language"), "must be a BCP 47 language tag such as \"en\" or \"pt-BR\"")
	}
}

// keyed checks the keys and values of a map of strings named field.
func (v *validator) keyed(field string, m map[string]string, maxValChars int) {
	for k, s := range m {
		if k == "" || utf8.RuneCountInString(k) > maxKeyChars {
			v.add(field, "keys must be 1 to %d characters", maxKeyChars)
		}
		v.text(field, k, s, false, maxValChars)
	}
}

// OneOf lists allowed values for a message: "a, b or c".
func OneOf[T ~string](values []T) string {
	parts := make([]string, len(values))
	for i, s := range values {
		parts[i] = string(s)
	}
	if len(parts) < 2 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}

// ValidatePriority checks a task's priority under prefix: left out (the
// default, normal) or one of Priorities.
func ValidatePriority(prefix string, p Priority) FieldErrors {
	var v validator
	if p != "" && !p.Valid() {
		v.add(FieldPath(prefix, "priority"), "must be one of %s", OneOf(Priorities))
	}
	return v.errs
}

// ValidateMetadata checks a task's metadata under prefix: at most 16
// pairs, keys of 1 to 64 characters, values of at most 512.
func ValidateMetadata(prefix string, m map[string]string) FieldErrors {
	var v validator
	field := FieldPath(prefix, "metadata")
	if len(m) > maxMetadataPairs {
		v.add(field, "must have at most %d pairs (got %d)", maxMetadataPairs, len(m))
	}
	v.keyed(field, m, maxMetadataValChars)
	return v.errs
}

// ValidateWebhookURL checks the webhook_url under prefix, if set: an
// absolute http(s) URL without credentials. Whether its address may be
// called is the caller's to decide, after this passed.
func ValidateWebhookURL(prefix, rawURL string) FieldErrors {
	var v validator
	if rawURL != "" {
		v.httpURL(FieldPath(prefix, "webhook_url"), rawURL, true)
	}
	return v.errs
}

// ValidateWebhookEvents checks the webhook_events under prefix, if given:
// they need a webhook URL, name at least one known event type (left out,
// they are the defaults) and none twice.
func ValidateWebhookEvents(prefix, rawURL string, events []EventType) FieldErrors {
	if events == nil {
		return nil
	}
	var v validator
	field := FieldPath(prefix, "webhook_events")
	if rawURL == "" {
		v.add(field, "needs a webhook_url")
	}
	if len(events) == 0 {
		v.add(field, "must name at least one event type (or be left out for the default)")
	}
	for i, e := range events {
		if !e.Valid() {
			v.add(fmt.Sprintf("%s[%d]", field, i), "must be one of %s", OneOf(EventTypes))
		} else if slices.Contains(events[:i], e) {
			v.add(fmt.Sprintf("%s[%d]", field, i), "is named twice")
		}
	}
	return v.errs
}
