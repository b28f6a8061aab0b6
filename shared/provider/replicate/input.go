package replicate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/task"
)

// takesImage: the model takes a first frame.
func (m model) takesImage() bool {
	if m.imageField() == "" {
		return false
	}
	// Wan's text-to-video models are separate from its image-to-video ones.
	return m.family != famWan || m.i2v
}

// check names the fields of in the model cannot do.
func (m model) check(prefix string, in task.Input) task.FieldErrors {
	var errs task.FieldErrors
	bad := func(field, format string, args ...any) {
		errs = append(errs, task.FieldError{Field: task.FieldPath(prefix, field), Message: fmt.Sprintf(format, args...)})
	}
	switch in := in.(type) {
	case *task.ImageInput:
		if m.taskType() != task.TypeImageGeneration {
			return nil
		}
		size := cmp(in.Size, "1024x1024")
		if s := m.sizes(); s != nil && !slices.Contains(s, size) {
			bad("size", "%s takes %s, not %s", m, strings.Join(s, ", "), size)
		}
		if in.N != nil && *in.N > m.maxImages() {
			bad("n", "%s makes at most %d image(s) a prediction, not %d", m, m.maxImages(), *in.N)
		}
	case *task.VideoInput:
		if m.taskType() != task.TypeVideoGeneration {
			return nil
		}
		if allowed, _ := m.durations(); allowed != nil && in.DurationSeconds != nil && !slices.Contains(allowed, *in.DurationSeconds) {
			bad("duration_seconds", "%s makes clips of %s seconds, not %d", m, list(allowed), *in.DurationSeconds)
		}
		if r := m.ratios(); r != nil && !in.HasStill() && in.AspectRatio != "" && !slices.Contains(r, in.AspectRatio) {
			bad("aspect_ratio", "%s takes %s, not %s", m, strings.Join(r, " or "), in.AspectRatio)
		}
		switch {
		case m.i2v && !in.HasStill():
			bad("image_url", "is required by %s, an image-to-video model", m)
		case in.HasStill() && !m.takesImage():
			bad("image_url", "is not taken by %s, a text-to-video model", m)
		}
	}
	return errs
}

func list(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " or ")
}

// input is the model's input for the task (see doc.go).
func (m model) input(in task.Input, expansion *bool) (map[string]any, error) {
	if errs := m.check("input_data", in); len(errs) > 0 {
		return nil, provider.NewRejected("unsupported_input", errs.Error(), nil)
	}
	body := map[string]any{}
	switch in := in.(type) {
	case *task.ImageInput:
		if m.taskType() != task.TypeImageGeneration {
			return nil, provider.NewRejected("unsupported_task_type", fmt.Sprintf("%s makes videos, not images", m), nil)
		}
		body["prompt"] = in.Prompt
		w, h, _ := sizeOf(in.Size)
		switch m.family {
		case famFlux:
			body["num_outputs"] = *in.N
			body["output_format"] = "png"
			if in.Size == "512x512" {
				body["aspect_ratio"], body["megapixels"] = "1:1", "0.25"
			} else {
				body["aspect_ratio"] = ratioOfSize[in.Size]
			}
		case famFluxPro:
			body["output_format"] = "png"
			if r, ok := ratioOfSize[in.Size]; ok {
				body["aspect_ratio"] = r
			} else {
				body["aspect_ratio"], body["width"], body["height"] = "custom", w, h
			}
		case famFluxUltra:
			body["output_format"] = "png"
			body["aspect_ratio"] = ratioOfSize[in.Size]
		case famIdeogram:
			body["aspect_ratio"] = ratioOfSize[in.Size]
		case famSD:
			body["width"], body["height"], body["num_outputs"] = w, h, *in.N
		default:
			body["width"], body["height"] = w, h
		}
		if in.NegativePrompt != "" && m.takesNegative() {
			body["negative_prompt"] = in.NegativePrompt
		}
	case *task.VideoInput:
		if m.taskType() != task.TypeVideoGeneration {
			return nil, provider.NewRejected("unsupported_task_type", fmt.Sprintf("%s makes images, not videos", m), nil)
		}
		body["prompt"] = in.Prompt
		if in.ImageURL != "" {
			body[m.imageField()] = in.ImageURL
		} else if m.family != famMiniMax && in.AspectRatio != "" {
			body["aspect_ratio"] = in.AspectRatio
		}
		if _, sent := m.durations(); sent {
			body["duration"] = m.seconds(*in.DurationSeconds)
		}
	default:
		return nil, provider.NewRejected("unsupported_task_type", fmt.Sprintf("replicate serves images and videos, not %s", in.Type()), nil)
	}
	if flag := m.expansionFlag(); flag != "" && expansion != nil {
		var v any = *expansion
		if flag == "magic_prompt_option" {
			v = map[bool]string{true: "On", false: "Off"}[*expansion]
		}
		body[flag] = v
	}
	return body, nil
}
