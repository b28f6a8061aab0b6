package openai

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/task"
)

// imageRequest is the body of POST /images/generations.
type imageRequest struct {
	Model          string `json:"model"`
	Prompt         string `json:"prompt"`
	N              int    `json:"n"`
	Size           string `json:"size"`
	Quality        string `json:"quality,omitempty"`
	Style          string `json:"style,omitempty"`
	ResponseFormat string `json:"response_format,omitempty"`
	OutputFormat   string `json:"output_format,omitempty"`
	Moderation     string `json:"moderation,omitempty"`
	Background     string `json:"background,omitempty"`
}

// imageAnswer is its answer.
type imageAnswer struct {
	Created int64 `json:"created"`
	Data    []struct {
		B64JSON       string `json:"b64_json"`
		URL           string `json:"url"`
		RevisedPrompt string `json:"revised_prompt"`
	} `json:"data"`
	Usage        map[string]any `json:"usage"`
	OutputFormat string         `json:"output_format"`
}

// literalPrefix is OpenAI's documented way of asking DALL-E 3 not to
// rewrite a prompt (it has no switch): the platform's expansion=false.
const literalPrefix = "I NEED to test how the tool works with extremely simple prompts. DO NOT add any detail, just use it AS-IS: "

// buildImageRequest maps the task's input to the model family's body.
func buildImageRequest(m *imageModel, in *task.ImageInput, expansion *bool) (imageRequest, error) {
	var refused task.FieldErrors
	checkImage(m, in, func(field, format string, args ...any) {
		refused = append(refused, task.FieldError{Field: task.FieldPath("input_data", field), Message: fmt.Sprintf(format, args...)})
	})
	if len(refused) > 0 {
		return imageRequest{}, provider.NewRejected("unsupported_input", refused.Error(), refused)
	}
	n := 1
	if in.N != nil {
		n = *in.N
	}
	size := in.Size
	if size == "" {
		size = "1024x1024"
	}
	body := imageRequest{Model: m.name, Prompt: in.Prompt, N: n, Size: m.spec.sizes[size], Quality: m.quality,
		ResponseFormat: m.responseFormat, OutputFormat: m.outputFormat, Moderation: m.moderation, Background: m.background}
	if len(m.spec.styles) > 0 {
		body.Style = in.Style
	}
	if m.spec.expansion && expansion != nil && !*expansion && len(literalPrefix)+len(body.Prompt) <= m.spec.maxPrompt {
		body.Prompt = literalPrefix + body.Prompt
	}
	return body, nil
}

func (p *Provider) generateImages(ctx context.Context, req provider.Request) (*provider.Result, error) {
	in, err := decodeInput[*task.ImageInput](req)
	if err != nil {
		return nil, err
	}
	m := p.image
	body, err := buildImageRequest(m, in, req.Expansion)
	if err != nil {
		return nil, err
	}
	var ans imageAnswer
	a, err := p.client.JSON(ctx, httpapi.Call{Method: http.MethodPost, Path: "images/generations", JSON: body}, &ans)
	if err != nil {
		return nil, fmt.Errorf("generate images: %w", err)
	}
	if len(ans.Data) == 0 {
		return nil, provider.NewTransient("bad_answer", p.name+" answered no image", nil)
	}
	res := &provider.Result{Extra: map[string]any{"model": m.name, "size": body.Size}}
	if body.Quality != "" {
		res.Extra["quality"] = body.Quality
	}
	if id := a.Header.Get("X-Request-Id"); id != "" {
		res.Extra["request_id"] = id
	}
	var revised []string
	for i, d := range ans.Data {
		var (
			data []byte
			ct   string
		)
		switch {
		case d.B64JSON != "":
			data, err = base64.StdEncoding.DecodeString(d.B64JSON)
			if err != nil {
				return nil, provider.NewTransient("bad_answer", fmt.Sprintf("%s answered image %d in base64 that does not decode", p.name, i), err)
			}
			ct = http.DetectContentType(data)
			if !strings.HasPrefix(ct, "image/") {
				return nil, provider.NewTransient("bad_answer", fmt.Sprintf("%s answered image %d as %s, not an image", p.name, i, ct), nil)
			}
		case d.URL != "":
			data, ct, err = p.fetch.Get(ctx, d.URL, "image/")
			if err != nil {
				return nil, fmt.Errorf("fetch image %d: %w", i, err)
			}
		default:
			return nil, provider.NewTransient("bad_answer", fmt.Sprintf("%s answered image %d with neither b64_json nor url", p.name, i), nil)
		}
		// The URL is not kept: it is the provider's, and expires in an hour.
		res.Files = append(res.Files, provider.File{ContentType: ct, Ext: httpapi.ExtOf(ct), Data: data})
		if d.RevisedPrompt != "" {
			revised = append(revised, d.RevisedPrompt)
		}
	}
	switch {
	case len(revised) == 1:
		res.Extra["revised_prompt"] = revised[0]
	case len(revised) > 1:
		res.Extra["revised_prompts"] = revised
	}
	if len(ans.Usage) > 0 {
		res.Extra["usage"] = ans.Usage
	}
	res.Cost = p.imageCost(m, body, len(res.Files))
	return res, nil
}

// imageCost is the list price (or the configured one) of n images as
// asked; nil when neither is known, as for a new model.
func (p *Provider) imageCost(m *imageModel, body imageRequest, n int) *provider.Cost {
	q := body.Quality
	if q == "" {
		q = standardQuality
	}
	key := q + "_" + body.Size
	list, known := imagePrices[m.name][key]
	if _, set := p.s.Price[key]; !known && !set {
		return nil
	}
	return &provider.Cost{USD: p.s.PriceOf(key, list) * float64(n), PriceVersion: PriceVersion}
}

// decodeInput reads the task's input as the type the call needs.
func decodeInput[T task.Input](req provider.Request) (T, error) {
	var zero T
	in, err := task.DecodeInput(req.Type, req.Input)
	if err != nil {
		return zero, provider.NewRejected("invalid_input", "the task's input is not the expected JSON: "+err.Error(), err)
	}
	typed, ok := in.(T)
	if !ok {
		return zero, provider.NewRejected("invalid_input", fmt.Sprintf("a %s task's input is not what this call takes", req.Type), nil)
	}
	return typed, nil
}
