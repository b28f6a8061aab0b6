package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// Every route the mux serves is in the document, and every documented
// path and method is served.
func TestOpenAPICoverage(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	served := map[string]bool{}
	for _, rt := range routes {
		key := rt.method + " " + docPath(rt.pattern)
		served[key] = true
		if _, ok := doc.Paths[docPath(rt.pattern)][strings.ToLower(rt.method)]; !ok {
			t.Errorf("%s is served but not documented", key)
		}
	}
	methods := []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	for path, item := range doc.Paths {
		for m := range item {
			if !slices.Contains(methods, m) {
				continue
			}
			if key := strings.ToUpper(m) + " " + path; !served[key] {
				t.Errorf("%s is documented but not served", key)
			}
		}
	}
}

// Every schema of the document compiles, so every $ref in it resolves.
func TestOpenAPISchemasCompile(t *testing.T) {
	t.Parallel()
	oasOnce.Do(loadOpenAPI)
	if oasErr != nil {
		t.Fatal(oasErr)
	}
	schemas, _ := oasDoc["components"].(map[string]any)["schemas"].(map[string]any)
	if len(schemas) == 0 {
		t.Fatal("no schemas")
	}
	for name := range schemas {
		if _, err := compiled("/components/schemas/" + name); err != nil {
			t.Errorf("schema %s: %v", name, err)
		}
	}
	// The request schemas agree with the validator on a few bodies.
	tests := map[string]struct {
		schema string
		body   string
		valid  bool
	}{
		"image":            {"ImageRequest", `{"prompt":"x","n":2,"size":"512x512","metadata":{"a":"b"}}`, true},
		"image unknown":    {"ImageRequest", `{"prompt":"x","colour":"red"}`, false},
		"image n":          {"ImageRequest", `{"prompt":"x","n":5}`, false},
		"batch":            {"BatchRequest", `{"tasks":[{"task_type":"image_generation","input_data":{"prompt":"x"}}]}`, true},
		"batch bad input":  {"BatchRequest", `{"tasks":[{"task_type":"image_generation","input_data":{"prompt":""}}]}`, false},
		"subtitles format": {"SubtitleRequest", `{"audio_url":"https://example.com/a","format":"ass"}`, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sch, err := compiled("/components/schemas/" + tc.schema)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal([]byte(tc.body), &v); err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(v); (err == nil) != tc.valid {
				t.Fatalf("valid: %v, want %v (%v)", err == nil, tc.valid, err)
			}
		})
	}
}
