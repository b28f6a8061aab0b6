// Package fal is the provider adapter of fal.ai's queue API, which hosts
// Flux, Ideogram, Stable Diffusion, Kling, Pika, Wan, MiniMax (Hailuo), LTX
// and many other apps behind one protocol: submit POST
// https://queue.fal.run/{app} with the app's input; the job handle is the
// answer's request_id (the name fal's webhook gives the job), the app
// chosen again from the request and its URLs built on the base URL as
// {owner}/{alias}/requests/{id} (a JSON handle of an earlier version keeps
// its URLs, used only on the base URL's host); poll the status
// (IN_QUEUE with queue_position, IN_PROGRESS, COMPLETED), fetch the result
// from response_url, cancel with PUT cancel_url (ALREADY_COMPLETED and
// NOT_FOUND are no error). Auth "Authorization: Key <key>", FAL_KEY by
// default.
//
//	providers:
//	  - name: fal-flux
//	    type: fal
//	    task_types: [image_generation]
//	    max_concurrency: 4
//	    requests_per_minute: 120
//	    options:
//	      model: fal-ai/flux/dev          # required: the app id
//	      api_key_env: FAL_KEY            # the default
//	  - name: fal-kling
//	    type: fal
//	    task_types: [video_generation]
//	    options:
//	      model: fal-ai/kling-video/v2.1/master/text-to-video
//	      image_to_video_model: fal-ai/kling-video/v2.1/pro/image-to-video
//	      price: {video_second: 0.28}     # apps with no list price here
//
// The app's family (read from its id, so a new version of a known family
// works) decides its task type (image or video) and its input:
//
//   - Flux dev/schnell/lora: prompt, image_size (square_hd for 1024x1024,
//     square for 512x512, else {width, height}; under 512 a side refused),
//     num_images, enable_safety_checker true. No negative prompt.
//   - Flux pro v1.1: the same, and enhance_prompt; v1.1-ultra and Kontext:
//     aspect_ratio (1:1, 16:9, 9:16 from the size; other sizes refused).
//   - Ideogram: aspect_ratio, negative_prompt, style (auto, general,
//     realistic, design, render_3D, anime), expand_prompt; v2 makes one
//     image (n > 1 refused).
//   - SDXL / Stable Diffusion: image_size, num_images, negative_prompt.
//   - Kling: duration "5" or "10" (v3 and later: 3 to 15), aspect_ratio
//     for text-to-video, image_url for image-to-video apps. No expansion.
//   - Pika: duration 5 or 10 (v2.2; earlier 5 only), aspect_ratio, image_url.
//   - Wan: enable_prompt_expansion; 2.5 and later duration "5" or "10",
//     earlier ones make about 5 s (81 frames) in 16:9 or 9:16 only.
//   - MiniMax / Hailuo: prompt_optimizer; Hailuo duration "6" or "10"
//     (5 s asks for 6), video-01 6 s; 16:9 only; image_url.
//   - LTX, Hunyuan Video: enable_prompt_expansion; any other app: prompt,
//     image_size and num_images, or prompt, aspect_ratio and image_url.
//
// An expansion switch is sent only when the task says (Request.Expansion);
// left out, the app's default holds. A video with an image_url goes to
// image_to_video_model when model is a text-to-video app; without one it
// is refused (CheckInput names image_url), as is an image-to-video app's
// task with none. Outputs images[].url and video.url are fetched at once;
// images flagged in has_nsfw_concepts (black) are left out, and when all
// are, the task is a safety refusal. Errors: fal's detail list (type
// content_policy_violation: safety refusal), its infrastructure
// error_type (request_timeout, startup_timeout, runner_*: transient), an
// exhausted balance (quota), 429 with Retry-After throttled.
//
// Prices (PriceVersion fal-2026-12, PROVIDERS.md; price keys in brackets):
// flux/dev $0.025 a megapixel, each image rounded up [flux_dev_megapixel];
// flux-pro/v1.1 $0.04 an image [flux_pro_image]; Kling 2.1 pro $0.49 for
// 5 s and $0.098 each second more [kling_pro_5s, kling_pro_second]. Any
// other app is priced only by the price option: image, megapixel or
// video_second; with none, no cost is reported.
//
// Callbacks (a provider.Caller): with Request.Callback the submit carries
// ?fal_webhook=; VerifyCallback checks the ED25519 signature against fal's
// key set (webhook_jwks_url, kept 12 h) and names the request id; fal
// calls once, at the end.
package fal
