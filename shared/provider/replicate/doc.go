// Package replicate is the provider adapter of Replicate's predictions
// API (https://api.replicate.com/v1, Bearer auth, REPLICATE_API_TOKEN by
// default). A model "owner/name" runs as POST /models/{owner}/{name}/
// predictions (official models, their latest version); "owner/name:
// version" as POST /predictions with the version. Image models send
// Prefer: wait=N (option wait, default 30 s, capped below the call
// timeout; 0 for video models) so that a fast model answers in the create
// call; otherwise the job handle is the prediction id, polled with GET
// /predictions/{id} (starting, processing with progress read from the
// model's progress bar in logs, succeeded, failed, canceled) and canceled
// with POST /predictions/{id}/cancel.
//
//	providers:
//	  - name: replicate-flux
//	    type: replicate
//	    task_types: [image_generation]
//	    max_concurrency: 8
//	    requests_per_minute: 600
//	    options:
//	      model: black-forest-labs/flux-schnell   # required
//	      wait: 30                                 # Prefer: wait (seconds)
//	  - name: replicate-sdxl
//	    type: replicate
//	    task_types: [image_generation]
//	    options:
//	      model: stability-ai/sdxl:7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc
//	      hardware: gpu-a100-large                 # cost from predict_time
//	  - name: replicate-kling
//	    type: replicate
//	    task_types: [video_generation]
//	    options: {model: kwaivgi/kling-v1.6-standard, price: {video_second: 0.05}}
//
// Input by model family (a new model of a known family works alike):
//
//   - Flux schnell/dev: aspect_ratio (1:1, 16:9, 9:16 from the size;
//     512x512 as megapixels "0.25"; 256x256 refused), num_outputs 1-4,
//     output_format png. No negative prompt.
//   - Flux 1.1 pro / pro / 2 pro: aspect_ratio, or "custom" with width and
//     height; one image; prompt_upsampling. Ultra: the three ratios only.
//   - SDXL / Stable Diffusion: width, height, num_outputs, negative_prompt.
//   - Ideogram: aspect_ratio, negative_prompt (v2), magic_prompt_option
//     On/Off; one image.
//   - Kling: duration 5 or 10, aspect_ratio, start_image (kling-v2.1
//     requires it); Wan: image for its i2v models (refused by t2v ones),
//     2.5+ duration 5 or 10 and enable_prompt_expansion, earlier about 5 s
//     in 16:9 or 9:16; MiniMax/Hailuo: first_frame_image, prompt_optimizer,
//     Hailuo duration 6 or 10 (5 s asks for 6), 16:9.
//   - Any other model: prompt with width and height (one image), or
//     prompt and aspect_ratio (no first frame).
//
// Expansion switches are sent only when the task says. Outputs (a URL, a
// list of URLs, or data: URIs) are fetched or decoded at once and their
// type checked. Errors are problem details {type, title, status, detail}
// (code from type or title; 402 or "insufficient credit" is quota); a
// failed prediction whose error speaks of NSFW, "flagged as sensitive"
// (E005) or content policy is a safety refusal, one interrupted, timed
// out or out of memory transient, any other a permanent fault of the
// request.
//
// Prices (PriceVersion replicate-2026-12; price keys in brackets): per
// image of the official models flux-schnell $0.003 [flux_schnell],
// flux-dev $0.025 [flux_dev], flux-1.1-pro $0.04 [flux_1.1_pro]; any
// other model by the price option per image [image] or per second of
// video [video_second], else metrics.predict_time times the hardware's
// price per second (cpu $0.0001, gpu-t4 $0.000225, gpu-l40s $0.000975,
// gpu-a100-large $0.0014, gpu-h100 $0.001525 [?], or [hardware_second]);
// otherwise no cost.
//
// Callbacks (a provider.Caller): with Request.Callback the create sends
// webhook and webhook_events_filter ["completed"]; VerifyCallback checks
// Standard Webhooks signatures with the account's secret (GET
// /v1/webhooks/default/secret, fetched once, again on a mismatch at most
// once a minute) and names the prediction id.
package replicate
