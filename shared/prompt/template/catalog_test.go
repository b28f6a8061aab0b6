package template_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/videoai/mediatasks/shared/prompt/template"
)

// valid is a configured template with no problem; cases break one part.
func valid() template.Spec {
	return template.Spec{
		Name:           "house",
		Version:        1,
		Description:    "the house style",
		TaskTypes:      []string{"image_generation", "video_generation"},
		Prompt:         "{prompt}, {style}, {grain} grain",
		NegativePrompt: "blurry",
		Params: []template.Param{
			{Name: "style", Type: template.TypeEnum, Default: "warm", Presets: map[string]template.Preset{"warm": {Prompt: "warm tones"}, "cold": {Prompt: "cold tones"}}},
			{Name: "grain", Type: template.TypeNumber, Default: 0.5, Min: new(0.0), Max: new(1.0)},
		},
		Variants: map[string]template.Variant{"video_generation": {Prompt: "{prompt}, moving, {style}"}},
	}
}

// fieldErrors lists the FieldErrors a joined error holds.
func fieldErrors(t *testing.T, err error) []*template.FieldError {
	t.Helper()
	var out []*template.FieldError
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		out = append(out, as[*template.FieldError](t, e))
	}
	return out
}

func TestNewCatalogErrors(t *testing.T) {
	t.Parallel()
	param := func(p template.Param) func(*template.Spec) {
		return func(s *template.Spec) {
			s.Params = append(s.Params, p)
			s.Prompt += ", {" + p.Name + "}"
		}
	}
	for name, tc := range map[string]struct {
		change  func(*template.Spec)
		path    string // below prompt.templates[0]
		message string
	}{
		"no name":                   {change: func(s *template.Spec) { s.Name = "" }, path: ".name", message: `"" is not a template name`},
		"name with capitals":        {change: func(s *template.Spec) { s.Name = "House" }, path: ".name", message: "is not a template name"},
		"name with an at":           {change: func(s *template.Spec) { s.Name = "house@2" }, path: ".name", message: "is not a template name"},
		"negative version":          {change: func(s *template.Spec) { s.Version = -1 }, path: ".version", message: "must be 1 or more, not -1"},
		"long description":          {change: func(s *template.Spec) { s.Description = strings.Repeat("d", 501) }, path: ".description", message: "must be at most 500 characters"},
		"no task types":             {change: func(s *template.Spec) { s.TaskTypes = nil; s.Variants = nil }, path: ".task_types", message: "must list at least one task type"},
		"unknown task type":         {change: func(s *template.Spec) { s.TaskTypes = []string{"music_generation"} }, path: ".task_types[0]", message: `unknown task type "music_generation"`},
		"task type twice":           {change: func(s *template.Spec) { s.TaskTypes = append(s.TaskTypes, "image_generation") }, path: ".task_types[2]", message: "is listed twice"},
		"no prompt":                 {change: func(s *template.Spec) { s.Prompt = " " }, path: ".prompt", message: "is required"},
		"no prompt slot":            {change: func(s *template.Spec) { s.Prompt = "{style}, {grain}" }, path: ".prompt", message: "must hold the {prompt} slot once, not 0 times"},
		"prompt slot twice":         {change: func(s *template.Spec) { s.Prompt += ", {prompt}" }, path: ".prompt", message: "not 2 times"},
		"unknown slot":              {change: func(s *template.Spec) { s.Prompt += ", {lightning}" }, path: ".prompt", message: "unknown slot {lightning} (slots: {prompt}, {grain}, {style})"},
		"unclosed brace":            {change: func(s *template.Spec) { s.Prompt += ", {style" }, path: ".prompt", message: "has no closing }"},
		"brace in a slot":           {change: func(s *template.Spec) { s.Prompt += ", {sty{le}" }, path: ".prompt", message: "has no closing }"},
		"stray closing brace":       {change: func(s *template.Spec) { s.Prompt += ", style}" }, path: ".prompt", message: "has no opening {"},
		"slot with capitals":        {change: func(s *template.Spec) { s.Prompt += ", {Style}" }, path: ".prompt", message: "{Style} is not a slot"},
		"empty slot":                {change: func(s *template.Spec) { s.Prompt += ", {}" }, path: ".prompt", message: "{} is not a slot"},
		"prompt in negative":        {change: func(s *template.Spec) { s.NegativePrompt = "not {prompt}" }, path: ".negative_prompt", message: "must not hold {prompt}"},
		"unknown negative slot":     {change: func(s *template.Spec) { s.NegativePrompt = "{avoid}" }, path: ".negative_prompt", message: "unknown slot {avoid} (slots: {grain}, {style})"},
		"bad param name":            {change: param(template.Param{Name: "Lens", Type: template.TypeString}), path: ".params[2].name", message: `"Lens" is not a param name`},
		"param named prompt":        {change: func(s *template.Spec) { s.Params[0].Name = "prompt" }, path: ".params[0].name", message: "is not a param name"},
		"param twice":               {change: param(template.Param{Name: "grain", Type: template.TypeString}), path: ".params[2].name", message: `"grain" is the name of another param`},
		"bad param type":            {change: param(template.Param{Name: "lens", Type: "float"}), path: ".params[2].type", message: `must be one of "string", "int", "number", "bool", "enum" or "list", not "float"`},
		"min on a string":           {change: param(template.Param{Name: "lens", Type: template.TypeString, Min: new(1.0)}), path: ".params[2].min", message: "is not taken by a string param (only by int and number)"},
		"max_length on an int":      {change: param(template.Param{Name: "lens", Type: template.TypeInt, MaxLength: 3}), path: ".params[2].max_length", message: "is not taken by a int param"},
		"allowed on a bool":         {change: param(template.Param{Name: "hdr", Type: template.TypeBool, Allowed: []string{"yes"}, Presets: map[string]template.Preset{"true": {Prompt: "HDR"}}}), path: ".params[2].allowed", message: "is not taken by a bool param (only by enum)"},
		"max_items on a string":     {change: param(template.Param{Name: "lens", Type: template.TypeString, MaxItems: 3}), path: ".params[2].max_items", message: "is not taken"},
		"negative max_length":       {change: param(template.Param{Name: "lens", Type: template.TypeString, MaxLength: -1}), path: ".params[2].max_length", message: "must be 0 (no limit) or more"},
		"min above max":             {change: func(s *template.Spec) { s.Params[1].Min = new(2.0) }, path: ".params[1].max", message: "must be at least min (2), not 1"},
		"int limit not whole":       {change: param(template.Param{Name: "mm", Type: template.TypeInt, Min: new(1.5)}), path: ".params[2].min", message: "must be a whole number for an int, not 1.5"},
		"default of the wrong type": {change: func(s *template.Spec) { s.Params[1].Default = "0.5" }, path: ".params[1].default", message: "must be a number"},
		"default above max":         {change: func(s *template.Spec) { s.Params[1].Default = 2.0 }, path: ".params[1].default", message: "must be between 0 and 1, not 2"},
		"default too long":          {change: param(template.Param{Name: "lens", Type: template.TypeString, MaxLength: 3, Default: "zoom"}), path: ".params[2].default", message: "must be at most 3 characters"},
		"default not allowed":       {change: func(s *template.Spec) { s.Params[0].Default = "hot" }, path: ".params[0].default", message: `must be one of "cold" or "warm"`},
		"int default not whole":     {change: param(template.Param{Name: "mm", Type: template.TypeInt, Default: 3.5}), path: ".params[2].default", message: "must be a whole number, not 3.5"},
		"list default too long":     {change: param(template.Param{Name: "terms", Type: template.TypeList, MaxItems: 1, Default: []any{"a", "b"}}), path: ".params[2].default", message: "must have at most 1 terms"},
		"enum without values":       {change: param(template.Param{Name: "tone", Type: template.TypeEnum}), path: ".params[2]", message: "an enum needs allowed values or presets"},
		"enum allowed and presets":  {change: func(s *template.Spec) { s.Params[0].Allowed = []string{"warm"} }, path: ".params[0]", message: "give allowed or presets, not both"},
		"allowed twice":             {change: param(template.Param{Name: "tone", Type: template.TypeEnum, Allowed: []string{"a", "a"}}), path: ".params[2].allowed[1]", message: `"a" is listed twice`},
		"allowed with spaces":       {change: param(template.Param{Name: "tone", Type: template.TypeEnum, Allowed: []string{" a"}}), path: ".params[2].allowed[0]", message: "must not be empty or start or end with spaces"},
		"bool without presets":      {change: param(template.Param{Name: "hdr", Type: template.TypeBool}), path: ".params[2].presets", message: "a bool renders through its presets"},
		"bool preset not a bool":    {change: param(template.Param{Name: "hdr", Type: template.TypeBool, Presets: map[string]template.Preset{"yes": {Prompt: "HDR"}}}), path: ".params[2].presets.yes", message: `a bool's presets are "true" and "false"`},
		"slot in a preset":          {change: func(s *template.Spec) { s.Params[0].Presets["warm"] = template.Preset{Prompt: "{prompt} warm"} }, path: ".params[0].presets.warm.prompt", message: "a preset is a phrase"},
		"brace in preset negative":  {change: func(s *template.Spec) { s.Params[0].Presets["cold"] = template.Preset{NegativePrompt: "}"} }, path: ".params[0].presets.cold.negative_prompt", message: "a preset is a phrase"},
		"empty preset name":         {change: func(s *template.Spec) { s.Params[0].Presets[""] = template.Preset{} }, path: ".params[0].presets.", message: "a preset name must be 1 to 64 characters"},
		"param in no text": {change: func(s *template.Spec) {
			s.Params = append(s.Params, template.Param{Name: "lens", Type: template.TypeString})
		}, path: ".params[2]", message: "{lens} is in no prompt or negative_prompt"},
		"variant for another type": {change: func(s *template.Spec) { s.Variants["audio_transcription"] = template.Variant{Prompt: "{prompt}"} }, path: ".variants.audio_transcription", message: "a variant key is one of the template's task types (image_generation, video_generation) or provider:<type>"},
		"variant bad provider":     {change: func(s *template.Spec) { s.Variants["provider:"] = template.Variant{Prompt: "{prompt}"} }, path: ".variants.provider:", message: `"" is not a provider type`},
		"variant sets nothing":     {change: func(s *template.Spec) { s.Variants["provider:fal"] = template.Variant{} }, path: ".variants.provider:fal", message: "sets neither prompt nor negative_prompt"},
		"variant without prompt":   {change: func(s *template.Spec) { s.Variants["video_generation"] = template.Variant{Prompt: "moving {style}"} }, path: ".variants.video_generation.prompt", message: "must hold the {prompt} slot once"},
		"variant unknown slot":     {change: func(s *template.Spec) { s.Variants["provider:fal"] = template.Variant{NegativePrompt: "{haze}"} }, path: ".variants.provider:fal.negative_prompt", message: "unknown slot {haze}"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := valid()
			tc.change(&s)
			_, err := template.NewCatalog([]template.Spec{s})
			if err == nil {
				t.Fatal("NewCatalog took the template")
			}
			want := "prompt.templates[0]" + tc.path
			for _, fe := range fieldErrors(t, err) {
				if fe.Path == want && strings.Contains(fe.Message, tc.message) {
					return
				}
			}
			t.Errorf("error %q does not name %s: ...%s", err, want, tc.message)
		})
	}
}

func TestNewCatalogConflicts(t *testing.T) {
	t.Parallel()
	named := func(name string, version int) template.Spec {
		s := valid()
		s.Name, s.Version = name, version
		return s
	}
	for name, tc := range map[string]struct {
		specs   []template.Spec
		path    string
		message string
	}{
		"the third one's problem":  {specs: []template.Spec{named("a", 1), named("b", 1), named("c", -2)}, path: "prompt.templates[2].version", message: "must be 1 or more"},
		"name and version twice":   {specs: []template.Spec{named("a", 2), named("b", 1), named("a", 2)}, path: "prompt.templates[2].version", message: "a@2 is already prompt.templates[0]"},
		"version left out twice":   {specs: []template.Spec{named("a", 1), named("a", 0)}, path: "prompt.templates[1].version", message: "a@1 is already prompt.templates[0]"},
		"a built-in's version":     {specs: []template.Spec{named("photo", 1)}, path: "prompt.templates[0].version", message: "photo@1 is already a built-in template"},
		"a built-in's, no version": {specs: []template.Spec{named("vocabulary", 0)}, path: "prompt.templates[0].version", message: "vocabulary@1 is already a built-in template"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := template.NewCatalog(tc.specs)
			if fe := as[*template.FieldError](t, err); fe.Path != tc.path || !strings.Contains(fe.Message, tc.message) {
				t.Errorf("got %s: %s, want %s: ...%s", fe.Path, fe.Message, tc.path, tc.message)
			}
		})
	}
}

func TestNewCatalogAllProblems(t *testing.T) {
	t.Parallel()
	s := valid()
	s.Name = "Bad Name"
	s.Params[1].Default = 7.0
	bad := valid()
	bad.Prompt = "{style}, {grain}"
	_, err := template.NewCatalog([]template.Spec{valid(), s, bad})
	var paths []string
	for _, fe := range fieldErrors(t, err) {
		paths = append(paths, fe.Path)
	}
	if want := "prompt.templates[1].name prompt.templates[1].params[1].default prompt.templates[2].prompt"; strings.Join(paths, " ") != want {
		t.Errorf("paths %v, want %s", paths, want)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	photo2 := valid()
	photo2.Name, photo2.Version, photo2.TaskTypes, photo2.Variants = "photo", 2, []string{"image_generation"}, nil
	photo3 := photo2
	photo3.Version, photo3.Description = 3, "third"
	c := catalog(t, photo3, photo2) // out of order on purpose
	for name, tc := range map[string]struct {
		name        string
		version     int
		wantRef     string
		wantErr     error
		wantMessage string
	}{
		"latest":              {name: "photo", wantRef: "photo@3"},
		"a configured one":    {name: "photo", version: 2, wantRef: "photo@2"},
		"the built-in stays":  {name: "photo", version: 1, wantRef: "photo@1"},
		"a built-in's latest": {name: "cinematic", wantRef: "cinematic@1"},
		"unknown version":     {name: "photo", version: 4, wantErr: template.ErrUnknownTemplate, wantMessage: "photo@4 (versions: 1, 2, 3)"},
		"unknown name": {name: "sepia", wantErr: template.ErrUnknownTemplate,
			wantMessage: `"sepia" (templates: cinematic, cinematic-shot, illustration, photo, product-turntable, vocabulary)`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := c.Lookup(tc.name, tc.version)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMessage) {
					t.Errorf("error %v, want %v with %q", err, tc.wantErr, tc.wantMessage)
				}
				return
			}
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if got.Ref() != tc.wantRef {
				t.Errorf("got %s, want %s", got.Ref(), tc.wantRef)
			}
		})
	}
}

func TestParseRef(t *testing.T) {
	t.Parallel()
	for ref, tc := range map[string]struct {
		name    string
		version int
		bad     bool
	}{
		"photo":             {name: "photo"},
		"photo@2":           {name: "photo", version: 2},
		"product-turntable": {name: "product-turntable"},
		"photo@":            {bad: true},
		"photo@0":           {bad: true},
		"photo@02":          {bad: true},
		"photo@-1":          {bad: true},
		"photo@v2":          {bad: true},
		"@2":                {bad: true},
		"Photo":             {bad: true},
		"photo@2@3":         {bad: true},
	} {
		t.Run(ref, func(t *testing.T) {
			t.Parallel()
			name, version, err := template.ParseRef(ref)
			if tc.bad {
				if !errors.Is(err, template.ErrUnknownTemplate) {
					t.Errorf("error %v, want ErrUnknownTemplate", err)
				}
				return
			}
			if err != nil || name != tc.name || version != tc.version {
				t.Errorf("got %q %d %v, want %q %d", name, version, err, tc.name, tc.version)
			}
		})
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	v2 := valid()
	v2.Version = 2
	c := catalog(t, valid(), v2)
	var refs []string
	for _, in := range c.List() {
		refs = append(refs, in.Name+"@"+string(rune('0'+in.Version)))
	}
	if want := "cinematic@1 cinematic-shot@1 house@2 house@1 illustration@1 photo@1 product-turntable@1 vocabulary@1"; strings.Join(refs, " ") != want {
		t.Errorf("listed %v, want %s", refs, want)
	}

	house, _ := c.Lookup("house", 1)
	got, err := json.Marshal(house.Info())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"house","version":1,"task_types":["image_generation","video_generation"],"description":"the house style","params":[` +
		`{"name":"style","type":"enum","default":"warm","allowed":["cold","warm"]},` +
		`{"name":"grain","type":"number","default":0.5,"min":0,"max":1}]}`
	if string(got) != want {
		t.Errorf("info\n got %s\nwant %s", got, want)
	}

	vocabulary, _ := c.Lookup("vocabulary", 0)
	got, _ = json.Marshal(vocabulary.Info())
	want = `{"name":"vocabulary","version":1,"task_types":["audio_transcription","subtitle_generation"],` +
		`"description":"A transcription hint: the prompt as context, then the names, jargon and acronyms to spell as listed. Keep it short and in the audio's language.",` +
		`"params":[{"name":"terms","type":"list","max_length":60,"max_items":100,"description":"terms as they should be spelt"},` +
		`{"name":"label","type":"string","default":"Glossary","max_length":40,"description":"the word before the terms, in the audio's language"}]}`
	if string(got) != want {
		t.Errorf("info\n got %s\nwant %s", got, want)
	}
}

// TestSpecFromConfig: prompt.templates as the configuration file holds
// it (YAML read as JSON) decodes into Specs the catalog takes.
func TestSpecFromConfig(t *testing.T) {
	t.Parallel()
	doc := `[{
		"name": "photo", "version": 2, "description": "our photo", "task_types": ["image_generation"],
		"prompt": "{prompt}, {style}, {iso} ISO, {flash}", "negative_prompt": "blurry",
		"params": [
			{"name": "style", "type": "enum", "default": "film", "presets": {"film": {"prompt": "film look", "negative_prompt": "digital"}, "plain": {}}},
			{"name": "iso", "type": "int", "default": 400, "min": 100, "max": 3200, "description": "film speed"},
			{"name": "flash", "type": "bool", "default": false, "presets": {"true": {"prompt": "direct flash"}}},
			{"name": "brand", "type": "list", "max_items": 3, "max_length": 20, "default": ["Acme"]}
		],
		"variants": {"provider:fal": {"negative_prompt": "blurry, {brand}"}}
	}]`
	var specs []template.Spec
	if err := json.Unmarshal([]byte(doc), &specs); err != nil {
		t.Fatal(err)
	}
	c := catalog(t, specs...)
	for name, tc := range map[string]struct {
		provider string
		want     template.Rendered
	}{
		"base":     {want: template.Rendered{Prompt: "fox, film look, 400 ISO", NegativePrompt: "blurry, digital", Template: "photo@2"}},
		"provider": {provider: "fal", want: template.Rendered{Prompt: "fox, film look, 400 ISO", NegativePrompt: "blurry, Acme, digital", Template: "photo@2"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := render(t, c, "photo", "image_generation", tc.provider, nil, "fox"); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
