// Package sdwebui is the provider adapter of a Stable Diffusion web UI
// started with --api: AUTOMATIC1111, Forge, or a server that keeps their
// /sdapi/v1 API (SD.Next says it does). It is the user's own GPU, so the
// base_url may be a private or loopback address, and no key is needed
// unless the web UI was started with --api-auth.
//
// Configuration:
//
//	providers:
//	  - name: local-sd
//	    type: sdwebui
//	    task_types: [image_generation]
//	    max_concurrency: 1          # the web UI works on one job at a time
//	    options:
//	      base_url: http://192.168.1.20:7860   # default http://127.0.0.1:7860
//	      api_key_env: SDWEBUI_API_AUTH        # "user:pass" of --api-auth (optional)
//	      model: sd_xl_base_1.0.safetensors    # checkpoint; default: the one loaded
//	      steps: 30
//	      cfg_scale: 6
//	      sampler: "DPM++ 2M"
//	      scheduler: Karras
//	      timeout: 10m                         # default 10m: the call holds until done
//	      interrupt: true                      # default: interrupt a call given up
//	      price: {image: 0.002}                # optional: what an image costs you
//
// Mapping (POST /sdapi/v1/txt2img): prompt, negative_prompt, size as width
// and height, n as batch_size (n_iter 1), style as styles (one of the web
// UI's saved styles), seed -1 (the seed used is kept in Extra, with
// all_seeds, sampler_name, steps, cfg_scale and the checkpoint's name, read
// from the answer's info JSON string); the options' steps, cfg_scale,
// sampler_name and scheduler; model as override_settings.sd_model_checkpoint;
// return_grid off (a grid answered anyway is dropped). The answer's base64
// images are the files (their type sniffed: PNG unless the web UI is set
// otherwise). Image tasks carry no init image today, so img2img is not used.
//
// The call is synchronous: Start answers the result, there is no job, and
// Poll refuses any handle. When a call is given up (the task's context
// ends, or the timeout), the adapter posts /sdapi/v1/interrupt in the
// background, and Cancel posts it too: the web UI then stops whatever job
// it runs, which may be someone else's on a shared box (interrupt: false
// turns this off).
//
// Refusals: none by content (the web UI has no safety refusal). Errors:
// FastAPI's {"detail": ...} and the web UI's {"error", "detail", "body",
// "errors"} give the code and message; an unknown sampler is a 400 (404 on
// older versions), a permanent fault of the request; 401 from --api-auth is
// permanent; 5xx (e.g. CUDA out of memory) and timeouts are transient.
//
// Prices: none; the price option's "image" key sets a price per image, and
// the cost is then n times it (price version sdwebui-2026-12).
package sdwebui
