// Package runway is the provider adapter of Runway's API
// (https://api.dev.runwayml.com, X-Runway-Version 2024-11-06, Bearer
// auth). It serves video_generation: text to video and image to video,
// as the configured model allows.
//
// Configuration:
//
//	providers:
//	- name: runway
//	  type: runway
//	  task_types: [video_generation]
//	  max_concurrency: 4
//	  requests_per_minute: 60
//	  options:
//	    model: gen4.5                    # default gen4_turbo
//	    api_key_env: RUNWAYML_API_SECRET # the default, as Runway's SDKs
//	    api_version: "2024-11-06"        # X-Runway-Version, the default
//	    timeout: 60s
//	    poll_after: 6s                   # the default; e.g. 50ms against the fake
//	    price: {gen4.5: 0.12}            # USD per second of video
//
// Mapping. A task with image_url goes to POST /v1/image_to_video
// (promptImage: an https URL as it is; another URL is fetched through the
// SSRF guard and sent as a data URI, up to 5 MB), one without to POST
// /v1/text_to_video. The task's prompt is always sent as promptText
// (gen4.5's image to video requires one). ratio comes from aspect_ratio
// by model: gen4_turbo and gen4.5 16:9 1280:720, 9:16 720:1280, 1:1
// 960:960 (gen4.5's text to video has no 1:1); veo3, veo3.1 and
// veo3.1_fast 1280:720 and 720:1280; gen3a_turbo 1280:768 and 768:1280.
// duration is duration_seconds. GET /v1/tasks/{id} is polled every 6 s
// (poll_after): PENDING and THROTTLED (queued at Runway) wait, RUNNING
// gives its progress, SUCCEEDED's output URLs are fetched at once (they
// expire) as video/* files, FAILED is classified by failureCode,
// CANCELLED is a permanent "canceled". Cancel is DELETE /v1/tasks/{id}
// (it cancels a task that runs and deletes one that ended; one already
// gone is fine).
// Extra holds runway_task_id, model, route, ratio and duration_seconds.
//
// Refusals (CheckInput, and Start before any call): gen4_turbo, veo3
// (as Runway's SDK lists it) and gen3a_turbo make video from an image
// only, so a task without
// input_data.image_url is refused naming it; an aspect ratio or a
// duration the model lacks names input_data.aspect_ratio or
// input_data.duration_seconds (gen4 family 2 to 10 s; veo3.1 4, 6 or 8;
// veo3 8; gen3a_turbo 5 or 10; a task that leaves duration out asks for
// 5). A new name of a known family (by prefix) maps as the family; an
// unknown one as gen4_turbo, the most careful. promptText is at most 1000
// UTF-16 code units; no negative prompt, no prompt expansion.
//
// Errors: {"error": "...", "issues": [...]} with the issues in the
// message; 429 throttled with Retry-After, but the daily task cap and a
// lack of credits are quota (permanent). failureCode SAFETY.* and
// INPUT_PREPROCESSING.SAFETY.* are safety refusals; INTERNAL* and
// INPUT_PREPROCESSING.INTERNAL transient; ASSET.* and other
// INPUT_PREPROCESSING.* faults of the request; an unknown code permanent
// (a retry costs credits).
//
// Costs (price list runway-2026-12; a credit is 0.01 USD; per second of
// video): gen4_turbo 5 credits, gen3a_turbo 5, gen4.5 12, veo3 40,
// veo3.1 40, veo3.1_fast 15. Only gen4_turbo's and gen3a_turbo's rates
// were confirmed from Runway's pages when this was written; keep the
// others overridable with price. A model of unknown price has no cost.
package runway
