package replicate

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/task"
)

// outputURLs reads a prediction's output: a URL, a list of them, or an
// object of them (data: URIs included).
func outputURLs(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil
		}
		return []string{one}
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return slices.DeleteFunc(many, func(s string) bool { return s == "" })
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		var urls []string
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			urls = append(urls, outputURLs(obj[k])...)
		}
		return urls
	}
	return nil
}

// result fetches the prediction's files (Replicate's URLs expire) and
// prices them.
func (r *Replicate) result(ctx context.Context, in task.Input, p *prediction) (*provider.Result, error) {
	accept := "image/"
	if r.model.family.video() {
		accept = "video/"
	}
	urls := outputURLs(p.Output)
	if len(urls) == 0 {
		return nil, provider.NewTransient("no_output", "Replicate answered a succeeded prediction with no output", nil)
	}
	res := &provider.Result{Extra: map[string]any{"prediction_id": p.ID, "model": cmp(p.Model, r.model.String())}}
	if p.Version != "" {
		res.Extra["version"] = p.Version
	}
	if p.Metrics.PredictTime > 0 {
		res.Extra["predict_time"] = p.Metrics.PredictTime
	}
	for i, u := range urls {
		data, ct, err := r.file(ctx, u, accept)
		if err != nil {
			return nil, fmt.Errorf("output %d: %w", i, err)
		}
		res.Files = append(res.Files, provider.File{ContentType: ct, Ext: httpapi.ExtOf(ct), Data: data})
	}
	secs := 0
	if v, ok := in.(*task.VideoInput); ok {
		secs = r.model.seconds(*v.DurationSeconds)
		res.Extra["duration_seconds"] = secs
	}
	res.Cost = r.cost(len(res.Files), secs, p.Metrics.PredictTime)
	return res, nil
}

// file reads an output: a data: URI decoded, a URL fetched.
func (r *Replicate) file(ctx context.Context, u, accept string) ([]byte, string, error) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return r.fetch.Get(ctx, u, accept)
	}
	meta, payload, found := strings.Cut(rest, ",")
	if !found {
		return nil, "", provider.NewTransient("bad_answer", "an output data URI has no data", nil)
	}
	ct, _, _ := mime.ParseMediaType(strings.TrimSuffix(meta, ";base64"))
	var data []byte
	var err error
	if strings.HasSuffix(meta, ";base64") {
		data, err = base64.StdEncoding.DecodeString(payload)
	} else {
		var s string
		s, err = url.PathUnescape(payload)
		data = []byte(s)
	}
	if err != nil {
		return nil, "", provider.NewTransient("bad_answer", "an output data URI is not valid", err)
	}
	if ct == "" || ct == "application/octet-stream" {
		ct, _, _ = mime.ParseMediaType(http.DetectContentType(data))
	}
	if !strings.HasPrefix(ct, accept) {
		return nil, "", provider.NewPermanent("bad_output_type", fmt.Sprintf("the output is %s, not %s", ct, accept), nil)
	}
	if r.set.MaxOutputBytes > 0 && int64(len(data)) > r.set.MaxOutputBytes {
		return nil, "", provider.NewPermanent("output_too_large", fmt.Sprintf("the output is over the cap of %d bytes", r.set.MaxOutputBytes), nil)
	}
	return data, ct, nil
}

// Price keys (the price option's).
const (
	priceFluxSchnell = "flux_schnell"    // per image
	priceFluxDev     = "flux_dev"        // per image
	priceFluxPro     = "flux_1.1_pro"    // per image
	priceImage       = "image"           // any other image model, per image
	priceVideoSecond = "video_second"    // any other video model, per second of video
	priceSecond      = "hardware_second" // per second of predict_time, over the hardware's list price
)

var priceKeys = []string{priceFluxSchnell, priceFluxDev, priceFluxPro, priceImage, priceVideoSecond, priceSecond}

// officialPrices are the per-output prices of official models
// (PROVIDERS.md), by model name.
var officialPrices = map[string]struct {
	key string
	usd float64
}{
	"black-forest-labs/flux-schnell": {priceFluxSchnell, 0.003},
	"black-forest-labs/flux-dev":     {priceFluxDev, 0.025},
	"black-forest-labs/flux-1.1-pro": {priceFluxPro, 0.04},
}

// hardwarePrices are Replicate's public prices per second of hardware
// [?: recalled from its pricing page, not confirmed in PROVIDERS.md;
// hardware_second overrides].
var hardwarePrices = map[string]float64{
	"cpu":            0.000100,
	"gpu-t4":         0.000225,
	"gpu-l40s":       0.000975,
	"gpu-a100-large": 0.001400,
	"gpu-h100":       0.001525,
}

func hardwareSKUs() []string { return slices.Sorted(maps.Keys(hardwarePrices)) }

func (r *Replicate) has(key string) bool { _, ok := r.set.Price[key]; return ok }

func usd(v float64) *provider.Cost {
	return &provider.Cost{USD: math.Round(v*1e6) / 1e6, PriceVersion: PriceVersion}
}

// cost: an official model's price per output, else the price option per
// image or second of video, else predict_time on the hardware; else none.
func (r *Replicate) cost(outputs, videoSecs int, predictTime float64) *provider.Cost {
	name := strings.ToLower(r.model.owner + "/" + r.model.name)
	if o, ok := officialPrices[name]; ok && r.model.version == "" {
		return usd(float64(outputs) * r.set.PriceOf(o.key, o.usd))
	}
	switch {
	case videoSecs > 0 && r.has(priceVideoSecond):
		return usd(float64(videoSecs) * r.set.Price[priceVideoSecond])
	case videoSecs == 0 && r.has(priceImage):
		return usd(float64(outputs) * r.set.Price[priceImage])
	}
	perSecond, known := hardwarePrices[r.hardware]
	if r.has(priceSecond) {
		perSecond, known = r.set.Price[priceSecond], true
	}
	if known && predictTime > 0 {
		return usd(predictTime * perSecond)
	}
	return nil
}

// problem reads Replicate's problem details {type, title, status,
// detail}; a validation failure may add invalid_fields.
func problem(status int, body []byte) httpapi.Problem {
	var b struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Fields []struct {
			Field       string `json:"field"`
			Description string `json:"description"`
		} `json:"invalid_fields"`
	}
	var p httpapi.Problem
	if json.Unmarshal(body, &b) != nil {
		return p
	}
	p.Message = b.Detail
	if b.Title != "" && b.Detail != "" {
		p.Message = b.Title + ": " + b.Detail
	} else if b.Title != "" {
		p.Message = b.Title
	}
	for _, f := range b.Fields {
		p.Message += "; " + f.Field + ": " + f.Description
	}
	p.Code = slug(b.Title)
	if t := strings.TrimRight(b.Type, "/"); t != "" && !strings.HasPrefix(t, "about:") {
		p.Code = t[strings.LastIndexByte(t, '/')+1:]
	}
	lower := strings.ToLower(p.Message)
	switch {
	case slices.ContainsFunc(safetyWords, func(w string) bool { return strings.Contains(lower, w) }):
		p.Safety, p.Code = true, "nsfw"
	case status == http.StatusPaymentRequired || strings.Contains(lower, "insufficient credit") || strings.Contains(lower, "billing"):
		p.Quota = true
		p.Code = cmp(p.Code, "insufficient_credit")
	}
	return p
}

// slug is a title as a code: "Input validation failed" ->
// "input_validation_failed".
func slug(s string) string {
	return strings.Join(strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}), "_")
}
