// Package openai is the provider adapter of OpenAI's image and audio APIs
// (and of OpenAI-compatible servers such as LocalAI or vLLM): images from
// POST {base_url}/images/generations, transcripts from POST
// {base_url}/audio/transcriptions. Both answer at once, so Start returns
// the result; there are no jobs to poll or cancel.
//
// # Configuration
//
//	providers:
//	  - name: openai-images
//	    type: openai
//	    task_types: [image_generation]
//	    max_concurrency: 4
//	    requests_per_minute: 50
//	    options:
//	      model: gpt-image-1.5        # default: gpt-image-1.5 for images and whisper-1 for audio, all three types
//	      quality: medium             # gpt-image: low|medium|high|auto; dall-e-3: standard|hd
//	      # api_key_env: OPENAI_API_KEY (the default); base_url: https://api.openai.com/v1 (the default)
//	      # timeout: 5m; price: {medium_1024x1024: 0.034}; output_format: png|jpeg|webp; moderation: auto|low;
//	      # background: auto|opaque|transparent
//	  - name: openai-audio
//	    type: openai
//	    task_types: [audio_transcription, subtitle_generation]
//	    max_concurrency: 8
//	    options: {model: whisper-1}
//	  - name: localai
//	    type: openai
//	    task_types: [image_generation]
//	    options: {base_url: "http://localai:8080/v1", model: stablediffusion, family: dall-e-2}
//
// # Model families
//
// What is sent is decided by the model's family, read from its name, so a
// new name of a known family works at once: gpt-image-* and
// chatgpt-image-* (FamilyGPTImage), dall-e-3*, dall-e-2*, any name with
// "whisper" (FamilyWhisper), any with "transcribe" (FamilyGPTTranscribe).
// A name of no known family (a compatible server's) is refused at start
// unless the family option names one of "gpt-image", "dall-e-3",
// "dall-e-2", "whisper", "gpt-4o-transcribe"; family also overrides what
// a known name implies. The model decides the task types served: an image
// model serves image_generation, a transcription model
// audio_transcription and subtitle_generation; with no model, all three.
//
// # Images
//
// input_data.prompt -> prompt; n -> n; size -> size, the platform's wide
// sizes 1792x1024 and 1024x1792 going to GPT image models as 1536x1024 and
// 1024x1536; style -> style (dall-e-3 only: vivid or natural); quality
// from the option (GPT images default medium, DALL-E 3 standard). GPT
// images answer base64 (no response_format is sent); DALL-E answers
// b64_json unless response_format: url, whose URLs are fetched at once
// through the guard. revised_prompt (DALL-E 3's rewrite) is kept in Extra,
// with the model, size, quality, usage and x-request-id. A negative prompt
// is not taken (PromptLimits says so; the platform leaves it out). DALL-E
// 3 rewrites every prompt: with expansion off, the prompt is prefixed
// with OpenAI's documented request to use it as is.
//
// CheckInput refuses: sizes the family lacks (256x256 and 512x512 except
// on dall-e-2; 1792 sizes on dall-e-2), n over 1 on dall-e-3, any style
// but vivid/natural on dall-e-3 and any style elsewhere.
//
// # Transcription and subtitles
//
// A subtitle task is transcribed the same way; the platform makes the
// cues from Result.Transcript. The audio's bytes are uploaded (multipart
// "file", with a file name of the format's extension): OpenAI takes no
// URL, so a public URL is fetched first through the guard; at most
// 26,214,400 bytes. language (BCP 47) -> its ISO 639-1 primary subtag
// (a tag without one is refused by CheckInput); prompt -> prompt (Whisper
// reads its last 224 tokens). Whisper: response_format verbose_json with
// timestamp_granularities[] word and segment, its timings kept. The gpt-4o
// transcribe models: json, text only: the words are spread over the
// audio's duration (transcript.Spread, EstimatedTimings set); the
// duration is the answer's usage.seconds, else the WAV header's, else
// estimated at 2.5 words a second (Extra duration_estimated, and no cost).
// The diarizing model (a name with "diarize") answers diarized_json: its
// segments keep their times, the words are spread within each, speakers
// go to Extra; it takes no prompt, and is sent chunking_strategy auto.
//
// # Errors
//
// Bearer auth; errors {"error": {"message", "type", "param", "code"}}:
// content_policy_violation and moderation_blocked are safety refusals;
// insufficient_quota and billing_hard_limit_reached quota (permanent);
// 429 throttled with retry-after-ms or Retry-After; 5xx, timeouts and
// malformed or cut answers transient. Messages carry OpenAI's code and
// message, with the key (whole or as OpenAI masks it) removed.
//
// # Prices (PriceVersion openai-2026-12)
//
// Per image, keys "<quality>_<size>" as sent: gpt-image-1 low 0.011 /
// 0.016 (1024x1024 / other sizes), medium 0.042 / 0.063, high 0.167 /
// 0.25; gpt-image-1.5 and chatgpt-image-latest 0.009 / 0.013, 0.034 /
// 0.05, 0.133 / 0.20; gpt-image-1-mini 0.005 / 0.006, 0.011 / 0.015, 0.036
// / 0.052; dall-e-3 standard 0.04 / 0.08, hd 0.08 / 0.12; dall-e-2
// ("standard_<size>") 0.016 (256), 0.018 (512), 0.02 (1024). Per minute of
// audio, key "audio_minute": whisper-1 0.006, gpt-4o-transcribe 0.006,
// gpt-4o-mini-transcribe 0.003. Another model (or quality auto) has no
// cost unless the price option gives one.
package openai
