package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// maxJSONBody caps a JSON request body (413 past it).
const maxJSONBody = 1 << 20

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readJSONBody reads a JSON request body of at most maxJSONBody bytes. The
// caller returns buf to bufPool once done with its bytes.
func readJSONBody(w http.ResponseWriter, r *http.Request) (*bytes.Buffer, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, &Problem{Status: http.StatusUnsupportedMediaType, Detail: "the body must be application/json",
				Errors: []FieldError{{Field: "Content-Type", Message: "must be application/json"}}}
		}
	}
	if r.ContentLength > maxJSONBody {
		return nil, &http.MaxBytesError{Limit: maxJSONBody}
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		putBuf(buf)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, err
		}
		return nil, invalid(fieldError("body", "could not be read: %v", err))
	}
	return buf, nil
}

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 64<<10 { // keep small buffers only
		bufPool.Put(b)
	}
}

// decodeStrict decodes one JSON value from data into v, refusing unknown
// fields and anything after the value. Errors name the JSON path, under
// prefix ("" at the root of the body).
func decodeStrict(data []byte, prefix string, v any) *Problem {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	root := prefix
	if root == "" {
		root = "body"
	}
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr):
			field := jsonPath(prefix, typeErr.Field)
			if field == "" {
				return invalid(fieldError(root, "must be a JSON object"))
			}
			return invalid(fieldError(field, "must be %s, not %s", expected(typeErr.Type), typeErr.Value))
		case errors.As(err, &syntaxErr):
			return invalid(fieldError(root, "not valid JSON: %v", syntaxErr))
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return invalid(fieldError(root, "the JSON is empty or cut short"))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return invalid(fieldError(jsonPath(prefix, name), "unknown field"))
		default:
			return invalid(fieldError(root, "not valid JSON: %v", err))
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid(fieldError(root, "unexpected data after the JSON object"))
	}
	return exactKeys(data, prefix, reflect.TypeOf(v))
}

// exactKeys refuses what encoding/json lets through: object keys that
// name a field only in another case (it matches names case-insensitively,
// so {"prompt": "a", "PROMPT": "b"} would store "b", and it has no switch
// to stop that), a key given twice in one object (the last would win),
// text that is not valid UTF-8 (it would be rewritten to U+FFFD, as would
// an escaped lone surrogate) and NUL characters. This walk over the
// tokens, checked against the JSON names of t's fields, does, naming the
// field. Values held as json.RawMessage are walked too (and again when
// they are decoded in their turn).
func exactKeys(data []byte, prefix string, t reflect.Type) *Problem {
	w := keyWalk{dec: json.NewDecoder(bytes.NewReader(data)), data: data}
	return w.walk(prefix, t)
}

type keyWalk struct {
	dec  *json.Decoder
	data []byte
}

// token reads the next token, and checks a string's text: its bytes as
// sent (UTF-8 valid; no escape that decoded to U+FFFD), and no NUL.
func (w *keyWalk) token(path string) (json.Token, *Problem, bool) {
	start := w.dec.InputOffset()
	tok, err := w.dec.Token()
	if err != nil {
		return nil, nil, false // the decode that came first has accepted the document
	}
	if str, ok := tok.(string); ok {
		raw := bytes.TrimLeft(w.data[start:w.dec.InputOffset()], " \t\r\n,:")
		switch {
		case !utf8.Valid(raw):
			return nil, invalid(fieldError(path, "is not valid UTF-8")), false
		case strings.ContainsRune(str, utf8.RuneError) && !bytes.Contains(raw, []byte("\uFFFD")) &&
			!bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`)):
			return nil, invalid(fieldError(path, "holds an escape that is no Unicode character (a lone surrogate)")), false
		case strings.IndexByte(str, 0) >= 0:
			return nil, invalid(fieldError(path, "must not hold NUL characters")), false
		}
	}
	return tok, nil, true
}

func (w *keyWalk) walk(path string, t reflect.Type) *Problem {
	tok, p, ok := w.token(path)
	if !ok {
		return p
	}
	dec := w.dec
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch tok {
	case json.Delim('{'):
		var fields map[string]reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields = jsonFields(t)
		}
		seen := map[string]bool{}
		for dec.More() {
			keyTok, p, ok := w.token(path)
			if !ok {
				return p
			}
			key, _ := keyTok.(string)
			if seen[key] {
				return invalid(fieldError(join(path, key), "is given twice in one object"))
			}
			seen[key] = true
			var sub reflect.Type
			switch {
			case fields != nil:
				ft, ok := fields[key]
				if !ok {
					return invalid(fieldError(join(path, key), "unknown field"))
				}
				sub = ft
			case t != nil && t.Kind() == reflect.Map:
				sub = t.Elem()
			}
			if p := w.walk(join(path, key), sub); p != nil {
				return p
			}
		}
		dec.Token() // the closing brace
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if p := w.walk(path+"["+strconv.Itoa(i)+"]", elem); p != nil {
				return p
			}
		}
		dec.Token() // the closing bracket
	}
	return nil
}

var fieldsByType sync.Map // reflect.Type -> map[string]reflect.Type

// jsonFields maps the JSON names of a struct's fields, those of embedded
// structs included, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldsByType.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			for k, v := range jsonFields(ft) {
				m[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldsByType.Store(t, m)
	return m
}

// jsonPath joins prefix and a Go decoder field path, dropping the names of
// embedded Go structs (they start with a capital letter; JSON names here
// never do).
func jsonPath(prefix, goPath string) string {
	out := prefix
	for seg := range strings.SplitSeq(goPath, ".") {
		if seg == "" || (seg[0] >= 'A' && seg[0] <= 'Z') {
			continue
		}
		if out != "" {
			out += "."
		}
		out += seg
	}
	return out
}

// expected says in words what JSON a Go type takes.
func expected(t reflect.Type) string {
	if t == nil {
		return "another JSON type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return "an object of strings"
		}
		return "an object"
	case reflect.Struct:
		return "an object"
	}
	return "another JSON type"
}
