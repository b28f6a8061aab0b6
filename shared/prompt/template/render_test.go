package template_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/videoai/mediatasks/shared/prompt/template"
)

// catalog builds a catalog of the built-ins and specs, failing the test on
// an error.
func catalog(t *testing.T, specs ...template.Spec) *template.Catalog {
	t.Helper()
	c, err := template.NewCatalog(specs)
	if err != nil {
		t.Fatalf("NewCatalog: %v", err)
	}
	return c
}

// render renders and fails the test on an error.
func render(t *testing.T, c *template.Catalog, ref, taskType, provider string, params map[string]any, prompt string) template.Rendered {
	t.Helper()
	got, err := c.Render(ref, taskType, provider, params, prompt)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return got
}

// as is errors.As that fails the test when err holds no T.
func as[T error](t *testing.T, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error %v holds no %T", err, target)
	}
	return target
}

func TestRenderBuiltins(t *testing.T) {
	t.Parallel()
	c := catalog(t)
	for name, tc := range map[string]struct {
		ref, taskType, provider string
		params                  map[string]any
		prompt                  string
		want                    template.Rendered
	}{
		"photo defaults": {
			ref: "photo", taskType: "image_generation", prompt: "a red fox in fresh snow",
			want: template.Rendered{
				Prompt: "a red fox in fresh snow, natural photograph, true-to-life colours, 50mm lens, sharp focus, fine detail",
				NegativePrompt: "blurry, out of focus, overexposed, underexposed, distorted proportions, deformed hands, extra fingers, " +
					"cartoon, illustration, painting, 3d render, watermark, text, logo",
				Template: "photo@1",
			},
		},
		"photo with params": {
			ref: "photo@1", taskType: "image_generation", prompt: "an old fisherman mending nets",
			params: map[string]any{"style": "film", "lighting": "golden_hour", "focal_length": 85.0, "aperture": 1.8},
			want: template.Rendered{
				Prompt: "an old fisherman mending nets, analog film photograph, 35mm film grain, soft contrast, " +
					"warm golden-hour sunlight, long soft shadows, 85mm lens, f/1.8, sharp focus, fine detail",
				NegativePrompt: "blurry, out of focus, overexposed, underexposed, distorted proportions, deformed hands, extra fingers, " +
					"cartoon, illustration, painting, 3d render, watermark, text, logo, digital look, oversaturated colours",
				Template: "photo@1",
			},
		},
		"photo for openai": {
			ref: "photo", taskType: "image_generation", provider: "openai", prompt: "a lighthouse", params: map[string]any{"aperture": 8.0},
			want: template.Rendered{
				Prompt: "A photograph of a lighthouse, natural photograph, true-to-life colours, taken with a 50mm lens, at f/8, " +
					"in sharp focus with fine detail and natural proportions, with no text, logos or watermarks.",
				NegativePrompt: "blurry, out of focus, overexposed, underexposed, distorted proportions, deformed hands, extra fingers, " +
					"cartoon, illustration, painting, 3d render, watermark, text, logo",
				Template: "photo@1",
			},
		},
		"cinematic image defaults": {
			ref: "cinematic", taskType: "image_generation", prompt: "a detective in the rain",
			want: template.Rendered{
				Prompt:         "cinematic film still, a detective in the rain, teal and orange colour grade, dramatic contrast, shallow depth of field, anamorphic lens, film grain",
				NegativePrompt: "blurry, low quality, flat lighting, overexposed, washed out, amateur snapshot, cartoon, watermark, text, logo",
				Template:       "cinematic@1",
			},
		},
		"cinematic image with params": {
			ref: "cinematic", taskType: "image_generation", prompt: "a detective in the rain",
			params: map[string]any{"style": "noir", "shot": "low_angle", "mood": "tense"},
			want: template.Rendered{
				Prompt: "cinematic film still, a detective in the rain, low-angle shot, black and white film noir, hard shadows, high contrast, " +
					"tense mood, shallow depth of field, anamorphic lens, film grain",
				NegativePrompt: "blurry, low quality, flat lighting, overexposed, washed out, amateur snapshot, cartoon, watermark, text, logo, colour",
				Template:       "cinematic@1",
			},
		},
		"cinematic video defaults": {
			ref: "cinematic", taskType: "video_generation", prompt: "a detective walks through the rain",
			want: template.Rendered{
				Prompt: "a detective walks through the rain, slow push-in toward the subject, teal and orange colour grade, dramatic contrast, " +
					"smooth cinematic motion, natural motion blur, 24 fps film look",
				NegativePrompt: "blurry, low quality, flickering, jitter, warped faces, morphing, distorted limbs, frozen frame, flat lighting, watermark, text, logo",
				Template:       "cinematic@1",
			},
		},
		"cinematic video with params": {
			ref: "cinematic", taskType: "video_generation", prompt: "a detective walks through the rain",
			params: map[string]any{"camera": "static", "shot": "wide", "style": "neon", "mood": "lonely"},
			want: template.Rendered{
				Prompt: "a detective walks through the rain, static locked-off camera, wide establishing shot, neon-lit night, magenta and cyan palette, " +
					"wet reflections, lonely mood, smooth cinematic motion, natural motion blur, 24 fps film look",
				NegativePrompt: "blurry, low quality, flickering, jitter, warped faces, morphing, distorted limbs, frozen frame, flat lighting, watermark, text, logo, camera shake",
				Template:       "cinematic@1",
			},
		},
		"illustration defaults": {
			ref: "illustration", taskType: "image_generation", prompt: "a fox reading a book",
			want: template.Rendered{
				Prompt:         "a fox reading a book, digital painting, painterly brushwork, rich colour, clean composition, expressive detail",
				NegativePrompt: "photograph, photorealistic, blurry, low quality, jpeg artifacts, deformed hands, extra limbs, text, lettering, signature, watermark",
				Template:       "illustration@1",
			},
		},
		"illustration with params": {
			ref: "illustration", taskType: "image_generation", prompt: "a fox reading a book",
			params: map[string]any{"style": "watercolor", "palette": "muted pastel", "mood": "cosy", "lettering": true},
			want: template.Rendered{
				Prompt: "a fox reading a book, watercolour illustration, soft washes, paper texture, muted pastel colour palette, cosy mood, " +
					"clean legible hand lettering, clean composition, expressive detail",
				NegativePrompt: "photograph, photorealistic, blurry, low quality, jpeg artifacts, deformed hands, extra limbs, hard edges, digital gradients",
				Template:       "illustration@1",
			},
		},
		"cinematic-shot defaults": {
			ref: "cinematic-shot", taskType: "video_generation", prompt: "a surfer rides a wave at dawn",
			want: template.Rendered{
				Prompt: "a surfer rides a wave at dawn, natural, realistic motion, medium shot, slow push-in, cinematic, one continuous shot",
				NegativePrompt: "blurry, low quality, flickering, jitter, warped faces, morphing, distorted limbs, sudden cuts, frozen frame, " +
					"watermark, text, logo",
				Template: "cinematic-shot@1",
			},
		},
		"cinematic-shot with params": {
			ref: "cinematic-shot", taskType: "video_generation", prompt: "a surfer rides a wave at dawn",
			params: map[string]any{"shot": "aerial", "camera": "tracking", "pace": "slow_motion", "lighting": "golden hour", "mood": "serene"},
			want: template.Rendered{
				Prompt: "a surfer rides a wave at dawn, slow motion, high frame rate look, aerial drone shot, tracking shot following the subject, " +
					"golden hour lighting, serene atmosphere, cinematic, one continuous shot",
				NegativePrompt: "blurry, low quality, flickering, jitter, warped faces, morphing, distorted limbs, sudden cuts, frozen frame, " +
					"watermark, text, logo",
				Template: "cinematic-shot@1",
			},
		},
		"cinematic-shot for runway": {
			ref: "cinematic-shot", taskType: "video_generation", provider: "runway", prompt: "a surfer rides a wave at dawn.",
			params: map[string]any{"camera": "orbit", "mood": "serene"},
			want: template.Rendered{
				Prompt: "orbit around the subject: a surfer rides a wave at dawn. natural, realistic motion, medium shot, serene atmosphere.",
				NegativePrompt: "blurry, low quality, flickering, jitter, warped faces, morphing, distorted limbs, sudden cuts, frozen frame, " +
					"watermark, text, logo",
				Template: "cinematic-shot@1",
			},
		},
		"product-turntable defaults": {
			ref: "product-turntable", taskType: "video_generation", prompt: "a matte black wireless headphone",
			want: template.Rendered{
				Prompt: "a matte black wireless headphone, product on a turntable, slow 360-degree rotation clockwise, seamless white background, " +
					"soft studio lighting, gentle highlights, subtle reflection on a glossy surface, locked-off camera, product centred in frame, " +
					"crisp detail, commercial product video",
				NegativePrompt: "blurry, low quality, warped product, changing shape, melting, morphing logo, extra objects, hands, people, " +
					"camera shake, flicker, cluttered background, watermark, text overlay",
				Template: "product-turntable@1",
			},
		},
		"product-turntable with params": {
			ref: "product-turntable", taskType: "video_generation", prompt: "a matte black wireless headphone",
			params: map[string]any{"speed": "steady", "direction": "counterclockwise", "background": "dark grey gradient", "lighting": "dramatic", "reflection": false},
			want: template.Rendered{
				Prompt: "a matte black wireless headphone, product on a turntable, steady 360-degree rotation counterclockwise, dark grey gradient background, " +
					"dramatic rim lighting, deep shadows, locked-off camera, product centred in frame, crisp detail, commercial product video",
				NegativePrompt: "blurry, low quality, warped product, changing shape, melting, morphing logo, extra objects, hands, people, " +
					"camera shake, flicker, cluttered background, watermark, text overlay, flat lighting",
				Template: "product-turntable@1",
			},
		},
		"vocabulary defaults": {
			ref: "vocabulary", taskType: "audio_transcription", prompt: "Quarterly earnings call of Acme Corp",
			want: template.Rendered{Prompt: "Quarterly earnings call of Acme Corp.", Template: "vocabulary@1"},
		},
		"vocabulary with terms": {
			ref: "vocabulary", taskType: "audio_transcription", prompt: "Quarterly earnings call of Acme Corp.",
			params: map[string]any{"terms": []any{"EBITDA", " Jane Okafor ", "ebitda", "", "Q3"}},
			want:   template.Rendered{Prompt: "Quarterly earnings call of Acme Corp. Glossary: EBITDA, Jane Okafor, Q3.", Template: "vocabulary@1"},
		},
		"vocabulary terms as text, no prompt": {
			ref: "vocabulary", taskType: "subtitle_generation",
			params: map[string]any{"terms": "Kubernetes, gRPC\nIstio", "label": "Glosario"},
			want:   template.Rendered{Prompt: "Glosario: Kubernetes, gRPC, Istio.", Template: "vocabulary@1"},
		},
		"vocabulary nothing": {
			ref: "vocabulary", taskType: "audio_transcription", params: map[string]any{"terms": []any{}},
			want: template.Rendered{Template: "vocabulary@1"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := render(t, c, tc.ref, tc.taskType, tc.provider, tc.params, tc.prompt); got != tc.want {
				t.Errorf("got\n  %q\n  %q\n  %q\nwant\n  %q\n  %q\n  %q", got.Prompt, got.NegativePrompt, got.Template,
					tc.want.Prompt, tc.want.NegativePrompt, tc.want.Template)
			}
		})
	}
}

// texts is a template whose texts show the rendering rules plainly.
func texts(prompt, negative string, params ...template.Param) template.Spec {
	return template.Spec{Name: "t", TaskTypes: []string{"image_generation", "video_generation"}, Prompt: prompt, NegativePrompt: negative, Params: params}
}

var (
	optional = template.Param{Name: "a", Type: template.TypeString}
	second   = template.Param{Name: "b", Type: template.TypeString}
)

func TestRenderText(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		spec             template.Spec
		params           map[string]any
		prompt           string
		want, wantNegate string
	}{
		"all filled":           {spec: texts("{prompt}, {a} light, {b}", "", optional, second), params: map[string]any{"a": "soft", "b": "grain"}, prompt: "fox", want: "fox, soft light, grain"},
		"empty middle":         {spec: texts("{prompt}, {a} light, {b}", "", optional, second), params: map[string]any{"b": "grain"}, prompt: "fox", want: "fox, grain"},
		"empty last":           {spec: texts("{prompt}, {a} light, {b}", "", optional, second), params: map[string]any{"a": "soft"}, prompt: "fox", want: "fox, soft light"},
		"empty first":          {spec: texts("{a} light, {prompt}", "", optional), prompt: "fox", want: "fox"},
		"all empty":            {spec: texts("{a}, {prompt}, {b}", "", optional, second), want: ""},
		"blank value is empty": {spec: texts("{prompt}, {a} light", "", optional), params: map[string]any{"a": " \n "}, prompt: "fox", want: "fox"},
		"stronger separator":   {spec: texts("{prompt}, {a}. {b}", "", optional, second), params: map[string]any{"b": "Grain"}, prompt: "fox", want: "fox. Grain"},
		"terminator kept":      {spec: texts("{prompt}; {a}.", "", optional), prompt: "fox", want: "fox."},
		"no terminator":        {spec: texts("{prompt}. {a}", "", optional), prompt: "fox", want: "fox"},
		"semicolon":            {spec: texts("{prompt}; {a}; {b}", "", optional, second), params: map[string]any{"b": "grain"}, prompt: "fox", want: "fox; grain"},
		"full stop gives way":  {spec: texts("{prompt}, {a}", "", optional), params: map[string]any{"a": "grain"}, prompt: "a fox.", want: "a fox, grain"},
		"no double stop":       {spec: texts("{prompt}.", ""), prompt: "a fox...", want: "a fox."},
		"question ends":        {spec: texts("{prompt}. {a}.", "", optional), params: map[string]any{"a": "Glossary"}, prompt: "who is it?", want: "who is it? Glossary."},
		"stop at the end kept": {spec: texts("A {prompt}", ""), prompt: "fox.", want: "A fox."},
		"white space":          {spec: texts("  {prompt} ,\n {a}\tlight  ", "", optional), params: map[string]any{"a": "soft\n\nwarm"}, prompt: "  a\n red\t fox  ", want: "a red fox, soft warm light"},
		"decimal point":        {spec: texts("{prompt}, f/2.8 lens.", ""), prompt: "fox", want: "fox, f/2.8 lens."},
		"numbers": {spec: texts("{prompt}, {n}mm, f/{f}", "", template.Param{Name: "n", Type: template.TypeInt}, template.Param{Name: "f", Type: template.TypeNumber}),
			params: map[string]any{"n": 35.0, "f": 1.4}, prompt: "fox", want: "fox, 35mm, f/1.4"},
		"negative, empty slot":  {spec: texts("{prompt}", "blurry, {a}, text", optional), prompt: "fox", want: "fox", wantNegate: "blurry, text"},
		"negative, filled slot": {spec: texts("{prompt}", "blurry, {a}, text", optional), params: map[string]any{"a": "grain"}, prompt: "fox", want: "fox", wantNegate: "blurry, grain, text"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := render(t, catalog(t, tc.spec), "t", "image_generation", "", tc.params, tc.prompt)
			if got.Prompt != tc.want || got.NegativePrompt != tc.wantNegate {
				t.Errorf("got %q / %q, want %q / %q", got.Prompt, got.NegativePrompt, tc.want, tc.wantNegate)
			}
		})
	}
}

func TestRenderVariants(t *testing.T) {
	t.Parallel()
	spec := texts("base {prompt}", "base negative")
	spec.Variants = map[string]template.Variant{
		"video_generation": {Prompt: "video {prompt}", NegativePrompt: "video negative"},
		"provider:fal":     {Prompt: "fal {prompt}"},
		"provider:runway":  {NegativePrompt: "runway negative"},
	}
	c := catalog(t, spec)
	for name, tc := range map[string]struct {
		taskType, provider     string
		wantPrompt, wantNegate string
	}{
		"base":                          {taskType: "image_generation", wantPrompt: "base fox", wantNegate: "base negative"},
		"base, provider without one":    {taskType: "image_generation", provider: "sim", wantPrompt: "base fox", wantNegate: "base negative"},
		"task type":                     {taskType: "video_generation", wantPrompt: "video fox", wantNegate: "video negative"},
		"provider over base":            {taskType: "image_generation", provider: "fal", wantPrompt: "fal fox", wantNegate: "base negative"},
		"provider over task type":       {taskType: "video_generation", provider: "fal", wantPrompt: "fal fox", wantNegate: "video negative"},
		"provider negative only":        {taskType: "video_generation", provider: "runway", wantPrompt: "video fox", wantNegate: "runway negative"},
		"task type key is not provider": {taskType: "image_generation", provider: "video_generation", wantPrompt: "base fox", wantNegate: "base negative"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := render(t, c, "t", tc.taskType, tc.provider, nil, "fox"); got.Prompt != tc.wantPrompt || got.NegativePrompt != tc.wantNegate {
				t.Errorf("got %q / %q, want %q / %q", got.Prompt, got.NegativePrompt, tc.wantPrompt, tc.wantNegate)
			}
		})
	}
}

func TestRenderPresets(t *testing.T) {
	t.Parallel()
	style := template.Param{Name: "style", Type: template.TypeEnum, Default: "film", Presets: map[string]template.Preset{
		"film":  {Prompt: "film grain", NegativePrompt: "digital"},
		"plain": {Prompt: "plain"},
		"clean": {NegativePrompt: "noise, grain"}, // negative-only
	}}
	hdr := template.Param{Name: "hdr", Type: template.TypeBool, Presets: map[string]template.Preset{
		"true":  {Prompt: "HDR"},
		"false": {NegativePrompt: "HDR"},
	}}
	tone := template.Param{Name: "tone", Type: template.TypeEnum, Allowed: []string{"warm tones", "cool tones"}}
	for name, tc := range map[string]struct {
		spec                   template.Spec
		params                 map[string]any
		wantPrompt, wantNegate string
	}{
		"default preset":            {spec: texts("{prompt}, {style}", "blurry", style), wantPrompt: "fox, film grain", wantNegate: "blurry, digital"},
		"chosen preset":             {spec: texts("{prompt}, {style}", "blurry", style), params: map[string]any{"style": "plain"}, wantPrompt: "fox, plain", wantNegate: "blurry"},
		"negative-only preset":      {spec: texts("{prompt}, {style}, sharp", "blurry", style), params: map[string]any{"style": "clean"}, wantPrompt: "fox, sharp", wantNegate: "blurry, noise, grain"},
		"slot in negative":          {spec: texts("{prompt}, {style}", "{style}, blurry", style), wantPrompt: "fox, film grain", wantNegate: "digital, blurry"},
		"empty slot in negative":    {spec: texts("{prompt}, {style}", "{style}, blurry", style), params: map[string]any{"style": "plain"}, wantPrompt: "fox, plain", wantNegate: "blurry"},
		"no negative text":          {spec: texts("{prompt}, {style}", "", style), wantPrompt: "fox, film grain", wantNegate: "digital"},
		"null is the default":       {spec: texts("{prompt}, {style}", "", style), params: map[string]any{"style": nil}, wantPrompt: "fox, film grain", wantNegate: "digital"},
		"bool true":                 {spec: texts("{prompt}, {hdr}", "", hdr), params: map[string]any{"hdr": true}, wantPrompt: "fox, HDR"},
		"bool false":                {spec: texts("{prompt}, {hdr}", "", hdr), params: map[string]any{"hdr": false}, wantPrompt: "fox", wantNegate: "HDR"},
		"bool unset, no default":    {spec: texts("{prompt}, {hdr}", "", hdr), wantPrompt: "fox"},
		"enum value as it is":       {spec: texts("{prompt}, {tone}", "", tone), params: map[string]any{"tone": "cool tones"}, wantPrompt: "fox, cool tones"},
		"enum unset, no default":    {spec: texts("{prompt}, {tone}", "", tone), wantPrompt: "fox"},
		"presets in declared order": {spec: texts("{prompt}", "", hdr, style), params: map[string]any{"hdr": false}, wantPrompt: "fox", wantNegate: "HDR, digital"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := render(t, catalog(t, tc.spec), "t", "image_generation", "", tc.params, "fox"); got.Prompt != tc.wantPrompt || got.NegativePrompt != tc.wantNegate {
				t.Errorf("got %q / %q, want %q / %q", got.Prompt, got.NegativePrompt, tc.wantPrompt, tc.wantNegate)
			}
		})
	}
}

func TestRenderParamErrors(t *testing.T) {
	t.Parallel()
	spec := texts("{prompt}, {s}, {e}, {b}, {i}, {n}, {l}",
		"",
		template.Param{Name: "s", Type: template.TypeString, MaxLength: 5},
		template.Param{Name: "e", Type: template.TypeEnum, Allowed: []string{"x", "y"}},
		template.Param{Name: "b", Type: template.TypeBool, Presets: map[string]template.Preset{"true": {Prompt: "B"}}},
		template.Param{Name: "i", Type: template.TypeInt, Min: new(1.0), Max: new(10.0)},
		template.Param{Name: "n", Type: template.TypeNumber, Min: new(0.5)},
		template.Param{Name: "l", Type: template.TypeList, MaxItems: 2, MaxLength: 4},
	)
	spec.Params = append(spec.Params, template.Param{Name: "m", Type: template.TypeNumber, Max: new(2.0)})
	spec.Prompt += ", {m}"
	c := catalog(t, spec)
	for name, tc := range map[string]struct {
		params  map[string]any
		param   string
		message string
	}{
		"unknown":             {params: map[string]any{"colour": "red"}, param: "colour", message: "unknown param of template t@1 (params: s, e, b, i, n, l, m)"},
		"string wrong type":   {params: map[string]any{"s": 5.0}, param: "s", message: "must be a string"},
		"string too long":     {params: map[string]any{"s": "abcdef"}, param: "s", message: "must be at most 5 characters"},
		"string runes":        {params: map[string]any{"s": "ééééé"}, param: ""},
		"enum not allowed":    {params: map[string]any{"e": "z"}, param: "e", message: `must be one of "x" or "y"`},
		"enum wrong type":     {params: map[string]any{"e": true}, param: "e", message: `must be one of "x" or "y"`},
		"bool wrong type":     {params: map[string]any{"b": "true"}, param: "b", message: "must be true or false"},
		"int wrong type":      {params: map[string]any{"i": "5"}, param: "i", message: "must be a number"},
		"int not whole":       {params: map[string]any{"i": 2.5}, param: "i", message: "must be a whole number, not 2.5"},
		"int below":           {params: map[string]any{"i": 0.0}, param: "i", message: "must be between 1 and 10, not 0"},
		"int above":           {params: map[string]any{"i": 11.0}, param: "i", message: "must be between 1 and 10, not 11"},
		"int at the limits":   {params: map[string]any{"i": 10.0, "n": 0.5}, param: ""},
		"number below min":    {params: map[string]any{"n": 0.25}, param: "n", message: "must be at least 0.5, not 0.25"},
		"number above max":    {params: map[string]any{"m": 2.5}, param: "m", message: "must be at most 2, not 2.5"},
		"number wrong type":   {params: map[string]any{"n": false}, param: "n", message: "must be a number"},
		"list wrong type":     {params: map[string]any{"l": 3.0}, param: "l", message: "must be a list of strings"},
		"list item not text":  {params: map[string]any{"l": []any{"ab", 1.0}}, param: "l", message: "must be a list of strings"},
		"list too many":       {params: map[string]any{"l": []any{"a", "b", "c"}}, param: "l", message: "must have at most 2 terms, not 3"},
		"list repeats count":  {params: map[string]any{"l": []any{"a", "A", "b"}}, param: ""},
		"list term too long":  {params: map[string]any{"l": []any{"abcde"}}, param: "l", message: `terms must be at most 4 characters: "abcde" is longer`},
		"unknown before type": {params: map[string]any{"zz": 1.0, "s": 1.0}, param: "zz", message: "unknown param"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Render("t", "image_generation", "", tc.params, "fox")
			if tc.param == "" {
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				return
			}
			if pe := as[*template.ParamError](t, err); pe.Param != tc.param || !strings.HasPrefix(pe.Message, tc.message) {
				t.Errorf("got %q: %q, want %q: %q", pe.Param, pe.Message, tc.param, tc.message)
			}
		})
	}
}

func TestRenderParamErrorsAll(t *testing.T) {
	t.Parallel()
	_, err := catalog(t).Render("photo", "image_generation", "", map[string]any{"style": "sepia", "focal_length": 2.0, "lens": "zoom"}, "fox")
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		got = append(got, as[*template.ParamError](t, e).Param)
	}
	if want := "lens style focal_length"; strings.Join(got, " ") != want {
		t.Errorf("params at fault %v, want %s", got, want)
	}
}

func TestRenderUnknown(t *testing.T) {
	t.Parallel()
	c := catalog(t)
	for name, tc := range map[string]struct {
		ref, taskType string
		want          error
	}{
		"unknown name":    {ref: "watercolour", taskType: "image_generation", want: template.ErrUnknownTemplate},
		"unknown version": {ref: "photo@2", taskType: "image_generation", want: template.ErrUnknownTemplate},
		"bad version":     {ref: "photo@latest", taskType: "image_generation", want: template.ErrUnknownTemplate},
		"empty":           {ref: "", taskType: "image_generation", want: template.ErrUnknownTemplate},
		"wrong task type": {ref: "photo", taskType: "video_generation", want: template.ErrWrongTaskType},
		"no task type":    {ref: "vocabulary", taskType: "", want: template.ErrWrongTaskType},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Render(tc.ref, tc.taskType, "", nil, "fox")
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// TestRenderInjection: what clients send is text, never template.
func TestRenderInjection(t *testing.T) {
	t.Parallel()
	c := catalog(t)
	for name, tc := range map[string]struct {
		ref, taskType string
		params        map[string]any
		prompt        string
		wantPrompt    string
	}{
		"slot in prompt": {ref: "cinematic", taskType: "image_generation", prompt: "{style} {prompt} {mood}",
			wantPrompt: "cinematic film still, {style} {prompt} {mood}, teal and orange colour grade, dramatic contrast, shallow depth of field, anamorphic lens, film grain"},
		"broken braces in prompt": {ref: "vocabulary", taskType: "audio_transcription", prompt: "{{x}} } {",
			wantPrompt: "{{x}} } {."},
		"slot in a param": {ref: "cinematic", taskType: "image_generation", prompt: "fox", params: map[string]any{"mood": "{prompt}, {style}"},
			wantPrompt: "cinematic film still, fox, teal and orange colour grade, dramatic contrast, {prompt}, {style} mood, shallow depth of field, anamorphic lens, film grain"},
		"slot in a term": {ref: "vocabulary", taskType: "audio_transcription", prompt: "call", params: map[string]any{"terms": []any{"{label}", "{prompt}"}},
			wantPrompt: "call. Glossary: {label}, {prompt}."},
		"separators in prompt stay": {ref: "vocabulary", taskType: "audio_transcription", prompt: "a, , b; c. d",
			wantPrompt: "a, , b; c. d."},
		"preset name as prompt": {ref: "photo", taskType: "image_generation", prompt: "film", params: map[string]any{"style": "studio"},
			wantPrompt: "film, studio photograph, seamless backdrop, softbox lighting, 50mm lens, sharp focus, fine detail"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := render(t, c, tc.ref, tc.taskType, "", tc.params, tc.prompt); got.Prompt != tc.wantPrompt {
				t.Errorf("prompt = %q, want %q", got.Prompt, tc.wantPrompt)
			}
		})
	}
}

// TestRenderDeterministic renders with map params many times: no map
// order may show in the output.
func TestRenderDeterministic(t *testing.T) {
	t.Parallel()
	c := catalog(t)
	params := map[string]any{"style": "noir", "shot": "wide", "mood": "tense", "camera": "orbit"}
	first := render(t, c, "cinematic", "video_generation", "", params, "fox")
	for range 100 {
		if got, _ := c.Render("cinematic", "video_generation", "", params, "fox"); got != first {
			t.Fatalf("render changed: %+v, then %+v", first, got)
		}
	}
}
