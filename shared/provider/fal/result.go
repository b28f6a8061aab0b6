package fal

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/task"
)

// output is what the apps answer: images or a video, and facts.
type output struct {
	Images []struct {
		URL         string `json:"url"`
		ContentType string `json:"content_type"`
		Width       int    `json:"width"`
		Height      int    `json:"height"`
	} `json:"images"`
	Video *struct {
		URL         string `json:"url"`
		ContentType string `json:"content_type"`
	} `json:"video"`
	Seed           *int64 `json:"seed"`
	HasNSFW        []bool `json:"has_nsfw_concepts"`
	Prompt         string `json:"prompt"`
	ActualPrompt   string `json:"actual_prompt"`
	ExpandedPrompt string `json:"expanded_prompt"`
}

// result fetches the request's output, then its files (fal's URLs expire).
func (f *Fal) result(ctx context.Context, req provider.Request, j job, a app) (*provider.Result, error) {
	var out output
	if _, err := f.client.JSON(ctx, httpapi.Call{Method: http.MethodGet, Path: j.Response}, &out); err != nil {
		return nil, err
	}
	in, err := task.DecodeInput(req.Type, req.Input)
	if err != nil {
		return nil, provider.NewRejected("invalid_input", "the task's input is not the expected JSON", err)
	}
	res := &provider.Result{Extra: map[string]any{"request_id": j.ID, "model": a.id}}
	if out.Seed != nil {
		res.Extra["seed"] = *out.Seed
	}
	// An expanded prompt is the one the app used.
	if p := cmp(out.ActualPrompt, out.ExpandedPrompt); p != "" {
		res.Extra["revised_prompt"] = p
	}
	switch a.taskType() {
	case task.TypeImageGeneration:
		var megapixels float64
		flagged := 0
		for i, img := range out.Images {
			if i < len(out.HasNSFW) && out.HasNSFW[i] {
				flagged++ // a black image: left out
				continue
			}
			data, ct, err := f.fetch.Get(ctx, img.URL, "image/")
			if err != nil {
				return nil, fmt.Errorf("image %d: %w", i, err)
			}
			res.Files = append(res.Files, provider.File{ContentType: ct, Ext: httpapi.ExtOf(ct), Data: data})
			w, h := img.Width, img.Height
			if w == 0 || h == 0 {
				if im, ok := in.(*task.ImageInput); ok {
					w, h, _ = sizeOf(im.Size)
				}
			}
			megapixels += math.Ceil(float64(w*h) / (1 << 20))
		}
		if flagged > 0 && len(res.Files) == 0 {
			return nil, provider.NewSafetyRefusal("nsfw_output", fmt.Sprintf("fal's safety checker flagged every image (%d) as NSFW", flagged), nil)
		}
		if flagged > 0 {
			res.Extra["nsfw_images_dropped"] = flagged
		}
		if len(res.Files) == 0 {
			return nil, provider.NewTransient("no_output", "fal answered a completed request with no image", nil)
		}
		res.Cost = f.imageCost(a, len(res.Files), megapixels)
	case task.TypeVideoGeneration:
		if out.Video == nil || out.Video.URL == "" {
			return nil, provider.NewTransient("no_output", "fal answered a completed request with no video", nil)
		}
		data, ct, err := f.fetch.Get(ctx, out.Video.URL, "video/")
		if err != nil {
			return nil, fmt.Errorf("video: %w", err)
		}
		res.Files = []provider.File{{ContentType: ct, Ext: httpapi.ExtOf(ct), Data: data}}
		if v, ok := in.(*task.VideoInput); ok {
			secs := a.seconds(*v.DurationSeconds)
			res.Extra["duration_seconds"] = secs
			res.Cost = f.videoCost(a, secs)
		}
	}
	return res, nil
}

// Price keys (the price option's), with their list prices where
// PROVIDERS.md has one.
const (
	priceFluxDevMegapixel = "flux_dev_megapixel" // fal-ai/flux/dev, per megapixel
	priceFluxProImage     = "flux_pro_image"     // fal-ai/flux-pro/v1.1, per image
	priceKlingPro5s       = "kling_pro_5s"       // Kling 2.1 pro, a 5 s clip
	priceKlingProSecond   = "kling_pro_second"   // Kling 2.1 pro, each second over 5
	priceImage            = "image"              // any other app, per image
	priceMegapixel        = "megapixel"          // any other app, per megapixel
	priceVideoSecond      = "video_second"       // any other video app, per second
)

var priceKeys = []string{priceFluxDevMegapixel, priceFluxProImage, priceKlingPro5s, priceKlingProSecond, priceImage, priceMegapixel, priceVideoSecond}

var listPrices = map[string]float64{
	priceFluxDevMegapixel: 0.025,
	priceFluxProImage:     0.04,
	priceKlingPro5s:       0.49,
	priceKlingProSecond:   0.098,
}

func (f *Fal) price(key string) float64 { return f.set.PriceOf(key, listPrices[key]) }

func (f *Fal) has(key string) bool { _, ok := f.set.Price[key]; return ok }

func (f *Fal) cost(usd float64) *provider.Cost {
	return &provider.Cost{USD: math.Round(usd*1e6) / 1e6, PriceVersion: PriceVersion}
}

// imageCost: megapixels are counted per image, rounded up, as fal bills.
func (f *Fal) imageCost(a app, images int, megapixels float64) *provider.Cost {
	id := strings.ToLower(a.id)
	switch {
	case strings.HasSuffix(id, "flux/dev"):
		return f.cost(megapixels * f.price(priceFluxDevMegapixel))
	case strings.Contains(id, "flux-pro/v1.1") && !strings.Contains(id, "ultra"):
		return f.cost(float64(images) * f.price(priceFluxProImage))
	case f.has(priceImage):
		return f.cost(float64(images) * f.price(priceImage))
	case f.has(priceMegapixel):
		return f.cost(megapixels * f.price(priceMegapixel))
	}
	return nil
}

func (f *Fal) videoCost(a app, secs int) *provider.Cost {
	id := strings.ToLower(a.id)
	switch {
	case strings.Contains(id, "kling-video/v2.1/pro"):
		return f.cost(f.price(priceKlingPro5s) + float64(max(secs-5, 0))*f.price(priceKlingProSecond))
	case f.has(priceVideoSecond):
		return f.cost(float64(secs) * f.price(priceVideoSecond))
	}
	return nil
}

// problem reads fal's error bodies: {"detail": [{loc, msg, type}]} from
// a model, {"detail": "...", "error_type": "..."} from the platform, and
// {"status": "ALREADY_COMPLETED"} from a cancel. (fal also sends
// X-Fal-Error-Type; the body carries the same type.)
func problem(status int, body []byte) httpapi.Problem {
	var b struct {
		Detail    json.RawMessage `json:"detail"`
		ErrorType string          `json:"error_type"`
		Status    string          `json:"status"`
	}
	var p httpapi.Problem
	if json.Unmarshal(body, &b) != nil {
		return p
	}
	var text string
	var items []struct {
		Loc  []any  `json:"loc"`
		Msg  string `json:"msg"`
		Type string `json:"type"`
	}
	switch {
	case json.Unmarshal(b.Detail, &text) == nil:
		p.Message = text
	case json.Unmarshal(b.Detail, &items) == nil && len(items) > 0:
		msgs := make([]string, 0, len(items))
		for _, it := range items {
			if it.Type == "content_policy_violation" {
				p.Safety, p.Code = true, it.Type
			}
			m := it.Msg
			if loc := location(it.Loc); loc != "" {
				m = loc + ": " + m
			}
			msgs = append(msgs, m)
		}
		if p.Code == "" {
			p.Code = items[0].Type
		}
		p.Message = strings.Join(msgs, "; ")
	}
	switch {
	case b.ErrorType != "":
		p.Code = b.ErrorType
		p.Transient = transientType(b.ErrorType)
		p.Safety = p.Safety || b.ErrorType == "content_policy_violation"
	case p.Code == "" && b.Status != "":
		p.Code = b.Status
	}
	if (status == http.StatusForbidden || status == http.StatusPaymentRequired) && strings.Contains(strings.ToLower(p.Message), "balance") {
		p.Quota, p.Code = true, "exhausted_balance"
	}
	return p
}

// transientType: fal's infrastructure errors, which pass.
func transientType(t string) bool {
	switch t {
	case "request_timeout", "startup_timeout", "internal_server_error", "generation_timeout", "downstream_service_error", "downstream_service_unavailable":
		return true
	}
	return strings.HasPrefix(t, "runner_")
}

// location is a validation error's place without its "body" root.
func location(loc []any) string {
	parts := make([]string, 0, len(loc))
	for i, l := range loc {
		if i == 0 && l == "body" {
			continue
		}
		parts = append(parts, fmt.Sprint(l))
	}
	return strings.Join(parts, ".")
}
