package fal

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/task"
)

// ideogramStyles are the styles Ideogram's apps take; another style is
// left out.
var ideogramStyles = []string{"auto", "general", "realistic", "design", "render_3D", "anime"}

// CheckInput names the fields of in the configured app cannot do.
func (f *Fal) CheckInput(prefix string, in task.Input) task.FieldErrors {
	return f.appFor(in).check(prefix, in, f.i2v != nil)
}

// check names the fields of in the app cannot do; withI2V: an
// image-to-video app takes the inputs with an image_url.
func (a app) check(prefix string, in task.Input, withI2V bool) task.FieldErrors {
	var errs task.FieldErrors
	bad := func(field, format string, args ...any) {
		errs = append(errs, task.FieldError{Field: task.FieldPath(prefix, field), Message: fmt.Sprintf(format, args...)})
	}
	switch in := in.(type) {
	case *task.ImageInput:
		if a.taskType() != task.TypeImageGeneration {
			return nil
		}
		size := in.Size
		if size == "" {
			size = "1024x1024"
		}
		switch a.family {
		case famFluxRatio, famIdeogram:
			if _, ok := ratioOfSize[size]; !ok {
				bad("size", "%s chooses its own resolution: it takes 1024x1024, 1792x1024 or 1024x1792 (as 1:1, 16:9, 9:16), not %s", a.id, size)
			}
		case famFlux, famFluxPro:
			if w, h, ok := sizeOf(size); ok && min(w, h) < minFluxSide {
				bad("size", "%s makes images of %d pixels a side or more, not %s", a.id, minFluxSide, size)
			}
		}
		if n := in.N; n != nil && *n > 1 && a.family == famIdeogram && a.version() < 3 {
			bad("n", "%s makes one image a request", a.id)
		}
	case *task.VideoInput:
		if a.taskType() != task.TypeVideoGeneration {
			return nil
		}
		if allowed, _ := a.durations(); allowed != nil && in.DurationSeconds != nil && !slices.Contains(allowed, *in.DurationSeconds) {
			bad("duration_seconds", "%s makes clips of %s seconds, not %d", a.id, list(allowed), *in.DurationSeconds)
		}
		if r := a.ratios(); r != nil && !a.i2v && in.AspectRatio != "" && !slices.Contains(r, in.AspectRatio) {
			bad("aspect_ratio", "%s takes %s, not %s", a.id, strings.Join(r, " or "), in.AspectRatio)
		}
		switch {
		case a.i2v && !in.HasStill():
			bad("image_url", "is required by %s, an image-to-video app", a.id)
		case !a.i2v && in.HasStill() && !withI2V && a.family != famVideo:
			bad("image_url", "is not taken by %s, a text-to-video app (configure image_to_video_model)", a.id)
		}
	}
	return errs
}

func list(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	if len(s) > 3 {
		return s[0] + " to " + s[len(s)-1]
	}
	return strings.Join(s, " or ")
}

// input is the app's input for the task: our fields mapped to the
// family's names (see doc.go). A field the app cannot do is refused.
func (a app) input(in task.Input, expansion *bool) (map[string]any, error) {
	if errs := a.check("input_data", in, true); len(errs) > 0 {
		return nil, provider.NewRejected("unsupported_input", errs.Error(), nil)
	}
	body := map[string]any{}
	switch in := in.(type) {
	case *task.ImageInput:
		if a.taskType() != task.TypeImageGeneration {
			return nil, provider.NewRejected("unsupported_task_type", fmt.Sprintf("%s makes videos, not images", a.id), nil)
		}
		body["prompt"] = in.Prompt
		switch a.family {
		case famFluxRatio, famIdeogram:
			body["aspect_ratio"] = ratioOfSize[in.Size]
		default:
			if name, ok := imageSizeNames[in.Size]; ok {
				body["image_size"] = name
			} else if w, h, ok := sizeOf(in.Size); ok {
				body["image_size"] = map[string]int{"width": w, "height": h}
			}
		}
		if n := *in.N; !(a.family == famIdeogram && a.version() < 3) {
			body["num_images"] = n
		}
		if in.NegativePrompt != "" && a.takesNegative() {
			body["negative_prompt"] = in.NegativePrompt
		}
		if a.family == famFlux {
			// Flagged images come back black with has_nsfw_concepts.
			body["enable_safety_checker"] = true
		}
		if a.family == famIdeogram && slices.Contains(ideogramStyles, in.Style) {
			body["style"] = in.Style
		}
	case *task.VideoInput:
		if a.taskType() != task.TypeVideoGeneration {
			return nil, provider.NewRejected("unsupported_task_type", fmt.Sprintf("%s makes images, not videos", a.id), nil)
		}
		body["prompt"] = in.Prompt
		if in.ImageURL != "" {
			body["image_url"] = in.ImageURL
		}
		if a.sendsRatio() && in.AspectRatio != "" {
			body["aspect_ratio"] = in.AspectRatio
		}
		if _, sent := a.durations(); sent {
			body["duration"] = a.durationValue(*in.DurationSeconds)
		}
	default:
		return nil, provider.NewRejected("unsupported_task_type", fmt.Sprintf("fal serves images and videos, not %s", in.Type()), nil)
	}
	if flag := a.expansionFlag(); flag != "" && expansion != nil {
		body[flag] = *expansion
	}
	return body, nil
}

// seconds is the length of the clip the app makes for secs asked.
func (a app) seconds(secs int) int {
	switch a.family {
	case famWan:
		if a.version() < 2.5 {
			return 5
		}
	case famMiniMax:
		return max(secs, 6)
	}
	return secs
}
