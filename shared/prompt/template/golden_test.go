package template_test

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/builtins.golden from the built-in templates")

// samples are the prompts the golden file renders, by task type; a
// product shot wants a product.
var samples = map[string]string{
	"image_generation":    "a red fox in fresh snow",
	"video_generation":    "a red fox trotting through fresh snow",
	"audio_transcription": "Weekly stand-up of the platform team",
	"subtitle_generation": "Weekly stand-up of the platform team",
	"product-turntable":   "a ceramic coffee mug",
}

// TestGoldenBuiltins renders every built-in with its defaults for each
// task type it serves, and for each provider it has a variant for, so that
// a change to a built-in's text shows in review as a change to this file.
func TestGoldenBuiltins(t *testing.T) {
	t.Parallel()
	c := catalog(t)
	var b strings.Builder
	for _, in := range c.List() {
		tmpl, err := c.Lookup(in.Name, in.Version)
		if err != nil {
			t.Fatal(err)
		}
		providers := []string{""}
		for _, k := range slices.Sorted(maps.Keys(tmpl.Variants)) {
			if p, ok := strings.CutPrefix(k, "provider:"); ok {
				providers = append(providers, p)
			}
		}
		for _, tt := range in.TaskTypes {
			prompt := samples[tt]
			if s, ok := samples[in.Name]; ok {
				prompt = s
			}
			for _, p := range providers {
				r, err := tmpl.Render(tt, p, nil, prompt)
				if err != nil {
					t.Fatalf("%s %s %s: %v", in.Name, tt, p, err)
				}
				fmt.Fprintf(&b, "== %s %s", r.Template, tt)
				if p != "" {
					fmt.Fprintf(&b, " provider:%s", p)
				}
				fmt.Fprintf(&b, "\nprompt: %s\n", r.Prompt)
				if r.NegativePrompt != "" {
					fmt.Fprintf(&b, "negative_prompt: %s\n", r.NegativePrompt)
				}
				b.WriteString("\n")
			}
		}
	}
	path := filepath.Join("testdata", "builtins.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("the built-ins render otherwise than %s (go test -update rewrites it after review):\n%s", path, got)
	}
}
