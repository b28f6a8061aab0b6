package client

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// schemaTypes are the Go types that mirror the document's schemas.
var schemaTypes = map[string]reflect.Type{
	"PromptOptimization":  reflect.TypeFor[PromptOptimization](),
	"ImageRequest":        reflect.TypeFor[ImageRequest](),
	"VideoRequest":        reflect.TypeFor[VideoRequest](),
	"AudioRequest":        reflect.TypeFor[TranscriptionRequest](),
	"SubtitleRequest":     reflect.TypeFor[SubtitlesRequest](),
	"BatchItem":           reflect.TypeFor[BatchItem](),
	"BatchRequest":        reflect.TypeFor[BatchRequest](),
	"File":                reflect.TypeFor[File](),
	"Output":              reflect.TypeFor[Output](),
	"TaskError":           reflect.TypeFor[TaskError](),
	"Task":                reflect.TypeFor[Task](),
	"TaskList":            reflect.TypeFor[TaskList](),
	"Counts":              reflect.TypeFor[Counts](),
	"Batch":               reflect.TypeFor[Batch](),
	"Upload":              reflect.TypeFor[Upload](),
	"UploadTicketRequest": reflect.TypeFor[UploadTicketRequest](),
	"UploadTicket":        reflect.TypeFor[UploadTicket](),
	"ComponentHealth":     reflect.TypeFor[ComponentHealth](),
	"Health":              reflect.TypeFor[Health](),
	"ProviderStats":       reflect.TypeFor[ProviderStats](),
	"Stats":               reflect.TypeFor[Stats](),
	"FieldError":          reflect.TypeFor[FieldError](),
	"Problem":             reflect.TypeFor[Problem](),
	"DeliveryAttempt":     reflect.TypeFor[DeliveryAttempt](),
	"Delivery":            reflect.TypeFor[Delivery](),
	"DeliveryList":        reflect.TypeFor[DeliveryList](),
	"WebhookSecret":       reflect.TypeFor[WebhookSecret](),
	"OptimizedPrompt":     reflect.TypeFor[OptimizedPrompt](),
	"PromptPreview":       reflect.TypeFor[PromptPreview](),
	"TemplateParam":       reflect.TypeFor[TemplateParam](),
	"TemplateList":        reflect.TypeFor[TemplateList](),
	"Cost":                reflect.TypeFor[Cost](),
	"Spend":               reflect.TypeFor[Spend](),
	"PromptStats":         reflect.TypeFor[PromptStats](),
	"ArmStats":            reflect.TypeFor[ArmStats](),
}

// unmirrored are the object schemas the client has no type for, and why.
var unmirrored = map[string]string{
	"ImageInput":    "a batch item's input: ImageRequest without the delivery fields",
	"VideoInput":    "as ImageInput",
	"AudioInput":    "as ImageInput",
	"SubtitleInput": "as ImageInput",
}

type schema struct {
	Ref                  string             `json:"$ref"`
	Type                 any                `json:"type"` // a name or a list of names
	Format               string             `json:"format"`
	Properties           map[string]*schema `json:"properties"`
	AdditionalProperties json.RawMessage    `json:"additionalProperties"`
	Items                *schema            `json:"items"`
	OneOf                []*schema          `json:"oneOf"`
	Enum                 []any              `json:"enum"`
	Const                any                `json:"const"`
}

func (s *schema) types() []string {
	switch v := s.Type.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, t := range v {
			out = append(out, t.(string))
		}
		return out
	}
	return nil
}

// TestTypesMatchTheDocument checks every mirrored schema against its Go
// type: each property has a JSON field and each field a property, of a
// compatible type, recursively; and every object schema is mirrored or
// listed as not.
func TestTypesMatchTheDocument(t *testing.T) {
	raw, err := os.ReadFile("../shared/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]*schema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc.Components.Schemas
	for name, s := range schemas {
		if s.Properties == nil {
			continue
		}
		if _, ok := schemaTypes[name]; !ok && unmirrored[name] == "" {
			t.Errorf("schema %s has no Go type: add one to types.go and schemaTypes, or say why in unmirrored", name)
		}
	}
	for name, typ := range schemaTypes {
		s, ok := schemas[name]
		if !ok {
			t.Errorf("%s: no such schema in the document", name)
			continue
		}
		c := checker{t: t, schemas: schemas}
		c.check(name, s, typ)
	}
}

type checker struct {
	t       *testing.T
	schemas map[string]*schema
}

func (c checker) resolve(s *schema) *schema {
	for s.Ref != "" {
		s = c.schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
	}
	return s
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
	anyType  = reflect.TypeFor[any]()
)

// check reports where typ cannot hold what s describes.
func (c checker) check(path string, s *schema, typ reflect.Type) {
	c.t.Helper()
	s = c.resolve(s)
	if len(s.OneOf) > 0 { // null or one schema
		var other *schema
		for _, o := range s.OneOf {
			if !slices.Equal(c.resolve(o).types(), []string{"null"}) {
				other = o
			}
		}
		if typ.Kind() != reflect.Pointer {
			c.t.Errorf("%s: may be null, so wants a pointer, not %s", path, typ)
			return
		}
		c.check(path, other, typ.Elem())
		return
	}
	types := s.types()
	nullable := slices.Contains(types, "null")
	types = slices.DeleteFunc(types, func(t string) bool { return t == "null" })
	if typ == rawType || typ == anyType {
		return // holds any JSON value
	}
	pointer := typ.Kind() == reflect.Pointer
	if pointer {
		typ = typ.Elem()
	}
	if len(types) == 0 {
		switch {
		case s.Enum != nil || s.Const != nil:
			types = []string{"string"}
		case s.Properties != nil:
			types = []string{"object"}
		default:
			c.t.Errorf("%s: any JSON value, wants json.RawMessage or any, not %s", path, typ)
			return
		}
	}
	if len(types) != 1 {
		c.t.Errorf("%s: types %v: not checked", path, types)
		return
	}
	want := func(ok bool) {
		if !ok {
			c.t.Errorf("%s: %s (format %q) does not fit Go %s", path, types[0], s.Format, typ)
		}
	}
	switch types[0] {
	case "string":
		if s.Format == "date-time" {
			want(typ == timeType)
			if nullable && !pointer {
				c.t.Errorf("%s: a date-time that may be null wants *time.Time", path)
			}
			return
		}
		want(typ.Kind() == reflect.String)
	case "integer":
		want(typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Int64)
	case "number":
		want(typ.Kind() == reflect.Float64)
	case "boolean":
		want(typ.Kind() == reflect.Bool)
	case "array":
		want(typ.Kind() == reflect.Slice)
		if typ.Kind() == reflect.Slice && s.Items != nil {
			c.check(path+"[]", s.Items, typ.Elem())
		}
	case "object":
		switch {
		case s.Properties != nil:
			want(typ.Kind() == reflect.Struct)
			if typ.Kind() == reflect.Struct {
				c.checkStruct(path, s, typ)
			}
		case typ.Kind() == reflect.Map:
			var values schema
			if json.Unmarshal(s.AdditionalProperties, &values) == nil && (values.Type != nil || values.Ref != "" || values.Properties != nil) {
				c.check(path+"{}", &values, typ.Elem())
			}
		default:
			c.t.Errorf("%s: an object without properties wants a map or json.RawMessage, not %s", path, typ)
		}
	default:
		c.t.Errorf("%s: type %s not checked", path, types[0])
	}
}

// checkStruct matches s's properties with typ's JSON fields, both ways.
func (c checker) checkStruct(path string, s *schema, typ reflect.Type) {
	c.t.Helper()
	fields := map[string]reflect.Type{}
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			c.t.Errorf("%s: field %s has no JSON name", path, f.Name)
			continue
		}
		fields[name] = f.Type
	}
	for name, prop := range s.Properties {
		ft, ok := fields[name]
		if !ok {
			c.t.Errorf("%s.%s: in the document, not in Go %s", path, name, typ)
			continue
		}
		c.check(path+"."+name, prop, ft)
	}
	for name := range fields {
		if _, ok := s.Properties[name]; !ok {
			c.t.Errorf("%s.%s: in Go %s, not in the document", path, name, typ)
		}
	}
}

// operations are the client's method for each operation of the document;
// "" marks one the client leaves to other tools, with the reason.
var operations = map[string]string{
	"generateImage":       "SubmitImage",
	"generateVideo":       "SubmitVideo",
	"transcribeAudio":     "SubmitTranscription",
	"generateSubtitles":   "SubmitSubtitles",
	"upload":              "Upload",
	"listTasks":           "ListTasks",
	"getTask":             "GetTask",
	"cancelTask":          "CancelTask",
	"taskEvents":          "Events",
	"submitBatch":         "SubmitBatch",
	"getBatch":            "GetBatch",
	"health":              "Health",
	"stats":               "Stats",
	"listTaskDeliveries":  "ListDeliveries",
	"listBatchDeliveries": "ListDeliveries",
	"listDeliveries":      "ListDeliveries",
	"getDelivery":         "GetDelivery",
	"retryDelivery":       "RetryDelivery",
	"getWebhookSecret":    "WebhookSecret",
	"rotateWebhookSecret": "RotateWebhookSecret",
	"previewPrompt":       "PromptPreview",
	"promptTemplates":     "Templates",
	"openapi":             "", // the document itself
	"metrics":             "", // Prometheus scrapes it
	"getFile":             "", // file URLs are plain signed GETs
	"providerCallback":    "", // providers call it, not clients
}

// TestEveryOperationHasAMethod keeps the client whole as routes are added.
func TestEveryOperationHasAMethod(t *testing.T) {
	raw, err := os.ReadFile("../shared/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	client := reflect.TypeFor[*Client]()
	for path, ops := range doc.Paths {
		for method, op := range ops {
			var o struct {
				OperationID string `json:"operationId"`
			}
			if json.Unmarshal(op, &o) != nil || o.OperationID == "" {
				continue // parameters shared by the path's operations
			}
			name, ok := operations[o.OperationID]
			switch {
			case !ok:
				t.Errorf("%s %s (%s) has no method: add one, or say why not in operations", method, path, o.OperationID)
			case name != "":
				if _, ok := client.MethodByName(name); !ok {
					t.Errorf("%s: no method %s", o.OperationID, name)
				}
			}
		}
	}
}
