package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// OptionError is a factory's complaint about one of its options. The
// registry reports it under the provider's place in the configuration,
// e.g. "providers[2].options.fail_rate: must be between 0 and 1".
type OptionError struct {
	Field   string // the option's name, e.g. "fail_rate"; empty for the whole object
	Message string
}

func (e *OptionError) Error() string {
	if e.Field == "" {
		return "options: " + e.Message
	}
	return "options." + e.Field + ": " + e.Message
}

// optionPath is encoding/json's path of a field as the operator wrote it:
// json names a field of an embedded struct (an adapter's httpapi.Options)
// by the struct's Go name too, "Options.model", which no file holds.
func optionPath(t reflect.Type, path string) string {
	var out []string
	for _, part := range strings.Split(path, ".") {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map) {
			t = t.Elem()
		}
		if t != nil && t.Kind() == reflect.Struct {
			if f, ok := t.FieldByName(part); ok && f.Anonymous {
				t = f.Type
				continue
			}
			t = fieldByJSONName(t, part)
		} else {
			t = nil
		}
		out = append(out, part)
	}
	return strings.Join(out, ".")
}

// fieldByJSONName is the type of t's field that JSON names name, or nil.
func fieldByJSONName(t reflect.Type, name string) reflect.Type {
	for _, f := range reflect.VisibleFields(t) {
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == name || tag == "" && strings.EqualFold(f.Name, name) {
			return f.Type
		}
	}
	return nil
}

// DecodeOptions decodes a provider's options strictly into dst: an unknown
// option or a value of the wrong type is an *OptionError naming it. Absent
// or null options leave dst as it is.
func DecodeOptions(raw json.RawMessage, dst any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if dec.More() {
			return &OptionError{Message: "must be one JSON object"}
		}
		return nil
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return &OptionError{Message: "must be a JSON object"}
		}
		return &OptionError{Field: optionPath(reflect.TypeOf(dst), te.Field), Message: "must be " + jsonTypeName(te.Type.Kind().String())}
	}
	const unknown = "json: unknown field "
	if msg := err.Error(); strings.HasPrefix(msg, unknown) {
		name, uerr := strconv.Unquote(strings.TrimPrefix(msg, unknown))
		if uerr != nil {
			name = strings.TrimPrefix(msg, unknown)
		}
		return &OptionError{Field: name, Message: "is not an option of this provider type"}
	}
	return &OptionError{Message: fmt.Sprintf("not valid JSON: %v", err)}
}

// jsonTypeName names a Go kind the way an operator writing YAML thinks of it.
func jsonTypeName(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "true or false"
	case kind == "slice", kind == "array":
		return "a list"
	case kind == "map", kind == "struct":
		return "an object"
	}
	return "a " + kind
}
