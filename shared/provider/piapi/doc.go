// Package piapi is the provider adapter of PiAPI's unified task API
// (https://api.piapi.ai): POST /api/v1/task {model, task_type, input,
// config}, GET /api/v1/task/{task_id} polled until the task is completed
// or failed, DELETE /api/v1/task/{task_id} to cancel; the key goes in the
// x-api-key header. It makes images with Flux and videos with Kling or
// Hailuo; PiAPI's Midjourney service is reported discontinued and is not
// mapped.
//
// Configuration:
//
//	providers:
//	  - name: piapi
//	    type: piapi
//	    task_types: [image_generation, video_generation]
//	    max_concurrency: 4
//	    requests_per_minute: 60
//	    options:
//	      api_key_env: PIAPI_API_KEY          # the default
//	      image_model: Qubico/flux1-schnell   # default; or Qubico/flux1-dev, -dev-advanced
//	      video_model: kling                  # default; or hailuo
//	      kling_version: "4.0"                # default: PiAPI's own
//	      kling_mode: std                     # std (720p, default) or pro (1080p)
//	      service_mode: public                # public (PAYG) or private (HYA); default: the account's
//	      price: {kling_std_per_second: 0.1667}
//
// model, when set, takes the place of image_model or video_model by its
// family (a new name of a known family works like the family).
//
// Mapping. Flux (task_type txt2img): prompt, negative_prompt, size as width
// and height, n as batch_size (when over 1). Kling (video_generation):
// prompt, duration_seconds as duration, aspect_ratio (text to video only:
// with an image_url Kling takes the frame's), image_url for image to video,
// kling_mode as mode, kling_version as version. Hailuo (video_generation):
// prompt, input.model t2v-01, or i2v-01 with image_url; the task's
// Expansion as expand_prompt (left out when nil). Outputs (image_url,
// image_urls, image_base64; video_url, or works[].video without the
// watermark) are fetched at once through the guarded fetcher. Extra keeps
// piapi_task_id, model and meta.usage.consume as usage_consume. The job
// handle is {"id", "model"}.
//
// Refusals (CheckInput): Flux sizes over 1048576 pixels (1792x1024 and
// 1024x1792), n over 1 but on flux1-schnell (at most 4), a style (Flux has
// none); Kling durations but 5 and 10 s. Hailuo's own video length is not
// checked. A failed task is classified by its error message (PiAPI
// documents no codes for these): content words (nsfw, moderation,
// sensitive ...) are a safety refusal, credit or quota words are permanent,
// invalid input is a permanent fault of the request, anything else is
// PiAPI's own failure and transient. Cancel works on pending tasks only; a
// task already processing is left to finish (Cancel returns nil).
//
// Prices (USD, price version piapi-2026-12, each overridable by its key):
// flux1-schnell $0.0015, flux1-dev $0.015, flux1-dev-advanced $0.02 per
// image; Kling 4.0 $0.1667/s std and $0.25/s pro (kling_std_per_second,
// kling_pro_per_second; other Kling versions have no list price here: set
// the key to get a cost); hailuo $0.20 per video.
//
// Callbacks (a provider.Caller): with Request.Callback the create sends
// config.webhook_config {endpoint, secret}; VerifyCallback compares
// x-webhook-secret in constant time and names the job handle from the
// task in the body, final on completed or failed.
package piapi
