package template_test

import (
	"fmt"

	"github.com/videoai/mediatasks/shared/prompt/template"
)

func ExampleCatalog_Render() {
	c, err := template.NewCatalog(nil)
	if err != nil {
		panic(err)
	}
	r, err := c.Render("cinematic-shot", "video_generation", "", map[string]any{"camera": "orbit", "mood": "serene"}, "a surfer rides a wave at dawn")
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Template)
	fmt.Println(r.Prompt)
	// Output:
	// cinematic-shot@1
	// a surfer rides a wave at dawn, natural, realistic motion, medium shot, orbit around the subject, serene atmosphere, cinematic, one continuous shot
}

func ExampleNewCatalog() {
	_, err := template.NewCatalog([]template.Spec{{
		Name:      "house",
		TaskTypes: []string{"image_generation"},
		Prompt:    "{prompt}, {grain} grain",
		Params:    []template.Param{{Name: "grain", Type: template.TypeNumber, Default: 2.0, Max: new(1.0)}},
	}})
	fmt.Println(err)
	// Output:
	// prompt.templates[0].params[0].default: must be at most 1, not 2
}
